-- 0012_async_paths: request paths through message brokers, and RED per
-- service instance.
--
-- A message a service publishes and another consumes later is not a call:
-- the producer does not wait for the consumer, the message waits in the
-- broker in between, and a message can be delivered several times. The
-- service map draws such a hop as producer → destination → consumer, with
-- the time messages wait (queue delay), from these tables.
--
-- broker_edge_events: the contract with ingest (storage/servicegraph). For
-- every CONSUMER span whose parent is a PRODUCER span (the messaging
-- conventions' creation context), the exporter inserts one row:
--   Timestamp        the consumer span's start
--   ProducerService  ServiceName of the producer span
--   System           messaging.system (the producer's, else the consumer's)
--   Destination      messaging.destination.name (the producer's, else the
--                    consumer's): the topic, subject or queue
--   ConsumerService  ServiceName of the consumer span
--   QueueDelay       consumer start − producer start in ns: how long the
--                    message waited from its publish until this delivery
--                    began (0 when the consumer's clock says it began
--                    first)
--   Duration         the consumer span's duration in ns
--   IsError          the consumer span's status is Error
--   Redelivery       this is not the message's first delivery (a
--                    messaging.<system>.message.delivery_count above 1)
-- One row per consumer span, so a message delivered three times (two
-- failures, then success) is three rows: the map's deliveries include
-- redeliveries, and says so. From this migration on such a pair is no
-- longer a row of service_edge_events (0005): that table's edges are
-- calls. Minutes written before it keep the hop there, as a
-- producer → consumer call.
--
-- Expected read (the map for a time range):
--   SELECT ProducerService, System, Destination, ConsumerService,
--          sum(Deliveries), sum(Errors), sum(Redeliveries),
--          quantilesTDigestMerge(0.5, 0.99)(QueueDelayQuantiles),
--          quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)
--   FROM broker_edges_1m WHERE Timestamp >= {from} AND Timestamp < {to}
--   GROUP BY ProducerService, System, Destination, ConsumerService
CREATE TABLE IF NOT EXISTS default.broker_edge_events
(
    Timestamp DateTime64(9),
    ProducerService LowCardinality(String),
    System LowCardinality(String),
    Destination LowCardinality(String),
    ConsumerService LowCardinality(String),
    QueueDelay UInt64,
    Duration UInt64,
    IsError Bool,
    Redelivery Bool
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS default.broker_edges_1m
(
    Timestamp DateTime CODEC(Delta(4), ZSTD(1)),
    ProducerService LowCardinality(String) CODEC(ZSTD(1)),
    System LowCardinality(String) CODEC(ZSTD(1)),
    Destination LowCardinality(String) CODEC(ZSTD(1)),
    ConsumerService LowCardinality(String) CODEC(ZSTD(1)),
    Deliveries SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    Errors SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    Redeliveries SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    QueueDelaySum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    QueueDelayQuantiles AggregateFunction(quantileTDigest, UInt64) CODEC(ZSTD(1)),
    DurationSum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationQuantiles AggregateFunction(quantileTDigest, UInt64) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Timestamp, ProducerService, System, Destination, ConsumerService)
TTL Timestamp + INTERVAL 30 DAY
-- A retried edges insert is stored once, as 0008's tables (the writer
-- sends every insert with a deduplication token).
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS default.broker_edges_1m_mv TO default.broker_edges_1m AS
SELECT
    toStartOfMinute(e.Timestamp) AS Timestamp,
    e.ProducerService AS ProducerService,
    e.System AS System,
    e.Destination AS Destination,
    e.ConsumerService AS ConsumerService,
    count() AS Deliveries,
    countIf(e.IsError) AS Errors,
    countIf(e.Redelivery) AS Redeliveries,
    sum(e.QueueDelay) AS QueueDelaySum,
    quantileTDigestState(e.QueueDelay) AS QueueDelayQuantiles,
    sum(e.Duration) AS DurationSum,
    quantileTDigestState(e.Duration) AS DurationQuantiles
FROM default.broker_edge_events AS e
GROUP BY Timestamp, ProducerService, System, Destination, ConsumerService;

-- publishes_1m: the producer's side of each destination, per minute, from
-- the spans as they are inserted: PRODUCER spans that name a
-- messaging.destination.name. Calls are publish attempts (a retried
-- publish is another span), Errors those that failed at the producer. It
-- also counts the messages nobody consumes in the traces (a dead-letter
-- destination), which broker_edges_1m cannot see.
--
-- Expected read:
--   SELECT ServiceName, System, Destination, sum(Calls), sum(Errors)
--   FROM publishes_1m WHERE Timestamp >= {from} AND Timestamp < {to}
--   GROUP BY ServiceName, System, Destination
CREATE TABLE IF NOT EXISTS default.publishes_1m
(
    Timestamp DateTime CODEC(Delta(4), ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    System LowCardinality(String) CODEC(ZSTD(1)),
    Destination LowCardinality(String) CODEC(ZSTD(1)),
    Calls SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    Errors SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationSum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationQuantiles AggregateFunction(quantileTDigest, UInt64) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (Timestamp, ServiceName, System, Destination)
TTL Timestamp + INTERVAL 30 DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS default.publishes_1m_mv TO default.publishes_1m AS
SELECT
    toStartOfMinute(s.Timestamp) AS Timestamp,
    s.ServiceName AS ServiceName,
    s.AttrStr['messaging.system'] AS System,
    s.AttrStr['messaging.destination.name'] AS Destination,
    count() AS Calls,
    countIf(s.StatusCode = 'Error') AS Errors,
    sum(s.Duration) AS DurationSum,
    quantileTDigestState(s.Duration) AS DurationQuantiles
FROM default.spans AS s
WHERE s.SpanKind = 'Producer' AND s.AttrStr['messaging.destination.name'] != ''
GROUP BY Timestamp, ServiceName, System, Destination;

-- red_instance_1m: red_1m (0004) per service.instance.id, so RED can be
-- split by the process that served the requests (replicas behind a load
-- balancer: is one of them slow or failing?). Instance is the resource's
-- service.instance.id as a string value, '' when the resource has none;
-- the instances of a service add up to its red_1m. The id is read from
-- ResourceAttributes (attributes JSON, 0001), which is LowCardinality: the
-- extraction runs once per distinct resource of an insert, not per span.
--
-- Expected read (one service, per instance, a range):
--   SELECT Instance, sum(Calls), sum(Errors),
--          quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)
--   FROM red_instance_1m
--   WHERE ServiceName = {service} AND SpanKind = 'Server'
--     AND Timestamp >= {from} AND Timestamp < {to}
--   GROUP BY Instance
CREATE TABLE IF NOT EXISTS default.red_instance_1m
(
    Timestamp DateTime CODEC(Delta(4), ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Instance LowCardinality(String) CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind Enum8('Unspecified' = 0, 'Internal' = 1, 'Server' = 2, 'Client' = 3, 'Producer' = 4, 'Consumer' = 5) CODEC(ZSTD(1)),
    Calls SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    Errors SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationSum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationQuantiles AggregateFunction(quantileTDigest, UInt64) CODEC(ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, Instance, SpanName, SpanKind, Timestamp)
TTL Timestamp + INTERVAL 30 DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS default.red_instance_1m_mv TO default.red_instance_1m AS
SELECT
    toStartOfMinute(s.Timestamp) AS Timestamp,
    s.ServiceName AS ServiceName,
    JSONExtractString(s.ResourceAttributes, 'service.instance.id', 'stringValue') AS Instance,
    s.SpanName AS SpanName,
    s.SpanKind AS SpanKind,
    count() AS Calls,
    countIf(s.StatusCode = 'Error') AS Errors,
    sum(s.Duration) AS DurationSum,
    quantileTDigestState(s.Duration) AS DurationQuantiles
FROM default.spans AS s
GROUP BY Timestamp, ServiceName, Instance, SpanName, SpanKind;
