package schema

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Migrate brings the schema in opts.Database up to date: it creates the
// database and schema_migrations if missing, applies every embedded migration
// not recorded yet, in order, records each one, and then aligns the tables'
// TTLs with opts (a TTL is shortened only where opts allow it: see
// Options.ShortenSpansTTL) and turns the server's automatic column
// statistics off on them (statistics.go).
//
// applied lists what changed: migration IDs ("0001_spans"), TTL changes
// ("ttl spans 72h0m0s", "ttl logs removed") and tables whose statistics were
// turned off ("statistics off spans"). Running Migrate again with the
// same options applies nothing and returns an empty list.
//
// Every statement is idempotent (IF NOT EXISTS), so two processes migrating at
// once both succeed. A migration whose file changed after it was applied is an
// error: applied migrations are immutable, add a new one instead.
func Migrate(ctx context.Context, conn driver.Conn, opts Options) (applied []string, err error) {
	opts = opts.withDefaults()
	migrations, err := Render(opts)
	if err != nil {
		return nil, err
	}
	boot, err := renderBootstrap(opts)
	if err != nil {
		return nil, err
	}
	for _, stmt := range boot.Statements {
		if err := conn.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("schema: bootstrap database %s: %w\nstatement:\n%s", opts.Database, err, stmt)
		}
	}

	done, err := appliedMigrations(ctx, conn, opts.Database)
	if err != nil {
		return nil, err
	}
	for _, m := range migrations {
		if rec, ok := done[m.Version]; ok && rec.checksum != m.Checksum && !slices.Contains(supersededChecksums[m.Version], rec.checksum) {
			return nil, fmt.Errorf("schema: migration %s changed after it was applied (recorded checksum %.12s…, embedded file %.12s…); applied migrations must not be edited: restore the file and put the change in a new migration", m.ID(), rec.checksum, m.Checksum)
		}
	}

	for _, m := range migrations {
		if _, ok := done[m.Version]; ok {
			continue
		}
		for i, stmt := range m.Statements {
			if err := conn.Exec(ctx, stmt); err != nil {
				return applied, fmt.Errorf("schema: migration %s, statement %d of %d: %w\nstatement:\n%s", m.ID(), i+1, len(m.Statements), err, stmt)
			}
		}
		record := fmt.Sprintf("INSERT INTO %s.%s (version, name, checksum, applied_at) VALUES (%d, '%s', '%s', now64(3))",
			opts.Database, MigrationsTable, m.Version, m.Name, m.Checksum)
		if err := conn.Exec(ctx, record); err != nil {
			return applied, fmt.Errorf("schema: record migration %s: %w", m.ID(), err)
		}
		applied = append(applied, m.ID())
	}

	tables, err := mergeTreeTables(ctx, conn, opts.Database)
	if err != nil {
		return applied, err
	}
	changed, err := reconcileTTLs(ctx, conn, opts, tables)
	applied = append(applied, changed...)
	if err != nil {
		return applied, err
	}
	changed, err = reconcileStatistics(ctx, conn, opts, tables)
	return append(applied, changed...), err
}

type appliedMigration struct {
	name, checksum string
}

// supersededChecksums are earlier texts of a migration that was edited in
// place before the first release, by version. A database that applied one
// is accepted as it is: the edit changed only storage layout (the table
// keeps its earlier one and reads the same rows), and later migrations
// still apply. It records that history and is not a way around the rule
// (see files in schema.go): nothing is added to it; a change to the
// schema is a new migration.
var supersededChecksums = map[int][]string{
	1: {
		// 0001_spans with index_granularity 8192 and GRANULARITY 1 search
		// indexes, wide parts once merged (the first text).
		"1d5d334f82d730142d99c97036964bb073d4ce3f642cf1b9a494137c6bd1b95e",
		// index_granularity 2048 and GRANULARITY 4 search indexes.
		"ec4e3ad30be9cf5610ea0315f5fee6c8c137556f4ae9db8b4536ad27f3a9daee",
	},
}

// appliedMigrations reads schema_migrations. When two writers recorded the
// same version, the first record wins.
func appliedMigrations(ctx context.Context, conn driver.Conn, database string) (map[int]appliedMigration, error) {
	rows, err := conn.Query(ctx, fmt.Sprintf(
		"SELECT version, argMin(name, applied_at), argMin(checksum, applied_at) FROM %s.%s GROUP BY version ORDER BY version",
		database, MigrationsTable))
	if err != nil {
		return nil, fmt.Errorf("schema: read %s.%s: %w", database, MigrationsTable, err)
	}
	defer rows.Close()
	out := map[int]appliedMigration{}
	for rows.Next() {
		var (
			version        uint32
			name, checksum string
		)
		if err := rows.Scan(&version, &name, &checksum); err != nil {
			return nil, fmt.Errorf("schema: read %s.%s: %w", database, MigrationsTable, err)
		}
		out[int(version)] = appliedMigration{name: name, checksum: checksum}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schema: read %s.%s: %w", database, MigrationsTable, err)
	}
	return out, nil
}

// ttlClauseRE finds a table's TTL clause in system.tables.engine_full.
var ttlClauseRE = regexp.MustCompile(`\bTTL\s+(.*?)(?:\s+SETTINGS\s|$)`)

// intervalRE finds the interval ClickHouse normalised a TTL to, e.g.
// "toIntervalDay(7)".
var intervalRE = regexp.MustCompile(`toInterval(Second|Minute|Hour|Day|Week)\((\d+)\)`)

var unitSeconds = map[string]int64{"Second": 1, "Minute": 60, "Hour": 3600, "Day": 86400, "Week": 7 * 86400}

// currentTTL is the table's TTL as a duration: 0 when it has none, -1 when
// the clause is not one Tracehouse writes (it will be replaced).
func currentTTL(engineFull string) time.Duration {
	m := ttlClauseRE.FindStringSubmatch(engineFull)
	if m == nil {
		return 0
	}
	iv := intervalRE.FindAllStringSubmatch(m[1], -1)
	if len(iv) != 1 {
		return -1
	}
	n, err := strconv.ParseInt(iv[0][2], 10, 64)
	if err != nil {
		return -1
	}
	return time.Duration(n*unitSeconds[iv[0][1]]) * time.Second
}

// TTLDiff is a table whose TTL is not the one Options ask for.
type TTLDiff struct {
	Table   string        // the table as readers name it (spans, logs, …)
	Current time.Duration // 0: keeps data forever; -1: a TTL Tracehouse did not write
	Wanted  time.Duration // 0: keep data forever
}

// Shortens reports whether applying Wanted would delete data that Current
// keeps: a shorter TTL, or any TTL on a table that keeps data forever (or
// whose TTL cannot be read).
func (d TTLDiff) Shortens() bool {
	return d.Wanted != 0 && (d.Current <= 0 || d.Wanted < d.Current)
}

// Explain says what was kept and how to shorten it anyway with command,
// the Tracehouse command that applies the schema, e.g. "kept the TTL of
// spans, 720h0m0s, instead of the 168h0m0s asked for: shortening it deletes
// stored data, so it is done only when asked for explicitly (tracehouse
// migrate --spans-ttl 168h0m0s)".
func (d TTLDiff) Explain(command string) string {
	cur := "none (kept forever)"
	switch {
	case d.Current > 0:
		cur = d.Current.String()
	case d.Current < 0:
		cur = "one Tracehouse did not write"
	}
	spec, _ := lookupTTL(d.Table)
	return fmt.Sprintf("kept the TTL of %s, %s, instead of the %s asked for: shortening it deletes stored data, so it is done only when asked for explicitly (%s --%s %s)",
		d.Table, cur, d.Wanted, command, spec.of.flag(), d.Wanted)
}

// ttlDiffs lists the existing tables whose TTL differs from opts; tables
// are the database's MergeTree tables (mergeTreeTables).
func ttlDiffs(opts Options, tables map[string]string) []TTLDiff {
	var out []TTLDiff
	for _, spec := range ttlSpecs {
		engineFull, ok := tables[localName(opts, spec.table)]
		if !ok {
			continue // not created by this version's migrations
		}
		if cur, want := currentTTL(engineFull), spec.of.ttl(opts); cur != want {
			out = append(out, TTLDiff{Table: spec.table, Current: cur, Wanted: want})
		}
	}
	return out
}

// reconcileTTLs changes the TTLs that differ from opts, except the ones it
// may not shorten: those go to opts.KeptTTL. Existing parts are not rewritten
// (materialize_ttl_after_modify = 0): the new TTL applies as parts merge
// and whole expired parts are dropped.
func reconcileTTLs(ctx context.Context, conn driver.Conn, opts Options, tables map[string]string) ([]string, error) {
	var changed []string
	for _, d := range ttlDiffs(opts, tables) {
		spec, _ := lookupTTL(d.Table)
		if d.Shortens() && !spec.of.shorten(opts) {
			if opts.KeptTTL != nil {
				opts.KeptTTL(d)
			}
			continue
		}
		stmt := ttlStatement(opts, spec, d.Wanted)
		if err := conn.Exec(ctx, stmt); err != nil {
			return changed, fmt.Errorf("schema: change TTL of %s.%s to %v: %w\nstatement:\n%s", opts.Database, localName(opts, d.Table), d.Wanted, err, stmt)
		}
		if d.Wanted == 0 {
			changed = append(changed, "ttl "+d.Table+" removed")
		} else {
			changed = append(changed, "ttl "+d.Table+" "+d.Wanted.String())
		}
	}
	return changed, nil
}

func ttlStatement(opts Options, spec ttlSpec, want time.Duration) string {
	onCluster := opts.onCluster()
	table := opts.Database + "." + localName(opts, spec.table)
	if want == 0 {
		return fmt.Sprintf("ALTER TABLE %s%s REMOVE TTL", table, onCluster)
	}
	return fmt.Sprintf("ALTER TABLE %s%s MODIFY TTL %s SETTINGS materialize_ttl_after_modify = 0",
		table, onCluster, ttlExpr(spec.expr, want))
}

// mergeTreeTables maps the MergeTree tables of database to their
// engine_full (where their TTL and settings show): what Migrate reconciles,
// read once.
func mergeTreeTables(ctx context.Context, conn driver.Conn, database string) (map[string]string, error) {
	rows, err := conn.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree'",
		clickhouse.Named("db", database))
	if err != nil {
		return nil, fmt.Errorf("schema: read table definitions of %s: %w", database, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, engineFull string
		if err := rows.Scan(&name, &engineFull); err != nil {
			return nil, fmt.Errorf("schema: read table definitions of %s: %w", database, err)
		}
		out[name] = engineFull
	}
	return out, rows.Err()
}
