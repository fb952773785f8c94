package query

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/query/internal/chsql"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/tracestore"
)

// GetTrace returns every span of a trace (tracestore.Reader: trace_index
// gives the trace's time range, then one primary-key range of spans is
// read).
func (s *Service) GetTrace(ctx context.Context, id pcommon.TraceID) (ptrace.Traces, error) {
	if id.IsEmpty() {
		return ptrace.Traces{}, inputError("traceID", "the trace id is all zeroes")
	}
	// A trace over MaxSpans fails in ClickHouse instead of being read whole.
	ctx, done, err := s.slot(ctx, traceReadSettings(s.limits.MaxSpans))
	if err != nil {
		return ptrace.Traces{}, err
	}
	defer done()
	td, err := s.reader.GetTrace(ctx, id)
	switch {
	case errors.Is(err, tracestore.ErrTraceNotFound):
		return ptrace.Traces{}, &NotFoundError{What: "trace " + hex.EncodeToString(id[:])}
	case isTooLarge(err):
		return ptrace.Traces{}, &InputError{Param: "traceID", Position: -1,
			Msg: fmt.Sprintf("trace %s has more than %d spans, the limit of one response", hex.EncodeToString(id[:]), s.limits.MaxSpans)}
	}
	return td, s.classifyIn(ctx, err)
}

// traceReadSettings are the settings of reading whole traces: more spans
// than maxSpans fail in ClickHouse instead of being read whole, and one
// thread reads them. A trace read takes a few granules out of a few parts,
// too little to share between threads: on 10M spans, one thread cut the
// engine's CPU for a trace by id by ~20% (24–27 → 19–20 ms) and for the 20
// traces of a search by a third (52 → 34 ms), at the same latency.
func traceReadSettings(maxSpans int) clickhouse.Settings {
	return clickhouse.Settings{"max_result_rows": maxSpans, "max_threads": 1}
}

// TraceQuery finds traces that hold at least one span matching every
// condition (Jaeger's search semantics).
type TraceQuery struct {
	Service   string // required
	Operation string // span name; empty: any
	// Attributes are "key" → "value" filters on the span's attributes
	// ("resource.<key>" filters the resource's; keys of the resource
	// semantic conventions, such as host.name, filter both). The value's
	// text decides the type it compares as: an integer or decimal number
	// against int and double attributes, true or false against bool
	// attributes, anything else against strings (a number or bool also
	// matches the same text stored as a string).
	// Jaeger's special tags work too: error=true, span.kind=server,
	// otel.status_code=ERROR, otel.status_description, otel.scope.name,
	// otel.scope.version, w3c.tracestate.
	Attributes  map[string]string
	MinDuration time.Duration
	MaxDuration time.Duration
	Range       TimeRange
	Limit       int // traces; 0 means 20
}

// DefaultTraceLimit is the number of traces a search returns by default.
const DefaultTraceLimit = 20

// FindTraces returns whole traces, most recent match first. A trace that
// disappears between the search and the read (TTL) is left out.
func (s *Service) FindTraces(ctx context.Context, q TraceQuery) ([]ptrace.Traces, error) {
	sql, args, err := s.findTraceIDsSQL(q)
	if err != nil {
		return nil, err
	}
	ids, err := s.findTraceIDs(ctx, q, sql, args)
	if err != nil {
		return nil, err
	}
	traces, err := s.getTraces(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]ptrace.Traces, 0, len(ids))
	spans := 0
	for _, td := range traces {
		if td == (ptrace.Traces{}) {
			continue // gone since the search (TTL)
		}
		if spans += td.SpanCount(); spans > s.limits.MaxSpans {
			return nil, inputError("limit", "the matching traces hold more than %d spans, the limit of one response; lower the limit or narrow the search", s.limits.MaxSpans)
		}
		out = append(out, td)
	}
	return out, nil
}

// Search windows: findTraceIDs reads the newest firstSearchWindow of the
// range, then wider windows further back until it has the limit or has
// read the whole range.
const (
	firstSearchWindow = time.Minute
	// searchWindowGrowth bounds how much wider each window is than the
	// last.
	searchWindowGrowth = 4
)

// findTraceIDs runs the id search (findTraceIDsSQL) over windows from the
// newest, and returns up to q.Limit trace ids, most recent match first.
//
// One query over the whole range reads the newest granules of every part
// that holds any of the range, and before merges that is every part:
// even in reverse order with one thread it decompressed the whole last
// hour (1M spans in 20 parts: 8.4 MB). A window of a few minutes reads
// only those minutes' granules of each part. A busy service fills the limit
// from the first window or two; after that, the matches found so far size
// the next window. Rare matches (nothing in two windows) read the rest of
// the range at once, so they pay two small queries more than one query
// would. Measured at 10M spans (14–18 parts, no forced merges), together
// with the 2048-row granules 0001 had then: service + operation over the
// last hour 160 -> 71 ms p50 (its id search alone, limit 1: 124 -> 43 ms);
// user.id over 24h 84 -> 88–98 ms. (Spans now have 8192-row granules in
// compact parts, 0007, which is faster again for both.)
func (s *Service) findTraceIDs(ctx context.Context, q TraceQuery, sql string, args []any) ([]pcommon.TraceID, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultTraceLimit
	}
	// The window's bounds are the first two parameters (findTraceIDsSQL).
	args = slices.Clone(args)
	startArg, endArg := args[0].(driver.NamedValue), args[1].(driver.NamedValue)
	var ids []pcommon.TraceID
	seen := make(map[pcommon.TraceID]struct{}, limit)
	end, width := q.Range.End, firstSearchWindow
	windows := 0 // read so far
	for {
		start := end.Add(-width)
		last := !start.After(q.Range.Start)
		if last {
			start = q.Range.Start
		}
		startArg.Value, endArg.Value = start, end
		args[0], args[1] = startArg, endArg
		// One reading thread reads the window's newest minutes first and
		// stops at the limit; more threads would read older minutes in
		// parallel for nothing.
		err := s.queryWith(ctx, clickhouse.Settings{"max_threads": 1}, sql, args, func(rows driver.Rows) error {
			var raw string
			var ts time.Time
			if err := rows.Scan(&raw, &ts); err != nil {
				return err
			}
			// A trace with matches in two windows (or on the instant both
			// bounds include) keeps its place from the newer one.
			id := traceIDFrom(raw)
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(ids) >= limit || last {
			break
		}
		windows++
		switch read := q.Range.End.Sub(start); {
		case len(ids) == 0 && windows >= 2:
			// Nothing in two windows: the matches are rare (an attribute
			// value, an error), and each further window would read little
			// but pay a query's fixed cost; read the rest at once.
			width = start.Sub(q.Range.Start)
		case len(ids) == 0:
			// One empty window says little: a range often ends at "now",
			// after the newest span stored.
			width *= searchWindowGrowth
		default:
			// The matches so far predict how much more to read; half as
			// much again makes another window unlikely.
			need := time.Duration(float64(read) * float64(limit-len(ids)) / float64(len(ids)) * 1.5)
			width = min(max(need, width), width*searchWindowGrowth)
		}
		end = start
	}
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// getTraces reads the traces of a search in one go (tracestore.Reader's
// GetTraces: two queries whatever the number of traces); a trace not found
// is a zero ptrace.Traces in its place.
func (s *Service) getTraces(ctx context.Context, ids []pcommon.TraceID) ([]ptrace.Traces, error) {
	ctx, done, err := s.slot(ctx, traceReadSettings(s.limits.MaxSpans))
	if err != nil {
		return nil, err
	}
	defer done()
	found, err := s.reader.GetTraces(ctx, ids)
	if isTooLarge(err) {
		return nil, inputError("limit", "the matching traces hold more than %d spans, the limit of one response; lower the limit or narrow the search", s.limits.MaxSpans)
	}
	if err != nil {
		return nil, s.classifyIn(ctx, err)
	}
	out := make([]ptrace.Traces, len(ids))
	for i, id := range ids {
		out[i] = found[id] // zero when not found
	}
	return out, nil
}

func traceIDFrom(b string) pcommon.TraceID {
	var id pcommon.TraceID
	copy(id[:], b)
	return id
}

func (s *Service) findTraceIDsSQL(q TraceQuery) (string, []any, error) {
	if q.Service == "" {
		return "", nil, inputError("service", "a service is required (GET /api/services lists them)")
	}
	if err := checkRange(q.Range, s.limits.MaxTimeRange); err != nil {
		return "", nil, err
	}
	if q.Limit <= 0 {
		q.Limit = DefaultTraceLimit
	}
	if q.Limit > s.limits.MaxTraces {
		return "", nil, inputError("limit", "limit %d is over the maximum of %d traces", q.Limit, s.limits.MaxTraces)
	}
	if q.MinDuration < 0 || q.MaxDuration < 0 {
		return "", nil, inputError("minDuration", "durations cannot be negative")
	}
	if q.MaxDuration > 0 && q.MaxDuration < q.MinDuration {
		return "", nil, inputError("maxDuration", "maxDuration (%s) is shorter than minDuration (%s)", q.MaxDuration, q.MinDuration)
	}
	p := chsql.NewParams("p")
	where := []string{
		// The time bounds come first: findTraceIDs replaces them with each
		// window's.
		"Timestamp >= " + p.Add("DateTime64(9)", q.Range.Start),
		"Timestamp <= " + p.Add("DateTime64(9)", q.Range.End),
		"ServiceName = " + p.Add("String", q.Service),
	}
	if q.Operation != "" {
		where = append(where, "SpanName = "+p.Add("String", q.Operation))
	}
	if q.MinDuration > 0 {
		where = append(where, "Duration >= "+p.Add("UInt64", uint64(q.MinDuration)))
	}
	if q.MaxDuration > 0 {
		where = append(where, "Duration <= "+p.Add("UInt64", uint64(q.MaxDuration)))
	}
	keys := make([]string, 0, len(q.Attributes))
	for k := range q.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cond, err := tagCondition(p, k, q.Attributes[k])
		if err != nil {
			return "", nil, err
		}
		where = append(where, cond)
	}
	// Newest first in the table's own order (minute, then time), one row
	// per trace, stopping at the limit: ClickHouse reads the newest minutes
	// backwards and need not look at older ones once it has enough traces.
	sql := "SELECT TraceId, Timestamp\nFROM " + s.t.spans + "\nWHERE " + strings.Join(where, "\n  AND ") +
		"\nORDER BY toStartOfMinute(Timestamp) DESC, Timestamp DESC, TraceId\nLIMIT 1 BY TraceId\nLIMIT " + p.Add("UInt32", uint32(q.Limit))
	return sql, p.Args(), nil
}

// spanKinds maps Jaeger's span.kind values to the SpanKind enum.
var spanKinds = map[string]ptrace.SpanKind{
	"unspecified": ptrace.SpanKindUnspecified, "internal": ptrace.SpanKindInternal, "server": ptrace.SpanKindServer,
	"client": ptrace.SpanKindClient, "producer": ptrace.SpanKindProducer, "consumer": ptrace.SpanKindConsumer,
}

var statusCodes = map[string]ptrace.StatusCode{
	"unset": ptrace.StatusCodeUnset, "ok": ptrace.StatusCodeOk, "error": ptrace.StatusCodeError,
}

// tagCondition is one Jaeger tag filter. Jaeger shows span fields as tags
// (see query/api), so those tags filter the fields; other keys filter the
// span's attributes or its resource's.
func tagCondition(p *chsql.Params, key, value string) (string, error) {
	switch key {
	case "error":
		switch strings.ToLower(value) {
		case "true":
			return "StatusCode = 'Error'", nil
		case "false":
			return "StatusCode != 'Error'", nil
		}
		return "", inputError("tags", "error must be true or false, not %q", value)
	case "span.kind":
		k, ok := spanKinds[strings.ToLower(value)]
		if !ok {
			return "", inputError("tags", "span.kind %q is not one of server, client, producer, consumer, internal, unspecified", value)
		}
		return "CAST(SpanKind, 'Int8') = " + p.Add("Int8", int8(k)), nil
	case "otel.status_code":
		c, ok := statusCodes[strings.ToLower(value)]
		if !ok {
			return "", inputError("tags", "otel.status_code %q is not one of OK, ERROR, UNSET", value)
		}
		return "CAST(StatusCode, 'Int8') = " + p.Add("Int8", int8(c)), nil
	case "otel.status_description":
		return "StatusMessage = " + p.Add("String", value), nil
	case "otel.scope.name", "otel.library.name":
		return "ScopeName = " + p.Add("String", value), nil
	case "otel.scope.version", "otel.library.version":
		return "ScopeVersion = " + p.Add("String", value), nil
	case "w3c.tracestate":
		return "TraceState = " + p.Add("String", value), nil
	}
	if key == "" || key == "resource." {
		return "", inputError("tags", "a tag has an empty key")
	}
	v := chsql.ParseValue(value)
	if rk, ok := strings.CutPrefix(key, "resource."); ok {
		return chsql.JSONAttrPredicate(p, chsql.ResourceAttributes, rk, chsql.Eq, v)
	}
	span, err := chsql.AttrPredicate(p, schema.Attrs, key, chsql.Eq, v)
	if err != nil || !isResourceKey(key) {
		return span, err
	}
	res, err := chsql.JSONAttrPredicate(p, chsql.ResourceAttributes, key, chsql.Eq, v)
	return "(" + span + " OR " + res + ")", err
}

// resourceNamespaces are the OpenTelemetry semantic-convention namespaces
// of resource attributes. Jaeger shows resource attributes as process tags
// and searches them too; Tracehouse does so for these keys (and for any key
// written as resource.<key>), and searches other keys in the span's own
// attributes only, where the bloom filter index can prune.
var resourceNamespaces = []string{
	"service.", "host.", "k8s.", "container.", "process.", "os.", "cloud.", "deployment.", "telemetry.",
	"faas.", "device.", "browser.", "webengine.", "aws.ecs.", "aws.eks.", "aws.log.", "gcp.", "azure.", "heroku.",
}

func isResourceKey(key string) bool {
	for _, ns := range resourceNamespaces {
		if strings.HasPrefix(key, ns) {
			return true
		}
	}
	return false
}

// Operation is a span name of a service, with its kind.
type Operation struct {
	Name string
	Kind ptrace.SpanKind
}

// Services lists the services that sent spans, sorted.
func (s *Service) Services(ctx context.Context) ([]string, error) {
	out := []string{}
	err := s.query(ctx, "SELECT DISTINCT ServiceName FROM "+s.t.red1m+" WHERE ServiceName != '' ORDER BY ServiceName", nil,
		func(rows driver.Rows) error {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			out = append(out, name)
			return nil
		})
	return out, err
}

// ParseSpanKind reads a span kind as Jaeger writes it (server, client, …);
// ok is false for anything else.
func ParseSpanKind(s string) (ptrace.SpanKind, bool) {
	k, ok := spanKinds[strings.ToLower(s)]
	return k, ok
}

// Operations lists a service's operations sorted by name and kind; kind
// filters when not nil.
func (s *Service) Operations(ctx context.Context, service string, kind *ptrace.SpanKind) ([]Operation, error) {
	if service == "" {
		return nil, inputError("service", "a service is required (GET /api/services lists them)")
	}
	p := chsql.NewParams("p")
	sql := "SELECT SpanName, CAST(SpanKind, 'Int8') AS kind FROM " + s.t.red1m + " WHERE ServiceName = " + p.Add("String", service)
	if kind != nil {
		sql += " AND kind = " + p.Add("Int8", int8(*kind))
	}
	sql += " GROUP BY SpanName, kind ORDER BY SpanName, kind"
	out := []Operation{}
	err := s.query(ctx, sql, p.Args(), func(rows driver.Rows) error {
		var op Operation
		var k int8
		if err := rows.Scan(&op.Name, &k); err != nil {
			return err
		}
		op.Kind = ptrace.SpanKind(k)
		out = append(out, op)
		return nil
	})
	return out, err
}

// Dependency is a parent → child service call count.
type Dependency struct {
	Parent, Child string
	Calls         uint64
}

// Dependencies are the service calls in a time range, from the per-minute
// service edges; minutes are whole (the range's start is rounded down).
func (s *Service) Dependencies(ctx context.Context, r TimeRange) ([]Dependency, error) {
	r.Start = r.Start.Truncate(time.Minute)
	if err := checkRange(r, s.limits.MaxAggregateRange); err != nil {
		return nil, err
	}
	p := chsql.NewParams("p")
	sql := "SELECT ParentService, ChildService, sum(Calls) FROM " + s.t.edges1m +
		" WHERE Timestamp >= " + p.Add("DateTime", r.Start.Truncate(time.Second)) +
		" AND Timestamp < " + p.Add("DateTime", ceilSecond(r.End)) +
		" GROUP BY ParentService, ChildService ORDER BY ParentService, ChildService"
	out := []Dependency{}
	err := s.query(ctx, sql, p.Args(), func(rows driver.Rows) error {
		var d Dependency
		if err := rows.Scan(&d.Parent, &d.Child, &d.Calls); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

func ceilSecond(t time.Time) time.Time {
	if t.Truncate(time.Second).Equal(t) {
		return t
	}
	return t.Truncate(time.Second).Add(time.Second)
}
