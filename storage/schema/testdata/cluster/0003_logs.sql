-- 0003_logs: one row per OTLP log record.
--
-- Sorted by (ServiceName, Timestamp): a service's records over a time range
-- are one contiguous range, read newest first without a sort.
--
-- Body holds the body as text: the string itself for Str, the plain text
-- form for Int/Double/Bool (42, 1.5, true), and AnyValue JSON for
-- Map/Slice/Bytes (as in AttrOther). BodyType says which, so records
-- round-trip. Attributes, resource and scope are stored as in spans (0001).
--
-- idx_body is a text (inverted) index over the lower-cased tokens of Body.
-- hasPhrase, hasAllTokens, hasAnyTokens and hasToken use it and match
-- case-insensitively; LIKE/ILIKE do not use it and scan every row.
--
-- Expected reads:
--   one service, newest first, keyset pagination:
--     SELECT * FROM logs WHERE ServiceName = {service}
--       AND Timestamp >= {from} AND Timestamp < {cursor}
--     ORDER BY Timestamp DESC LIMIT 100
--   phrase search (index narrows to matching rows, the phrase check is exact):
--     SELECT * FROM logs WHERE Timestamp >= {from}
--       AND hasPhrase(Body, {phrase}) ORDER BY Timestamp DESC LIMIT 100
--   logs of a trace (idx_trace_id, narrowed by trace_index's range):
--     SELECT * FROM logs WHERE TraceId = unhex({id:String})
--       AND Timestamp >= {start} AND Timestamp < {end} ORDER BY Timestamp
CREATE TABLE IF NOT EXISTS tracehouse.logs_local ON CLUSTER '{cluster}'
(
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    ObservedTimestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TraceId FixedString(16) CODEC(ZSTD(1)),
    SpanId FixedString(8) CODEC(ZSTD(1)),
    TraceFlags UInt32 CODEC(T64, ZSTD(1)),
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8 CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    BodyType Enum8('Empty' = 0, 'Str' = 1, 'Int' = 2, 'Double' = 3, 'Bool' = 4, 'Map' = 5, 'Slice' = 6, 'Bytes' = 7) CODEC(ZSTD(1)),
    EventName LowCardinality(String) CODEC(ZSTD(1)),
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
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE text(tokenizer = splitByNonAlpha, preprocessor = lower(Body)),
    INDEX idx_attr_keys mapKeys(AttrStr) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_values mapValues(AttrStr) TYPE bloom_filter(0.01) GRANULARITY 1
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, Timestamp)
TTL toDateTime(Timestamp) + INTERVAL 7 DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS tracehouse.logs ON CLUSTER '{cluster}' AS tracehouse.logs_local
ENGINE = Distributed('{cluster}', 'tracehouse', 'logs_local', cityHash64(TraceId));
