-- 0009_peer_calls_and_log_search: the callers' side of every call, and log
-- search over error reasons and word fragments.
--
-- peer_calls_1m counts, per minute, the calls a service made to another as
-- the CALLER saw them. service_edges_1m (0005) is the callee's side: it
-- counts a call only when the callee wrote a span for it, and its Errors
-- are the callee's own error status. So a call that timed out at the
-- caller while the callee finished fine, a call to a service that is down
-- (no callee span at all) and a call a circuit breaker never made (the
-- callee is spared while it is down) are invisible there, and a service its
-- callers cannot reach looks idle and healthy. Here:
--   Calls          client and producer spans naming the peer in
--                  service.peer.name (or the older peer.service): one per
--                  attempt, retries included;
--   Errors         those of them with an error status (at the caller: an
--                  error response, a timeout, no connection);
--   ShortCircuits  spans of any other kind with an error status that name
--                  the peer in breaker.name: a circuit breaker answered for
--                  the peer without calling it (gobreaker, resilience4j and
--                  the sample services' order name their breakers after the
--                  service they guard);
--   DurationSum, DurationQuantiles  the callers' view of Calls' latency.
-- Calls of a service to itself are left out (no edge on a map).
--
-- Expected read (the map for a time range):
--   SELECT ServiceName, PeerService, sum(Calls), sum(Errors), sum(ShortCircuits)
--   FROM peer_calls_1m WHERE Timestamp >= {from} AND Timestamp < {to}
--   GROUP BY ServiceName, PeerService
CREATE TABLE IF NOT EXISTS tracehouse.peer_calls_1m_local ON CLUSTER '{cluster}'
(
    Timestamp DateTime CODEC(Delta(4), ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    PeerService LowCardinality(String) CODEC(ZSTD(1)),
    Calls SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    Errors SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    ShortCircuits SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationSum SimpleAggregateFunction(sum, UInt64) CODEC(T64, ZSTD(1)),
    DurationQuantiles AggregateFunction(quantileTDigest, UInt64) CODEC(ZSTD(1))
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toDate(Timestamp)
ORDER BY (Timestamp, ServiceName, PeerService)
TTL Timestamp + INTERVAL 30 DAY
-- It deduplicates a retried block as 0008's tables do (its rows come from
-- the spans table's view, which skips a block spans skipped).
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 86400;

CREATE MATERIALIZED VIEW IF NOT EXISTS tracehouse.peer_calls_1m_mv_local ON CLUSTER '{cluster}' TO tracehouse.peer_calls_1m_local AS
SELECT
    toStartOfMinute(c.Start) AS Timestamp,
    c.Caller AS ServiceName,
    c.Peer AS PeerService,
    countIf(c.IsCall) AS Calls,
    countIf(c.IsCall AND c.IsError) AS Errors,
    countIf(NOT c.IsCall) AS ShortCircuits,
    sumIf(c.Duration, c.IsCall) AS DurationSum,
    quantileTDigestStateIf(c.Duration, c.IsCall) AS DurationQuantiles
FROM
(
    SELECT
        s.Timestamp AS Start,
        s.ServiceName AS Caller,
        s.Duration AS Duration,
        s.StatusCode = 'Error' AS IsError,
        s.SpanKind IN ('Client', 'Producer') AS IsCall,
        multiIf(
            IsCall AND s.AttrStr['service.peer.name'] != '', s.AttrStr['service.peer.name'],
            IsCall, s.AttrStr['peer.service'],
            IsError, s.AttrStr['breaker.name'],
            '') AS Peer
    FROM tracehouse.spans_local AS s
) AS c
WHERE c.Peer != '' AND c.Peer != c.Caller
GROUP BY Timestamp, ServiceName, PeerService;

CREATE TABLE IF NOT EXISTS tracehouse.peer_calls_1m ON CLUSTER '{cluster}' AS tracehouse.peer_calls_1m_local
ENGINE = Distributed('{cluster}', 'tracehouse', 'peer_calls_1m_local', rand());

-- ErrorText gathers a log record's error reasons: the string attributes
-- error (zerolog's Err, logrus/slog conventions), error.message,
-- error.type, exception.type, exception.message (OpenTelemetry's
-- exception conventions) and reason, one per line. Full-text search looks
-- at it as well as at Body, so "simulated outage" finds the access log
-- line whose body is "request served" and whose error attribute says why.
-- MATERIALIZED: computed by the server at insert (writers never send it),
-- and for parts written before this migration, computed when read.
ALTER TABLE tracehouse.logs_local ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS ErrorText String MATERIALIZED arrayStringConcat(arrayFilter(x -> x != '', [
        toString(AttrStr['error']), toString(AttrStr['error.message']), toString(AttrStr['error.type']),
        toString(AttrStr['exception.type']), toString(AttrStr['exception.message']), toString(AttrStr['reason'])]), '\n') CODEC(ZSTD(1));

ALTER TABLE tracehouse.logs ON CLUSTER '{cluster}'
    ADD COLUMN IF NOT EXISTS ErrorText String MATERIALIZED arrayStringConcat(arrayFilter(x -> x != '', [
        toString(AttrStr['error']), toString(AttrStr['error.message']), toString(AttrStr['error.type']),
        toString(AttrStr['exception.type']), toString(AttrStr['exception.message']), toString(AttrStr['reason'])]), '\n');

-- Indexes:
--   idx_error_text   a text index on the words of ErrorText, lower-cased,
--                    as idx_body (0003) for Body: hasToken/hasPhrase(ErrorText, …);
--   idx_error_ngrams a text index on the 3-grams of lower(ErrorText): exact
--                    postings, so lower(ErrorText) LIKE '%frag%' (a *frag*
--                    wildcard, attr.error:*frag*) reads only the rows that
--                    hold every 3-gram of the fragment. Small: most records
--                    have no error text;
--   idx_body_ngrams  an ngram bloom filter (3-grams, 16 KiB per granule, 2
--                    hashes) on lower(Body), as SigNoz keeps one: it skips
--                    the granules that lack a 3-gram of the fragment. A text
--                    index on Body's 3-grams would prune exactly but weighs
--                    several times Body itself; measured on 2M synthetic
--                    records: Body 12.7 MiB, a 3-gram text index 43.5 MiB,
--                    this filter 0.5 MiB.
-- Fragments shorter than 3 characters have no 3-gram: such a pattern reads
-- every row of the time range. Parts written before this migration are
-- read without these indexes until they merge (ALTER TABLE logs
-- MATERIALIZE INDEX … builds them at once, as a background mutation).
ALTER TABLE tracehouse.logs_local ON CLUSTER '{cluster}'
    ADD INDEX IF NOT EXISTS idx_error_text ErrorText TYPE text(tokenizer = splitByNonAlpha, preprocessor = lower(ErrorText)),
    ADD INDEX IF NOT EXISTS idx_error_ngrams lower(ErrorText) TYPE text(tokenizer = ngrams(3)),
    ADD INDEX IF NOT EXISTS idx_body_ngrams lower(Body) TYPE ngrambf_v1(3, 16384, 2, 0) GRANULARITY 1;
