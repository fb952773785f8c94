-- 0005_service_edges: the service map, per minute.
--
-- Contract with ingest: for every span whose parent span belongs to another
-- service, the exporter inserts one row into service_edge_events:
--   Timestamp     the child span's start
--   ParentService ServiceName of the parent span
--   ChildService  ServiceName of the child span
--   Duration      the child span's duration in ns
--   IsError       the child span's status is Error
-- service_edge_events stores nothing (Null engine): the materialized view
-- folds each insert into service_edges_1m. Spans whose parent is in another
-- batch are the exporter's business (e.g. a short-lived span-id → service
-- cache); the schema only sees finished pairs.
--
-- Expected read (the map for a time range):
--   SELECT ParentService, ChildService, sum(Calls) AS calls, sum(Errors) AS errors,
--          quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles) AS p50_p95_p99_ns
--   FROM service_edges_1m
--   WHERE Timestamp >= {from} AND Timestamp < {to}
--   GROUP BY ParentService, ChildService
CREATE TABLE IF NOT EXISTS default.service_edge_events
(
    Timestamp DateTime64(9),
    ParentService LowCardinality(String),
    ChildService LowCardinality(String),
    Duration UInt64,
    IsError Bool
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS default.service_edges_1m
(
    Timestamp DateTime CODEC(Delta(4), ZSTD(1)),
    ParentService LowCardinality(String) CODEC(ZSTD(1)),
    ChildService LowCardinality(String) CODEC(ZSTD(1)),
    Calls SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    Errors SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationSum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationQuantiles AggregateFunction(quantileTDigest, UInt64) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Timestamp, ParentService, ChildService)
TTL Timestamp + INTERVAL 30 DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS default.service_edges_1m_mv TO default.service_edges_1m AS
SELECT
    toStartOfMinute(e.Timestamp) AS Timestamp,
    e.ParentService AS ParentService,
    e.ChildService AS ChildService,
    count() AS Calls,
    countIf(e.IsError) AS Errors,
    sum(e.Duration) AS DurationSum,
    quantileTDigestState(e.Duration) AS DurationQuantiles
FROM default.service_edge_events AS e
GROUP BY Timestamp, ParentService, ChildService;
