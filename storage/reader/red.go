package reader

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/chsql"
)

// Quantiles are the duration quantiles p50, p95 and p99 in nanoseconds
// (t-digest estimates merged from the per-minute states); empty when no
// call was counted.
type Quantiles []float64

// REDFilter selects the per-minute rate/error/duration aggregates of one
// service.
type REDFilter struct {
	Service   string
	Operation string           // empty: all operations
	Kind      *ptrace.SpanKind // nil: every kind
	// Instance, when not nil, keeps the spans of the processes whose
	// service.instance.id is *Instance ("" for those without one), from
	// red_instance_1m (migration 0012).
	Instance *string
	// Start and End bound the minutes; Start is aligned down to Step by
	// the caller.
	Start, End time.Time
	// Step is the width of a point, in whole seconds.
	Step time.Duration
}

// REDRow is one step of a RED series. Steps without calls are absent.
type REDRow struct {
	Time        time.Time
	Calls       uint64
	Errors      uint64
	DurationSum uint64 // nanoseconds
	Quantiles   Quantiles
}

// RED reads a service's series from red_1m (red_instance_1m for one
// instance), merging the per-minute aggregate states into steps.
func (r *Reader) RED(ctx context.Context, f REDFilter) ([]REDRow, error) {
	p := chsql.NewParams("p")
	table := r.t.red1m
	if f.Instance != nil {
		table = r.t.redInstance1m
	}
	sql := "SELECT toStartOfInterval(Timestamp, toIntervalSecond(" + p.Add("UInt32", uint32(f.Step/time.Second)) + ")) AS t," +
		" sum(Calls), sum(Errors), sum(DurationSum), quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)\nFROM " + table +
		"\nWHERE ServiceName = " + p.Add("String", f.Service)
	if f.Instance != nil {
		sql += " AND Instance = " + p.Add("String", *f.Instance)
	}
	if f.Operation != "" {
		sql += " AND SpanName = " + p.Add("String", f.Operation)
	}
	if f.Kind != nil {
		sql += " AND CAST(SpanKind, 'Int8') = " + p.Add("Int8", int8(*f.Kind))
	}
	sql += "\n  AND Timestamp >= " + p.Add("DateTime", f.Start) + " AND Timestamp < " + p.Add("DateTime", ceilSecond(f.End)) +
		"\nGROUP BY t ORDER BY t"
	var out []REDRow
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var row REDRow
		if err := rows.Scan(&row.Time, &row.Calls, &row.Errors, &row.DurationSum, (*[]float64)(&row.Quantiles)); err != nil {
			return err
		}
		out = append(out, row)
		return nil
	})
	return out, err
}

// ServiceStats are what a service served (its server and consumer spans)
// in a range.
type ServiceStats struct {
	Service       string
	Calls, Errors uint64
	Quantiles     Quantiles
}

// EdgeStats are the calls from Parent to Child in a range as the child saw
// them (service_edges_1m: one per child span whose parent is in Parent);
// the quantiles are the child side's durations.
type EdgeStats struct {
	Parent, Child string
	Calls, Errors uint64
	Quantiles     Quantiles
}

// PeerCallStats are the calls Caller made to Peer in a range as the caller
// saw them (peer_calls_1m, migration 0009): Calls are attempts (client and
// producer spans naming the peer), Errors the attempts that failed at the
// caller, ShortCircuits the calls a circuit breaker answered without
// making them; the quantiles are the caller side's durations of Calls.
type PeerCallStats struct {
	Caller, Peer                 string
	Calls, Errors, ShortCircuits uint64
	Quantiles                    Quantiles
}

// BrokerEdgeStats are the deliveries of messages Producer published to
// Destination (of System) and Consumer processed, in a range
// (broker_edges_1m, migration 0012): one per consumer span, redeliveries
// included; Errors are the failed deliveries. QueueDelay holds the p50 and
// p99 of consumer start − producer start, Quantiles the p50, p95 and p99
// of the consumer spans' durations (ns).
type BrokerEdgeStats struct {
	Producer, System, Destination, Consumer string
	Deliveries, Errors, Redeliveries        uint64
	QueueDelaySum                           uint64
	QueueDelay                              Quantiles
	Quantiles                               Quantiles
}

// PublishStats are the publish attempts of Service to Destination (of
// System) in a range (publishes_1m, migration 0012): producer spans, the
// failed ones in Errors, their durations' quantiles.
type PublishStats struct {
	Service, System, Destination string
	Calls, Errors                uint64
	Quantiles                    Quantiles
}

// ServiceGraph is what the service map is drawn from.
type ServiceGraph struct {
	Services  []ServiceStats
	Edges     []EdgeStats
	PeerCalls []PeerCallStats
	Brokers   []BrokerEdgeStats
	Publishes []PublishStats
}

// ServiceGraph reads the services from red_1m, their calls as the callees
// saw them from service_edges_1m and as the callers saw them from
// peer_calls_1m, for the minutes in [start, end), sorted by name.
func (r *Reader) ServiceGraph(ctx context.Context, start, end time.Time) (*ServiceGraph, error) {
	g := &ServiceGraph{Services: []ServiceStats{}, Edges: []EdgeStats{}, PeerCalls: []PeerCallStats{}, Brokers: []BrokerEdgeStats{}, Publishes: []PublishStats{}}
	p := chsql.NewParams("p")
	served := "CAST(SpanKind, 'Int8') IN (2, 5)" // Server, Consumer
	sql := "SELECT ServiceName, sumIf(Calls, " + served + "), sumIf(Errors, " + served + ")," +
		" quantilesTDigestMergeIf(0.5, 0.95, 0.99)(DurationQuantiles, " + served + ")\nFROM " + r.t.red1m +
		"\nWHERE " + minutesIn(p, start, end) +
		"\nGROUP BY ServiceName ORDER BY ServiceName"
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var n ServiceStats
		if err := rows.Scan(&n.Service, &n.Calls, &n.Errors, (*[]float64)(&n.Quantiles)); err != nil {
			return err
		}
		g.Services = append(g.Services, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p = chsql.NewParams("p")
	sql = "SELECT ParentService, ChildService, sum(Calls), sum(Errors), quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)\nFROM " + r.t.edges1m +
		"\nWHERE " + minutesIn(p, start, end) +
		"\nGROUP BY ParentService, ChildService ORDER BY ParentService, ChildService"
	err = r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var e EdgeStats
		if err := rows.Scan(&e.Parent, &e.Child, &e.Calls, &e.Errors, (*[]float64)(&e.Quantiles)); err != nil {
			return err
		}
		g.Edges = append(g.Edges, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p = chsql.NewParams("p")
	sql = "SELECT ServiceName, PeerService, sum(Calls), sum(Errors), sum(ShortCircuits), quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)\nFROM " + r.t.peerCalls1m +
		"\nWHERE " + minutesIn(p, start, end) +
		"\nGROUP BY ServiceName, PeerService ORDER BY ServiceName, PeerService"
	err = r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var c PeerCallStats
		if err := rows.Scan(&c.Caller, &c.Peer, &c.Calls, &c.Errors, &c.ShortCircuits, (*[]float64)(&c.Quantiles)); err != nil {
			return err
		}
		g.PeerCalls = append(g.PeerCalls, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p = chsql.NewParams("p")
	sql = "SELECT ProducerService, System, Destination, ConsumerService, sum(Deliveries), sum(Errors), sum(Redeliveries), sum(QueueDelaySum)," +
		" quantilesTDigestMerge(0.5, 0.99)(QueueDelayQuantiles), quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)\nFROM " + r.t.brokerEdges1m +
		"\nWHERE " + minutesIn(p, start, end) +
		"\nGROUP BY ProducerService, System, Destination, ConsumerService ORDER BY ProducerService, System, Destination, ConsumerService"
	err = r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var b BrokerEdgeStats
		if err := rows.Scan(&b.Producer, &b.System, &b.Destination, &b.Consumer, &b.Deliveries, &b.Errors, &b.Redeliveries, &b.QueueDelaySum,
			(*[]float64)(&b.QueueDelay), (*[]float64)(&b.Quantiles)); err != nil {
			return err
		}
		g.Brokers = append(g.Brokers, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	p = chsql.NewParams("p")
	sql = "SELECT ServiceName, System, Destination, sum(Calls), sum(Errors), quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)\nFROM " + r.t.publishes1m +
		"\nWHERE " + minutesIn(p, start, end) +
		"\nGROUP BY ServiceName, System, Destination ORDER BY ServiceName, System, Destination"
	err = r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var ps PublishStats
		if err := rows.Scan(&ps.Service, &ps.System, &ps.Destination, &ps.Calls, &ps.Errors, (*[]float64)(&ps.Quantiles)); err != nil {
			return err
		}
		g.Publishes = append(g.Publishes, ps)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// InstanceStats are what one process of a service (its
// service.instance.id; "" for spans without one) did in a range: calls,
// failed calls and duration quantiles of the spans selected, and the
// minutes it was seen in.
type InstanceStats struct {
	Instance      string
	Calls, Errors uint64
	Quantiles     Quantiles
	First, Last   time.Time // the first and last minute with spans
}

// InstanceFilter selects the spans Instances counts.
type InstanceFilter struct {
	Service    string
	Operation  string           // empty: every operation
	Kind       *ptrace.SpanKind // nil: every kind
	Start, End time.Time        // the minutes that start in [Start, End)
}

// Instances reads a service's instances in a range from red_instance_1m,
// busiest first.
func (r *Reader) Instances(ctx context.Context, f InstanceFilter) ([]InstanceStats, error) {
	p := chsql.NewParams("p")
	sql := "SELECT Instance, sum(Calls) AS calls, sum(Errors), quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles), min(Timestamp), max(Timestamp)\nFROM " +
		r.t.redInstance1m + "\nWHERE ServiceName = " + p.Add("String", f.Service)
	if f.Operation != "" {
		sql += " AND SpanName = " + p.Add("String", f.Operation)
	}
	if f.Kind != nil {
		sql += " AND CAST(SpanKind, 'Int8') = " + p.Add("Int8", int8(*f.Kind))
	}
	sql += " AND " + minutesIn(p, f.Start, f.End) + "\nGROUP BY Instance ORDER BY calls DESC, Instance"
	out := []InstanceStats{}
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var s InstanceStats
		if err := rows.Scan(&s.Instance, &s.Calls, &s.Errors, (*[]float64)(&s.Quantiles), &s.First, &s.Last); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

// minutesIn is the condition on a per-minute table's Timestamp for the
// minutes that start in [start, end).
func minutesIn(p *chsql.Params, start, end time.Time) string {
	return "Timestamp >= " + p.Add("DateTime", ceilSecond(start)) + " AND Timestamp < " + p.Add("DateTime", ceilSecond(end))
}

// DataSpan is when the spans stored for a range were sent: the start time
// of the first and of the last span in the range's whole minutes.
type DataSpan struct {
	First, Last time.Time
}

// DataSpan reads the first and last span start in the minutes that start in
// [start, end); ok is false when there is none. A rate is honest only over
// the time that data exists for: a range that began before the first span
// was sent, or ends at a minute whose spans are still arriving, would
// otherwise read as a fall in traffic. The minutes come from red_1m; the
// exact times from those two minutes of spans, which are each one range of
// the spans' sort key (toStartOfMinute(Timestamp), …).
func (r *Reader) DataSpan(ctx context.Context, start, end time.Time) (DataSpan, bool, error) {
	p := chsql.NewParams("p")
	sql := "SELECT count(), min(Timestamp), max(Timestamp) FROM " + r.t.red1m + " WHERE " + minutesIn(p, start, end)
	var n uint64
	var first, last time.Time
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error { return rows.Scan(&n, &first, &last) })
	if err != nil || n == 0 {
		return DataSpan{}, false, err
	}
	p = chsql.NewParams("p")
	a, b := p.Add("DateTime", first), p.Add("DateTime", first.Add(time.Minute))
	c, d := p.Add("DateTime", last), p.Add("DateTime", last.Add(time.Minute))
	sql = "SELECT minIf(Timestamp, Timestamp < " + b + "), maxIf(Timestamp, Timestamp >= " + c + ") FROM " + r.t.spans +
		"\nWHERE (Timestamp >= " + a + " AND Timestamp < " + b + ") OR (Timestamp >= " + c + " AND Timestamp < " + d + ")"
	var out DataSpan
	err = r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error { return rows.Scan(&out.First, &out.Last) })
	if err != nil {
		return DataSpan{}, false, err
	}
	// Spans are kept for less time than the per-minute aggregates: where
	// they are gone, the minutes themselves bound the data.
	if out.First.Before(first) {
		out.First = first
	}
	if out.Last.Before(last) {
		out.Last = last.Add(time.Minute)
	}
	return out, true, nil
}
