package api

import (
	"encoding/hex"
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/query"
)

// Tracehouse's own JSON (/api/v1): absolute times are RFC 3339 strings with
// nanoseconds, durations and offsets are integer nanoseconds (exact in
// JavaScript up to 104 days), attributes are JSON objects.

const timeFormat = time.RFC3339Nano

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

func formatTS(t pcommon.Timestamp) string { return formatTime(t.AsTime()) }

func hexTraceID(id pcommon.TraceID) string {
	if id.IsEmpty() {
		return ""
	}
	return hex.EncodeToString(id[:])
}

func hexSpanID(id pcommon.SpanID) string {
	if id.IsEmpty() {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// attrsJSON renders attributes as a JSON object (bytes become base64).
func attrsJSON(m pcommon.Map) map[string]any {
	out := make(map[string]any, m.Len())
	m.Range(func(k string, v pcommon.Value) bool {
		out[k] = valueJSON(v)
		return true
	})
	return out
}

func valueJSON(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return nil
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return v.AsString() // JSON has no NaN/Inf
		}
		return f
	case pcommon.ValueTypeMap:
		return attrsJSON(v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		out := make([]any, s.Len())
		for i := range out {
			out[i] = valueJSON(s.At(i))
		}
		return out
	}
	return v.AsRaw()
}

func kindName(k ptrace.SpanKind) string {
	if n := jaegerKind(k); n != "" {
		return n
	}
	return "unspecified"
}

func statusName(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeOk:
		return "OK"
	case ptrace.StatusCodeError:
		return "ERROR"
	}
	return "UNSET"
}

// levelName is the level the query language uses for a severity number.
func levelName(n plog.SeverityNumber) string {
	switch {
	case n == 0:
		return ""
	case n <= 4:
		return "trace"
	case n <= 8:
		return "debug"
	case n <= 12:
		return "info"
	case n <= 16:
		return "warn"
	case n <= 20:
		return "error"
	}
	return "fatal"
}

type scopeJSON struct {
	Name       string         `json:"name,omitempty"`
	Version    string         `json:"version,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

type logJSON struct {
	Timestamp         string         `json:"timestamp"`
	ObservedTimestamp string         `json:"observedTimestamp,omitempty"`
	TraceID           string         `json:"traceId,omitempty"`
	SpanID            string         `json:"spanId,omitempty"`
	Service           string         `json:"service"`
	Level             string         `json:"level,omitempty"`
	SeverityText      string         `json:"severityText,omitempty"`
	SeverityNumber    int32          `json:"severityNumber,omitempty"`
	EventName         string         `json:"eventName,omitempty"`
	Body              any            `json:"body"`
	Attributes        map[string]any `json:"attributes"`
	Resource          map[string]any `json:"resource"`
	Scope             *scopeJSON     `json:"scope,omitempty"`
	// OffsetNs is the time since the trace's start (request path only).
	OffsetNs *int64 `json:"offsetNs,omitempty"`
	Cursor   string `json:"cursor,omitempty"`
}

func renderLog(e query.LogEntry) logJSON {
	r := e.Record
	l := logJSON{
		Timestamp:      formatTS(r.Timestamp()),
		TraceID:        hexTraceID(r.TraceID()),
		SpanID:         hexSpanID(r.SpanID()),
		Service:        e.Service(),
		Level:          levelName(r.SeverityNumber()),
		SeverityText:   r.SeverityText(),
		SeverityNumber: int32(r.SeverityNumber()),
		EventName:      r.EventName(),
		Body:           valueJSON(r.Body()),
		Attributes:     attrsJSON(r.Attributes()),
		Resource:       attrsJSON(e.Resource.Attributes()),
		Cursor:         e.Cursor,
	}
	if r.ObservedTimestamp() != 0 {
		l.ObservedTimestamp = formatTS(r.ObservedTimestamp())
	}
	if s := e.Scope; s.Name() != "" || s.Version() != "" || s.Attributes().Len() > 0 {
		l.Scope = &scopeJSON{Name: s.Name(), Version: s.Version()}
		if s.Attributes().Len() > 0 {
			l.Scope.Attributes = attrsJSON(s.Attributes())
		}
	}
	return l
}

// Request path.

type pathJSON struct {
	TraceID      string   `json:"traceId"`
	Start        string   `json:"start"`
	DurationNs   int64    `json:"durationNs"`
	Services     []string `json:"services"`
	SpanCount    int      `json:"spanCount"`
	ErrorCount   int      `json:"errorCount"`
	CriticalPath []string `json:"criticalPath"`
	// CriticalSegments are the critical path's stretches in time order:
	// a span's own time, or (queue) a message's wait in a broker before
	// the consumer span spanId began.
	CriticalSegments []segmentJSON   `json:"criticalSegments"`
	Errors           []pathErrorJSON `json:"errors"`
	Resources        []resourceJSON  `json:"resources"`
	Roots            []*pathSpanJSON `json:"roots"`
	Logs             []logJSON       `json:"logs"`
	// Incomplete is set when spans of the trace may be missing.
	Incomplete *incompleteJSON `json:"incomplete,omitempty"`
}

// incompleteJSON says why a trace may be missing spans (query.Completeness).
type incompleteJSON struct {
	Reasons        []string `json:"reasons"`
	Arriving       bool     `json:"arriving"`
	RootMissing    bool     `json:"rootMissing"`
	MissingParents int      `json:"missingParents"`
	NewestEnd      string   `json:"newestEnd"`
}

func renderIncomplete(c query.Completeness) *incompleteJSON {
	if c.Complete() {
		return nil
	}
	return &incompleteJSON{Reasons: c.Reasons(), Arriving: c.Arriving, RootMissing: c.RootMissing,
		MissingParents: c.MissingParents, NewestEnd: formatTime(c.NewestEnd)}
}

type segmentJSON struct {
	SpanID        string `json:"spanId"`
	StartOffsetNs int64  `json:"startOffsetNs"`
	EndOffsetNs   int64  `json:"endOffsetNs"`
	Queue         bool   `json:"queue,omitempty"`
}

type resourceJSON struct {
	Service    string         `json:"service"`
	Attributes map[string]any `json:"attributes"`
}

type pathErrorJSON struct {
	SpanID    string `json:"spanId"`
	Service   string `json:"service"`
	Operation string `json:"operation"`
	Message   string `json:"message,omitempty"`
	Exception string `json:"exception,omitempty"`
	Time      string `json:"time"`
}

type statusJSON struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

type eventJSON struct {
	Time       string         `json:"time"`
	OffsetNs   int64          `json:"offsetNs"`
	Name       string         `json:"name"`
	Attributes map[string]any `json:"attributes"`
}

type linkJSON struct {
	TraceID    string         `json:"traceId"`
	SpanID     string         `json:"spanId"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

type pathSpanJSON struct {
	SpanID         string     `json:"spanId"`
	ParentSpanID   string     `json:"parentSpanId,omitempty"`
	Service        string     `json:"service"`
	Resource       int        `json:"resource"` // index into resources
	Name           string     `json:"name"`
	Kind           string     `json:"kind"`
	Scope          *scopeJSON `json:"scope,omitempty"`
	Start          string     `json:"start"`
	StartOffsetNs  int64      `json:"startOffsetNs"`
	DurationNs     int64      `json:"durationNs"`
	SelfTimeNs     int64      `json:"selfTimeNs"`
	Depth          int        `json:"depth"`
	Status         statusJSON `json:"status"`
	OnCriticalPath bool       `json:"onCriticalPath"`
	// QueueDelayNs is set on a consumer span under its producer: how long
	// the message waited from the publish's start to this delivery's.
	QueueDelayNs int64           `json:"queueDelayNs,omitempty"`
	Attributes   map[string]any  `json:"attributes"`
	Events       []eventJSON     `json:"events"`
	Links        []linkJSON      `json:"links"`
	Logs         []logJSON       `json:"logs"`
	Children     []*pathSpanJSON `json:"children"`
}

func renderPath(rp *query.RequestPath) pathJSON {
	out := pathJSON{
		Incomplete:       renderIncomplete(rp.Completeness),
		TraceID:          hexTraceID(rp.TraceID),
		Start:            formatTime(rp.Start),
		DurationNs:       rp.Duration.Nanoseconds(),
		Services:         rp.Services,
		SpanCount:        rp.Spans,
		ErrorCount:       len(rp.Errors),
		CriticalPath:     make([]string, 0, len(rp.CriticalPath)),
		CriticalSegments: make([]segmentJSON, 0, len(rp.CriticalSegments)),
		Errors:           make([]pathErrorJSON, 0, len(rp.Errors)),
		Resources:        []resourceJSON{},
		Roots:            make([]*pathSpanJSON, 0, len(rp.Roots)),
		Logs:             make([]logJSON, 0, len(rp.Logs)),
	}
	for _, id := range rp.CriticalPath {
		out.CriticalPath = append(out.CriticalPath, hexSpanID(id))
	}
	for _, sg := range rp.CriticalSegments {
		out.CriticalSegments = append(out.CriticalSegments, segmentJSON{SpanID: hexSpanID(sg.SpanID),
			StartOffsetNs: sg.From.Nanoseconds(), EndOffsetNs: sg.To.Nanoseconds(), Queue: sg.Queue})
	}
	for _, e := range rp.Errors {
		out.Errors = append(out.Errors, pathErrorJSON{SpanID: hexSpanID(e.SpanID), Service: e.Service, Operation: e.Operation,
			Message: e.Message, Exception: e.Exception, Time: formatTime(e.Time)})
	}
	resources := map[string]int{}
	resourceIndex := func(res pcommon.Resource, service string) int {
		attrs := attrsJSON(res.Attributes())
		var key strings.Builder
		key.WriteString(service)
		res.Attributes().Range(func(k string, v pcommon.Value) bool {
			key.WriteString("\x00" + k + "\x00" + v.AsString())
			return true
		})
		if i, ok := resources[key.String()]; ok {
			return i
		}
		out.Resources = append(out.Resources, resourceJSON{Service: service, Attributes: attrs})
		resources[key.String()] = len(out.Resources) - 1
		return len(out.Resources) - 1
	}
	traceStart := pcommon.NewTimestampFromTime(rp.Start)
	withOffset := func(l query.LogEntry) logJSON {
		j := renderLog(l)
		j.Cursor = ""
		off := int64(l.Record.Timestamp()) - int64(traceStart)
		j.OffsetNs = &off
		return j
	}
	var walk func(n *query.PathSpan) *pathSpanJSON
	walk = func(n *query.PathSpan) *pathSpanJSON {
		sp := n.Span
		j := &pathSpanJSON{
			SpanID:         hexSpanID(sp.SpanID()),
			ParentSpanID:   hexSpanID(sp.ParentSpanID()),
			Service:        n.Service,
			Resource:       resourceIndex(n.Resource, n.Service),
			Name:           sp.Name(),
			Kind:           kindName(sp.Kind()),
			Start:          formatTS(sp.StartTimestamp()),
			StartOffsetNs:  n.Offset.Nanoseconds(),
			DurationNs:     n.Duration.Nanoseconds(),
			SelfTimeNs:     n.SelfTime.Nanoseconds(),
			Depth:          n.Depth,
			Status:         statusJSON{Code: statusName(sp.Status().Code()), Message: sp.Status().Message()},
			OnCriticalPath: n.OnCriticalPath,
			QueueDelayNs:   n.QueueDelay.Nanoseconds(),
			Attributes:     attrsJSON(sp.Attributes()),
			Events:         make([]eventJSON, 0, sp.Events().Len()),
			Links:          make([]linkJSON, 0, sp.Links().Len()),
			Logs:           make([]logJSON, 0, len(n.Logs)),
			Children:       make([]*pathSpanJSON, 0, len(n.Children)),
		}
		if n.Scope.Name() != "" || n.Scope.Version() != "" {
			j.Scope = &scopeJSON{Name: n.Scope.Name(), Version: n.Scope.Version()}
		}
		for i := 0; i < sp.Events().Len(); i++ {
			ev := sp.Events().At(i)
			j.Events = append(j.Events, eventJSON{Time: formatTS(ev.Timestamp()), OffsetNs: int64(ev.Timestamp()) - int64(traceStart),
				Name: ev.Name(), Attributes: attrsJSON(ev.Attributes())})
		}
		for i := 0; i < sp.Links().Len(); i++ {
			l := sp.Links().At(i)
			lj := linkJSON{TraceID: hexTraceID(l.TraceID()), SpanID: hexSpanID(l.SpanID())}
			if l.Attributes().Len() > 0 {
				lj.Attributes = attrsJSON(l.Attributes())
			}
			j.Links = append(j.Links, lj)
		}
		for _, l := range n.Logs {
			j.Logs = append(j.Logs, withOffset(l))
		}
		for _, c := range n.Children {
			j.Children = append(j.Children, walk(c))
		}
		return j
	}
	for _, r := range rp.Roots {
		out.Roots = append(out.Roots, walk(r))
	}
	for _, l := range rp.Logs {
		out.Logs = append(out.Logs, withOffset(l))
	}
	return out
}

// Comparison.

type diffJSON struct {
	A       diffSideJSON   `json:"a"`
	B       diffSideJSON   `json:"b"`
	Paths   []pathDiffJSON `json:"paths"`
	Added   []string       `json:"added"`
	Missing []string       `json:"missing"`
}

type diffSideJSON struct {
	TraceID    string `json:"traceId"`
	Root       string `json:"root"`
	DurationNs int64  `json:"durationNs"`
	SpanCount  int    `json:"spanCount"`
	ErrorCount int    `json:"errorCount"`
}

type pathDiffJSON struct {
	Path        string   `json:"path"`
	Segments    []string `json:"segments"`
	Change      string   `json:"change,omitempty"`
	CountA      int      `json:"countA"`
	CountB      int      `json:"countB"`
	DurationANs int64    `json:"durationANs"`
	DurationBNs int64    `json:"durationBNs"`
	DeltaNs     int64    `json:"deltaNs"`
	SelfANs     int64    `json:"selfANs"`
	SelfBNs     int64    `json:"selfBNs"`
	ErrorsA     int      `json:"errorsA"`
	ErrorsB     int      `json:"errorsB"`
}

func renderDiff(d *query.TraceDiff) diffJSON {
	side := func(s query.TraceSummary) diffSideJSON {
		return diffSideJSON{TraceID: hexTraceID(s.TraceID), Root: s.Root, DurationNs: s.Duration.Nanoseconds(), SpanCount: s.Spans, ErrorCount: s.Errors}
	}
	out := diffJSON{A: side(d.A), B: side(d.B), Paths: make([]pathDiffJSON, 0, len(d.Paths)), Added: d.Added, Missing: d.Missing}
	for _, p := range d.Paths {
		out.Paths = append(out.Paths, pathDiffJSON{Path: p.Path, Segments: p.Segments, Change: p.Change, CountA: p.CountA, CountB: p.CountB,
			DurationANs: p.DurationA.Nanoseconds(), DurationBNs: p.DurationB.Nanoseconds(), DeltaNs: p.Delta.Nanoseconds(),
			SelfANs: p.SelfA.Nanoseconds(), SelfBNs: p.SelfB.Nanoseconds(), ErrorsA: p.ErrorsA, ErrorsB: p.ErrorsB})
	}
	return out
}

// Metrics.

type latencyJSON struct {
	P50Ns float64 `json:"p50Ns"`
	P95Ns float64 `json:"p95Ns"`
	P99Ns float64 `json:"p99Ns"`
}

func renderLatency(l query.Latency) latencyJSON {
	return latencyJSON{P50Ns: l.P50, P95Ns: l.P95, P99Ns: l.P99}
}

type statsJSON struct {
	Calls     uint64  `json:"calls"`
	Errors    uint64  `json:"errors"`
	Rate      float64 `json:"rate"`
	ErrorRate float64 `json:"errorRate"`
	latencyJSON
}

func renderStats(s query.Stats) statsJSON {
	return statsJSON{Calls: s.Calls, Errors: s.Errors, Rate: round(s.Rate), ErrorRate: round(s.ErrorRate), latencyJSON: renderLatency(s.Latency)}
}

// callStatsJSON are calls as the callers saw them.
type callStatsJSON struct {
	Calls         uint64  `json:"calls"`
	Errors        uint64  `json:"errors"`
	ShortCircuits uint64  `json:"shortCircuits"`
	Rate          float64 `json:"rate"`
	FailureRate   float64 `json:"failureRate"`
	latencyJSON
}

func renderCallStats(c query.CallStats) callStatsJSON {
	return callStatsJSON{Calls: c.Calls, Errors: c.Errors, ShortCircuits: c.ShortCircuits, Rate: round(c.Rate),
		FailureRate: round(c.FailureRate), latencyJSON: renderLatency(c.Latency)}
}

// round keeps 6 significant decimals so that JSON output is stable.
func round(f float64) float64 { return math.Round(f*1e6) / 1e6 }

type coverageJSON struct {
	Start   string  `json:"start,omitempty"`
	End     string  `json:"end,omitempty"`
	Seconds float64 `json:"seconds"`
}

func renderCoverage(c query.Coverage) coverageJSON {
	if c.Duration() == 0 {
		return coverageJSON{}
	}
	return coverageJSON{Start: formatTime(c.Start), End: formatTime(c.End), Seconds: round(c.Duration().Seconds())}
}

type windowJSON struct {
	Start    string       `json:"start"`
	End      string       `json:"end"`
	Coverage coverageJSON `json:"coverage"`
}

func renderWindow(w query.MapWindow) windowJSON {
	return windowJSON{Start: formatTime(w.Range.Start), End: formatTime(w.Range.End), Coverage: renderCoverage(w.Coverage)}
}

type healthJSON struct {
	State     string `json:"state"`
	Now       bool   `json:"now"`
	RootCause bool   `json:"rootCause"`
	Reason    string `json:"reason,omitempty"`
}

type nodeWindowJSON struct {
	Served  statsJSON     `json:"served"`
	Callers callStatsJSON `json:"callers"`
}

type nodeJSON struct {
	Service string `json:"service"`
	statsJSON
	Callers callStatsJSON  `json:"callers"`
	Recent  nodeWindowJSON `json:"recent"`
	Health  healthJSON     `json:"health"`
}

type edgeWindowJSON struct {
	statsJSON
	Caller callStatsJSON `json:"caller"`
}

type edgeJSON struct {
	Parent string `json:"parent"`
	Child  string `json:"child"`
	statsJSON
	Caller     callStatsJSON  `json:"caller"`
	Recent     edgeWindowJSON `json:"recent"`
	Failing    bool           `json:"failing"`
	FailingNow bool           `json:"failingNow"`
}

// destinationJSON is a broker destination on the map.
type destinationJSON struct {
	System    string `json:"system"`
	Name      string `json:"name"`
	Published uint64 `json:"published"`
	Delivered uint64 `json:"delivered"`
}

// publishJSON is a service publishing to a destination: calls are publish
// attempts.
type publishJSON struct {
	Service     string `json:"service"`
	System      string `json:"system"`
	Destination string `json:"destination"`
	statsJSON
	Recent     statsJSON `json:"recent"`
	Failing    bool      `json:"failing"`
	FailingNow bool      `json:"failingNow"`
}

type queueDelayJSON struct {
	P50Ns  float64 `json:"p50Ns"`
	P99Ns  float64 `json:"p99Ns"`
	MeanNs float64 `json:"meanNs"`
}

// deliveryStatsJSON: calls are deliveries (redeliveries included),
// latency the consumer's processing time.
type deliveryStatsJSON struct {
	statsJSON
	Redeliveries uint64         `json:"redeliveries"`
	QueueDelay   queueDelayJSON `json:"queueDelay"`
}

type deliveryJSON struct {
	System      string   `json:"system"`
	Destination string   `json:"destination"`
	Consumer    string   `json:"consumer"`
	Producers   []string `json:"producers"`
	deliveryStatsJSON
	Recent     deliveryStatsJSON `json:"recent"`
	Failing    bool              `json:"failing"`
	FailingNow bool              `json:"failingNow"`
}

func renderDelivery(d query.DeliveryStats) deliveryStatsJSON {
	return deliveryStatsJSON{statsJSON: renderStats(d.Stats), Redeliveries: d.Redeliveries,
		QueueDelay: queueDelayJSON{P50Ns: d.QueueDelay.P50, P99Ns: d.QueueDelay.P99, MeanNs: d.QueueDelay.Mean}}
}

type instanceJSON struct {
	Instance string `json:"instance"`
	statsJSON
	FirstSeen string `json:"firstSeen"`
	LastSeen  string `json:"lastSeen"`
}

type serviceMapJSON struct {
	Start         string            `json:"start"`
	End           string            `json:"end"`
	Coverage      coverageJSON      `json:"coverage"`
	Recent        windowJSON        `json:"recent"`
	RecentMinutes int               `json:"recentMinutes"`
	Nodes         []nodeJSON        `json:"nodes"`
	Edges         []edgeJSON        `json:"edges"`
	Destinations  []destinationJSON `json:"destinations"`
	Publishes     []publishJSON     `json:"publishes"`
	Deliveries    []deliveryJSON    `json:"deliveries"`
}

func renderServiceMap(m *query.ServiceMap) serviceMapJSON {
	out := serviceMapJSON{Start: formatTime(m.Range.Start), End: formatTime(m.Range.End), Coverage: renderCoverage(m.Coverage),
		Recent: renderWindow(m.Recent), RecentMinutes: int(m.RecentWindow / time.Minute), Nodes: []nodeJSON{}, Edges: []edgeJSON{},
		Destinations: []destinationJSON{}, Publishes: []publishJSON{}, Deliveries: []deliveryJSON{}}
	for _, d := range m.Destinations {
		out.Destinations = append(out.Destinations, destinationJSON{System: d.System, Name: d.Name, Published: d.Published, Delivered: d.Delivered})
	}
	for _, p := range m.Publishes {
		out.Publishes = append(out.Publishes, publishJSON{Service: p.Service, System: p.System, Destination: p.Destination,
			statsJSON: renderStats(p.Stats), Recent: renderStats(p.Recent), Failing: p.Failing, FailingNow: p.FailingNow})
	}
	for _, d := range m.Deliveries {
		out.Deliveries = append(out.Deliveries, deliveryJSON{System: d.System, Destination: d.Destination, Consumer: d.Consumer, Producers: d.Producers,
			deliveryStatsJSON: renderDelivery(d.DeliveryStats), Recent: renderDelivery(d.Recent), Failing: d.Failing, FailingNow: d.FailingNow})
	}
	for _, n := range m.Nodes {
		out.Nodes = append(out.Nodes, nodeJSON{Service: n.Service, statsJSON: renderStats(n.Stats), Callers: renderCallStats(n.Callers),
			Recent: nodeWindowJSON{Served: renderStats(n.Recent.Served), Callers: renderCallStats(n.Recent.Callers)},
			Health: healthJSON{State: n.Health.State, Now: n.Health.Now, RootCause: n.Health.RootCause, Reason: n.Health.Reason}})
	}
	for _, e := range m.Edges {
		out.Edges = append(out.Edges, edgeJSON{Parent: e.Parent, Child: e.Child, statsJSON: renderStats(e.Stats), Caller: renderCallStats(e.Caller),
			Recent:  edgeWindowJSON{statsJSON: renderStats(e.Recent.Stats), Caller: renderCallStats(e.Recent.Caller)},
			Failing: e.Failing, FailingNow: e.FailingNow})
	}
	return out
}

// redPointJSON is one step. Rate is null for a step the data does not
// cover (no data, which is not the same as no calls); partial marks the
// first and last steps with data, whose rate is over the covered part.
type redPointJSON struct {
	Time           string   `json:"time"`
	Calls          uint64   `json:"calls"`
	Errors         uint64   `json:"errors"`
	Rate           *float64 `json:"rate"`
	ErrorRate      float64  `json:"errorRate"`
	AvgNs          float64  `json:"avgNs"`
	CoveredSeconds float64  `json:"coveredSeconds"`
	Partial        bool     `json:"partial,omitempty"`
	latencyJSON
}

type redJSON struct {
	Service     string         `json:"service"`
	Operation   string         `json:"operation,omitempty"`
	Instance    *string        `json:"instance,omitempty"`
	SpanKind    string         `json:"spanKind"`
	StepSeconds int64          `json:"stepSeconds"`
	Coverage    coverageJSON   `json:"coverage"`
	Points      []redPointJSON `json:"points"`
}

func renderRED(s *query.REDSeries) redJSON {
	out := redJSON{Service: s.Service, Operation: s.Operation, Instance: s.Instance, SpanKind: "all", StepSeconds: int64(s.Step / time.Second),
		Coverage: renderCoverage(s.Coverage), Points: make([]redPointJSON, 0, len(s.Points))}
	if s.Kind != nil {
		out.SpanKind = kindName(*s.Kind)
	}
	for _, p := range s.Points {
		pt := redPointJSON{Time: formatTime(p.Time), Calls: p.Calls, Errors: p.Errors,
			ErrorRate: round(p.ErrorRate), AvgNs: p.AvgNs, CoveredSeconds: round(p.Covered.Seconds()), Partial: p.Partial, latencyJSON: renderLatency(p.Latency)}
		if p.Covered > 0 {
			r := round(p.Rate)
			pt.Rate = &r
		}
		out.Points = append(out.Points, pt)
	}
	return out
}

type histogramJSON struct {
	StepSeconds int64            `json:"stepSeconds"`
	Buckets     []histBucketJSON `json:"buckets"`
}

type histBucketJSON struct {
	Start   string `json:"start"`
	Count   uint64 `json:"count"`
	Errors  uint64 `json:"errors"`
	Partial bool   `json:"partial,omitempty"`
}

func renderHistogram(h *query.Histogram) *histogramJSON {
	out := &histogramJSON{StepSeconds: int64(h.Step / time.Second), Buckets: make([]histBucketJSON, 0, len(h.Buckets))}
	for _, b := range h.Buckets {
		out.Buckets = append(out.Buckets, histBucketJSON{Start: formatTime(b.Start), Count: b.Count, Errors: b.Errors, Partial: b.Partial})
	}
	return out
}
