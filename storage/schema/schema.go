// Package schema owns Tracehouse's ClickHouse tables: versioned SQL
// migrations embedded in the binary, rendered for one node or for a cluster,
// applied in order and recorded in a schema_migrations table.
//
// Every migration is a text/template (migrations/NNNN_name.sql). The same
// files render a single-node variant (MergeTree family, plain table names)
// and a cluster variant (ON CLUSTER, Replicated* engines on "<name>_local"
// tables, Distributed tables under the plain names), so ingest and query
// always use the names in tables.go whatever the deployment.
//
// A migration's checksum is taken over its template, not over the rendered
// SQL: Options (database, cluster, TTLs) may change between runs, the
// migration files may not. TTLs are reconciled separately on every Migrate
// with ALTER TABLE … MODIFY TTL.
package schema

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/tracehouse/tracehouse/storage"
)

// files holds the migrations and the bootstrap script.
//
// A shipped migration is never edited; add a new migration instead. A
// database records each migration's checksum when it applies it and never
// runs that migration again, so an edit would not reach it, and Migrate
// refuses to run where a recorded checksum no longer matches its file.
// TestShippedMigrationsUnchanged pins every file's checksum.
//
//go:embed migrations/*.sql bootstrap.sql
var files embed.FS

// Options select where and how the schema is created.
type Options struct {
	// Database holds every Tracehouse table. Empty means "default". It is
	// created when missing.
	Database string
	// Cluster is the ClickHouse cluster name for ON CLUSTER and Distributed
	// tables. Empty means a single node. "{cluster}" uses the server's macro.
	Cluster string
	// SpansTTL is how long spans (and their trace_index rows) are kept.
	// 0 keeps them forever.
	SpansTTL time.Duration
	// LogsTTL is how long log records are kept. 0 keeps them forever.
	LogsTTL time.Duration
	// MetricsTTL is how long the aggregates (red_1m, service_edges_1m,
	// peer_calls_1m, broker_edges_1m, publishes_1m, red_instance_1m,
	// attributes_1h) are kept. 0 keeps them forever.
	MetricsTTL time.Duration

	// ShortenSpansTTL, ShortenLogsTTL and ShortenMetricsTTL let Migrate
	// shorten the TTL of existing tables (or give a TTL to tables that keep
	// data forever). Shortening deletes data already stored, so it is done
	// only when the person asked for that TTL explicitly (a flag or variable
	// they set, not a default); otherwise the longer TTL stays and is
	// handed to KeptTTL. Tables being created always get the TTLs above,
	// and a longer TTL is always applied.
	ShortenSpansTTL, ShortenLogsTTL, ShortenMetricsTTL bool
	// KeptTTL, when set, is called by Migrate for each TTL it kept because
	// shortening it was not allowed, so the caller can say so.
	KeptTTL func(TTLDiff)
}

// Default retention. Aggregates are tiny, so they outlive the raw data.
const (
	DefaultDatabase   = "default"
	DefaultSpansTTL   = 7 * 24 * time.Hour
	DefaultLogsTTL    = 7 * 24 * time.Hour
	DefaultMetricsTTL = 30 * 24 * time.Hour
)

// DefaultOptions is a single-node schema in the "default" database with the
// default retention. Note that a zero Options keeps data forever: TTL 0 means
// no TTL.
func DefaultOptions() Options {
	return Options{
		Database:   DefaultDatabase,
		SpansTTL:   DefaultSpansTTL,
		LogsTTL:    DefaultLogsTTL,
		MetricsTTL: DefaultMetricsTTL,
	}
}

// onCluster is " ON CLUSTER '<name>'" for a cluster, "" for one node.
func (o Options) onCluster() string {
	if o.Cluster == "" {
		return ""
	}
	return " ON CLUSTER '" + o.Cluster + "'"
}

func (o Options) withDefaults() Options {
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	return o
}

// clusterRE accepts plain cluster names and server macros such as {cluster}.
var clusterRE = regexp.MustCompile(`^(\{[A-Za-z0-9_]+\}|[A-Za-z0-9_.-]+)$`)

// Validate reports options that cannot be rendered into safe SQL.
func (o Options) Validate() error {
	o = o.withDefaults()
	if err := storage.CheckIdent(o.Database); err != nil {
		return fmt.Errorf("schema: database: %w", err)
	}
	if o.Cluster != "" && !clusterRE.MatchString(o.Cluster) {
		return fmt.Errorf("schema: cluster name %q is invalid (use letters, digits, '_', '.', '-' or a macro like {cluster})", o.Cluster)
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"spans", o.SpansTTL}, {"logs", o.LogsTTL}, {"metrics", o.MetricsTTL}} {
		if t.d < 0 {
			return fmt.Errorf("schema: %s TTL %v is negative (use 0 to keep data forever)", t.name, t.d)
		}
		if t.d%time.Second != 0 {
			return fmt.Errorf("schema: %s TTL %v is not a whole number of seconds", t.name, t.d)
		}
	}
	return nil
}

// Migration is one rendered migration file.
type Migration struct {
	Version int    // from the file name: 0001_spans.sql is version 1
	Name    string // from the file name: "spans"
	// Checksum is the hex SHA-256 of the migration's template. It does not
	// depend on Options.
	Checksum string
	// SQL is the rendered file, comments included (dry runs, golden files).
	SQL string
	// Statements are the executable statements of SQL in order, leading
	// comments removed. The engine runs one statement per request.
	Statements []string
}

// ID names a migration the way the files do: "0001_spans".
func (m Migration) ID() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }

var migrationFileRE = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

// Render renders every embedded migration for opts, in version order.
func Render(opts Options) ([]Migration, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		return nil, fmt.Errorf("schema: read embedded migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := migrationFileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("schema: embedded file migrations/%s is not named NNNN_name.sql", e.Name())
		}
		version, _ := strconv.Atoi(m[1])
		if prev, dup := seen[version]; dup {
			return nil, fmt.Errorf("schema: migrations %s and %s share version %d", prev, e.Name(), version)
		}
		seen[version] = e.Name()
		mig, err := renderFile(path.Join("migrations", e.Name()), opts)
		if err != nil {
			return nil, err
		}
		mig.Version, mig.Name = version, m[2]
		out = append(out, mig)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// renderBootstrap renders the statements Migrate runs before any migration:
// the database and the schema_migrations table.
func renderBootstrap(opts Options) (Migration, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return Migration{}, err
	}
	m, err := renderFile("bootstrap.sql", opts)
	m.Name = "bootstrap"
	return m, err
}

func renderFile(name string, opts Options) (Migration, error) {
	src, err := files.ReadFile(name)
	if err != nil {
		return Migration{}, fmt.Errorf("schema: read embedded %s: %w", name, err)
	}
	sum := sha256.Sum256(src)
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(templateFuncs(opts)).Parse(string(src))
	if err != nil {
		return Migration{}, fmt.Errorf("schema: parse %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, nil); err != nil {
		return Migration{}, fmt.Errorf("schema: render %s: %w", name, err)
	}
	sql := strings.TrimSpace(buf.String()) + "\n"
	return Migration{Checksum: hex.EncodeToString(sum[:]), SQL: sql, Statements: SplitStatements(sql)}, nil
}

// SplitStatements cuts a script at every ';' that ends a line, not counting
// "--" comments. Comments before a statement are dropped.
func SplitStatements(script string) []string {
	var out []string
	var cur []string
	flush := func() {
		stmt := strings.TrimSpace(strings.Join(cur, "\n"))
		cur = cur[:0]
		stmt = strings.TrimSuffix(stmt, ";")
		if strings.TrimSpace(stmt) != "" {
			out = append(out, strings.TrimSpace(stmt))
		}
	}
	for _, line := range strings.Split(script, "\n") {
		trimmed := strings.TrimSpace(line)
		isComment := strings.HasPrefix(trimmed, "--")
		if len(cur) == 0 && (trimmed == "" || isComment) {
			continue
		}
		cur = append(cur, strings.TrimRight(line, " \t\r"))
		if strings.HasSuffix(strings.TrimSpace(withoutComment(line)), ";") {
			flush()
		}
	}
	flush()
	return out
}

// withoutComment cuts a trailing "--" comment off a line, ignoring "--"
// inside single-quoted strings.
func withoutComment(line string) string {
	inString := false
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && inString:
			i++
		case line[i] == '\'':
			inString = !inString
		case !inString && strings.HasPrefix(line[i:], "--"):
			return line[:i]
		}
	}
	return line
}

// ttlSpec says which option bounds a table's retention and on which
// expression. Templates render it with {{ ttl "table" }}; Migrate reconciles
// it with ALTER TABLE … MODIFY TTL.
type ttlSpec struct {
	table string
	expr  string
	of    retention
}

// retention is which of Options' TTLs bounds a table.
type retention int

const (
	spansRetention retention = iota
	logsRetention
	metricsRetention
)

// ttl is the retention opts ask for.
func (r retention) ttl(o Options) time.Duration {
	return [...]time.Duration{o.SpansTTL, o.LogsTTL, o.MetricsTTL}[r]
}

// shorten reports whether opts allow shortening it (Options.ShortenSpansTTL).
func (r retention) shorten(o Options) bool {
	return [...]bool{o.ShortenSpansTTL, o.ShortenLogsTTL, o.ShortenMetricsTTL}[r]
}

// flag is the command-line flag that sets it (tracehouse migrate and
// all-in-one name them alike).
func (r retention) flag() string {
	return [...]string{"spans-ttl", "logs-ttl", "metrics-ttl"}[r]
}

var ttlSpecs = []ttlSpec{
	{SpansTable, "toDateTime(Timestamp)", spansRetention},
	{TraceIndexTable, "Start", spansRetention},
	{LogsTable, "toDateTime(Timestamp)", logsRetention},
	{RED1mTable, "Timestamp", metricsRetention},
	{ServiceEdges1mTable, "Timestamp", metricsRetention},
	{PeerCalls1mTable, "Timestamp", metricsRetention},
	{BrokerEdges1mTable, "Timestamp", metricsRetention},
	{Publishes1mTable, "Timestamp", metricsRetention},
	{REDInstance1mTable, "Timestamp", metricsRetention},
	{Attributes1hTable, "Timestamp", metricsRetention},
}

func lookupTTL(table string) (ttlSpec, bool) {
	for _, s := range ttlSpecs {
		if s.table == table {
			return s, true
		}
	}
	return ttlSpec{}, false
}

// ttlExpr is the TTL expression for d, or "" for keep-forever.
func ttlExpr(expr string, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return expr + " + " + interval(d)
}

// interval renders d in the largest unit that divides it exactly.
func interval(d time.Duration) string {
	secs := int64(d / time.Second)
	switch {
	case secs%86400 == 0:
		return fmt.Sprintf("INTERVAL %d DAY", secs/86400)
	case secs%3600 == 0:
		return fmt.Sprintf("INTERVAL %d HOUR", secs/3600)
	case secs%60 == 0:
		return fmt.Sprintf("INTERVAL %d MINUTE", secs/60)
	default:
		return fmt.Sprintf("INTERVAL %d SECOND", secs)
	}
}

// localName is the name of the table that holds the data on a node.
func localName(opts Options, table string) string {
	if opts.Cluster != "" {
		return table + "_local"
	}
	return table
}

func templateFuncs(opts Options) template.FuncMap {
	db := opts.Database
	return template.FuncMap{
		// cluster reports whether the cluster variant is rendered.
		"cluster": func() bool { return opts.Cluster != "" },
		// db is the database name.
		"db": func() string { return db },
		// onCluster is " ON CLUSTER '<name>'" in the cluster variant.
		"onCluster": opts.onCluster,
		// local is the qualified name of the table that stores the data:
		// db.t on a single node, db.t_local in a cluster.
		"local": func(table string) string { return db + "." + localName(opts, table) },
		// dist is the qualified name readers and writers use: db.t.
		"dist": func(table string) string { return db + "." + table },
		// engine turns a MergeTree-family engine into its replicated form in
		// the cluster variant. Extra arguments are the engine's own (e.g. the
		// version column of ReplacingMergeTree).
		"engine": func(name string, args ...string) string {
			if opts.Cluster == "" {
				if len(args) == 0 {
					return name
				}
				return name + "(" + strings.Join(args, ", ") + ")"
			}
			all := append([]string{"'/clickhouse/tables/{shard}/{database}/{table}'", "'{replica}'"}, args...)
			return "Replicated" + name + "(" + strings.Join(all, ", ") + ")"
		},
		// distributed is the Distributed engine over table's local table.
		"distributed": func(table, shardingKey string) string {
			return fmt.Sprintf("Distributed('%s', '%s', '%s', %s)", opts.Cluster, db, localName(opts, table), shardingKey)
		},
		// ttl is the TTL clause for table, or "" when it keeps data forever.
		"ttl": func(table string) (string, error) {
			spec, ok := lookupTTL(table)
			if !ok {
				return "", fmt.Errorf("no TTL is defined for table %q", table)
			}
			if e := ttlExpr(spec.expr, spec.of.ttl(opts)); e != "" {
				return "TTL " + e, nil
			}
			return "", nil
		},
	}
}
