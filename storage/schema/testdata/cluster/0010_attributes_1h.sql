-- 0010_attributes_1h: which attribute keys exist, with their types, how
-- often they occur and their most frequent values, per service and hour:
-- what autocomplete and attribute discovery read, kept as spans and logs
-- are inserted instead of scanned from them.
--
-- One row per (hour, service, signal, scope, key, type), after merges:
--   Signal     span or log: which table the key was seen in;
--   Scope      attribute (the span's or record's own attributes), resource
--              (its resource's), or field (what a search compares besides
--              attributes: span.kind, otel.status_code and error of a span;
--              service, level and severity_text of a log record);
--   Type       the OTLP value type (str, int, float, bool; other: arrays,
--              maps, bytes and empty values);
--   Count      occurrences (spans or records that carry the key);
--   Distinct   a uniqCombined(12) sketch of the key's values: their number,
--              within about 2%;
--   TopValues  an approx_top_sum(100, 100) state: the key's most frequent
--              values with their counts (Space-Saving, 100 counters).
--
-- How high-cardinality values (ids, addresses, timestamps) are kept from
-- blowing it up: a key's values live in one fixed-size state per row, never
-- in rows of their own. Space-Saving keeps at most 100 counters; a value
-- not among them when the counters are full replaces the one with the
-- smallest count and inherits that count as its error. So a row weighs at
-- most 100 values plus a 2-4 KiB sketch, whatever the traffic: the table
-- grows with hours × services × keys, never with distinct values (measured
-- on 100 keys × 10k random ids each: 5.3 KiB per row on disk). A key with
-- at most 100 distinct values in the rows merged (status codes, routes,
-- methods, hosts, levels) has exact counts. A key with more keeps its most
-- frequent values, with counts that may be overestimated by their error;
-- Distinct says how many values there are, so a reader can tell an id
-- (thousands of distinct values, none frequent) from an enum. Values are
-- capped at 128 bytes: a longer one is stored as its first 125 bytes and
-- "…" (a prefix, not a value to compare with). Floats and "other" values
-- feed Distinct only: a float is a measurement (a duration, a score), not
-- a value anyone types, and other values are JSON. Keys are not capped:
-- instrumentation that puts ids into attribute names (user.42.plan) grows
-- the table by one row per such key and hour, as it grows the spans' maps.
--
-- Resource attributes repeat on every span of a service: the views group a
-- block by ResourceAttributes first (LowCardinality, a handful of distinct
-- sets) and parse each set once.
--
-- Expected reads:
--   the keys of spans (optionally of one service) over a range:
--     SELECT Scope, Key, Type, sum(Count), uniqCombinedMerge(12)(Distinct)
--     FROM attributes_1h
--     WHERE Signal = 'span' AND Timestamp >= toStartOfHour({from}) AND Timestamp < {to}
--     GROUP BY Scope, Key, Type ORDER BY sum(Count) DESC
--   the top values of one key:
--     SELECT approx_top_sumMerge(100, 100)(TopValues), uniqCombinedMerge(12)(Distinct)
--     FROM attributes_1h
--     WHERE Signal = 'span' AND Scope = 'attribute' AND Key = {key}
--       AND Timestamp >= toStartOfHour({from}) AND Timestamp < {to}
-- A range is answered in whole hours: the hours it touches.
CREATE TABLE IF NOT EXISTS tracehouse.attributes_1h_local ON CLUSTER '{cluster}'
(
    Timestamp DateTime CODEC(Delta(4), ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Signal Enum8('span' = 1, 'log' = 2) CODEC(ZSTD(1)),
    Scope Enum8('attribute' = 1, 'resource' = 2, 'field' = 3) CODEC(ZSTD(1)),
    Key LowCardinality(String) CODEC(ZSTD(1)),
    Type Enum8('str' = 1, 'int' = 2, 'float' = 3, 'bool' = 4, 'other' = 5) CODEC(ZSTD(1)),
    Count SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    Distinct AggregateFunction(uniqCombined(12), String) CODEC(ZSTD(1)),
    TopValues AggregateFunction(approx_top_sum(100, 100), String, UInt64) CODEC(ZSTD(1))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(Timestamp)
ORDER BY (Signal, Scope, Key, ServiceName, Type, Timestamp)
TTL Timestamp + INTERVAL 30 DAY
-- It deduplicates a retried block as 0008's tables do (its rows come from
-- the views on spans and logs, which skip a block their table skipped).
-- Rows are fat (a sketch and a top-values state, ~1 KiB) and a read wants
-- the few rows of one key: small granules (256 rows) read that key's states
-- and not those of the keys beside it (measured on 300k spans: the top
-- values of a key in 10 ms instead of 23 ms with 8192-row granules).
SETTINGS index_granularity = 256, ttl_only_drop_parts = 1, replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 86400;

-- The span's own attributes and its fields. Each one becomes a row
-- (scope, key, type, value) of the block, grouped by key: one state per
-- key is fed every value. Scope and Type are the enums' numbers and keys
-- and values stay LowCardinality, so the grouping hashes small integers and
-- dictionary positions, not strings: this costs about 2 s of one core per
-- million spans of ~10 attributes (measured on the embedded engine; the
-- insert itself costs ~30 s). The numbers: Signal 1 span, 2 log; Scope 1
-- attribute, 3 field; Type 1 str, 2 int, 3 float, 4 bool, 5 other.
CREATE MATERIALIZED VIEW IF NOT EXISTS tracehouse.attributes_1h_spans_mv_local ON CLUSTER '{cluster}' TO tracehouse.attributes_1h_local AS
SELECT
    toStartOfHour(s.Timestamp) AS Timestamp,
    s.ServiceName AS ServiceName,
    1 AS Signal, -- span
    kv.1 AS Scope,
    kv.2 AS Key,
    kv.3 AS Type,
    count() AS Count,
    uniqCombinedState(12)(if(length(kv.4) > 128, concat(toValidUTF8(substring(kv.4, 1, 125)), '…'), kv.4)) AS Distinct,
    approx_top_sumStateIf(100, 100)(if(length(kv.4) > 128, concat(toValidUTF8(substring(kv.4, 1, 125)), '…'), kv.4), toUInt64(1), Type IN (1, 2, 4)) AS TopValues
FROM tracehouse.spans_local AS s
ARRAY JOIN arrayConcat(
    arrayMap((k, v) -> (1, k, 1, v), mapKeys(s.AttrStr), mapValues(s.AttrStr)),
    arrayMap((k, v) -> (1, k, 2, toLowCardinality(toString(v))), mapKeys(s.AttrInt), mapValues(s.AttrInt)),
    arrayMap((k, v) -> (1, k, 3, toLowCardinality(toString(v))), mapKeys(s.AttrFloat), mapValues(s.AttrFloat)),
    arrayMap((k, v) -> (1, k, 4, toLowCardinality(if(v, 'true', 'false'))), mapKeys(s.AttrBool), mapValues(s.AttrBool)),
    arrayMap(k -> (1, k, 5, toLowCardinality('')), mapKeys(s.AttrOther)),
    [(3, toLowCardinality('span.kind'), 1, toLowCardinality(lower(toString(s.SpanKind)))),
     (3, toLowCardinality('otel.status_code'), 1, toLowCardinality(upper(toString(s.StatusCode)))),
     (3, toLowCardinality('error'), 4, toLowCardinality(if(s.StatusCode = 'Error', 'true', 'false')))]) AS kv
GROUP BY Timestamp, ServiceName, Scope, Key, Type;

-- A log record's own attributes and its fields. level is the name of the
-- severity range, as the logs query language reads level:warn ('' for an
-- unset severity).
CREATE MATERIALIZED VIEW IF NOT EXISTS tracehouse.attributes_1h_logs_mv_local ON CLUSTER '{cluster}' TO tracehouse.attributes_1h_local AS
SELECT
    toStartOfHour(s.Timestamp) AS Timestamp,
    s.ServiceName AS ServiceName,
    2 AS Signal, -- log
    kv.1 AS Scope,
    kv.2 AS Key,
    kv.3 AS Type,
    count() AS Count,
    uniqCombinedState(12)(if(length(kv.4) > 128, concat(toValidUTF8(substring(kv.4, 1, 125)), '…'), kv.4)) AS Distinct,
    approx_top_sumStateIf(100, 100)(if(length(kv.4) > 128, concat(toValidUTF8(substring(kv.4, 1, 125)), '…'), kv.4), toUInt64(1), Type IN (1, 2, 4)) AS TopValues
FROM tracehouse.logs_local AS s
ARRAY JOIN arrayConcat(
    arrayMap((k, v) -> (1, k, 1, v), mapKeys(s.AttrStr), mapValues(s.AttrStr)),
    arrayMap((k, v) -> (1, k, 2, toLowCardinality(toString(v))), mapKeys(s.AttrInt), mapValues(s.AttrInt)),
    arrayMap((k, v) -> (1, k, 3, toLowCardinality(toString(v))), mapKeys(s.AttrFloat), mapValues(s.AttrFloat)),
    arrayMap((k, v) -> (1, k, 4, toLowCardinality(if(v, 'true', 'false'))), mapKeys(s.AttrBool), mapValues(s.AttrBool)),
    arrayMap(k -> (1, k, 5, toLowCardinality('')), mapKeys(s.AttrOther)),
    [(3, toLowCardinality('service'), 1, s.ServiceName),
     (3, toLowCardinality('level'), 1, toLowCardinality(multiIf(s.SeverityNumber = 0, '', s.SeverityNumber <= 4, 'trace',
        s.SeverityNumber <= 8, 'debug', s.SeverityNumber <= 12, 'info', s.SeverityNumber <= 16, 'warn', s.SeverityNumber <= 20, 'error', 'fatal'))),
     (3, toLowCardinality('severity_text'), 1, s.SeverityText)]) AS kv
GROUP BY Timestamp, ServiceName, Scope, Key, Type;

-- Resource attributes: each distinct set of a block is parsed once.
CREATE MATERIALIZED VIEW IF NOT EXISTS tracehouse.attributes_1h_span_resources_mv_local ON CLUSTER '{cluster}' TO tracehouse.attributes_1h_local AS
SELECT
    r.Hour AS Timestamp,
    r.ServiceName AS ServiceName,
    'span' AS Signal,
    'resource' AS Scope,
    r.Key AS Key,
    r.Type AS Type,
    sum(r.N) AS Count,
    uniqCombinedState(12)(r.Value) AS Distinct,
    approx_top_sumStateIf(100, 100)(r.Value, r.N, r.Type IN ('str', 'int', 'bool')) AS TopValues
FROM
(
    SELECT
        g.Hour AS Hour,
        g.ServiceName AS ServiceName,
        kv.1 AS Key,
        multiIf(JSONHas(kv.2, 'stringValue'), 'str', JSONHas(kv.2, 'intValue'), 'int', JSONHas(kv.2, 'doubleValue'), 'float',
            JSONHas(kv.2, 'boolValue'), 'bool', 'other') AS Type,
        multiIf(Type = 'str', JSONExtractString(kv.2, 'stringValue'), Type = 'int', toString(JSONExtractInt(kv.2, 'intValue')),
            Type = 'float', toString(JSONExtractFloat(kv.2, 'doubleValue')),
            Type = 'bool', if(JSONExtractBool(kv.2, 'boolValue'), 'true', 'false'), '') AS RawValue,
        if(length(RawValue) > 128, concat(toValidUTF8(substring(RawValue, 1, 125)), '…'), RawValue) AS Value,
        g.N AS N
    FROM
    (
        SELECT toStartOfHour(s.Timestamp) AS Hour, s.ServiceName AS ServiceName, s.ResourceAttributes AS ResourceAttributes, count() AS N
        FROM tracehouse.spans_local AS s
        GROUP BY Hour, ServiceName, ResourceAttributes
    ) AS g
    ARRAY JOIN JSONExtractKeysAndValuesRaw(g.ResourceAttributes) AS kv
) AS r
GROUP BY Timestamp, ServiceName, Key, Type;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracehouse.attributes_1h_log_resources_mv_local ON CLUSTER '{cluster}' TO tracehouse.attributes_1h_local AS
SELECT
    r.Hour AS Timestamp,
    r.ServiceName AS ServiceName,
    'log' AS Signal,
    'resource' AS Scope,
    r.Key AS Key,
    r.Type AS Type,
    sum(r.N) AS Count,
    uniqCombinedState(12)(r.Value) AS Distinct,
    approx_top_sumStateIf(100, 100)(r.Value, r.N, r.Type IN ('str', 'int', 'bool')) AS TopValues
FROM
(
    SELECT
        g.Hour AS Hour,
        g.ServiceName AS ServiceName,
        kv.1 AS Key,
        multiIf(JSONHas(kv.2, 'stringValue'), 'str', JSONHas(kv.2, 'intValue'), 'int', JSONHas(kv.2, 'doubleValue'), 'float',
            JSONHas(kv.2, 'boolValue'), 'bool', 'other') AS Type,
        multiIf(Type = 'str', JSONExtractString(kv.2, 'stringValue'), Type = 'int', toString(JSONExtractInt(kv.2, 'intValue')),
            Type = 'float', toString(JSONExtractFloat(kv.2, 'doubleValue')),
            Type = 'bool', if(JSONExtractBool(kv.2, 'boolValue'), 'true', 'false'), '') AS RawValue,
        if(length(RawValue) > 128, concat(toValidUTF8(substring(RawValue, 1, 125)), '…'), RawValue) AS Value,
        g.N AS N
    FROM
    (
        SELECT toStartOfHour(s.Timestamp) AS Hour, s.ServiceName AS ServiceName, s.ResourceAttributes AS ResourceAttributes, count() AS N
        FROM tracehouse.logs_local AS s
        GROUP BY Hour, ServiceName, ResourceAttributes
    ) AS g
    ARRAY JOIN JSONExtractKeysAndValuesRaw(g.ResourceAttributes) AS kv
) AS r
GROUP BY Timestamp, ServiceName, Key, Type;

CREATE TABLE IF NOT EXISTS tracehouse.attributes_1h ON CLUSTER '{cluster}' AS tracehouse.attributes_1h_local
ENGINE = Distributed('{cluster}', 'tracehouse', 'attributes_1h_local', rand());
