-- bootstrap: run by Migrate before any migration, every time (idempotent).
-- schema_migrations records each applied migration. Concurrent writers may
-- record the same version twice; ReplacingMergeTree folds the copies and
-- readers take the first application per version.
CREATE DATABASE IF NOT EXISTS default;

CREATE TABLE IF NOT EXISTS default.schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version;
