-- 0011_saved_views: named views of the UI ("checkout failures, last
-- hour"), shared by everyone who uses this Tracehouse.
--
-- A view is a name and the UI route it opens (Route: the part of the UI's
-- URL after '#', e.g. "/logs?q=service:order level:error&range=1h"), which
-- already holds every filter and the time range of the page it was saved
-- from; a relative range (range=1h) stays relative when the view is opened.
-- Owner is the user who saved it when the request's credentials name one;
-- '' otherwise (the query service has one shared --auth-token and names no
-- users yet: the column is there for when it does).
--
-- Every change is an insert: a new Version of the view's row, Deleted = 1
-- when it is deleted. ReplacingMergeTree(Version, Deleted) keeps the
-- newest version of each Id as parts merge and drops deleted ones; reads
-- use FINAL so they see one row per view before merges too. The table holds
-- one row per change, a few bytes each: it needs no TTL.
--
-- Expected reads:
--   SELECT Id, Name, Route, Owner, Created, Updated FROM saved_views FINAL
--   ORDER BY Name
--   SELECT … FROM saved_views FINAL WHERE Id = {id}
CREATE TABLE IF NOT EXISTS default.saved_views
(
    Id String,
    Name String,
    Route String,
    Owner String,
    Created DateTime64(3),
    Updated DateTime64(3),
    Version UInt64,
    Deleted UInt8
)
ENGINE = ReplacingMergeTree(Version, Deleted)
ORDER BY Id
-- A retried insert of a change is the same change: stored once, as 0008's
-- tables store a retried block once.
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;
