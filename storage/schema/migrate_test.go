package schema

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage/chtest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

func allIDs(t *testing.T) []string {
	t.Helper()
	migrations, err := Render(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range migrations {
		ids = append(ids, m.ID())
	}
	return ids
}

// migrated creates a fresh database with the full schema.
func migrated(t *testing.T, opts Options) (driver.Conn, Options) {
	t.Helper()
	opts.Database = chtest.NewDatabase(t)
	conn := chtest.Conn(t)
	if _, err := Migrate(context.Background(), conn, opts); err != nil {
		t.Fatal(err)
	}
	return conn, opts
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	ctx := context.Background()
	conn := chtest.Conn(t)
	opts := DefaultOptions()
	opts.Database = chtest.NewDatabase(t)

	applied, err := Migrate(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The migrations, then automatic statistics turned off on every
	// MergeTree table (the test engine has them; see statistics.go).
	want := append(allIDs(t), "statistics off attributes_1h", "statistics off broker_edges_1m", "statistics off logs", "statistics off peer_calls_1m", "statistics off publishes_1m",
		"statistics off red_1m", "statistics off red_instance_1m", "statistics off saved_views", "statistics off schema_migrations",
		"statistics off service_edges_1m", "statistics off spans", "statistics off trace_index")
	if !reflect.DeepEqual(applied, want) {
		t.Fatalf("first Migrate applied %q, want %q", applied, want)
	}

	tables := chtest.Strings(t, conn, "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name", chParams("db", opts.Database)...)
	want = []string{Attributes1hTable, "attributes_1h_log_resources_mv", "attributes_1h_logs_mv", "attributes_1h_span_resources_mv", "attributes_1h_spans_mv",
		SavedViewsTable, LogsTable, PeerCalls1mTable, "peer_calls_1m_mv", RED1mTable, "red_1m_mv", MigrationsTable, ServiceEdgeEventsTable, ServiceEdges1mTable, "service_edges_1m_mv", SpansTable, TraceIndexTable, "trace_index_mv",
		BrokerEdgeEventsTable, BrokerEdges1mTable, "broker_edges_1m_mv", Publishes1mTable, "publishes_1m_mv", REDInstance1mTable, "red_instance_1m_mv"}
	sort.Strings(want)
	if !reflect.DeepEqual(tables, want) {
		t.Errorf("tables %q, want %q", tables, want)
	}

	applied, err = Migrate(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("second Migrate applied %q, want nothing", applied)
	}

	var recorded uint64
	if err := conn.QueryRow(ctx, "SELECT uniqExact(version) FROM "+opts.Database+".schema_migrations").Scan(&recorded); err != nil {
		t.Fatal(err)
	}
	if int(recorded) != len(allIDs(t)) {
		t.Errorf("schema_migrations records %d versions, want %d", recorded, len(allIDs(t)))
	}
}

func TestMigrateCreatesDatabase(t *testing.T) {
	ctx := context.Background()
	conn := chtest.Conn(t)
	db := "test_created_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	if _, err := Migrate(ctx, conn, Options{Database: db}); err != nil {
		t.Fatal(err)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'spans'", chParams("db", db)...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("database %s has no spans table after Migrate", db)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	opts := DefaultOptions()
	opts.Database = chtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		conn := chtest.Conn(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Migrate(ctx, conn, opts)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	applied, err := Migrate(ctx, chtest.Conn(t), opts)
	if err != nil || len(applied) != 0 {
		t.Errorf("Migrate after two concurrent writers applied %q, %v; want nothing", applied, err)
	}
	// 0013 drops and adds an index: whatever the interleaving, it is there
	// once both are done.
	var typ string
	if err := chtest.Conn(t).QueryRow(ctx, "SELECT type_full FROM system.data_skipping_indices WHERE database = {db:String} AND table = 'spans' AND name = 'idx_attr_values'",
		chParams("db", opts.Database)...).Scan(&typ); err != nil || typ != "bloom_filter(0.001)" {
		t.Errorf("after two concurrent writers idx_attr_values is %q (%v), want bloom_filter(0.001)", typ, err)
	}
}

func TestMigrateRejectsChangedChecksum(t *testing.T) {
	ctx := context.Background()
	conn, opts := migrated(t, DefaultOptions())
	// An earlier record for version 2 with another checksum: as if the file
	// had been edited after it was applied.
	if err := conn.Exec(ctx, "INSERT INTO "+opts.Database+".schema_migrations VALUES (2, 'trace_index', 'deadbeef', '2001-01-01 00:00:00')"); err != nil {
		t.Fatal(err)
	}
	_, err := Migrate(ctx, conn, opts)
	if err == nil {
		t.Fatal("Migrate accepted a migration whose checksum changed")
	}
	if !strings.Contains(err.Error(), "0002_trace_index") {
		t.Errorf("error does not name the migration: %v", err)
	}
}

// engineFull is the table's engine clause as the server shows it (with
// its TTL and settings).
func engineFull(t *testing.T, conn driver.Conn, db, table string) string {
	t.Helper()
	var e string
	if err := conn.QueryRow(context.Background(), "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
		chParams("db", db, "t", table)...).Scan(&e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSpansPartsStayCompact: 0007 keeps merged parts of spans compact (a
// trace read then opens one file per part instead of a stream per
// column), and only spans.
func TestSpansPartsStayCompact(t *testing.T) {
	conn, opts := migrated(t, DefaultOptions())
	const setting = "min_bytes_for_wide_part = 1000000000000000"
	if e := engineFull(t, conn, opts.Database, SpansTable); !strings.Contains(e, setting) {
		t.Errorf("spans does not have %s: %s", setting, e)
	}
	if e := engineFull(t, conn, opts.Database, LogsTable); strings.Contains(e, "min_bytes_for_wide_part") {
		t.Errorf("logs changed its part format too: %s", e)
	}
}

func TestMigrateChangesTTL(t *testing.T) {
	ctx := context.Background()
	conn, opts := migrated(t, DefaultOptions())

	engine := func(table string) string { return engineFull(t, conn, opts.Database, table) }
	if e := engine(SpansTable); !strings.Contains(e, "toIntervalDay(7)") {
		t.Fatalf("spans created without the 7-day TTL: %s", e)
	}

	opts.SpansTTL = 72 * time.Hour
	opts.ShortenSpansTTL = true // 7 days to 3 is asked for explicitly
	opts.MetricsTTL = 90 * 24 * time.Hour
	applied, err := Migrate(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ttl spans 72h0m0s", "ttl trace_index 72h0m0s", "ttl red_1m 2160h0m0s", "ttl service_edges_1m 2160h0m0s", "ttl peer_calls_1m 2160h0m0s",
		"ttl broker_edges_1m 2160h0m0s", "ttl publishes_1m 2160h0m0s", "ttl red_instance_1m 2160h0m0s", "ttl attributes_1h 2160h0m0s"}
	if !reflect.DeepEqual(applied, want) {
		t.Errorf("applied %q, want %q", applied, want)
	}
	for table, iv := range map[string]string{SpansTable: "toIntervalDay(3)", TraceIndexTable: "toIntervalDay(3)", LogsTable: "toIntervalDay(7)", RED1mTable: "toIntervalDay(90)"} {
		if e := engine(table); !strings.Contains(e, iv) {
			t.Errorf("%s: want TTL with %s, have %s", table, iv, e)
		}
	}
	if applied, err := Migrate(ctx, conn, opts); err != nil || len(applied) != 0 {
		t.Errorf("Migrate with unchanged TTLs applied %q, %v; want nothing", applied, err)
	}

	opts.LogsTTL = 0
	applied, err = Migrate(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(applied, []string{"ttl logs removed"}) {
		t.Errorf("applied %q, want the logs TTL removed", applied)
	}
	if e := engine(LogsTable); strings.Contains(e, "TTL") {
		t.Errorf("logs still has a TTL: %s", e)
	}
	if applied, err := Migrate(ctx, conn, opts); err != nil || len(applied) != 0 {
		t.Errorf("Migrate after removing a TTL applied %q, %v; want nothing", applied, err)
	}
}

func TestMigrateTurnsStatisticsOff(t *testing.T) {
	ctx := context.Background()
	conn, opts := migrated(t, DefaultOptions())
	engine := func(table string) string { return engineFull(t, conn, opts.Database, table) }
	for _, table := range []string{SpansTable, TraceIndexTable, LogsTable, RED1mTable, ServiceEdges1mTable} {
		if e := engine(table); !strings.Contains(e, noAutoStatistics) {
			t.Errorf("%s keeps automatic statistics: %s", table, e)
		}
	}

	// A database migrated before this existed: its tables have them on.
	if err := conn.Exec(ctx, "ALTER TABLE "+opts.Database+".spans MODIFY SETTING auto_statistics_types = 'minmax, uniq'"); err != nil {
		t.Fatal(err)
	}
	applied, err := Migrate(ctx, conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(applied, []string{"statistics off spans"}) {
		t.Errorf("applied %q, want statistics turned off on spans", applied)
	}
	if e := engine(SpansTable); !strings.Contains(e, noAutoStatistics) {
		t.Errorf("spans keeps automatic statistics: %s", e)
	}

	// What the setting is for: a merged part of trace_index has no
	// statistics file, where a table with the engine's defaults has one.
	control := opts.Database + ".statistics_control"
	if err := conn.Exec(ctx, "CREATE TABLE "+control+" (TraceKey UInt64) ENGINE = MergeTree ORDER BY TraceKey"); err != nil {
		t.Fatal(err)
	}
	statsFile := func(table, insert string) bool {
		t.Helper()
		for range 2 { // two parts, so that OPTIMIZE merges
			if err := conn.Exec(ctx, "INSERT INTO "+table+" "+insert); err != nil {
				t.Fatal(err)
			}
		}
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
		var path string
		db, name, _ := strings.Cut(table, ".")
		if err := conn.QueryRow(ctx, "SELECT path FROM system.parts WHERE active AND database = {db:String} AND table = {t:String} AND level > 0",
			chParams("db", db, "t", name)...).Scan(&path); err != nil {
			t.Fatalf("merged part of %s: %v", table, err)
		}
		_, err := os.Stat(filepath.Join(path, "statistics.packed"))
		return err == nil
	}
	if !statsFile(control, "SELECT number FROM numbers(1000)") {
		t.Fatal("a table with the engine's defaults has no statistics file after a merge: the engine changed, revisit statistics.go")
	}
	if statsFile(opts.Database+".trace_index", "SELECT number, now(), now() FROM numbers(1000)") {
		t.Error("trace_index still writes column statistics")
	}
}

func TestMigrateKeepsLongerTTLUnlessAsked(t *testing.T) {
	ctx := context.Background()
	opts := DefaultOptions()
	opts.SpansTTL, opts.LogsTTL = 30*24*time.Hour, 0 // a longer retention, and logs kept forever
	conn, opts := migrated(t, opts)

	// Started again with the defaults (7 days), as a collector or an
	// all-in-one restarted without its flags would be: nothing shortened.
	defaults := DefaultOptions()
	defaults.Database = opts.Database
	var diffs []TTLDiff // what Migrate reports it kept
	defaults.KeptTTL = func(d TTLDiff) { diffs = append(diffs, d) }
	applied, err := Migrate(ctx, conn, defaults)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Errorf("Migrate with default TTLs applied %q; want the longer TTLs kept", applied)
	}
	want := []TTLDiff{
		{Table: SpansTable, Current: 30 * 24 * time.Hour, Wanted: DefaultSpansTTL},
		{Table: TraceIndexTable, Current: 30 * 24 * time.Hour, Wanted: DefaultSpansTTL},
		{Table: LogsTable, Current: 0, Wanted: DefaultLogsTTL},
	}
	if !reflect.DeepEqual(diffs, want) {
		t.Errorf("kept %+v, want %+v", diffs, want)
	}
	for _, d := range diffs {
		if !d.Shortens() {
			t.Errorf("%+v: Shortens() = false", d)
		}
	}
	if got := diffs[0].Explain("tracehouse migrate"); !strings.HasPrefix(got, "kept the TTL of spans, 720h0m0s") || !strings.Contains(got, "tracehouse migrate --spans-ttl 168h0m0s") {
		t.Errorf("Explain does not give the kept TTL and the command: %q", got)
	}

	// Asked for explicitly, for spans only: spans and trace_index shortened,
	// logs kept forever.
	defaults.ShortenSpansTTL = true
	diffs = nil
	applied, err = Migrate(ctx, conn, defaults)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ttl spans 168h0m0s", "ttl trace_index 168h0m0s"}; !reflect.DeepEqual(applied, want) {
		t.Errorf("applied %q, want %q", applied, want)
	}
	if len(diffs) != 1 || diffs[0].Table != LogsTable {
		t.Errorf("kept %+v after shortening spans; want only logs", diffs)
	}
	tables, err := mergeTreeTables(ctx, conn, defaults.Database)
	if left := ttlDiffs(defaults.withDefaults(), tables); err != nil || len(left) != 1 || left[0].Table != LogsTable {
		t.Errorf("TTLs differing after shortening spans: %+v, %v; want only logs", left, err)
	}
}

func TestColumnListsMatchTables(t *testing.T) {
	conn, opts := migrated(t, DefaultOptions())
	for table, want := range map[string][]string{
		SpansTable:             SpansColumns(),
		LogsTable:              LogsColumns(),
		ServiceEdgeEventsTable: ServiceEdgeEventsColumns(),
		BrokerEdgeEventsTable:  BrokerEdgeEventsColumns(),
	} {
		// The lists are what writers insert: computed (MATERIALIZED)
		// columns are the server's.
		have := chtest.Strings(t, conn, "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} AND default_kind != 'MATERIALIZED' ORDER BY position",
			chParams("db", opts.Database, "t", table)...)
		if !reflect.DeepEqual(have, want) {
			t.Errorf("%s columns:\n have %q\n want %q", table, have, want)
		}
	}
}

// row fills every column of cols with an empty value of its type, then
// applies set.
func row(cols []string, set map[string]any) []any {
	out := make([]any, len(cols))
	for i, c := range cols {
		if v, ok := set[c]; ok {
			out[i] = v
			delete(set, c)
			continue
		}
		out[i] = emptyValue(c)
	}
	if len(set) > 0 {
		panic(fmt.Sprintf("unknown columns %v", set))
	}
	return out
}

func emptyValue(col string) any {
	nested := strings.HasPrefix(col, "Events.") || strings.HasPrefix(col, "Links.")
	field := col[strings.LastIndex(col, ".")+1:]
	var v any
	switch {
	case field == "AttrStr", field == "AttrOther":
		v = map[string]string{}
	case field == "AttrInt":
		v = map[string]int64{}
	case field == "AttrFloat":
		v = map[string]float64{}
	case field == "AttrBool":
		v = map[string]bool{}
	case strings.HasSuffix(field, "Attributes"):
		v = "{}"
	case strings.HasSuffix(field, "Count"), field == "Flags", field == "TraceFlags":
		v = uint32(0)
	case field == "Timestamp", field == "ObservedTimestamp":
		v = time.Unix(0, 0)
	case field == "TraceId":
		v = string(make([]byte, 16))
	case field == "SpanId", field == "ParentSpanId":
		v = string(make([]byte, 8))
	case field == "SpanKind", field == "StatusCode", field == "BodyType":
		v = int8(0)
	case field == "SeverityNumber":
		v = uint8(0)
	case field == "Duration":
		v = uint64(0)
	default:
		v = ""
	}
	if !nested {
		return v
	}
	// An empty array of the field's type.
	return reflect.MakeSlice(reflect.SliceOf(reflect.TypeOf(v)), 0, 0).Interface()
}

// chParams turns name, value pairs into query parameters for {name:Type}.
func chParams(kv ...string) []any {
	var out []any
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, clickhouse.Named(kv[i], kv[i+1]))
	}
	return out
}

func insert(t *testing.T, conn driver.Conn, db, table string, cols []string, rows ...[]any) {
	t.Helper()
	ctx := context.Background()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+"."+table+" ("+strings.Join(cols, ", ")+")")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := batch.Append(r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

func id(hexID string) string {
	b, err := hex.DecodeString(hexID)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestSpansFillTraceIndexAndRED(t *testing.T) {
	ctx := context.Background()
	conn, opts := migrated(t, DefaultOptions())
	db := opts.Database

	base := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	traceA := "0af7651916cd43dd8448eb211c80319c"
	traceB := "4bf92f3577b34da6a3ce929d0e0e4736"
	cols := SpansColumns()
	span := func(trace, spanID, parent, service, name string, kind int8, start time.Time, dur time.Duration, status int8) []any {
		return row(cols, map[string]any{
			"Timestamp":          start,
			"TraceId":            id(trace),
			"SpanId":             id(spanID),
			"ParentSpanId":       id(parent),
			"ServiceName":        service,
			"SpanName":           name,
			"SpanKind":           kind,
			"Duration":           uint64(dur),
			"StatusCode":         status,
			"ResourceAttributes": `{"service.name":{"stringValue":"` + service + `"}}`,
		})
	}
	root := "0000000000000000"
	insert(t, conn, db, SpansTable, cols,
		span(traceA, "00f067aa0ba902b7", root, "gateway", "GET /orders", 2, base.Add(1500*time.Millisecond), 120*time.Millisecond, 0),
		span(traceA, "00f067aa0ba902b8", "00f067aa0ba902b7", "gateway", "POST /orders", 3, base.Add(1510*time.Millisecond), 100*time.Millisecond, 0),
		span(traceA, "00f067aa0ba902b9", "00f067aa0ba902b8", "order", "POST /orders", 2, base.Add(1520*time.Millisecond), 90*time.Millisecond, 2),
		span(traceB, "10f067aa0ba902b7", root, "gateway", "GET /orders", 2, base.Add(70*time.Second), 40*time.Millisecond, 0),
	)
	// A late span of trace A in a second insert: trace_index folds both.
	insert(t, conn, db, SpansTable, cols,
		span(traceA, "00f067aa0ba902c0", "00f067aa0ba902b9", "payment", "charge", 3, base.Add(3*time.Second), 2*time.Second, 0),
	)

	var start, end time.Time
	if err := conn.QueryRow(ctx, "SELECT min(Start), max(End) FROM "+db+".trace_index WHERE TraceKey = cityHash64(unhex({id:String}))",
		chParams("id", traceA)...).Scan(&start, &end); err != nil {
		t.Fatal(err)
	}
	if want := base.Add(time.Second); !start.Equal(want) {
		t.Errorf("trace_index Start = %v, want %v (floor of the first span start)", start, want)
	}
	if want := base.Add(5 * time.Second); !end.Equal(want) {
		t.Errorf("trace_index End = %v, want %v (floor of the last span end)", end, want)
	}

	// The trace-by-id read documented in 0002_trace_index.sql.
	rows, err := conn.Query(ctx, `
		WITH (SELECT (min(Start), max(End)) FROM `+db+`.trace_index
		      WHERE TraceKey = cityHash64(unhex({id:String}))) AS range
		SELECT hex(SpanId) FROM `+db+`.spans
		WHERE TraceId = unhex({id:String})
		  AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2 + 1, 9)
		ORDER BY Timestamp`, chParams("id", traceA)...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.ToLower(s))
	}
	rows.Close()
	if want := []string{"00f067aa0ba902b7", "00f067aa0ba902b8", "00f067aa0ba902b9", "00f067aa0ba902c0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("trace by id returned spans %q, want %q", got, want)
	}

	// Resource attributes filter through the LowCardinality JSON.
	var inOrder uint64
	if err := conn.QueryRow(ctx, `SELECT count() FROM `+db+`.spans WHERE ResourceAttributes LIKE '%"service.name":{"stringValue":"order"}%'`).Scan(&inOrder); err != nil {
		t.Fatal(err)
	}
	if inOrder != 1 {
		t.Errorf("resource filter found %d spans of service order, want 1", inOrder)
	}

	// RED per operation over the window.
	type red struct {
		Service, Name, Kind string
		Calls, Errors, Sum  uint64
		P50                 float32
	}
	rows, err = conn.Query(ctx, `
		SELECT ServiceName, SpanName, toString(SpanKind), sum(Calls), sum(Errors), sum(DurationSum),
		       quantileTDigestMerge(0.5)(DurationQuantiles)
		FROM `+db+`.red_1m
		WHERE Timestamp >= {from:DateTime} AND Timestamp < {to:DateTime}
		GROUP BY ServiceName, SpanName, SpanKind ORDER BY ServiceName, SpanName`,
		chParams("from", base.Format(time.DateTime), "to", base.Add(time.Hour).Format(time.DateTime))...)
	if err != nil {
		t.Fatal(err)
	}
	var reds []red
	for rows.Next() {
		var r red
		if err := rows.Scan(&r.Service, &r.Name, &r.Kind, &r.Calls, &r.Errors, &r.Sum, &r.P50); err != nil {
			t.Fatal(err)
		}
		reds = append(reds, r)
	}
	rows.Close()
	ms := uint64(time.Millisecond)
	wantRED := []red{
		{"gateway", "GET /orders", "Server", 2, 0, 160 * ms, 0},
		{"gateway", "POST /orders", "Client", 1, 0, 100 * ms, float32(100 * ms)},
		{"order", "POST /orders", "Server", 1, 1, 90 * ms, float32(90 * ms)},
		{"payment", "charge", "Client", 1, 0, 2000 * ms, float32(2000 * ms)},
	}
	if len(reds) != len(wantRED) {
		t.Fatalf("red_1m rows %+v, want %+v", reds, wantRED)
	}
	for i, w := range wantRED {
		g := reds[i]
		if w.P50 == 0 {
			g.P50, w.P50 = 0, 0 // the median of two values is interpolated
		}
		if g != w {
			t.Errorf("red_1m row %d = %+v, want %+v", i, g, w)
		}
	}

	// Per-minute rows: trace B's root is in the next minute.
	var minutes uint64
	if err := conn.QueryRow(ctx, "SELECT uniqExact(Timestamp) FROM "+db+".red_1m WHERE ServiceName = 'gateway' AND SpanName = 'GET /orders'").Scan(&minutes); err != nil {
		t.Fatal(err)
	}
	if minutes != 2 {
		t.Errorf("gateway GET /orders spans two minutes, red_1m has %d", minutes)
	}
}

func TestServiceEdges(t *testing.T) {
	ctx := context.Background()
	conn, opts := migrated(t, DefaultOptions())
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	cols := ServiceEdgeEventsColumns()
	insert(t, conn, opts.Database, ServiceEdgeEventsTable, cols,
		[]any{base.Add(time.Second), "gateway", "order", uint64(10 * time.Millisecond), false},
		[]any{base.Add(2 * time.Second), "gateway", "order", uint64(30 * time.Millisecond), true},
		[]any{base.Add(3 * time.Second), "order", "payment", uint64(5 * time.Millisecond), false},
		[]any{base.Add(61 * time.Second), "gateway", "order", uint64(20 * time.Millisecond), false},
	)
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+opts.Database+".service_edge_events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		t.Errorf("service_edge_events stored %d rows; it must be a Null table", stored)
	}

	rows, err := conn.Query(ctx, `
		SELECT ParentService, ChildService, sum(Calls), sum(Errors), sum(DurationSum),
		       quantilesTDigestMerge(0.5, 0.99)(DurationQuantiles)
		FROM `+opts.Database+`.service_edges_1m
		WHERE Timestamp >= {from:DateTime}
		GROUP BY ParentService, ChildService ORDER BY ParentService`, chParams("from", base.Format(time.DateTime))...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var (
			parent, child      string
			calls, errors, sum uint64
			quantiles          []float64
		)
		if err := rows.Scan(&parent, &child, &calls, &errors, &sum, &quantiles); err != nil {
			t.Fatal(err)
		}
		if len(quantiles) != 2 || quantiles[1] < quantiles[0] {
			t.Errorf("%s→%s quantiles %v", parent, child, quantiles)
		}
		got = append(got, fmt.Sprintf("%s→%s calls=%d errors=%d sum=%v", parent, child, calls, errors, time.Duration(sum)))
	}
	rows.Close()
	want := []string{"gateway→order calls=3 errors=1 sum=60ms", "order→payment calls=1 errors=0 sum=5ms"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("service_edges_1m:\n got %q\nwant %q", got, want)
	}
}

// TestTypedAttributesRoundTrip checks that every typed column comes back as
// inserted through clickhouse-go, nested events and links included.
func TestTypedAttributesRoundTrip(t *testing.T) {
	ctx := context.Background()
	conn, opts := migrated(t, DefaultOptions())
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Nanosecond)
	in := map[string]any{
		"Timestamp":                      ts,
		"TraceId":                        id("0af7651916cd43dd8448eb211c80319c"),
		"SpanId":                         id("00f067aa0ba902b7"),
		"TraceState":                     "rojo=00f067aa0ba902b7",
		"Flags":                          uint32(0x101),
		"SpanName":                       "GET /orders/{id}",
		"SpanKind":                       int8(2),
		"Duration":                       uint64(1234567),
		"StatusCode":                     int8(2),
		"StatusMessage":                  "card declined",
		"ServiceName":                    "order",
		"ResourceAttributes":             `{"service.name":{"stringValue":"order"},"process.pid":{"intValue":"4242"}}`,
		"ResourceDroppedAttributesCount": uint32(1),
		"ResourceSchemaUrl":              "https://opentelemetry.io/schemas/1.26.0",
		"ScopeName":                      "otelhttp",
		"ScopeVersion":                   "0.63.0",
		"ScopeAttributes":                `{"scope.flag":{"boolValue":true}}`,
		"ScopeDroppedAttributesCount":    uint32(2),
		"ScopeSchemaUrl":                 "https://opentelemetry.io/schemas/1.24.0",
		"AttrStr":                        map[string]string{"http.route": "/orders/{id}", "user.id": "u42"},
		"AttrInt":                        map[string]int64{"http.response.status_code": 500, "big": -1 << 62},
		"AttrFloat":                      map[string]float64{"ratio": 0.25},
		"AttrBool":                       map[string]bool{"retry": false, "cached": true},
		"AttrOther":                      map[string]string{"tags": `{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"1"}]}}`},
		"DroppedAttributesCount":         uint32(3),
		"Events.Timestamp":               []time.Time{ts.Add(time.Millisecond)},
		"Events.Name":                    []string{"exception"},
		"Events.Attributes":              []string{`{"exception.type":{"stringValue":"PaymentDeclined"},"attempt":{"intValue":"2"}}`},
		"Events.DroppedAttributesCount":  []uint32{1},
		"DroppedEventsCount":             uint32(4),
		"Links.TraceId":                  []string{id("4bf92f3577b34da6a3ce929d0e0e4736")},
		"Links.SpanId":                   []string{id("10f067aa0ba902b7")},
		"Links.TraceState":               []string{"congo=t61rcWkgMzE"},
		"Links.Flags":                    []uint32{1},
		"Links.Attributes":               []string{`{"link.kind":{"stringValue":"follows"}}`},
		"Links.DroppedAttributesCount":   []uint32{0},
		"DroppedLinksCount":              uint32(5),
	}
	want := make(map[string]any, len(in))
	for k, v := range in {
		want[k] = v
	}
	cols := SpansColumns()
	insert(t, conn, opts.Database, SpansTable, cols, row(cols, in))

	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = "`" + c + "`"
	}
	r := conn.QueryRow(ctx, "SELECT "+strings.Join(quoted, ", ")+" FROM "+opts.Database+".spans")
	dest := make([]any, len(cols))
	empty := row(cols, map[string]any{})
	for i := range cols {
		v := empty[i]
		switch v.(type) {
		case int8: // enums scan as their names
			v = ""
		}
		dest[i] = reflect.New(reflect.TypeOf(v)).Interface()
	}
	if err := r.Scan(dest...); err != nil {
		t.Fatal(err)
	}
	enums := map[string]string{"SpanKind": "Server", "StatusCode": "Error"}
	for i, c := range cols {
		got := reflect.ValueOf(dest[i]).Elem().Interface()
		w, ok := want[c]
		if !ok {
			w = empty[i]
		}
		if name, isEnum := enums[c]; isEnum {
			w = name
		}
		if tm, isTime := got.(time.Time); isTime {
			if !tm.Equal(w.(time.Time)) {
				t.Errorf("%s = %v, want %v", c, tm, w)
			}
			continue
		}
		if tms, isTimes := got.([]time.Time); isTimes {
			if len(tms) != 1 || !tms[0].Equal(w.([]time.Time)[0]) {
				t.Errorf("%s = %v, want %v", c, tms, w)
			}
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", c, got, w)
		}
	}
}

func TestLogsSearch(t *testing.T) {
	ctx := context.Background()
	conn, opts := migrated(t, DefaultOptions())
	base := time.Now().UTC().Add(-time.Minute)
	cols := LogsColumns()
	trace := id("0af7651916cd43dd8448eb211c80319c")
	log := func(i int, service, body string, traceID string) []any {
		return row(cols, map[string]any{
			"Timestamp":         base.Add(time.Duration(i) * time.Millisecond),
			"ObservedTimestamp": base.Add(time.Duration(i)*time.Millisecond + time.Microsecond),
			"ServiceName":       service,
			"Body":              body,
			"BodyType":          int8(1),
			"SeverityText":      "INFO",
			"SeverityNumber":    uint8(9),
			"TraceId":           traceID,
			"AttrStr":           map[string]string{"order.id": fmt.Sprint(i)},
		})
	}
	noTrace := string(make([]byte, 16))
	insert(t, conn, opts.Database, LogsTable, cols,
		log(1, "payment", "Payment DECLINED for order 7", trace),
		log(2, "payment", "payment ok, declined nothing", noTrace),
		log(3, "order", "order created", trace),
		log(4, "gateway", "GET /orders 200", noTrace),
	)
	count := func(where string, args ...any) uint64 {
		t.Helper()
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM "+opts.Database+".logs WHERE "+where, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		return n
	}
	if n := count("hasPhrase(Body, {q:String})", chParams("q", "payment declined")...); n != 1 {
		t.Errorf("phrase search found %d records, want 1", n)
	}
	if n := count("hasAllTokens(Body, {q:String})", chParams("q", "PAYMENT declined")...); n != 2 {
		t.Errorf("all-tokens search found %d records, want 2 (case-insensitive)", n)
	}
	if n := count("TraceId = unhex({id:String})", chParams("id", "0af7651916cd43dd8448eb211c80319c")...); n != 2 {
		t.Errorf("logs of the trace: %d, want 2", n)
	}
	if n := count("ServiceName = 'payment' AND AttrStr['order.id'] = '2'"); n != 1 {
		t.Errorf("attribute search found %d, want 1", n)
	}
}

func TestMigrateAcceptsSupersededChecksum(t *testing.T) {
	ctx := context.Background()
	for i, sum := range supersededChecksums[1] {
		conn, opts := migrated(t, DefaultOptions())
		// An earlier record for version 1 with a text 0001 had before it
		// was edited in place: accepted, as a database created then must
		// still run.
		if err := conn.Exec(ctx, "INSERT INTO "+opts.Database+".schema_migrations VALUES (1, 'spans', {c:String}, '2001-01-01 00:00:00')",
			chParams("c", sum)...); err != nil {
			t.Fatal(err)
		}
		if _, err := Migrate(ctx, conn, opts); err != nil {
			t.Fatalf("Migrate refused a database that applied earlier text %d of 0001: %v", i, err)
		}
	}
}

// Every table that stores rows remembers the tokens of its latest inserts
// (0008), so a retried INSERT, and the blocks its materialized views make
// from it, are stored once (storage/writer's TestRetriedBatchCountsOnce
// checks the rows).
func TestTablesDeduplicateInserts(t *testing.T) {
	conn, opts := migrated(t, DefaultOptions())
	rows, err := conn.Query(context.Background(),
		"SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree' AND name != {migrations:String}",
		chParams("db", opts.Database, "migrations", MigrationsTable)...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var seen []string
	for rows.Next() {
		var name, create string
		if err := rows.Scan(&name, &create); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, name)
		if !strings.Contains(create, "non_replicated_deduplication_window = 10000") {
			t.Errorf("%s does not deduplicate inserts:\n%s", name, create)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(seen)
	if want := []string{Attributes1hTable, BrokerEdges1mTable, LogsTable, PeerCalls1mTable, Publishes1mTable, RED1mTable, REDInstance1mTable, SavedViewsTable, ServiceEdges1mTable, SpansTable, TraceIndexTable}; !reflect.DeepEqual(seen, want) {
		t.Errorf("MergeTree tables %v, want %v", seen, want)
	}
}

// TestAsyncPathTables checks 0012: broker_edge_events folds into
// broker_edges_1m (deliveries, errors, redeliveries, queue delay), producer
// spans with a destination fill publishes_1m, and every span fills
// red_instance_1m under its resource's service.instance.id.
func TestAsyncPathTables(t *testing.T) {
	ctx := context.Background()
	conn, opts := migrated(t, DefaultOptions())
	db := opts.Database
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	ms := func(n int) uint64 { return uint64(time.Duration(n) * time.Millisecond) }
	insert(t, conn, db, BrokerEdgeEventsTable, BrokerEdgeEventsColumns(),
		[]any{base.Add(time.Second), "order", "nats", "order.confirmed", "fulfillment", ms(10), ms(5), true, false},
		[]any{base.Add(2 * time.Second), "order", "nats", "order.confirmed", "fulfillment", ms(30), ms(5), true, true},
		[]any{base.Add(3 * time.Second), "order", "nats", "order.confirmed", "fulfillment", ms(50), ms(7), false, true},
		[]any{base.Add(4 * time.Second), "order", "nats", "order.cancelled", "fulfillment", ms(20), ms(3), false, false},
	)
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".broker_edge_events").Scan(&stored); err != nil || stored != 0 {
		t.Errorf("broker_edge_events stored %d rows (%v); it must be a Null table", stored, err)
	}
	rows, err := conn.Query(ctx, `
		SELECT ProducerService, System, Destination, ConsumerService, sum(Deliveries), sum(Errors), sum(Redeliveries),
		       sum(QueueDelaySum), quantilesTDigestMerge(0.5, 0.99)(QueueDelayQuantiles), sum(DurationSum)
		FROM `+db+`.broker_edges_1m
		GROUP BY ProducerService, System, Destination, ConsumerService ORDER BY Destination`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var producer, system, dest, consumer string
		var deliveries, errs, redeliveries, delaySum, durSum uint64
		var delay []float64
		if err := rows.Scan(&producer, &system, &dest, &consumer, &deliveries, &errs, &redeliveries, &delaySum, &delay, &durSum); err != nil {
			t.Fatal(err)
		}
		if len(delay) != 2 || delay[1] < delay[0] {
			t.Errorf("%s queue delay quantiles %v", dest, delay)
		}
		got = append(got, fmt.Sprintf("%s→%s/%s→%s deliveries=%d errors=%d redeliveries=%d delay=%v duration=%v",
			producer, system, dest, consumer, deliveries, errs, redeliveries, time.Duration(delaySum), time.Duration(durSum)))
	}
	rows.Close()
	want := []string{
		"order→nats/order.cancelled→fulfillment deliveries=1 errors=0 redeliveries=0 delay=20ms duration=3ms",
		"order→nats/order.confirmed→fulfillment deliveries=3 errors=2 redeliveries=2 delay=90ms duration=17ms",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("broker_edges_1m:\n got %q\nwant %q", got, want)
	}

	cols := SpansColumns()
	span := func(service, instance, name string, kind, status int8, attrs map[string]string) []any {
		res := `{"service.name":{"stringValue":"` + service + `"}`
		if instance != "" {
			res += `,"service.instance.id":{"stringValue":"` + instance + `"}`
		}
		return row(cols, map[string]any{
			"Timestamp": base.Add(10 * time.Second), "ServiceName": service, "SpanName": name, "SpanKind": kind,
			"StatusCode": status, "Duration": ms(4), "ResourceAttributes": res + "}", "AttrStr": attrs,
		})
	}
	insert(t, conn, db, SpansTable, cols,
		span("order", "order-1", "POST /v1/orders", 2, 0, map[string]string{}),
		span("order", "order-1", "POST /v1/orders", 2, 2, map[string]string{}),
		span("order", "order-2", "POST /v1/orders", 2, 0, map[string]string{}),
		span("order", "order-2", "publish order.confirmed", 4, 0, map[string]string{"messaging.system": "nats", "messaging.destination.name": "order.confirmed"}),
		span("order", "order-2", "publish order.confirmed", 4, 2, map[string]string{"messaging.system": "nats", "messaging.destination.name": "order.confirmed"}),
		span("order", "", "publish audit", 4, 0, map[string]string{}), // no destination: not a publish of the map
		span("fulfillment", "", "process order.confirmed", 5, 0, map[string]string{"messaging.destination.name": "order.confirmed"}),
	)
	var pubs []string
	rows, err = conn.Query(ctx, "SELECT ServiceName, System, Destination, sum(Calls), sum(Errors) FROM "+db+".publishes_1m GROUP BY ServiceName, System, Destination")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var svc, system, dest string
		var calls, errs uint64
		if err := rows.Scan(&svc, &system, &dest, &calls, &errs); err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, fmt.Sprintf("%s %s/%s calls=%d errors=%d", svc, system, dest, calls, errs))
	}
	rows.Close()
	if want := []string{"order nats/order.confirmed calls=2 errors=1"}; !reflect.DeepEqual(pubs, want) {
		t.Errorf("publishes_1m: %q, want %q", pubs, want)
	}
	var byInstance []string
	rows, err = conn.Query(ctx, "SELECT ServiceName, Instance, toString(SpanKind), sum(Calls), sum(Errors) FROM "+db+".red_instance_1m GROUP BY ServiceName, Instance, SpanKind ORDER BY ServiceName, Instance, SpanKind")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var svc, inst, kind string
		var calls, errs uint64
		if err := rows.Scan(&svc, &inst, &kind, &calls, &errs); err != nil {
			t.Fatal(err)
		}
		byInstance = append(byInstance, fmt.Sprintf("%s/%q %s calls=%d errors=%d", svc, inst, kind, calls, errs))
	}
	rows.Close()
	wantInstances := []string{
		`fulfillment/"" Consumer calls=1 errors=0`,
		`order/"" Producer calls=1 errors=0`,
		`order/"order-1" Server calls=2 errors=1`,
		`order/"order-2" Server calls=1 errors=0`,
		`order/"order-2" Producer calls=2 errors=1`,
	}
	if !reflect.DeepEqual(byInstance, wantInstances) {
		t.Errorf("red_instance_1m:\n got %q\nwant %q", byInstance, wantInstances)
	}
}
