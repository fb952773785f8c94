-- 0013_attr_values_filter: the bloom filter on the spans' string attribute
-- values keeps one granule in a thousand that lacks the value, not one in a
-- hundred.
--
-- A search for a rare value (a user id, an order id) over a day reads the
-- granules the filter keeps, each a granule of attribute maps to read and
-- test. With 0001's false-positive rate of 0.01, a day of 10M spans
-- (1,227 granules) kept 19 granules for a user found in 2 traces: mostly
-- false positives, and the search's costliest statement (32 ms of 75 at
-- the median, bench/query). At 0.001 it keeps 1 to 5. The filter weighs
-- half as much again: 0.50 → 0.76 bytes per span on the query bench's
-- spans (7.2 MiB at 10M, of about 39 bytes per span in all), and 52.3 →
-- 53.8 bytes per span as written on the ingest bench's, which carry more
-- distinct values each; the engine's CPU per span written moved by +2%,
-- within the rounds' spread (bench/ingest views -alter, 3 rounds of 400k).
--
-- The index keeps its name and expression; only its type changes, which
-- ClickHouse does by dropping and adding it. The last statement rebuilds
-- it for the parts already written, as a background mutation (it reads
-- AttrStr only; 5 s for 10M spans here); until it has run, those parts are
-- read without it. Run again from any point, or by two processes at once,
-- the three statements leave the same index: each process adds it after
-- it drops it, and materializes it after it adds it.
ALTER TABLE tracehouse.spans_local ON CLUSTER '{cluster}'
    DROP INDEX IF EXISTS idx_attr_values;
ALTER TABLE tracehouse.spans_local ON CLUSTER '{cluster}'
    ADD INDEX IF NOT EXISTS idx_attr_values mapValues(AttrStr) TYPE bloom_filter(0.001) GRANULARITY 1;
ALTER TABLE tracehouse.spans_local ON CLUSTER '{cluster}'
    MATERIALIZE INDEX IF EXISTS idx_attr_values;
