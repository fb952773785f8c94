package reader

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/internal/seed"
)

// TestTextIndexIsUsed checks that log search and trace search by a string
// attribute prune granules with their skip indexes.
func TestTextIndexIsUsed(t *testing.T) {
	db, conn := seed.Load(t)
	r, err := New(conn, Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	start, end := seed.Base.Add(-time.Hour), seed.Now
	sql, args, err := r.logSearchSQL(LogSearch{Query: `"card declined" attr.user.id:u-7`, Start: start, End: end, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	plan := explain(t, conn, sql, args)
	for _, want := range []string{"idx_body", `tokens: ["card", "declined"]`, "idx_attr_values"} {
		if !strings.Contains(plan, want) {
			t.Errorf("EXPLAIN indexes=1 does not mention %s:\n%s", want, plan)
		}
	}
	search := TraceSearch{Service: "payment", Limit: 20, Matches: []SpanMatch{{Field: SpanAttr, Key: "card.brand", Text: "visa"}}}
	sql, args, err = r.traceSearchSQL(search, start, end)
	if err != nil {
		t.Fatal(err)
	}
	if plan := explain(t, conn, sql, args); !strings.Contains(plan, "idx_attr_values") {
		t.Errorf("trace search by a string attribute does not use idx_attr_values:\n%s", plan)
	}
}

func explain(t *testing.T, conn driver.Conn, sql string, args []any) string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "EXPLAIN indexes=1 "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
