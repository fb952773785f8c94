package schema

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage/chtest"
)

// migrateUpTo brings a fresh database to the schema as it was after
// migration version last, as Migrate did then, so a test can write data
// under it and upgrade.
func migrateUpTo(t *testing.T, conn driver.Conn, opts Options, last int) {
	t.Helper()
	ctx := context.Background()
	boot, err := renderBootstrap(opts)
	if err != nil {
		t.Fatal(err)
	}
	migrations, err := Render(opts)
	if err != nil {
		t.Fatal(err)
	}
	stmts := slices.Clone(boot.Statements)
	for _, m := range migrations {
		if m.Version > last {
			break
		}
		stmts = append(stmts, m.Statements...)
		stmts = append(stmts, fmt.Sprintf("INSERT INTO %s.%s (version, name, checksum, applied_at) VALUES (%d, '%s', '%s', now64(3))",
			opts.Database, MigrationsTable, m.Version, m.Name, m.Checksum))
	}
	for _, s := range stmts {
		if err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
}

// 0013 changes idx_attr_values' false-positive rate on a database that
// already holds spans, and rebuilds the filter for the parts written
// before it: a search for one value then reads its granule, not every
// granule of those parts.
func TestAttrValuesFilterUpgrade(t *testing.T) {
	ctx := context.Background()
	opts := DefaultOptions()
	opts.Database = chtest.NewDatabase(t)
	conn := chtest.Conn(t)
	migrateUpTo(t, conn, opts, 12)
	db := opts.Database

	indexType := func() string {
		var typ string
		if err := conn.QueryRow(ctx, "SELECT type_full FROM system.data_skipping_indices WHERE database = {db:String} AND table = 'spans' AND name = 'idx_attr_values'",
			chParams("db", db)...).Scan(&typ); err != nil {
			t.Fatal(err)
		}
		return typ
	}
	if got := indexType(); got != "bloom_filter(0.01)" {
		t.Fatalf("before 0013 idx_attr_values is %s, want bloom_filter(0.01)", got)
	}
	// Three parts of 20k spans, each with an order.ref of its own, 4
	// minutes apart so that they do not merge into one granule range.
	const perPart = 20000
	for p := range 3 {
		if err := conn.Exec(ctx, fmt.Sprintf("INSERT INTO %s.spans (Timestamp, TraceId, SpanId, ServiceName, SpanName, AttrStr) "+
			"SELECT now64(9) - INTERVAL %d MINUTE + toIntervalMillisecond(number), toFixedString(reinterpretAsString(cityHash64(number, %d)), 16), "+
			"toFixedString(reinterpretAsString(number), 8), 'shop', 'order', map('order.ref', concat('r-', toString(number + %d))) FROM numbers(%d)",
			db, 4*(p+1), p, p*perPart, perPart)); err != nil {
			t.Fatal(err)
		}
	}

	applied, err := Migrate(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(applied, "0013_attr_values_filter") {
		t.Fatalf("Migrate applied %v, want 0013_attr_values_filter", applied)
	}
	if got := indexType(); got != "bloom_filter(0.001)" {
		t.Errorf("after 0013 idx_attr_values is %s, want bloom_filter(0.001)", got)
	}
	// MATERIALIZE INDEX is a background mutation.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var pending uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.mutations WHERE database = {db:String} AND table = 'spans' AND NOT is_done",
			chParams("db", db)...).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("0013's MATERIALIZE INDEX has not finished after 2 minutes (%d mutations pending)", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Every part written before 0013 is filtered by the rebuilt index: a
	// part without it would keep all its granules.
	plan := chtest.Strings(t, conn, "EXPLAIN indexes = 1 SELECT count() FROM "+db+".spans WHERE has(mapValues(AttrStr), 'r-30007')")
	text := strings.Join(plan, "\n")
	m := regexp.MustCompile(`Name: idx_attr_values\n.*\n\s+Parts: \d+/\d+\n\s+Granules: (\d+)/(\d+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the search does not use idx_attr_values:\n%s", text)
	}
	kept, _ := strconv.Atoi(m[1])
	all, _ := strconv.Atoi(m[2])
	if all < 6 || kept > 2 {
		t.Errorf("idx_attr_values kept %d of %d granules for a value in one granule (parts written before 0013 not filtered?):\n%s", kept, all, text)
	}
}
