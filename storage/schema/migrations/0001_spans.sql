-- 0001_spans: one row per span, full OTLP fidelity.
--
-- (Edited in place twice before the first release: index_granularity 2048
-- with GRANULARITY 4 search indexes, then back to 8192 with GRANULARITY 1
-- once 0007 made every part compact. Migrate accepts a database that applied
-- an earlier text (supersededChecksums in migrate.go); its spans table keeps
-- the earlier granularity, which reads the same rows, only slower.
-- Recreate the table to get this one.)
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
--   search by service + operation, newest first, in windows from the
--   newest (a minute, then wider ones sized by the matches found so far
--   until the limit is found, or the rest at once after two empty ones):
--   with many parts, even a reverse-order read of the whole range with one
--   thread decompresses the newest granule of every part, where a
--   minute's window reads only that minute's granules:
--     SELECT TraceId, Timestamp FROM spans
--     WHERE Timestamp >= {window_from} AND Timestamp <= {window_to}
--       AND ServiceName = {service} AND SpanName = {operation}
--     ORDER BY toStartOfMinute(Timestamp) DESC, Timestamp DESC, TraceId
--     LIMIT 1 BY TraceId LIMIT 20
--     SETTINGS max_threads = 1
--   idx_service_operation skips granules without the service or the
--   operation, so rare ones do not scan the whole range.
--
--   the traces a search found, all at once: their time ranges from
--   trace_index, then the primary key's own expression with IN, so each
--   trace's granules are selected and rows are kept by a set lookup:
--     SELECT * FROM spans
--     WHERE (toStartOfMinute(Timestamp), TraceId) IN ((minute1, id1), ...)
--
--   attribute search: string values are pruned by idx_attr_values, which
--   only serves has(mapValues(…)), so say both:
--     ... WHERE has(mapValues(AttrStr), {value}) AND AttrStr[{key}] = {value}
--   other types filter directly:
--     ... WHERE AttrInt['http.response.status_code'] >= 500
--
--   trace by id: see trace_index (0002). The minute prefix narrows each
--   part to the granule(s) of the trace's minutes, but every part that holds
--   those minutes still has one: before merges (and always when inserts carry
--   spans from a wide time span) that is one granule per part. idx_trace_id
--   (0006) drops the granules that do not hold the trace, so a trace-by-id
--   reads about one granule whatever the number of parts (measured on 20
--   parts of 1M spans: 20 granules read -> 1). It costs ~0.2 bytes/span.
--
-- index_granularity is the default 8192 because every part is compact
-- (0007): a granule holds all its columns in one file, each compressed on
-- its own, so reading a trace decompresses one block per column of one
-- granule, without opening a stream per column. Measured on the same 10M
-- spans, each table merged to one part per day, 60 traces × 5 rounds over
-- HTTP (the whole read, trace's range known), p50:
--   wide parts, 2048-row granules (this table before 0007)  19.9 ms
--   compact,    2048                                        11.7 ms  +13% bytes
--   compact,    4096                                        11.7 ms  +9.5%
--   compact,    8192                                        12.9 ms  +6.5%
-- Compact parts cost bytes because LowCardinality dictionaries are per
-- granule (AttrStr: +1.4 bytes/span at 4096 rows), so the larger granule
-- costs least; the ingest bench's 1M spans merged to 52.0 bytes/span
-- against 50.5 with wide parts. The search indexes use GRANULARITY 1, the
-- same 8192-row index granules as before: a search over a day checks every
-- index granule in it (10M spans, user.id over 24h, p50: 84 ms with
-- 8192-row index granules, 117 with 2048-row ones).
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
ENGINE = {{ engine "MergeTree" }}
PARTITION BY toDate(Timestamp)
PRIMARY KEY (toStartOfMinute(Timestamp), TraceId)
ORDER BY (toStartOfMinute(Timestamp), TraceId, Timestamp)
{{- with ttl "spans" }}
{{ . }}
{{- end }}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;
{{- if cluster }}

CREATE TABLE IF NOT EXISTS {{ dist "spans" }}{{ onCluster }} AS {{ local "spans" }}
ENGINE = {{ distributed "spans" "cityHash64(TraceId)" }};
{{- end }}
