package schema

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// autoStatisticsSetting is the MergeTree setting that makes a server build
// column statistics for every column of every part a merge writes. Newer
// servers (chDB 26.5 among them) default it to "minmax, uniq"; older ones do
// not know it.
const autoStatisticsSetting = "auto_statistics_types"

// noAutoStatistics is how engine_full shows the setting turned off.
const noAutoStatistics = autoStatisticsSetting + " = ''"

// reconcileStatistics turns automatic column statistics off on every
// MergeTree table of the database, on servers that have them and let the
// setting be changed.
//
// Why: the statistics are a fixed-size sketch per column per part, ~0.5 MiB
// for the 38 columns of spans. On the ingest benchmark (300k spans, parts
// of 10k–60k rows) they were 9.6 bytes per span in every merged part (the
// largest file of the part, bigger than the attribute values) and still
// 2.6 bytes per span once merged into one part; trace_index carried 0.8.
// Nothing here reads them: parts are pruned by the partition, the primary
// key and the skip indexes, which every query of this schema is written
// for.
//
// Like the TTLs, this is reconciled on every Migrate rather than written in
// a migration, because the setting exists only on some servers: a
// migration naming it would fail on the others. Parts written before keep
// their statistics until they merge.
func reconcileStatistics(ctx context.Context, conn driver.Conn, opts Options, tables map[string]string) ([]string, error) {
	var known uint64
	// readonly: a server whose constraints forbid changing it (a managed
	// service, say) keeps its statistics rather than failing every start.
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.merge_tree_settings WHERE name = '"+autoStatisticsSetting+"' AND readonly = 0").Scan(&known); err != nil {
		return nil, fmt.Errorf("schema: look up MergeTree setting %s: %w", autoStatisticsSetting, err)
	}
	if known == 0 {
		return nil, nil
	}
	var todo []string
	for name, engineFull := range tables {
		if !strings.Contains(engineFull, noAutoStatistics) {
			todo = append(todo, name)
		}
	}
	slices.Sort(todo)

	var changed []string
	for _, name := range todo {
		stmt := fmt.Sprintf("ALTER TABLE %s.%s%s MODIFY SETTING %s", opts.Database, quoteName(name), opts.onCluster(), noAutoStatistics)
		if err := conn.Exec(ctx, stmt); err != nil {
			return changed, fmt.Errorf("schema: turn automatic statistics off on %s.%s: %w\nstatement:\n%s", opts.Database, name, err, stmt)
		}
		changed = append(changed, "statistics off "+name)
	}
	return changed, nil
}

// quoteName quotes a table name read back from system.tables.
func quoteName(name string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(name) + "`"
}
