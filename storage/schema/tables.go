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
	// PeerCalls1mTable holds per-minute calls per caller → peer service as
	// the caller saw them, breaker short-circuits included (0009). Filled
	// by a materialized view on spans.
	PeerCalls1mTable = "peer_calls_1m"
	// BrokerEdgeEventsTable receives one row per delivery of a message from
	// a producer span to a consumer span from the exporter (0012). It
	// stores nothing: a materialized view folds the rows into
	// BrokerEdges1mTable.
	BrokerEdgeEventsTable = "broker_edge_events"
	// BrokerEdges1mTable holds per-minute deliveries, errors, redeliveries,
	// queue delay and processing time per producer service → destination →
	// consumer service (0012).
	BrokerEdges1mTable = "broker_edges_1m"
	// Publishes1mTable holds per-minute publish attempts per service and
	// destination (0012). Filled by a materialized view on spans.
	Publishes1mTable = "publishes_1m"
	// REDInstance1mTable is RED1mTable per service.instance.id (0012).
	// Filled by a materialized view on spans.
	REDInstance1mTable = "red_instance_1m"
	// Attributes1hTable holds, per hour, service, signal (span or log) and
	// attribute key, how often the key occurs, a sketch of its number of
	// distinct values and its most frequent values (0010). Filled by
	// materialized views on spans and logs.
	Attributes1hTable = "attributes_1h"
	// SavedViewsTable holds the UI's named saved views (0011).
	SavedViewsTable = "saved_views"
	// MigrationsTable records applied migrations.
	MigrationsTable = "schema_migrations"
)

// SpansTimeBucket is the first column of the spans sort key. Searches that
// want the newest spans first order by it (then Timestamp) so ClickHouse
// reads the newest minutes first and stops at the LIMIT.
const SpansTimeBucket = "toStartOfMinute(Timestamp)"

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

// AttrColumns names the five typed maps that hold the attributes of a span
// or log record. Every attribute goes into exactly one of them by its
// pcommon.ValueType, so strings, numbers and booleans are searchable as
// themselves and every value round-trips:
//
//	Str   Map(LowCardinality(String), LowCardinality(String))  ValueTypeStr
//	Int   Map(LowCardinality(String), Int64)                   ValueTypeInt
//	Float Map(LowCardinality(String), Float64)                 ValueTypeDouble
//	Bool  Map(LowCardinality(String), Bool)                    ValueTypeBool
//	Other Map(LowCardinality(String), String)                  Map, Slice, Bytes
//	      and Empty values, as AnyValue JSON
//
// AnyValue JSON is the OTLP/JSON encoding of one AnyValue: {"stringValue":"a"},
// {"intValue":"1"} (a string, as in OTLP/JSON), {"doubleValue":1.5},
// {"boolValue":true}, {"bytesValue":"<base64>"},
// {"arrayValue":{"values":[<AnyValue JSON>,…]}},
// {"kvlistValue":{"values":[{"key":"k","value":<AnyValue JSON>},…]}} and {}
// for an empty value.
//
// Resource, scope, event and link attributes are each stored as one
// attributes-JSON string: a JSON object from key to AnyValue JSON, keys in
// the pcommon.Map's order, "{}" when empty. Example:
//
//	{"host.name":{"stringValue":"node-1"},"process.pid":{"intValue":"42"}}
//
// The encoding is compact: no whitespace and no HTML escaping (Go:
// json.Encoder.SetEscapeHTML(false)). An equality filter therefore matches
// the key/value fragment, and on the LowCardinality resource and scope columns
// LIKE runs once per distinct set instead of once per row:
//
//	ResourceAttributes LIKE '%"host.name":{"stringValue":"node-1"}%'
//
// (escape % and _ in the fragment). JSONExtract* also works but runs per row.
type AttrColumns struct {
	Str, Int, Float, Bool, Other string
}

// Names lists the five columns in table order.
func (a AttrColumns) Names() []string {
	return []string{a.Str, a.Int, a.Float, a.Bool, a.Other}
}

// Attrs are the typed attribute maps of spans and logs.
var Attrs = AttrColumns{Str: "AttrStr", Int: "AttrInt", Float: "AttrFloat", Bool: "AttrBool", Other: "AttrOther"}

// SpansColumns lists every column of spans in table order: the column list
// for INSERT INTO spans (…) and for a batch. Id columns are binary
// (FixedString(16) trace ids, FixedString(8) span ids; all zeroes = empty),
// Duration is end − start in ns, ServiceName is the resource's service.name
// (also kept in ResourceAttributes). Events.* and Links.* are arrays with one
// element per event or link; their Attributes are attributes JSON.
func SpansColumns() []string {
	cols := []string{
		"Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "Flags",
		"SpanName", "SpanKind", "Duration", "StatusCode", "StatusMessage",
		"ServiceName",
	}
	cols = append(cols, resourceAndScopeColumns()...)
	cols = append(cols, Attrs.Names()...)
	return append(cols,
		"DroppedAttributesCount",
		"Events.Timestamp", "Events.Name", "Events.Attributes", "Events.DroppedAttributesCount",
		"DroppedEventsCount",
		"Links.TraceId", "Links.SpanId", "Links.TraceState", "Links.Flags", "Links.Attributes", "Links.DroppedAttributesCount",
		"DroppedLinksCount",
	)
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

// BrokerEdgeEventsColumns lists the columns the exporter inserts into
// broker_edge_events (see migrations/0012_async_paths.sql).
func BrokerEdgeEventsColumns() []string {
	return []string{"Timestamp", "ProducerService", "System", "Destination", "ConsumerService", "QueueDelay", "Duration", "IsError", "Redelivery"}
}

// resourceAndScopeColumns are the same in spans and logs.
func resourceAndScopeColumns() []string {
	return []string{
		"ResourceAttributes", "ResourceDroppedAttributesCount", "ResourceSchemaUrl",
		"ScopeName", "ScopeVersion", "ScopeAttributes", "ScopeDroppedAttributesCount", "ScopeSchemaUrl",
	}
}
