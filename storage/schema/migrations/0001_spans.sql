-- 0001_spans: one row per span, full OTLP fidelity.
--
-- Layout: rows are sorted by (5-minute bucket, TraceId, Timestamp), so the
-- spans of one trace sit next to each other. That is what keeps the table
-- small (TraceId, ParentSpanId and the per-service resource maps compress
-- across the spans of a trace) and what makes trace-by-id a primary-key range
-- read once trace_index has given the trace's time range (0002).
--
-- Attributes are split by OTLP value type so each type stays searchable as
-- itself and every value round-trips:
--   *AttrStr   string values
--   *AttrInt   int values
--   *AttrFloat double values
--   *AttrBool  bool values
--   *AttrOther array, kvlist and bytes values, as the OTLP/JSON encoding of
--              the AnyValue (e.g. {"arrayValue":{"values":[{"intValue":"1"}]}})
-- An attribute lives in exactly one of the five maps. Resource, scope, event
-- and link attributes use the same split.
--
-- Expected reads (ingest/query use these shapes):
--
--   search by service + operation, newest first (reads the last buckets only):
--     SELECT TraceId, SpanId, Timestamp, Duration, StatusCode FROM spans
--     WHERE Timestamp >= {from} AND Timestamp < {to}
--       AND ServiceName = {service} AND SpanName = {operation}
--     ORDER BY toStartOfFiveMinutes(Timestamp) DESC, Timestamp DESC LIMIT 20
--
--   attribute search (string values are pruned by idx_attr_values):
--     ... WHERE Timestamp >= {from} AND AttrStr['user.id'] = {value} ...
--     ... WHERE Timestamp >= {from} AND AttrInt['http.response.status_code'] >= 500 ...
--
--   trace by id: see trace_index (0002).
CREATE TABLE IF NOT EXISTS {{ local "spans" }}{{ onCluster }}
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId FixedString(16) CODEC(ZSTD(1)),
    SpanId FixedString(8) CODEC(ZSTD(1)),
    ParentSpanId FixedString(8) CODEC(ZSTD(3)),
    TraceState String CODEC(ZSTD(1)),
    Flags UInt32 CODEC(T64, ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind Enum8('Unspecified' = 0, 'Internal' = 1, 'Server' = 2, 'Client' = 3, 'Producer' = 4, 'Consumer' = 5) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(T64, ZSTD(1)),
    StatusCode Enum8('Unset' = 0, 'Ok' = 1, 'Error' = 2) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttrStr Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
    ResourceAttrInt Map(LowCardinality(String), Int64) CODEC(ZSTD(3)),
    ResourceAttrFloat Map(LowCardinality(String), Float64) CODEC(ZSTD(1)),
    ResourceAttrBool Map(LowCardinality(String), Bool) CODEC(ZSTD(1)),
    ResourceAttrOther Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ResourceDroppedAttributesCount UInt32 CODEC(T64, ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName LowCardinality(String) CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttrStr Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
    ScopeAttrInt Map(LowCardinality(String), Int64) CODEC(ZSTD(1)),
    ScopeAttrFloat Map(LowCardinality(String), Float64) CODEC(ZSTD(1)),
    ScopeAttrBool Map(LowCardinality(String), Bool) CODEC(ZSTD(1)),
    ScopeAttrOther Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeDroppedAttributesCount UInt32 CODEC(T64, ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    AttrStr Map(LowCardinality(String), LowCardinality(String)) CODEC(ZSTD(1)),
    AttrInt Map(LowCardinality(String), Int64) CODEC(ZSTD(3)),
    AttrFloat Map(LowCardinality(String), Float64) CODEC(ZSTD(1)),
    AttrBool Map(LowCardinality(String), Bool) CODEC(ZSTD(1)),
    AttrOther Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    DroppedAttributesCount UInt32 CODEC(T64, ZSTD(1)),
    Events Nested(
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        AttrStr Map(LowCardinality(String), String),
        AttrInt Map(LowCardinality(String), Int64),
        AttrFloat Map(LowCardinality(String), Float64),
        AttrBool Map(LowCardinality(String), Bool),
        AttrOther Map(LowCardinality(String), String),
        DroppedAttributesCount UInt32
    ) CODEC(ZSTD(1)),
    DroppedEventsCount UInt32 CODEC(T64, ZSTD(1)),
    Links Nested(
        TraceId FixedString(16),
        SpanId FixedString(8),
        TraceState String,
        Flags UInt32,
        AttrStr Map(LowCardinality(String), String),
        AttrInt Map(LowCardinality(String), Int64),
        AttrFloat Map(LowCardinality(String), Float64),
        AttrBool Map(LowCardinality(String), Bool),
        AttrOther Map(LowCardinality(String), String),
        DroppedAttributesCount UInt32
    ) CODEC(ZSTD(1)),
    DroppedLinksCount UInt32 CODEC(T64, ZSTD(1)),
    INDEX idx_attr_keys mapKeys(AttrStr) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_values mapValues(AttrStr) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
)
ENGINE = {{ engine "MergeTree" }}
PARTITION BY toDate(Timestamp)
PRIMARY KEY (toStartOfFiveMinutes(Timestamp), TraceId)
ORDER BY (toStartOfFiveMinutes(Timestamp), TraceId, Timestamp)
{{- with ttl "spans" }}
{{ . }}
{{- end }}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;
{{- if cluster }}

CREATE TABLE IF NOT EXISTS {{ dist "spans" }}{{ onCluster }} AS {{ local "spans" }}
ENGINE = {{ distributed "spans" "cityHash64(TraceId)" }};
{{- end }}
