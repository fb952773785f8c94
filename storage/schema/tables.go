package schema

// Table names as ingest and query use them. In a cluster these are the
// Distributed tables; the data lives in "<name>_local" on each shard.
const (
	// SpansTable holds one row per span (migration 0001).
	SpansTable = "spans"
	// TraceIndexTable maps cityHash64(TraceId) to the trace's time range
	// (0002). Filled by a materialized view on spans; never insert into it.
	TraceIndexTable = "trace_index"
	// LogsTable holds one row per log record (0003).
	LogsTable = "logs"
	// RED1mTable holds per-minute rate/errors/duration per service,
	// operation and span kind (0004). Filled by a materialized view on spans.
	RED1mTable = "red_1m"
	// ServiceEdgeEventsTable receives one row per cross-service call from
	// the exporter (0005). It stores nothing: a materialized view folds the
	// rows into ServiceEdges1mTable.
	ServiceEdgeEventsTable = "service_edge_events"
	// ServiceEdges1mTable holds per-minute calls/errors/duration per
	// parent → child service pair (0005).
	ServiceEdges1mTable = "service_edges_1m"
	// MigrationsTable records applied migrations.
	MigrationsTable = "schema_migrations"
)

// TraceKeyExpr is how trace_index keys a trace id; queries compare
// trace_index.TraceKey with this expression applied to the wanted id, e.g.
// "TraceKey = cityHash64({trace_id:FixedString(16)})".
const TraceKeyExpr = "cityHash64(TraceId)"

// Enum values. They are the OTLP numbers, so the exporter can insert the
// pdata values (as int8) and the reader can convert them back directly.
//
//	SpanKind:   ptrace.SpanKind   (0 Unspecified … 5 Consumer)
//	StatusCode: ptrace.StatusCode (0 Unset, 1 Ok, 2 Error)
//	BodyType:   pcommon.ValueType (0 Empty, 1 Str, 2 Int, 3 Double, 4 Bool,
//	            5 Map, 6 Slice, 7 Bytes)
//	SeverityNumber: plog.SeverityNumber (0 … 24), stored as UInt8.

// AttrColumns names the five typed maps that hold one attribute set. Every
// attribute goes into exactly one of them by its pcommon.ValueType:
//
//	Str   Map(LowCardinality(String), …String)  ValueTypeStr
//	Int   Map(LowCardinality(String), Int64)    ValueTypeInt
//	Float Map(LowCardinality(String), Float64)  ValueTypeDouble
//	Bool  Map(LowCardinality(String), Bool)     ValueTypeBool
//	Other Map(LowCardinality(String), String)   ValueTypeMap, ValueTypeSlice,
//	      ValueTypeBytes and ValueTypeEmpty, as the OTLP/JSON encoding of the
//	      AnyValue ({"arrayValue":…}, {"kvlistValue":…}, {"bytesValue":"<base64>"}, {})
//
// so that strings, numbers and booleans are searchable as themselves and every
// value round-trips. In Events and Links the maps are arrays (one map per
// event or link) under the names "Events.AttrStr", "Links.AttrStr", ….
type AttrColumns struct {
	Str, Int, Float, Bool, Other string
}

// Names lists the five columns in table order.
func (a AttrColumns) Names() []string {
	return []string{a.Str, a.Int, a.Float, a.Bool, a.Other}
}

func attrColumns(prefix string) AttrColumns {
	return AttrColumns{
		Str:   prefix + "AttrStr",
		Int:   prefix + "AttrInt",
		Float: prefix + "AttrFloat",
		Bool:  prefix + "AttrBool",
		Other: prefix + "AttrOther",
	}
}

// The attribute sets of spans and logs.
var (
	// Attrs are the span's or log record's own attributes.
	Attrs = attrColumns("")
	// ResourceAttrs are the resource's attributes.
	ResourceAttrs = attrColumns("Resource")
	// ScopeAttrs are the instrumentation scope's attributes.
	ScopeAttrs = attrColumns("Scope")
	// EventAttrs are the span events' attributes (arrays of maps).
	EventAttrs = attrColumns("Events.")
	// LinkAttrs are the span links' attributes (arrays of maps).
	LinkAttrs = attrColumns("Links.")
)

// SpansColumns lists every column of spans in table order: the column list
// for INSERT INTO spans (…) and for a batch. Id columns are binary
// (FixedString(16) trace ids, FixedString(8) span ids; all zeroes = empty),
// Duration is end − start in ns, ServiceName is the resource's service.name.
func SpansColumns() []string {
	cols := []string{
		"Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "Flags",
		"SpanName", "SpanKind", "Duration", "StatusCode", "StatusMessage",
		"ServiceName",
	}
	cols = append(cols, resourceAndScopeColumns()...)
	cols = append(cols, Attrs.Names()...)
	cols = append(cols, "DroppedAttributesCount")
	cols = append(cols, "Events.Timestamp", "Events.Name")
	cols = append(cols, EventAttrs.Names()...)
	cols = append(cols, "Events.DroppedAttributesCount", "DroppedEventsCount")
	cols = append(cols, "Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Flags")
	cols = append(cols, LinkAttrs.Names()...)
	cols = append(cols, "Links.DroppedAttributesCount", "DroppedLinksCount")
	return cols
}

// LogsColumns lists every column of logs in table order. TraceFlags is the
// log record's full flags field; Body and BodyType are described in
// migrations/0003_logs.sql.
func LogsColumns() []string {
	cols := []string{
		"Timestamp", "ObservedTimestamp", "TraceId", "SpanId", "TraceFlags",
		"SeverityText", "SeverityNumber", "ServiceName", "Body", "BodyType",
		"EventName",
	}
	cols = append(cols, resourceAndScopeColumns()...)
	cols = append(cols, Attrs.Names()...)
	return append(cols, "DroppedAttributesCount")
}

// ServiceEdgeEventsColumns lists the columns the exporter inserts into
// service_edge_events (see migrations/0005_service_edges.sql).
func ServiceEdgeEventsColumns() []string {
	return []string{"Timestamp", "ParentService", "ChildService", "Duration", "IsError"}
}

func resourceAndScopeColumns() []string {
	cols := ResourceAttrs.Names()
	cols = append(cols, "ResourceDroppedAttributesCount", "ResourceSchemaUrl", "ScopeName", "ScopeVersion")
	cols = append(cols, ScopeAttrs.Names()...)
	return append(cols, "ScopeDroppedAttributesCount", "ScopeSchemaUrl")
}
