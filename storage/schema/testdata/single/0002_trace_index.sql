-- 0002_trace_index: where in time each trace lives, so trace-by-id reads
-- one narrow primary-key range of spans instead of probing every bucket.
--
-- TraceKey is cityHash64(TraceId): 8 bytes instead of 16 halve the table, and
-- hashing also spreads 64-bit trace ids (upper half zero) evenly. A collision
-- only widens the time range; spans are still filtered by the full TraceId.
-- Start/End are whole seconds (floor) of the earliest span start and the
-- latest span end; every span of the trace starts in [Start, End + 1s).
-- Rows of one trace from different inserts are folded by merges, so readers
-- always aggregate.
--
-- Expected read (trace by id; {id} is the hex trace id):
--   WITH (SELECT (min(Start), max(End)) FROM trace_index
--         WHERE TraceKey = cityHash64(unhex({id:String}))) AS range
--   SELECT * FROM spans
--   WHERE TraceId = unhex({id:String})
--     AND Timestamp >= toDateTime64(range.1, 9)
--     AND Timestamp < toDateTime64(range.2 + 1, 9)
--   ORDER BY Timestamp
-- The bounds must be DateTime64: this engine compares a DateTime64 column
-- with a DateTime by rounding the column to whole seconds, so a span at
-- 12:00:00.7 fails "< 12:00:01" and silently drops out of its trace.
-- The range selects one or two minutes of spans, and within them the
-- primary key finds the trace: one granule read per minute.
CREATE TABLE IF NOT EXISTS default.trace_index
(
    TraceKey UInt64 CODEC(Delta(8), ZSTD(1)),
    Start SimpleAggregateFunction(min, DateTime) CODEC(T64, ZSTD(1)),
    End SimpleAggregateFunction(max, DateTime) CODEC(T64, ZSTD(1))
)
ENGINE = AggregatingMergeTree
PARTITION BY toDate(Start)
ORDER BY TraceKey
TTL Start + INTERVAL 7 DAY
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1;

CREATE MATERIALIZED VIEW IF NOT EXISTS default.trace_index_mv TO default.trace_index AS
SELECT
    cityHash64(TraceId) AS TraceKey,
    min(toDateTime(s.Timestamp)) AS Start,
    max(toDateTime(addNanoseconds(s.Timestamp, s.Duration))) AS End
FROM default.spans AS s
GROUP BY TraceKey;
