package reader

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
)

// selectList quotes the columns and reads enums as their OTLP numbers.
func selectList(columns []string) string {
	out := make([]string, len(columns))
	for i, c := range columns {
		switch c {
		case "SpanKind", "StatusCode", "BodyType":
			out[i] = "toInt8(" + c + ")"
		default:
			out[i] = "`" + c + "`"
		}
	}
	return strings.Join(out, ", ")
}

// AttrMaps holds one attribute set as read: the five typed columns
// (schema.AttrColumns). Exported so that other readers of the tables (the
// query package's log search) restore attributes exactly as Reader does.
type AttrMaps struct {
	Str   map[string]string
	Int   map[string]int64
	Float map[string]float64
	Bool  map[string]bool
	Other map[string]string
}

// Dest lists pointers to scan the five columns into, in schema order.
func (m *AttrMaps) Dest() []any { return []any{&m.Str, &m.Int, &m.Float, &m.Bool, &m.Other} }

func (m *AttrMaps) len() int {
	return len(m.Str) + len(m.Int) + len(m.Float) + len(m.Bool) + len(m.Other)
}

// PutInto adds the attributes to dst, grouped by type and sorted by key
// within each (ClickHouse maps do not keep the original order).
func (m *AttrMaps) PutInto(dst pcommon.Map) {
	dst.EnsureCapacity(m.len())
	for _, k := range sortedKeys(m.Str) {
		dst.PutStr(k, m.Str[k])
	}
	for _, k := range sortedKeys(m.Int) {
		dst.PutInt(k, m.Int[k])
	}
	for _, k := range sortedKeys(m.Float) {
		dst.PutDouble(k, m.Float[k])
	}
	for _, k := range sortedKeys(m.Bool) {
		dst.PutBool(k, m.Bool[k])
	}
	for _, k := range sortedKeys(m.Other) {
		if err := anyvalue.DecodeValue(m.Other[k], dst.PutEmpty(k)); err != nil {
			dst.PutStr(k, m.Other[k]) // keep the text rather than lose the attribute
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// commonColumns are the resource and scope columns shared by spans and logs.
type commonColumns struct {
	ServiceName    string
	Resource       string // attributes JSON
	ResDropped     uint32
	ResSchemaURL   string
	ScopeName      string
	ScopeVersion   string
	Scope          string // attributes JSON
	ScopeDropped   uint32
	ScopeSchemaURL string
}

// dest lists pointers in schema order, from ResourceAttributes to
// ScopeSchemaUrl.
func (c *commonColumns) dest() []any {
	return []any{&c.Resource, &c.ResDropped, &c.ResSchemaURL, &c.ScopeName, &c.ScopeVersion,
		&c.Scope, &c.ScopeDropped, &c.ScopeSchemaURL}
}

func (c *commonColumns) resourceKey(b []byte) []byte {
	b = append(b, c.Resource...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(c.ResDropped), 10)
	b = append(b, 0)
	return append(b, c.ResSchemaURL...)
}

func (c *commonColumns) scopeKey(b []byte) []byte {
	b = append(b, c.ScopeName...)
	b = append(b, 0)
	b = append(b, c.ScopeVersion...)
	b = append(b, 0)
	b = append(b, c.Scope...)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(c.ScopeDropped), 10)
	b = append(b, 0)
	return append(b, c.ScopeSchemaURL...)
}

// grouper puts rows into ResourceSpans/ScopeSpans (or the log equivalents)
// by the identity of their resource and scope columns.
type grouper struct {
	key       []byte
	resources map[string]int
	scopes    map[string]int
	scopeKey  []byte
}

func newGrouper() *grouper {
	return &grouper{resources: map[string]int{}, scopes: map[string]int{}}
}

func (g *grouper) spans(td ptrace.Traces, c *commonColumns) ptrace.SpanSlice {
	g.key = c.resourceKey(g.key[:0])
	ri, ok := g.resources[string(g.key)]
	if !ok {
		ri = td.ResourceSpans().Len()
		g.resources[string(g.key)] = ri
		rs := td.ResourceSpans().AppendEmpty()
		anyvalue.PutAttributes(c.Resource, rs.Resource().Attributes())
		rs.Resource().SetDroppedAttributesCount(c.ResDropped)
		rs.SetSchemaUrl(c.ResSchemaURL)
	}
	rs := td.ResourceSpans().At(ri)
	g.scopeKey = append(append(append(g.scopeKey[:0], g.key...), 2), c.scopeKey(nil)...)
	si, ok := g.scopes[string(g.scopeKey)]
	if !ok {
		si = rs.ScopeSpans().Len()
		g.scopes[string(g.scopeKey)] = si
		ss := rs.ScopeSpans().AppendEmpty()
		setScope(ss.Scope(), c)
		ss.SetSchemaUrl(c.ScopeSchemaURL)
	}
	return rs.ScopeSpans().At(si).Spans()
}

func (g *grouper) records(ld plog.Logs, c *commonColumns) plog.LogRecordSlice {
	g.key = c.resourceKey(g.key[:0])
	ri, ok := g.resources[string(g.key)]
	if !ok {
		ri = ld.ResourceLogs().Len()
		g.resources[string(g.key)] = ri
		rl := ld.ResourceLogs().AppendEmpty()
		anyvalue.PutAttributes(c.Resource, rl.Resource().Attributes())
		rl.Resource().SetDroppedAttributesCount(c.ResDropped)
		rl.SetSchemaUrl(c.ResSchemaURL)
	}
	rl := ld.ResourceLogs().At(ri)
	g.scopeKey = append(append(append(g.scopeKey[:0], g.key...), 2), c.scopeKey(nil)...)
	si, ok := g.scopes[string(g.scopeKey)]
	if !ok {
		si = rl.ScopeLogs().Len()
		g.scopes[string(g.scopeKey)] = si
		sl := rl.ScopeLogs().AppendEmpty()
		setScope(sl.Scope(), c)
		sl.SetSchemaUrl(c.ScopeSchemaURL)
	}
	return rl.ScopeLogs().At(si).LogRecords()
}

func setScope(s pcommon.InstrumentationScope, c *commonColumns) {
	s.SetName(c.ScopeName)
	s.SetVersion(c.ScopeVersion)
	anyvalue.PutAttributes(c.Scope, s.Attributes())
	s.SetDroppedAttributesCount(c.ScopeDropped)
}

// spanRow is one row of spans as scanned.
type spanRow struct {
	Timestamp     time.Time
	TraceID       pcommon.TraceID
	SpanID        pcommon.SpanID
	ParentSpanID  pcommon.SpanID
	TraceState    string
	Flags         uint32
	SpanName      string
	SpanKind      int8
	Duration      uint64
	StatusCode    int8
	StatusMessage string
	common        commonColumns
	Attrs         AttrMaps
	Dropped       uint32

	EventTime     []time.Time
	EventName     []string
	EventAttrs    []string
	EventDropped  []uint32
	DroppedEvents uint32

	LinkTraceID    []string
	LinkSpanID     []string
	LinkTraceState []string
	LinkFlags      []uint32
	LinkAttrs      []string
	LinkDropped    []uint32
	DroppedLinks   uint32
}

// dest lists pointers in schema.SpansColumns order.
func (r *spanRow) dest() []any {
	d := []any{&r.Timestamp, &r.TraceID, &r.SpanID, &r.ParentSpanID, &r.TraceState, &r.Flags,
		&r.SpanName, &r.SpanKind, &r.Duration, &r.StatusCode, &r.StatusMessage, &r.common.ServiceName}
	d = append(d, r.common.dest()...)
	d = append(d, r.Attrs.Dest()...)
	return append(d, &r.Dropped,
		&r.EventTime, &r.EventName, &r.EventAttrs, &r.EventDropped, &r.DroppedEvents,
		&r.LinkTraceID, &r.LinkSpanID, &r.LinkTraceState, &r.LinkFlags, &r.LinkAttrs, &r.LinkDropped, &r.DroppedLinks)
}

// clearSlices drops the previous row's arrays: the driver appends to a
// non-nil destination slice in some versions.
func (r *spanRow) clearSlices() {
	r.EventTime, r.EventName, r.EventAttrs, r.EventDropped = nil, nil, nil, nil
	r.LinkTraceID, r.LinkSpanID, r.LinkTraceState, r.LinkFlags, r.LinkAttrs, r.LinkDropped = nil, nil, nil, nil, nil, nil
}

func (r *spanRow) fill(s ptrace.Span) {
	s.SetTraceID(r.TraceID)
	s.SetSpanID(r.SpanID)
	s.SetParentSpanID(r.ParentSpanID)
	s.TraceState().FromRaw(r.TraceState)
	s.SetFlags(r.Flags)
	s.SetName(r.SpanName)
	s.SetKind(ptrace.SpanKind(r.SpanKind))
	start := pcommon.NewTimestampFromTime(r.Timestamp)
	s.SetStartTimestamp(start)
	s.SetEndTimestamp(start + pcommon.Timestamp(r.Duration))
	s.Status().SetCode(ptrace.StatusCode(r.StatusCode))
	s.Status().SetMessage(r.StatusMessage)
	r.Attrs.PutInto(s.Attributes())
	s.SetDroppedAttributesCount(r.Dropped)

	events := s.Events()
	events.EnsureCapacity(len(r.EventTime))
	for i := range r.EventTime {
		ev := events.AppendEmpty()
		ev.SetTimestamp(pcommon.NewTimestampFromTime(r.EventTime[i]))
		if i < len(r.EventName) {
			ev.SetName(r.EventName[i])
		}
		if i < len(r.EventAttrs) {
			anyvalue.PutAttributes(r.EventAttrs[i], ev.Attributes())
		}
		if i < len(r.EventDropped) {
			ev.SetDroppedAttributesCount(r.EventDropped[i])
		}
	}
	s.SetDroppedEventsCount(r.DroppedEvents)

	links := s.Links()
	links.EnsureCapacity(len(r.LinkTraceID))
	for i := range r.LinkTraceID {
		l := links.AppendEmpty()
		var tid pcommon.TraceID
		copy(tid[:], r.LinkTraceID[i])
		l.SetTraceID(tid)
		if i < len(r.LinkSpanID) {
			var sid pcommon.SpanID
			copy(sid[:], r.LinkSpanID[i])
			l.SetSpanID(sid)
		}
		if i < len(r.LinkTraceState) {
			l.TraceState().FromRaw(r.LinkTraceState[i])
		}
		if i < len(r.LinkFlags) {
			l.SetFlags(r.LinkFlags[i])
		}
		if i < len(r.LinkAttrs) {
			anyvalue.PutAttributes(r.LinkAttrs[i], l.Attributes())
		}
		if i < len(r.LinkDropped) {
			l.SetDroppedAttributesCount(r.LinkDropped[i])
		}
	}
	s.SetDroppedLinksCount(r.DroppedLinks)
}

// logRow is one row of logs as scanned.
type logRow struct {
	Timestamp      time.Time
	Observed       time.Time
	TraceID        pcommon.TraceID
	SpanID         pcommon.SpanID
	TraceFlags     uint32
	SeverityText   string
	SeverityNumber uint8
	Body           string
	BodyType       int8
	EventName      string
	common         commonColumns
	Attrs          AttrMaps
	Dropped        uint32
	Tiebreak       uint64 // LogPos.Tiebreak, when selected
}

// dest lists pointers in schema.LogsColumns order, then the tiebreak when
// the statement selects it.
func (r *logRow) dest(withTiebreak bool) []any {
	d := []any{&r.Timestamp, &r.Observed, &r.TraceID, &r.SpanID, &r.TraceFlags, &r.SeverityText,
		&r.SeverityNumber, &r.common.ServiceName, &r.Body, &r.BodyType, &r.EventName}
	d = append(d, r.common.dest()...)
	d = append(d, r.Attrs.Dest()...)
	d = append(d, &r.Dropped)
	if withTiebreak {
		d = append(d, &r.Tiebreak)
	}
	return d
}

func (r *logRow) fill(l plog.LogRecord) {
	l.SetTimestamp(pcommon.NewTimestampFromTime(r.Timestamp))
	if r.Observed.UnixNano() != 0 {
		l.SetObservedTimestamp(pcommon.NewTimestampFromTime(r.Observed))
	}
	l.SetTraceID(r.TraceID)
	l.SetSpanID(r.SpanID)
	l.SetFlags(plog.LogRecordFlags(r.TraceFlags))
	l.SetSeverityText(r.SeverityText)
	l.SetSeverityNumber(plog.SeverityNumber(r.SeverityNumber))
	anyvalue.SetBody(l.Body(), r.Body, pcommon.ValueType(r.BodyType))
	l.SetEventName(r.EventName)
	r.Attrs.PutInto(l.Attributes())
	l.SetDroppedAttributesCount(r.Dropped)
}
