package schema

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenVariants are the renderings kept in testdata/<name>/.
var goldenVariants = map[string]Options{
	"single":  DefaultOptions(),
	"cluster": {Database: "tracehouse", Cluster: "{cluster}", SpansTTL: DefaultSpansTTL, LogsTTL: DefaultLogsTTL, MetricsTTL: DefaultMetricsTTL},
}

func TestGolden(t *testing.T) {
	for variant, opts := range goldenVariants {
		t.Run(variant, func(t *testing.T) {
			dir := filepath.Join("testdata", variant)
			want := map[string]string{}
			boot, err := renderBootstrap(opts)
			if err != nil {
				t.Fatal(err)
			}
			want["0000_bootstrap.sql"] = boot.SQL
			migrations, err := Render(opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range migrations {
				want[m.ID()+".sql"] = m.SQL
			}
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, sql := range want {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			have, err := filepath.Glob(filepath.Join(dir, "*.sql"))
			if err != nil {
				t.Fatal(err)
			}
			if len(have) != len(want) {
				t.Errorf("%s holds %d files, rendering gives %d (run go test ./storage/schema -update)", dir, len(have), len(want))
			}
			for name, sql := range want {
				got, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Errorf("%v (run go test ./storage/schema -update)", err)
					continue
				}
				if !bytes.Equal(got, []byte(sql)) {
					t.Errorf("%s/%s differs from the rendering (run go test ./storage/schema -update and review the diff):\n%s", dir, name, firstDiff(string(got), sql))
				}
			}
		})
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  golden:    " + x + "\n  rendered:  " + y
		}
	}
	return ""
}

func renderAll(t *testing.T, opts Options) string {
	t.Helper()
	migrations, err := Render(opts)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, m := range migrations {
		b.WriteString(m.SQL)
	}
	return b.String()
}

func TestRenderVersionsInOrder(t *testing.T) {
	migrations, err := Render(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []string{"0001_spans", "0002_trace_index", "0003_logs", "0004_red_1m", "0005_service_edges", "0006_spans_trace_id_index", "0007_spans_compact_parts", "0008_insert_deduplication", "0009_peer_calls_and_log_search", "0010_attributes_1h", "0011_saved_views", "0012_async_paths", "0013_attr_values_filter"}
	if len(migrations) != len(wantIDs) {
		t.Fatalf("got %d migrations, want %d", len(migrations), len(wantIDs))
	}
	for i, m := range migrations {
		if m.ID() != wantIDs[i] {
			t.Errorf("migration %d is %s, want %s", i, m.ID(), wantIDs[i])
		}
		if len(m.Statements) == 0 {
			t.Errorf("%s has no statements", m.ID())
		}
		if len(m.Checksum) != 64 {
			t.Errorf("%s checksum %q is not a hex SHA-256", m.ID(), m.Checksum)
		}
	}
}

func TestRenderTTL(t *testing.T) {
	opts := DefaultOptions()
	sql := renderAll(t, opts)
	for _, want := range []string{
		"TTL toDateTime(Timestamp) + INTERVAL 7 DAY",
		"TTL Start + INTERVAL 7 DAY",
		"TTL Timestamp + INTERVAL 30 DAY",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("default rendering lacks %q", want)
		}
	}

	opts.SpansTTL = 36 * time.Hour
	opts.LogsTTL = 90 * time.Minute
	opts.MetricsTTL = 45 * time.Second
	sql = renderAll(t, opts)
	for _, want := range []string{
		"TTL toDateTime(Timestamp) + INTERVAL 36 HOUR",
		"TTL Start + INTERVAL 36 HOUR",
		"TTL toDateTime(Timestamp) + INTERVAL 90 MINUTE",
		"TTL Timestamp + INTERVAL 45 SECOND",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("rendering with custom TTLs lacks %q", want)
		}
	}

	sql = renderAll(t, Options{})
	if strings.Contains(sql, "TTL ") {
		t.Errorf("TTL 0 must render no TTL clause, got:\n%s", sql)
	}
	if !strings.Contains(sql, "CREATE TABLE IF NOT EXISTS default.spans\n") {
		t.Errorf("empty database must render as default")
	}
}

func TestRenderDatabase(t *testing.T) {
	sql := renderAll(t, Options{Database: "th_prod"})
	if strings.Contains(sql, "default.") {
		t.Errorf("rendering for database th_prod still names the default database")
	}
	for _, want := range []string{"CREATE TABLE IF NOT EXISTS th_prod.spans\n", "TO th_prod.trace_index AS", "FROM th_prod.spans AS s"} {
		if !strings.Contains(sql, want) {
			t.Errorf("rendering lacks %q", want)
		}
	}
	boot, err := renderBootstrap(Options{Database: "th_prod"})
	if err != nil {
		t.Fatal(err)
	}
	if boot.Statements[0] != "CREATE DATABASE IF NOT EXISTS th_prod" {
		t.Errorf("bootstrap starts with %q", boot.Statements[0])
	}
}

func TestRenderSingleNodeHasNoClusterBits(t *testing.T) {
	sql := renderAll(t, DefaultOptions())
	for _, bad := range []string{"ON CLUSTER", "Replicated", "_local", "Distributed(", "{shard}"} {
		if strings.Contains(sql, bad) {
			t.Errorf("single-node rendering contains %q", bad)
		}
	}
}

func TestRenderCluster(t *testing.T) {
	opts := Options{Database: "th", Cluster: "prod_cluster"}
	migrations, err := Render(opts)
	if err != nil {
		t.Fatal(err)
	}
	// CREATE OR REPLACE only for Distributed tables: they hold no data,
	// so replacing one (0008) is as idempotent as IF NOT EXISTS.
	createRE := regexp.MustCompile(`^CREATE (TABLE|MATERIALIZED VIEW|DATABASE) IF NOT EXISTS (\S+)( ON CLUSTER '([^']*)')?`)
	replaceRE := regexp.MustCompile(`^CREATE OR REPLACE TABLE (\S+) ON CLUSTER 'prod_cluster' AS (\S+)\nENGINE = Distributed\('prod_cluster', 'th', '(\w+)', `)
	// Indexes and settings change the local tables on every node; the
	// Distributed table holds no data and needs neither. An index changes
	// type by DROP INDEX IF EXISTS, ADD INDEX IF NOT EXISTS and MATERIALIZE
	// INDEX IF EXISTS (0013): run again from any point, or by two processes
	// at once, the three leave the same index.
	alterLocalRE := regexp.MustCompile(`^ALTER TABLE (\S+_local) ON CLUSTER 'prod_cluster'\s+(ADD INDEX IF NOT EXISTS |DROP INDEX IF EXISTS |MATERIALIZE INDEX IF EXISTS |MODIFY SETTING )`)
	// A column goes to the local tables and to the Distributed one, which
	// reads it from them.
	addColumnRE := regexp.MustCompile(`^ALTER TABLE (\S+) ON CLUSTER 'prod_cluster'\s+ADD COLUMN IF NOT EXISTS `)
	distributed := map[string]bool{}
	for _, m := range migrations {
		for _, stmt := range m.Statements {
			if alterLocalRE.MatchString(stmt) || addColumnRE.MatchString(stmt) {
				continue
			}
			if g := replaceRE.FindStringSubmatch(stmt); g != nil {
				if g[2] != g[1]+"_local" || "th."+g[3] != g[2] {
					t.Errorf("%s: replaced Distributed table %s does not point at its local table:\n%s", m.ID(), g[1], stmt)
				}
				continue
			}
			g := createRE.FindStringSubmatch(stmt)
			if g == nil {
				t.Errorf("%s: statement is not an idempotent CREATE, index change or MODIFY SETTING on local tables:\n%s", m.ID(), stmt)
				continue
			}
			if g[4] != "prod_cluster" {
				t.Errorf("%s: %s is not created ON CLUSTER 'prod_cluster'", m.ID(), g[2])
			}
			name := strings.TrimPrefix(g[2], "th.")
			switch {
			case strings.Contains(stmt, "ENGINE = Distributed("):
				if strings.HasSuffix(name, "_local") {
					t.Errorf("Distributed table %s must carry the plain name", name)
				}
				if !strings.Contains(stmt, "Distributed('prod_cluster', 'th', '"+name+"_local', ") {
					t.Errorf("Distributed table %s does not point at %s_local:\n%s", name, name, stmt)
				}
				distributed[name] = true
			case g[1] == "TABLE":
				if !strings.HasSuffix(name, "_local") {
					t.Errorf("data table %s must be suffixed _local in a cluster", name)
				}
				if !strings.Contains(stmt, "ENGINE = Null") && !strings.Contains(stmt, "ENGINE = Replicated") {
					t.Errorf("data table %s is not replicated:\n%s", name, stmt)
				}
				if strings.Contains(stmt, "ENGINE = Replicated") && !regexp.MustCompile(`\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', '\{replica\}'(, \w+)*\)`).MatchString(stmt) {
					t.Errorf("data table %s has an unexpected replication path:\n%s", name, stmt)
				}
			case g[1] == "MATERIALIZED VIEW":
				if !strings.HasSuffix(name, "_local") || !regexp.MustCompile(`TO th\.\w+_local AS`).MatchString(stmt) || !regexp.MustCompile(`FROM th\.\w+_local AS`).MatchString(stmt) {
					t.Errorf("materialized view %s must read and write local tables:\n%s", name, stmt)
				}
			}
		}
	}
	for _, name := range []string{SpansTable, TraceIndexTable, LogsTable, RED1mTable, ServiceEdgeEventsTable, ServiceEdges1mTable, PeerCalls1mTable, Attributes1hTable, SavedViewsTable} {
		if !distributed[name] {
			t.Errorf("cluster rendering has no Distributed table %s", name)
		}
	}
	sql := renderAll(t, opts)
	for _, want := range []string{
		"Distributed('prod_cluster', 'th', 'spans_local', cityHash64(TraceId))",
		"Distributed('prod_cluster', 'th', 'logs_local', cityHash64(TraceId))",
		"ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("cluster rendering lacks %q", want)
		}
	}

	boot, err := renderBootstrap(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(boot.SQL, "CREATE DATABASE IF NOT EXISTS th ON CLUSTER 'prod_cluster'") ||
		!strings.Contains(boot.SQL, "ReplicatedReplacingMergeTree(") {
		t.Errorf("cluster bootstrap is not clustered:\n%s", boot.SQL)
	}
}

func TestChecksumIgnoresOptions(t *testing.T) {
	a, err := Render(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Render(Options{Database: "other", Cluster: "c", SpansTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i].Checksum != b[i].Checksum {
			t.Errorf("%s: checksum depends on options", a[i].ID())
		}
		if a[i].SQL == b[i].SQL {
			t.Errorf("%s: options did not change the rendering", a[i].ID())
		}
	}
}

func TestValidate(t *testing.T) {
	bad := []Options{
		{Database: "drop table x; --"},
		{Database: "1abc"},
		{Database: "a-b"},
		{Cluster: "x' OR '1"},
		{SpansTTL: -time.Hour},
		{LogsTTL: 1500 * time.Millisecond},
	}
	for _, o := range bad {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: want an error", o)
		}
		if _, err := Render(o); err == nil {
			t.Errorf("Render(%+v): want an error", o)
		}
	}
	good := []Options{{}, DefaultOptions(), {Database: "tracehouse_1", Cluster: "{cluster}"}, {Cluster: "prod-eu.1"}}
	for _, o := range good {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	script := `-- leading comment;
CREATE TABLE a
(
    x UInt8 -- a comment ending in ;
);

-- between statements
SELECT 'a;b' ;
-- trailing comment only
`
	got := SplitStatements(script)
	want := []string{
		"CREATE TABLE a\n(\n    x UInt8 -- a comment ending in ;\n)",
		"SELECT 'a;b'",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d statements %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("statement %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

func TestCurrentTTL(t *testing.T) {
	cases := map[string]time.Duration{
		"MergeTree PARTITION BY toDate(Timestamp) ORDER BY x TTL toDateTime(Timestamp) + toIntervalDay(7) SETTINGS index_granularity = 8192": 7 * 24 * time.Hour,
		"AggregatingMergeTree ORDER BY TraceKey TTL Start + toIntervalHour(36) SETTINGS index_granularity = 8192":                            36 * time.Hour,
		"MergeTree ORDER BY x TTL Timestamp + toIntervalSecond(45)":                                                                          45 * time.Second,
		"MergeTree ORDER BY x SETTINGS index_granularity = 8192":                                                                             0,
		"MergeTree ORDER BY x TTL Timestamp + toIntervalDay(1), Timestamp + toIntervalHour(1) TO VOLUME 'cold'":                              -1,
	}
	for engine, want := range cases {
		if got := currentTTL(engine); got != want {
			t.Errorf("currentTTL(%q) = %v, want %v", engine, got, want)
		}
	}
}

func TestTablesMatchColumnsInSQL(t *testing.T) {
	sql := renderAll(t, DefaultOptions())
	if !strings.Contains(sql, "PRIMARY KEY ("+SpansTimeBucket+", TraceId)") {
		t.Errorf("spans sort key does not start with SpansTimeBucket %s", SpansTimeBucket)
	}
	if !strings.Contains(sql, TraceKeyExpr+" AS TraceKey") {
		t.Errorf("trace_index is not keyed by TraceKeyExpr %s", TraceKeyExpr)
	}
	for _, col := range append(SpansColumns(), LogsColumns()...) {
		field := col
		if i := strings.Index(col, "."); i >= 0 {
			field = col[i+1:]
		}
		if !regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(field) + ` `).MatchString(sql) {
			t.Errorf("column %s is not defined in the migrations", col)
		}
	}
}

func TestParseTTL(t *testing.T) {
	good := map[string]time.Duration{
		"0": 0, "7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, " 30d ": 30 * 24 * time.Hour,
	}
	for in, want := range good {
		got, err := ParseTTL(in)
		if err != nil || got != want {
			t.Errorf("ParseTTL(%q) = %v, %v; want %v", in, got, err, want)
		}
		if err == nil && want != 0 {
			if back, err := ParseTTL(FormatTTL(got)); err != nil || back != got {
				t.Errorf("FormatTTL(%v) = %q does not parse back", got, FormatTTL(got))
			}
		}
	}
	for _, in := range []string{"", "d", "7x", "-1h", "7d-1h", "forever"} {
		if _, err := ParseTTL(in); err == nil {
			t.Errorf("ParseTTL(%q): want an error", in)
		}
	}
}
