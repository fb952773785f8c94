package query

import (
	"context"
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/reader"
)

// Latency holds duration quantiles in nanoseconds (t-digest estimates
// merged from the per-minute states).
type Latency struct {
	P50, P95, P99 float64
}

func latencyOf(q []float64, calls uint64) Latency {
	if calls == 0 || len(q) < 3 {
		return Latency{}
	}
	return Latency{finite(q[0]), finite(q[1]), finite(q[2])}
}

// finite rounds a t-digest estimate to whole nanoseconds, 0 when it is
// not a number.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return math.Round(f)
}

// REDQuery asks for rate, errors and duration of a service (or one of its
// operations) over time.
type REDQuery struct {
	Service   string
	Operation string // empty: all operations
	// Kind filters by span kind. Nil means server spans when no operation
	// is given (a service's requests), and every kind for an operation.
	Kind *ptrace.SpanKind
	// AllKinds counts every span kind (overrides Kind).
	AllKinds bool
	// Instance, when not nil, keeps the spans of one process of the
	// service: its service.instance.id ("" for spans without one).
	Instance *string
	Range    TimeRange
	// Step is the width of a point: whole minutes; 0 picks one giving about
	// 60 points.
	Step time.Duration
}

// REDPoint is one step of a series. Rate is calls per second of the part
// of the step that data covers (Covered); ErrorRate is errors/calls.
type REDPoint struct {
	Time      time.Time
	Calls     uint64
	Errors    uint64
	Rate      float64
	ErrorRate float64
	AvgNs     float64
	Latency
	// Covered is how much of the step the stored data covers: the whole
	// step, less at the first and last steps with data (Partial), and 0 for
	// a step before the first or after the last span of the range, which
	// has no data rather than no traffic.
	Covered time.Duration
	Partial bool
}

// REDSeries is a series of points, one per step from the range's start
// (rounded down to the step) to its end, with empty steps included.
type REDSeries struct {
	Service   string
	Operation string
	Instance  *string          // nil: every instance
	Kind      *ptrace.SpanKind // nil: every kind
	Step      time.Duration
	Points    []REDPoint
	// Coverage is the part of the steps' time that data covers; a rate
	// over the whole series is its calls per second of Coverage.
	Coverage Coverage
}

// RED reads rate/error/duration series, merging the per-minute aggregates
// into steps.
func (s *Service) RED(ctx context.Context, q REDQuery) (*REDSeries, error) {
	if q.Service == "" {
		return nil, inputError("service", "a service is required (GET /api/services lists them)")
	}
	if err := checkRange(q.Range, s.limits.MaxAggregateRange); err != nil {
		return nil, err
	}
	if q.Step == 0 {
		q.Step = max(time.Minute, (q.Range.End.Sub(q.Range.Start) / 60).Truncate(time.Minute))
	}
	if q.Step < time.Minute || q.Step%time.Minute != 0 {
		return nil, inputError("step", "step %s must be a whole number of minutes (the metrics are kept per minute)", q.Step)
	}
	start := alignDown(q.Range.Start, q.Step)
	if n := int(q.Range.End.Sub(start) / q.Step); n > s.limits.MaxSeriesPoints {
		return nil, inputError("step", "%d points are more than the limit of %d; use a larger step", n, s.limits.MaxSeriesPoints)
	}
	kind := countedKind(q.Kind, q.Operation, q.AllKinds)
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := s.store.RED(ctx, reader.REDFilter{Service: q.Service, Operation: q.Operation, Kind: kind, Instance: q.Instance,
		Start: start, End: q.Range.End, Step: q.Step})
	if err != nil {
		return nil, classify(err, nil)
	}
	// The steps' time, whole: the last step may end after the range.
	end := start.Add((q.Range.End.Sub(start) + q.Step - 1) / q.Step * q.Step)
	cov, err := s.coverage(ctx, start, end)
	if err != nil {
		return nil, err
	}
	points := make(map[int64]REDPoint, len(rows))
	for _, row := range rows {
		pt := REDPoint{Time: row.Time, Calls: row.Calls, Errors: row.Errors}
		if pt.Calls > 0 {
			pt.AvgNs = math.Round(float64(row.DurationSum) / float64(pt.Calls))
			pt.ErrorRate = float64(pt.Errors) / float64(pt.Calls)
		}
		pt.Latency = latencyOf(row.Quantiles, pt.Calls)
		points[pt.Time.Unix()] = pt
	}
	out := &REDSeries{Service: q.Service, Operation: q.Operation, Instance: q.Instance, Kind: kind, Step: q.Step, Points: []REDPoint{}, Coverage: cov}
	for t := start; t.Before(q.Range.End); t = t.Add(q.Step) {
		pt := points[t.Unix()]
		pt.Time = t
		pt.Covered = cov.Within(t, t.Add(q.Step))
		pt.Partial = pt.Covered > 0 && pt.Covered < q.Step
		pt.Rate = rate(pt.Calls, pt.Covered)
		out.Points = append(out.Points, pt)
	}
	return out, nil
}

// InstancesQuery asks for the processes of a service that served its
// requests (or one operation's calls) in a range.
type InstancesQuery struct {
	Service   string
	Operation string
	// Kind and AllKinds choose the spans counted as REDQuery's do: server
	// spans by default when no operation is given.
	Kind     *ptrace.SpanKind
	AllKinds bool
	Range    TimeRange
}

// Instance is one process of a service over a range: its
// service.instance.id ("" for spans without one), what it served (Rate
// over the range's coverage) and when it was last seen.
type Instance struct {
	ID string
	Stats
	// FirstSeen and LastSeen are the first and last minute with its spans.
	FirstSeen, LastSeen time.Time
}

// Instances lists a service's instances in a range, busiest first
// (red_instance_1m). Their calls add up to the service's.
func (s *Service) Instances(ctx context.Context, q InstancesQuery) ([]Instance, error) {
	if q.Service == "" {
		return nil, inputError("service", "a service is required (GET /api/services lists them)")
	}
	q.Range.Start = q.Range.Start.Truncate(time.Minute)
	if err := checkRange(q.Range, s.limits.MaxAggregateRange); err != nil {
		return nil, err
	}
	kind := countedKind(q.Kind, q.Operation, q.AllKinds)
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := s.store.Instances(ctx, reader.InstanceFilter{Service: q.Service, Operation: q.Operation, Kind: kind, Start: q.Range.Start, End: q.Range.End})
	if err != nil {
		return nil, classify(err, nil)
	}
	cov, err := s.coverage(ctx, q.Range.Start, q.Range.End)
	if err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(rows))
	for _, r := range rows {
		out = append(out, Instance{ID: r.Instance, Stats: statsOf(r.Calls, r.Errors, r.Quantiles, cov), FirstSeen: r.First, LastSeen: r.Last})
	}
	return out, nil
}

// countedKind is the span kind a RED or instances query counts: the one
// asked for; with none and no operation, server spans (a service's own
// requests, not its calls out); nil (every kind) for AllKinds.
func countedKind(kind *ptrace.SpanKind, operation string, all bool) *ptrace.SpanKind {
	switch {
	case all:
		return nil
	case kind == nil && operation == "":
		server := ptrace.SpanKindServer
		return &server
	}
	return kind
}
