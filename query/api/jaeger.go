package api

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/query"
)

// The JSON model of Jaeger's query API (jaeger's model/json package, as its
// UI and Grafana's Jaeger data source read it), and the conversion from
// OpenTelemetry spans that Jaeger itself does (the OTLP → Jaeger
// translator: span kind, status and scope become tags, events become logs,
// links become FOLLOWS_FROM references).

type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
	// Warnings are Jaeger's; Tracehouse puts there why spans of the trace
	// may be missing, which the Jaeger UI shows, and the same as
	// Incomplete (its addition, as in /api/v1/traces/:id).
	Warnings   []string        `json:"warnings"`
	Incomplete *incompleteJSON `json:"incomplete,omitempty"`
}

// withCompleteness marks a trace whose spans may be missing.
func (t jaegerTrace) withCompleteness(c query.Completeness) jaegerTrace {
	if t.Incomplete = renderIncomplete(c); t.Incomplete != nil {
		t.Warnings = append(t.Warnings, t.Incomplete.Reasons...)
	}
	return t
}

type jaegerSpan struct {
	TraceID       string            `json:"traceID"`
	SpanID        string            `json:"spanID"`
	Flags         uint32            `json:"flags,omitempty"`
	OperationName string            `json:"operationName"`
	References    []jaegerReference `json:"references"`
	StartTime     uint64            `json:"startTime"` // µs since the epoch
	Duration      uint64            `json:"duration"`  // µs
	Tags          []jaegerKeyValue  `json:"tags"`
	Logs          []jaegerLog       `json:"logs"`
	ProcessID     string            `json:"processID"`
	Warnings      []string          `json:"warnings"`
}

type jaegerReference struct {
	RefType string `json:"refType"` // CHILD_OF or FOLLOWS_FROM
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerProcess struct {
	ServiceName string           `json:"serviceName"`
	Tags        []jaegerKeyValue `json:"tags"`
}

type jaegerLog struct {
	Timestamp uint64           `json:"timestamp"`
	Fields    []jaegerKeyValue `json:"fields"`
}

type jaegerKeyValue struct {
	Key   string `json:"key"`
	Type  string `json:"type"` // string, bool, int64, float64, binary
	Value any    `json:"value"`
}

type jaegerOperation struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
}

type jaegerDependency struct {
	Parent    string `json:"parent"`
	Child     string `json:"child"`
	CallCount uint64 `json:"callCount"`
}

// jaegerTraceID is how Jaeger prints a trace id: 16 hex digits when the
// high half is zero, 32 otherwise.
func jaegerTraceID(id pcommon.TraceID) string {
	h := hex.EncodeToString(id[:])
	if strings.HasPrefix(h, "0000000000000000") {
		return h[16:]
	}
	return h
}

func jaegerSpanID(id pcommon.SpanID) string { return hex.EncodeToString(id[:]) }

func micros(t pcommon.Timestamp) uint64 { return uint64(t) / 1000 }

// jaegerKind is the span.kind tag value and the operations' spanKind.
func jaegerKind(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindServer:
		return "server"
	case ptrace.SpanKindClient:
		return "client"
	case ptrace.SpanKindProducer:
		return "producer"
	case ptrace.SpanKindConsumer:
		return "consumer"
	case ptrace.SpanKindInternal:
		return "internal"
	}
	return ""
}

func jaegerValue(key string, v pcommon.Value) jaegerKeyValue {
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return jaegerKeyValue{Key: key, Type: "bool", Value: v.Bool()}
	case pcommon.ValueTypeInt:
		return jaegerKeyValue{Key: key, Type: "int64", Value: v.Int()}
	case pcommon.ValueTypeDouble:
		return jaegerKeyValue{Key: key, Type: "float64", Value: v.Double()}
	case pcommon.ValueTypeBytes:
		return jaegerKeyValue{Key: key, Type: "binary", Value: v.Bytes().AsRaw()}
	}
	return jaegerKeyValue{Key: key, Type: "string", Value: v.AsString()}
}

func jaegerTags(dst []jaegerKeyValue, attrs pcommon.Map, skip string) []jaegerKeyValue {
	attrs.Range(func(k string, v pcommon.Value) bool {
		if k != skip {
			dst = append(dst, jaegerValue(k, v))
		}
		return true
	})
	return dst
}

func strTag(key, value string) jaegerKeyValue {
	return jaegerKeyValue{Key: key, Type: "string", Value: value}
}

// toJaeger converts one trace. Spans are sorted by start time (then span
// id); processes are numbered p1, p2, … in the order spans first use them.
func toJaeger(td ptrace.Traces) jaegerTrace {
	type spanRef struct {
		span  ptrace.Span
		scope pcommon.InstrumentationScope
		proc  string
	}
	var spans []spanRef
	procKeys := map[string]string{}
	procs := map[string]jaegerProcess{}
	type pending struct {
		key  string
		proc jaegerProcess
	}
	resProc := make([]pending, td.ResourceSpans().Len())
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		attrs := rs.Resource().Attributes()
		p := jaegerProcess{Tags: jaegerTags([]jaegerKeyValue{}, attrs, "service.name")}
		if v, ok := attrs.Get("service.name"); ok {
			p.ServiceName = v.AsString()
		}
		var key strings.Builder
		key.WriteString(p.ServiceName)
		for _, t := range p.Tags {
			fmt.Fprintf(&key, "\x00%s\x00%s\x00%v", t.Key, t.Type, t.Value)
		}
		resProc[i] = pending{key: key.String(), proc: p}
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j)
			for k := 0; k < ss.Spans().Len(); k++ {
				spans = append(spans, spanRef{span: ss.Spans().At(k), scope: ss.Scope(), proc: resProc[i].key})
			}
		}
	}
	sort.SliceStable(spans, func(i, j int) bool {
		a, b := spans[i].span, spans[j].span
		if a.StartTimestamp() != b.StartTimestamp() {
			return a.StartTimestamp() < b.StartTimestamp()
		}
		return jaegerSpanID(a.SpanID()) < jaegerSpanID(b.SpanID())
	})
	byKey := map[string]jaegerProcess{}
	for _, p := range resProc {
		byKey[p.key] = p.proc
	}
	out := jaegerTrace{Spans: make([]jaegerSpan, 0, len(spans)), Processes: procs}
	for _, s := range spans {
		pid, ok := procKeys[s.proc]
		if !ok {
			pid = fmt.Sprintf("p%d", len(procKeys)+1)
			procKeys[s.proc] = pid
			procs[pid] = byKey[s.proc]
		}
		js := jaegerSpanFrom(s.span, s.scope)
		js.ProcessID = pid
		if out.TraceID == "" {
			out.TraceID = js.TraceID
		}
		out.Spans = append(out.Spans, js)
	}
	return out
}

func jaegerSpanFrom(sp ptrace.Span, scope pcommon.InstrumentationScope) jaegerSpan {
	tid := jaegerTraceID(sp.TraceID())
	js := jaegerSpan{
		TraceID:       tid,
		SpanID:        jaegerSpanID(sp.SpanID()),
		OperationName: sp.Name(),
		References:    []jaegerReference{},
		StartTime:     micros(sp.StartTimestamp()),
		Tags:          []jaegerKeyValue{},
		Logs:          []jaegerLog{},
	}
	if sp.EndTimestamp() > sp.StartTimestamp() {
		js.Duration = micros(sp.EndTimestamp()) - micros(sp.StartTimestamp())
	}
	if !sp.ParentSpanID().IsEmpty() {
		js.References = append(js.References, jaegerReference{RefType: "CHILD_OF", TraceID: tid, SpanID: jaegerSpanID(sp.ParentSpanID())})
	}
	for i := 0; i < sp.Links().Len(); i++ {
		l := sp.Links().At(i)
		js.References = append(js.References, jaegerReference{RefType: "FOLLOWS_FROM", TraceID: jaegerTraceID(l.TraceID()), SpanID: jaegerSpanID(l.SpanID())})
	}
	if scope.Name() != "" {
		js.Tags = append(js.Tags, strTag("otel.scope.name", scope.Name()))
	}
	if scope.Version() != "" {
		js.Tags = append(js.Tags, strTag("otel.scope.version", scope.Version()))
	}
	js.Tags = jaegerTags(js.Tags, sp.Attributes(), "")
	if k := jaegerKind(sp.Kind()); k != "" {
		js.Tags = append(js.Tags, strTag("span.kind", k))
	}
	switch sp.Status().Code() {
	case ptrace.StatusCodeError:
		js.Tags = append(js.Tags, strTag("otel.status_code", "ERROR"), jaegerKeyValue{Key: "error", Type: "bool", Value: true})
	case ptrace.StatusCodeOk:
		js.Tags = append(js.Tags, strTag("otel.status_code", "OK"))
	}
	if msg := sp.Status().Message(); msg != "" {
		js.Tags = append(js.Tags, strTag("otel.status_description", msg))
	}
	if ts := sp.TraceState().AsRaw(); ts != "" {
		js.Tags = append(js.Tags, strTag("w3c.tracestate", ts))
	}
	for i := 0; i < sp.Events().Len(); i++ {
		ev := sp.Events().At(i)
		l := jaegerLog{Timestamp: micros(ev.Timestamp()), Fields: []jaegerKeyValue{}}
		if ev.Name() != "" {
			l.Fields = append(l.Fields, strTag("event", ev.Name()))
		}
		l.Fields = jaegerTags(l.Fields, ev.Attributes(), "")
		js.Logs = append(js.Logs, l)
	}
	return js
}
