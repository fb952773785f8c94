package writer

import (
	"encoding/hex"

	"github.com/go-faster/city"
)

// Idempotent inserts. Every INSERT carries an insert_deduplication_token:
// the CityHash128 of its Native block (column names, types and values), so
// the same rows sent again get the same token however often and whenever
// they are sent: by exporterhelper's retry after a timeout whose INSERT had
// in fact committed, or by a persistent queue replaying a batch after a
// restart. The tables keep the tokens of their latest inserts (migration
// 0008: non_replicated_deduplication_window on one node, the replicated
// log in keeper on a cluster) and skip a block whose token they have
// seen; deduplicate_blocks_in_dependent_materialized_views makes the
// materialized views (trace_index, red_1m, service_edges_1m) skip it too.
// Each table's block hashes differently, so spans, logs and edges each get
// their own token, and so does each part of a batch split to isolate bad
// items (bisect.go). An edges block's token also covers the token of the
// spans it came from (putBlockToken).
//
// What the embedded engine (chDB 26.5) honours, checked by
// TestRetriedBatchCountsOnce: the server there rewrites a client INSERT into
// INSERT … SELECT * FROM file(<spooled block>); the SETTINGS clause travels
// with the target, and with a token the engine deduplicates that INSERT …
// SELECT in the table and in every materialized view, the Null-engine
// service_edge_events → service_edges_1m included. Without a token it
// deduplicates nothing there (deduplicate_insert_select treats a file()
// source as unstable), so the token is what makes a retry safe. The tokens
// of a non-replicated table live in a file next to its parts
// (deduplication_logs), so they survive a restart.
//
// The same rows encode to the same block as long as the column types the
// writer declares do not change (wireType). They change only after the
// server refused a block, which therefore stored nothing.
//
// What the token cannot recognise: the same items in another batch. So
// the unit the collector replays must be the unit it inserted. With
// exporterhelper's batching after a persistent queue it was not: the
// queue held the senders' requests and merged them into batches on a
// timer, so after a crash the requests of a batch that had committed came
// back merged otherwise (behind the backlog, with new requests), with
// other tokens, and were stored twice. The tracehouse exporter therefore
// merges requests in front of a persistent queue and queues whole batches
// (ingest/tracehouseexporter/groupcommit.go): a replay is the batch that
// was inserted, token and all (TestReplayAfterKillStoresOnce there). A
// sender that sends a request again because its answer was lost (OTLP
// carries no request id) still makes another batch: that is the sender's
// at-least-once, which row-level deduplication alone could catch.
//
// The settings: insert_deduplicate = 1 is for servers whose profile turns
// it off (on 26.x the deduplicate_insert setting, default "enable",
// overrides it; it is not sent, since older servers do not know it).

// tokenHexLen is the length of a token: 32 hex digits.
const tokenHexLen = 32

// dedupSettings turn on insert deduplication for one INSERT, whatever the
// server's profile says. The token comes last (insertTokenPrefix).
const dedupSettings = "insert_deduplicate = 1, deduplicate_blocks_in_dependent_materialized_views = 1"

// blockToken is the token of block, unsalted.
func blockToken(block []byte) string {
	var out [tokenHexLen]byte
	putBlockToken(out[:], block, "")
	return string(out[:])
}

// putBlockToken writes the token of block into dst (tokenHexLen bytes).
// With a salt (the token of the spans a batch of edges came from), the
// token is that of the salt and the block's own token together: edge rows
// carry no identity of their own (two batches can complete the same
// calls at the same instants), so they are told apart by their batch.
func putBlockToken(dst, block []byte, salt string) {
	putHash(dst, city.CH128(block))
	if salt != "" {
		var buf [2 * tokenHexLen]byte
		copy(buf[:], salt)
		copy(buf[len(salt):], dst[:tokenHexLen])
		putHash(dst, city.CH128(buf[:len(salt)+tokenHexLen]))
	}
}

func putHash(dst []byte, h city.U128) {
	var raw [16]byte
	for i := range 8 {
		raw[i] = byte(h.High >> (56 - 8*i))
		raw[8+i] = byte(h.Low >> (56 - 8*i))
	}
	hex.Encode(dst, raw[:])
}
