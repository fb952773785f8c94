-- 0008_insert_deduplication: a retried INSERT is stored once, in the
-- tables and in their materialized views.
--
-- Every INSERT the writer sends carries an insert_deduplication_token, a
-- hash of its block (storage/writer/token.go), with
-- deduplicate_blocks_in_dependent_materialized_views = 1. A table skips a
-- block whose token is among those of its latest inserts, and a
-- materialized view skips the block it would make from it. That makes a
-- retry safe after a timeout whose INSERT had in fact committed, and a
-- replay from the exporter's persistent queue after a crash.
--
-- The window is how many inserted blocks a table remembers (one per
-- partition an insert touches). A retry comes within minutes, a replay
-- after a restart within the downtime; 10000 blocks is hours of inserts
-- at the exporter's batch sizes, and costs ~1 MB of hashes per table.
--
-- One node: MergeTree deduplicates only with
-- non_replicated_deduplication_window (0, off, by default); the hashes
-- live in a file next to the parts and survive restarts. Every table that
-- stores rows gets it, the views' targets (trace_index, red_1m,
-- service_edges_1m) too: a view deduplicates only into a table that
-- deduplicates.
--
-- A cluster: replicated tables keep the hashes in keeper, by
-- replicated_deduplication_window (blocks) and
-- replicated_deduplication_window_seconds, counted back from the newest
-- insert; the defaults moved between releases (26.x: 10000 blocks, one
-- hour), so both are set here. The Distributed service_edge_events
-- spread rows at random (rand(), migration 0005), so a retried block
-- reached other shards than the first attempt, where its token was
-- unknown: it is recreated sharded by the service pair, so a retry sends
-- each shard the rows it got the first time. It holds no data (inserts
-- waiting to go to shards are sent when it is dropped: flush_on_detach).
ALTER TABLE tracehouse.spans_local ON CLUSTER '{cluster}'
    MODIFY SETTING replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 86400;

ALTER TABLE tracehouse.logs_local ON CLUSTER '{cluster}'
    MODIFY SETTING replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 86400;

ALTER TABLE tracehouse.trace_index_local ON CLUSTER '{cluster}'
    MODIFY SETTING replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 86400;

ALTER TABLE tracehouse.red_1m_local ON CLUSTER '{cluster}'
    MODIFY SETTING replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 86400;

ALTER TABLE tracehouse.service_edges_1m_local ON CLUSTER '{cluster}'
    MODIFY SETTING replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 86400;

CREATE OR REPLACE TABLE tracehouse.service_edge_events ON CLUSTER '{cluster}' AS tracehouse.service_edge_events_local
ENGINE = Distributed('{cluster}', 'tracehouse', 'service_edge_events_local', cityHash64(ParentService, ChildService));
