package embedded

import (
	"regexp"
	"strings"

	"github.com/tracehouse/tracehouse/storage/chdb"
)

// Two DROP statements hang the engine (chDB 26.5), and with it every client,
// since it runs one statement at a time. The server rewrites them into
// forms that finish with the same result.

var trailingSync = regexp.MustCompile(`(?is)^(\s*(?:DROP|DETACH)\s.*?)\s+SYNC\s*;?\s*$`)

// withoutSync drops the SYNC modifier of DROP/DETACH: a synchronous drop
// waits forever for a background step the engine never runs. Without it the
// table is gone from the catalog at once and its files are removed later.
func withoutSync(sql string) string {
	if m := trailingSync.FindStringSubmatch(sql); m != nil {
		return m[1]
	}
	return sql
}

var dropDatabase = regexp.MustCompile("(?is)^\\s*DROP\\s+DATABASE\\s+(?:IF\\s+EXISTS\\s+)?`?([A-Za-z0-9_]+)`?")

// dropDatabaseTarget is the database a DROP DATABASE statement names.
func dropDatabaseTarget(sql string) (string, bool) {
	m := dropDatabase.FindStringSubmatch(sql)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// dropTablesOf drops every table of a database one by one, views before the
// tables they read from. The engine hangs on DROP DATABASE while the
// database still holds MergeTree tables, but drops them fine one at a time
// and the empty database after.
func (s *Server) dropTablesOf(db string) error {
	out, err := s.engine.Query("SELECT name FROM system.tables WHERE database = {db:String} ORDER BY engine LIKE '%View' DESC",
		"TabSeparatedRaw", chdb.Param{Name: "db", Value: db})
	if err != nil {
		return err
	}
	for _, table := range strings.Fields(string(out)) {
		if _, err := s.engine.Query("DROP TABLE IF EXISTS "+quoteIdent(db)+"."+quoteIdent(table), "TabSeparated"); err != nil {
			return err
		}
	}
	return nil
}
