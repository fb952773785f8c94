package tracestore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-faster/city"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// ErrTraceNotFound is returned by GetTrace when no span of the trace is
// stored.
var ErrTraceNotFound = errors.New("trace not found")

// Reader rebuilds pdata from the stored rows.
type Reader struct {
	conn driver.Conn
	db   string

	traceQuery string
	spanCols   string
	logCols    string
}

// NewReader returns a Reader of the tables in database ("" = "default").
func NewReader(conn driver.Conn, database string) *Reader {
	if database == "" {
		database = schema.DefaultDatabase
	}
	r := &Reader{conn: conn, db: storage.QuoteIdent(database)}
	r.spanCols = selectList(schema.SpansColumns())
	r.logCols = selectList(schema.LogsColumns())
	// The read documented in migrations/0002_trace_index.sql: the trace's
	// time range from trace_index, then one primary-key range of spans,
	// bounded by DateTime64 values (compared with a DateTime, this engine's
	// part pruning drops spans that are not on a whole second).
	r.traceQuery = "WITH (SELECT (min(Start), max(End)) FROM " + r.db + "." + schema.TraceIndexTable +
		" WHERE TraceKey = cityHash64(" + traceIDParam + ")) AS trace_range" +
		" SELECT " + r.spanCols + " FROM " + r.db + "." + schema.SpansTable +
		" WHERE TraceId = " + traceIDParam +
		" AND Timestamp >= toDateTime64(trace_range.1, 9) AND Timestamp < toDateTime64(trace_range.2 + 1, 9)" +
		" ORDER BY Timestamp"
	return r
}

// traceIDParam is the binary trace id from its hex text parameter (binary
// parameters do not survive every transport).
const traceIDParam = "toFixedString(unhex({trace_id:String}), 16)"

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

// GetTrace returns every span of the trace, grouped by resource and scope,
// oldest first. Exact redeliveries of a span (same span id, parent, start,
// duration, service and name — what at-least-once delivery produces) are
// returned once. No span: ErrTraceNotFound.
func (r *Reader) GetTrace(ctx context.Context, traceID pcommon.TraceID) (ptrace.Traces, error) {
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"trace_id": storage.HexParam(traceID[:]),
	}))
	rows, err := r.conn.Query(qctx, r.traceQuery)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("read trace %s: %w", traceID, err)
	}
	defer rows.Close()

	b := newTraceBuilder()
	var row spanRow
	dest := row.dest()
	for rows.Next() {
		row.clearSlices()
		if err := rows.Scan(dest...); err != nil {
			return ptrace.Traces{}, fmt.Errorf("read trace %s: %w", traceID, err)
		}
		b.add(&row)
	}
	if err := rows.Err(); err != nil {
		return ptrace.Traces{}, fmt.Errorf("read trace %s: %w", traceID, err)
	}
	td := b.td
	if td.SpanCount() == 0 {
		return td, ErrTraceNotFound
	}
	return td, nil
}

// GetTraces reads several traces in two queries instead of two per trace:
// their time ranges from trace_index, then one read of spans by primary
// key, narrowed to each trace's own granules. A trace within
// maxKeyMinutes minutes is looked up by its (minute, TraceId) keys with
// one IN: the rows are then filtered by a set lookup instead of
// evaluating a condition per trace on every row read (20 traces: ~20%
// less CPU). Longer traces OR their (time range, id) instead. Traces that
// are not found are absent from the result.
func (r *Reader) GetTraces(ctx context.Context, ids []pcommon.TraceID) (map[pcommon.TraceID]ptrace.Traces, error) {
	out := make(map[pcommon.TraceID]ptrace.Traces, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	byKey := make(map[uint64][]pcommon.TraceID, len(ids))
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		k := traceKey(id)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, strconv.FormatUint(k, 10))
		}
		byKey[k] = append(byKey[k], id)
	}
	rows, err := r.conn.Query(ctx, "SELECT TraceKey, min(Start), max(End) FROM "+r.db+"."+schema.TraceIndexTable+
		" WHERE TraceKey IN ("+strings.Join(keys, ", ")+") GROUP BY TraceKey")
	if err != nil {
		return nil, fmt.Errorf("read time ranges of %d traces: %w", len(ids), err)
	}
	params := clickhouse.Parameters{}
	var pkeys, branches []string
	found := 0
	for rows.Next() {
		var k uint64
		var start, end time.Time
		if err := rows.Scan(&k, &start, &end); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read time ranges of %d traces: %w", len(ids), err)
		}
		// Every span starts in [start, end + 1s); end is a whole second, so
		// the last minute is end's.
		first, last := start.Truncate(time.Minute), end.Truncate(time.Minute)
		for _, id := range byKey[k] {
			n := strconv.Itoa(found)
			found++
			params["t"+n] = storage.HexParam(id[:])
			tid := "toFixedString(unhex({t" + n + ":String}), 16)"
			if last.Sub(first) < maxKeyMinutes*time.Minute {
				for m := first; !m.After(last); m = m.Add(time.Minute) {
					p := "m" + strconv.Itoa(len(pkeys))
					params[p] = strconv.FormatInt(m.UnixNano(), 10)
					pkeys = append(pkeys, "(toStartOfMinute(fromUnixTimestamp64Nano({"+p+":Int64})), "+tid+")")
				}
				continue
			}
			params["s"+n] = strconv.FormatInt(start.UnixNano(), 10)
			params["e"+n] = strconv.FormatInt(end.Add(time.Second).UnixNano(), 10)
			branches = append(branches, "(TraceId = "+tid+
				" AND Timestamp >= fromUnixTimestamp64Nano({s"+n+":Int64}) AND Timestamp < fromUnixTimestamp64Nano({e"+n+":Int64}))")
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read time ranges of %d traces: %w", len(ids), err)
	}
	if found == 0 {
		return out, nil
	}
	if len(pkeys) > 0 {
		// The primary key's own expression, so the IN selects granules.
		branches = append(branches, "(toStartOfMinute(Timestamp), TraceId) IN ("+strings.Join(pkeys, ", ")+")")
	}
	rows, err = r.conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(params)),
		"SELECT "+r.spanCols+" FROM "+r.db+"."+schema.SpansTable+" WHERE "+strings.Join(branches, " OR ")+" ORDER BY Timestamp")
	if err != nil {
		return nil, fmt.Errorf("read %d traces: %w", len(ids), err)
	}
	defer rows.Close()
	builders := make(map[pcommon.TraceID]*traceBuilder, len(branches))
	var row spanRow
	dest := row.dest()
	for rows.Next() {
		row.clearSlices()
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("read %d traces: %w", len(ids), err)
		}
		b := builders[row.TraceID]
		if b == nil {
			b = newTraceBuilder()
			builders[row.TraceID] = b
		}
		b.add(&row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %d traces: %w", len(ids), err)
	}
	for id, b := range builders {
		out[id] = b.td
	}
	return out, nil
}

// maxKeyMinutes is how many minutes a trace may cover and still be read by
// its (minute, TraceId) primary keys in GetTraces.
const maxKeyMinutes = 10

// traceKey is trace_index's key of a trace id: ClickHouse's cityHash64 of
// the 16 bytes (schema.TraceKeyExpr).
func traceKey(id pcommon.TraceID) uint64 { return city.CH64(id[:]) }

// traceBuilder assembles one trace's spans as they are read, grouped by
// resource and scope. Exact redeliveries of a span (same span id, parent,
// start, duration, service and name — what at-least-once delivery produces)
// are kept once.
type traceBuilder struct {
	td     ptrace.Traces
	groups *grouper
	seen   map[spanIdentity]struct{}
}

func newTraceBuilder() *traceBuilder {
	return &traceBuilder{td: ptrace.NewTraces(), groups: newGrouper(), seen: map[spanIdentity]struct{}{}}
}

func (b *traceBuilder) add(row *spanRow) {
	id := spanIdentity{row.SpanID, row.ParentSpanID, row.Timestamp.UnixNano(), row.Duration, row.common.ServiceName, row.SpanName}
	if _, dup := b.seen[id]; dup {
		return
	}
	b.seen[id] = struct{}{}
	row.fill(b.groups.spans(b.td, &row.common).AppendEmpty())
}

type spanIdentity struct {
	spanID, parent pcommon.SpanID
	start          int64
	duration       uint64
	service, name  string
}

// LogFilter selects log records for GetLogs. Zero fields do not filter.
type LogFilter struct {
	// TraceID selects the records of one trace. Without Start/End the
	// trace's time range (from trace_index, widened by LogSlack) bounds the
	// search.
	TraceID pcommon.TraceID
	// ServiceName selects one service's records.
	ServiceName string
	// Start and End bound Timestamp: [Start, End).
	Start, End time.Time
	// Limit caps the records returned (oldest first); 0 means 1000.
	Limit int
}

// LogSlack widens a trace's time range when looking for its logs: records
// are often written just before a span starts or after it ends.
const LogSlack = time.Minute

// GetLogs returns the records that match f, oldest first, grouped by
// resource and scope.
func (r *Reader) GetLogs(ctx context.Context, f LogFilter) (plog.Logs, error) {
	params := clickhouse.Parameters{}
	var where []string
	if !f.TraceID.IsEmpty() {
		params["trace_id"] = storage.HexParam(f.TraceID[:])
		where = append(where, "TraceId = "+traceIDParam)
		if f.Start.IsZero() && f.End.IsZero() {
			start, end, found, err := r.traceRange(ctx, f.TraceID)
			if err != nil {
				return plog.Logs{}, err
			}
			if found {
				f.Start, f.End = start.Add(-LogSlack), end.Add(time.Second+LogSlack)
			}
		}
	}
	if f.ServiceName != "" {
		params["service"] = f.ServiceName
		where = append(where, "ServiceName = {service:String}")
	}
	if !f.Start.IsZero() {
		params["start"] = strconv.FormatInt(f.Start.UnixNano(), 10)
		where = append(where, "Timestamp >= fromUnixTimestamp64Nano({start:Int64})")
	}
	if !f.End.IsZero() {
		params["end"] = strconv.FormatInt(f.End.UnixNano(), 10)
		where = append(where, "Timestamp < fromUnixTimestamp64Nano({end:Int64})")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	query := "SELECT " + r.logCols + " FROM " + r.db + "." + schema.LogsTable
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY Timestamp LIMIT " + strconv.Itoa(limit)

	rows, err := r.conn.Query(clickhouse.Context(ctx, clickhouse.WithParameters(params)), query)
	if err != nil {
		return plog.Logs{}, fmt.Errorf("read logs: %w", err)
	}
	defer rows.Close()
	ld := plog.NewLogs()
	groups := newGrouper()
	var row logRow
	dest := row.dest()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return plog.Logs{}, fmt.Errorf("read logs: %w", err)
		}
		row.fill(groups.records(ld, &row.common).AppendEmpty())
	}
	if err := rows.Err(); err != nil {
		return plog.Logs{}, fmt.Errorf("read logs: %w", err)
	}
	return ld, nil
}

// traceRange is the trace's [first span start, last span end] in whole
// seconds, from trace_index.
func (r *Reader) traceRange(ctx context.Context, traceID pcommon.TraceID) (start, end time.Time, found bool, err error) {
	qctx := clickhouse.Context(ctx, clickhouse.WithParameters(clickhouse.Parameters{
		"trace_id": storage.HexParam(traceID[:]),
	}))
	var n uint64
	err = r.conn.QueryRow(qctx, "SELECT min(Start), max(End), count() FROM "+r.db+"."+schema.TraceIndexTable+
		" WHERE TraceKey = cityHash64("+traceIDParam+")").Scan(&start, &end, &n)
	if err != nil {
		return start, end, false, fmt.Errorf("read time range of trace %s: %w", traceID, err)
	}
	return start, end, n > 0, nil
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
}

// dest lists pointers in schema.LogsColumns order.
func (r *logRow) dest() []any {
	d := []any{&r.Timestamp, &r.Observed, &r.TraceID, &r.SpanID, &r.TraceFlags, &r.SeverityText,
		&r.SeverityNumber, &r.common.ServiceName, &r.Body, &r.BodyType, &r.EventName}
	d = append(d, r.common.dest()...)
	d = append(d, r.Attrs.Dest()...)
	return append(d, &r.Dropped)
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
