package embedded_test

import (
	"context"
	"testing"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

// The engine keeps skip indexes' blocks decompressed (Config.IndexCacheSize):
// a second statement testing the same bloom filter reads it from the cache,
// not from disk.
func TestSkipIndexBlocksAreCached(t *testing.T) {
	ctx := context.Background()
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	var size uint64
	if err := conn.QueryRow(ctx, "SELECT toUInt64(value) FROM system.server_settings WHERE name = 'index_uncompressed_cache_size'").Scan(&size); err != nil {
		t.Fatal(err)
	}
	if size != embedded.DefaultIndexCacheSize {
		t.Errorf("index_uncompressed_cache_size = %d, want %d", size, embedded.DefaultIndexCacheSize)
	}
	for _, q := range []string{
		`CREATE TABLE attrs (k UInt64, m Map(String, String),
			INDEX idx mapValues(m) TYPE bloom_filter(0.001) GRANULARITY 1)
			ENGINE = MergeTree ORDER BY k`,
		`INSERT INTO attrs SELECT number, map('user', toString(number)) FROM numbers(100000)`,
	} {
		if err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	events := func() (hits, misses uint64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT sumIf(value, event = 'UncompressedCacheHits'), sumIf(value, event = 'UncompressedCacheMisses')
			FROM system.events`).Scan(&hits, &misses); err != nil {
			t.Fatal(err)
		}
		return hits, misses
	}
	search := func() {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM attrs WHERE has(mapValues(m), '4242')").Scan(&n); err != nil || n != 1 {
			t.Fatalf("search: %d rows, %v", n, err)
		}
	}
	search() // the first reads the filter from disk, into the cache
	hits0, misses0 := events()
	search()
	hits1, misses1 := events()
	if misses1 != misses0 || hits1 == hits0 {
		t.Errorf("second search: %d cache hits and %d misses, want hits and no misses", hits1-hits0, misses1-misses0)
	}
}
