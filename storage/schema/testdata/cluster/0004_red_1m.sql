-- 0004_red_1m: rate, errors and duration per service, operation and span
-- kind per minute, aggregated from spans as they are inserted.
--
-- Expected read (one service, per operation, last hour):
--   SELECT SpanName, SpanKind,
--          sum(Calls) AS calls, sum(Errors) AS errors,
--          sum(DurationSum) / sum(Calls) AS avg_ns,
--          quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles) AS p50_p95_p99_ns
--   FROM red_1m
--   WHERE ServiceName = {service} AND Timestamp >= {from} AND Timestamp < {to}
--   GROUP BY SpanName, SpanKind
-- Add Timestamp to the GROUP BY for a per-minute series.
CREATE TABLE IF NOT EXISTS tracehouse.red_1m_local ON CLUSTER '{cluster}'
(
    Timestamp DateTime CODEC(Delta(4), ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind Enum8('Unspecified' = 0, 'Internal' = 1, 'Server' = 2, 'Client' = 3, 'Producer' = 4, 'Consumer' = 5) CODEC(ZSTD(1)),
    Calls SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    Errors SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationSum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationQuantiles AggregateFunction(quantileTDigest, UInt64) CODEC(ZSTD(1))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, SpanKind, Timestamp)
TTL Timestamp + INTERVAL 30 DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracehouse.red_1m_mv_local ON CLUSTER '{cluster}' TO tracehouse.red_1m_local AS
SELECT
    toStartOfMinute(s.Timestamp) AS Timestamp,
    s.ServiceName AS ServiceName,
    s.SpanName AS SpanName,
    s.SpanKind AS SpanKind,
    count() AS Calls,
    countIf(s.StatusCode = 'Error') AS Errors,
    sum(s.Duration) AS DurationSum,
    quantileTDigestState(s.Duration) AS DurationQuantiles
FROM tracehouse.spans_local AS s
GROUP BY Timestamp, ServiceName, SpanName, SpanKind;

CREATE TABLE IF NOT EXISTS tracehouse.red_1m ON CLUSTER '{cluster}' AS tracehouse.red_1m_local
ENGINE = Distributed('{cluster}', 'tracehouse', 'red_1m_local', rand());
