-- 0001_spans: one row per span, full OTLP fidelity.
--
-- Layout: rows are sorted by (minute, TraceId, Timestamp), so the spans of a
-- trace sit next to each other. That keeps the table small (TraceId,
-- ParentSpanId and resource/scope columns compress across the spans of a
-- trace) and makes trace-by-id a primary-key range read once trace_index has
-- given the trace's time range (0002). The minute prefix lets a search read
-- only the newest minutes.
--
-- The span's own attributes are split by OTLP value type so each type is
-- searchable as itself and every value round-trips; an attribute lives in
-- exactly one map:
--   AttrStr   string values
--   AttrInt   int values
--   AttrFloat double values
--   AttrBool  bool values
--   AttrOther array, kvlist, bytes and empty values as AnyValue JSON
-- "AnyValue JSON" is the OTLP/JSON encoding of one AnyValue:
--   {"stringValue":"a"} {"intValue":"1"} {"doubleValue":1.5} {"boolValue":true}
--   {"bytesValue":"<base64>"} {"arrayValue":{"values":[<AnyValue>...]}}
--   {"kvlistValue":{"values":[{"key":"k","value":<AnyValue>}...]}} {}
-- Resource, scope, event and link attributes are rarely searched and read
-- with every span, so each set is one "attributes JSON" string: a JSON
-- object from key to AnyValue JSON, in the attributes' order, e.g.
--   {"host.name":{"stringValue":"node-1"},"process.pid":{"intValue":"42"}}
-- The encoding is compact (no spaces, no HTML escaping), so an equality
-- filter can match the key/value fragment. Resource and scope sets repeat on
-- every span of a service, so they are LowCardinality: nearly free on disk,
-- and LIKE runs once per distinct resource, not per span:
--   ResourceAttributes LIKE '%"host.name":{"stringValue":"node-1"}%'
-- (JSONExtract* works too but runs per row: keep it for ranges on few rows).
--
-- Expected reads (query uses these shapes):
--
--   search by service + operation, newest first: read the newest minutes
--   first and stop at the limit (one reading thread keeps it from reading
--   older minutes in parallel; or query growing windows from the newest):
--     SELECT TraceId, SpanId, Timestamp, Duration, StatusCode FROM spans
--     WHERE Timestamp >= {from} AND Timestamp < {to}
--       AND ServiceName = {service} AND SpanName = {operation}
--     ORDER BY toStartOfMinute(Timestamp) DESC, Timestamp DESC LIMIT 20
--     SETTINGS max_threads = 1
--   idx_service_operation skips granules without the service or the
--   operation, so rare ones do not scan the whole range.
--
--   attribute search: string values are pruned by idx_attr_values, which
--   only serves has(mapValues(…)), so say both:
--     ... WHERE has(mapValues(AttrStr), {value}) AND AttrStr[{key}] = {value}
--   other types filter directly:
--     ... WHERE AttrInt['http.response.status_code'] >= 500
--
--   trace by id: see trace_index (0002).
CREATE TABLE IF NOT EXISTS tracehouse.spans_local ON CLUSTER '{cluster}'
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
    ResourceAttributes LowCardinality(String) CODEC(ZSTD(1)),
    ResourceDroppedAttributesCount UInt32 CODEC(T64, ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName LowCardinality(String) CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes LowCardinality(String) CODEC(ZSTD(1)),
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
        Attributes String,
        DroppedAttributesCount UInt32
    ) CODEC(ZSTD(1)),
    DroppedEventsCount UInt32 CODEC(T64, ZSTD(1)),
    Links Nested(
        TraceId FixedString(16),
        SpanId FixedString(8),
        TraceState String,
        Flags UInt32,
        Attributes String,
        DroppedAttributesCount UInt32
    ) CODEC(ZSTD(1)),
    DroppedLinksCount UInt32 CODEC(T64, ZSTD(1)),
    INDEX idx_attr_keys mapKeys(AttrStr) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_values mapValues(AttrStr) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1,
    INDEX idx_service_operation (ServiceName, SpanName) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(Timestamp)
PRIMARY KEY (toStartOfMinute(Timestamp), TraceId)
ORDER BY (toStartOfMinute(Timestamp), TraceId, Timestamp)
TTL toDateTime(Timestamp) + INTERVAL 7 DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS tracehouse.spans ON CLUSTER '{cluster}' AS tracehouse.spans_local
ENGINE = Distributed('{cluster}', 'tracehouse', 'spans_local', cityHash64(TraceId));
