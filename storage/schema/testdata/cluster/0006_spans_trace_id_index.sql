-- 0006_spans_trace_id_index: a bloom filter on spans.TraceId.
--
-- Before parts merge (and always when inserts carry spans from a wide time
-- range) every part holds some of a trace's minute, so trace-by-id reads
-- one granule per part; the filter drops the granules without the trace
-- (20 parts of 1M spans: 20 granules read -> 1), for ~0.2 bytes/span.
--
-- An ALTER rather than part of 0001, so databases created before it get it
-- too. Parts written before it have no filter and are read as before until
-- they merge (ALTER TABLE spans MATERIALIZE INDEX idx_trace_id builds it
-- for them at once, as a background mutation).
ALTER TABLE tracehouse.spans_local ON CLUSTER '{cluster}'
    ADD INDEX IF NOT EXISTS idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1;
