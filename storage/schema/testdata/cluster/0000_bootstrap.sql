-- bootstrap: run by Migrate before any migration, every time (idempotent).
-- schema_migrations records each applied migration. Concurrent writers may
-- record the same version twice; ReplacingMergeTree folds the copies and
-- readers take the first application per version.
CREATE DATABASE IF NOT EXISTS tracehouse ON CLUSTER '{cluster}';

CREATE TABLE IF NOT EXISTS tracehouse.schema_migrations ON CLUSTER '{cluster}'
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/{table}', '{replica}')
ORDER BY version;
