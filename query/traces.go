package query

import (
	"context"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/reader"
)

// GetTrace returns every span of a trace.
func (s *Service) GetTrace(ctx context.Context, id pcommon.TraceID) (ptrace.Traces, error) {
	if id.IsEmpty() {
		return ptrace.Traces{}, inputError("traceID", "the trace id is all zeroes")
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return ptrace.Traces{}, err
	}
	defer release()
	td, err := s.store.GetTrace(ctx, id)
	if errors.Is(err, reader.ErrTraceNotFound) {
		return ptrace.Traces{}, &NotFoundError{What: "trace " + hex.EncodeToString(id[:])}
	}
	return td, classify(err, func(e *reader.TooLargeError) error {
		return inputError("traceID", "trace %s has more than %d spans, the limit of one response", hex.EncodeToString(id[:]), e.MaxRows)
	})
}

// TracesByID are the traces GetTraces found, in the order asked for, and
// the ids it did not find.
type TracesByID struct {
	Traces  []ptrace.Traces
	Missing []pcommon.TraceID
}

// GetTraces reads several traces at once: at most Limits.MaxTraceIDs
// distinct ids (repeats are read once), and all of them together at most
// the store's span limit, so one request cannot ask for the same large
// trace over and over.
func (s *Service) GetTraces(ctx context.Context, ids []pcommon.TraceID) (*TracesByID, error) {
	distinct := make([]pcommon.TraceID, 0, len(ids))
	seen := make(map[pcommon.TraceID]bool, len(ids))
	for _, id := range ids {
		if id.IsEmpty() {
			return nil, inputError("traceID", "a trace id is all zeroes")
		}
		if !seen[id] {
			seen[id] = true
			distinct = append(distinct, id)
		}
	}
	if len(distinct) > s.limits.MaxTraceIDs {
		return nil, inputError("traceID", "%d trace ids asked for; the limit is %d per request", len(distinct), s.limits.MaxTraceIDs)
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	found, err := s.store.GetTraces(ctx, distinct)
	if err != nil {
		return nil, classify(err, func(e *reader.TooLargeError) error {
			return inputError("traceID", "the %d traces asked for hold more than %d spans, the limit of one response; ask for fewer traces at a time", len(distinct), e.MaxRows)
		})
	}
	out := &TracesByID{Traces: make([]ptrace.Traces, 0, len(found))}
	for _, id := range distinct {
		if td, ok := found[id]; ok {
			out.Traces = append(out.Traces, td)
		} else {
			out.Missing = append(out.Missing, id)
		}
	}
	return out, nil
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
	Attributes map[string]string
	// Instance keeps the spans of one process of the service: its
	// service.instance.id. Empty: every instance.
	Instance    string
	MinDuration time.Duration
	MaxDuration time.Duration
	Range       TimeRange
	Limit       int // traces; 0 means 20
}

// DefaultTraceLimit is the number of traces a search returns by default.
const DefaultTraceLimit = 20

// FindTraces returns whole traces, most recent match first
// (reader.SearchTraces: the search for a rare attribute value and the read
// of its traces are one statement). A trace that disappears between the
// search and the read (TTL) is left out.
func (s *Service) FindTraces(ctx context.Context, q TraceQuery) ([]ptrace.Traces, error) {
	search, err := s.traceSearch(q)
	if err != nil {
		return nil, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	ids, found, err := s.store.SearchTraces(ctx, search)
	if err != nil {
		return nil, classify(err, func(e *reader.TooLargeError) error {
			return inputError("limit", "the matching traces hold more than %d spans, the limit of one response; lower the limit or narrow the search", e.MaxRows)
		})
	}
	out := make([]ptrace.Traces, 0, len(ids))
	for _, id := range ids {
		if td, ok := found[id]; ok {
			out = append(out, td)
		}
	}
	return out, nil
}

// traceSearch checks a query and turns it into the store's search.
func (s *Service) traceSearch(q TraceQuery) (reader.TraceSearch, error) {
	if q.Service == "" {
		return reader.TraceSearch{}, inputError("service", "a service is required (GET /api/services lists them)")
	}
	if err := checkRange(q.Range, s.limits.MaxTimeRange); err != nil {
		return reader.TraceSearch{}, err
	}
	if q.Limit <= 0 {
		q.Limit = DefaultTraceLimit
	}
	if q.Limit > s.limits.MaxTraces {
		return reader.TraceSearch{}, inputError("limit", "limit %d is over the maximum of %d traces", q.Limit, s.limits.MaxTraces)
	}
	if q.MinDuration < 0 || q.MaxDuration < 0 {
		return reader.TraceSearch{}, inputError("minDuration", "durations cannot be negative")
	}
	if q.MaxDuration > 0 && q.MaxDuration < q.MinDuration {
		return reader.TraceSearch{}, inputError("maxDuration", "maxDuration (%s) is shorter than minDuration (%s)", q.MaxDuration, q.MinDuration)
	}
	search := reader.TraceSearch{
		Service: q.Service, Operation: q.Operation,
		MinDuration: q.MinDuration, MaxDuration: q.MaxDuration,
		Start: q.Range.Start, End: q.Range.End, Limit: q.Limit,
	}
	keys := make([]string, 0, len(q.Attributes))
	for k := range q.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m, err := tagMatch(k, q.Attributes[k])
		if err != nil {
			return reader.TraceSearch{}, err
		}
		search.Matches = append(search.Matches, m)
	}
	if q.Instance != "" {
		search.Matches = append(search.Matches, reader.SpanMatch{Field: reader.ResourceAttr, Key: "service.instance.id", Text: q.Instance})
	}
	return search, nil
}

// spanKinds maps Jaeger's span.kind values to the SpanKind enum.
var spanKinds = map[string]ptrace.SpanKind{
	"unspecified": ptrace.SpanKindUnspecified, "internal": ptrace.SpanKindInternal, "server": ptrace.SpanKindServer,
	"client": ptrace.SpanKindClient, "producer": ptrace.SpanKindProducer, "consumer": ptrace.SpanKindConsumer,
}

var statusCodes = map[string]ptrace.StatusCode{
	"unset": ptrace.StatusCodeUnset, "ok": ptrace.StatusCodeOk, "error": ptrace.StatusCodeError,
}

// tagMatch is one Jaeger tag filter. Jaeger shows span fields as tags (see
// query/api), so those tags filter the fields; other keys filter the span's
// attributes or its resource's.
func tagMatch(key, value string) (reader.SpanMatch, error) {
	switch key {
	case "error":
		switch strings.ToLower(value) {
		case "true":
			return reader.ErrorStatus(false), nil
		case "false":
			return reader.ErrorStatus(true), nil
		}
		return reader.SpanMatch{}, inputError("tags", "error must be true or false, not %q", value)
	case "span.kind":
		k, ok := spanKinds[strings.ToLower(value)]
		if !ok {
			return reader.SpanMatch{}, inputError("tags", "span.kind %q is not one of server, client, producer, consumer, internal, unspecified", value)
		}
		return reader.SpanMatch{Field: reader.Kind, Enum: int8(k)}, nil
	case "otel.status_code":
		c, ok := statusCodes[strings.ToLower(value)]
		if !ok {
			return reader.SpanMatch{}, inputError("tags", "otel.status_code %q is not one of OK, ERROR, UNSET", value)
		}
		return reader.SpanMatch{Field: reader.StatusCode, Enum: int8(c)}, nil
	case "otel.status_description":
		return reader.SpanMatch{Field: reader.StatusMessage, Text: value}, nil
	case "otel.scope.name", "otel.library.name":
		return reader.SpanMatch{Field: reader.ScopeName, Text: value}, nil
	case "otel.scope.version", "otel.library.version":
		return reader.SpanMatch{Field: reader.ScopeVersion, Text: value}, nil
	case "w3c.tracestate":
		return reader.SpanMatch{Field: reader.TraceState, Text: value}, nil
	}
	if key == "" || key == "resource." {
		return reader.SpanMatch{}, inputError("tags", "a tag has an empty key")
	}
	if rk, ok := strings.CutPrefix(key, "resource."); ok {
		return reader.SpanMatch{Field: reader.ResourceAttr, Key: rk, Text: value}, nil
	}
	if isResourceKey(key) {
		return reader.SpanMatch{Field: reader.SpanOrResourceAttr, Key: key, Text: value}, nil
	}
	return reader.SpanMatch{Field: reader.SpanAttr, Key: key, Text: value}, nil
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
type Operation = reader.Operation

// Services lists the services that sent spans, sorted.
func (s *Service) Services(ctx context.Context) ([]string, error) {
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := s.store.Services(ctx)
	return out, classify(err, nil)
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
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := s.store.Operations(ctx, service, kind)
	return out, classify(err, nil)
}

// Dependency is a parent → child service call count.
type Dependency = reader.Dependency

// Dependencies are the service calls in a time range, from the per-minute
// service edges; minutes are whole (the range's start is rounded down).
func (s *Service) Dependencies(ctx context.Context, r TimeRange) ([]Dependency, error) {
	r.Start = r.Start.Truncate(time.Minute)
	if err := checkRange(r, s.limits.MaxAggregateRange); err != nil {
		return nil, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	out, err := s.store.Dependencies(ctx, r.Start, r.End)
	return out, classify(err, nil)
}
