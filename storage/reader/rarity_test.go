package reader

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// countingConn counts the statements run through it.
type countingConn struct {
	driver.Conn
	n atomic.Int64
}

func (c *countingConn) Query(ctx context.Context, q string, args ...any) (driver.Rows, error) {
	c.n.Add(1)
	return c.Conn.Query(ctx, q, args...)
}

// A search for a rare attribute value reads the range in one statement,
// found by the catalogue; a common value, and a frequent value of a key
// whose values are mostly rare, are read in windows from the newest. Each
// finds what one statement over the range finds, in the same order.
func TestRareValueSearchReadsAtOnce(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	ctx := context.Background()
	// 2000 orders over 200 s: order.ref is unique but for one order in 4,
	// whose ref is "guest"; tier is one of two values.
	const n = 2000
	base := seed.Base
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty()
	spans.Resource().Attributes().PutStr("service.name", "shop")
	ss := spans.ScopeSpans().AppendEmpty().Spans()
	for i := range n {
		s := ss.AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0x7a, byte(i >> 8), byte(i), 15: 1})
		s.SetSpanID(pcommon.SpanID{1, byte(i >> 8), byte(i)})
		s.SetName("order")
		start := base.Add(time.Duration(i) * 100 * time.Millisecond)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
		ref := fmt.Sprintf("r-%d", i)
		if i%4 == 0 {
			ref = "guest"
		}
		s.Attributes().PutStr("order.ref", ref)
		s.Attributes().PutStr("tier", []string{"gold", "basic"}[i%2])
	}
	if err := writer.NewWriter(conn, writer.Options{Database: db}).WriteTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	counted := &countingConn{Conn: conn}
	// The range ends well after the data, so the first windows are empty.
	start, end := base.Add(-time.Hour), base.Add(n*100*time.Millisecond+10*time.Minute)
	match := func(key, value string) []SpanMatch {
		return []SpanMatch{{Field: SpanAttr, Key: key, Text: value}}
	}
	cases := []struct {
		name      string
		s         TraceSearch
		atOnce    bool
		wantFound int
	}{
		{"a rare value", TraceSearch{Matches: match("order.ref", "r-1001"), Limit: 20}, true, 1},
		{"a rare value as span or resource attribute", TraceSearch{Matches: []SpanMatch{{Field: SpanOrResourceAttr, Key: "order.ref", Text: "r-7"}}, Limit: 20}, true, 1},
		{"a key no span has", TraceSearch{Matches: match("coupon", "x"), Limit: 20}, true, 0},
		{"a common value", TraceSearch{Matches: match("tier", "gold"), Limit: 20}, false, 20},
		{"a frequent value of a key of rare values", TraceSearch{Matches: match("order.ref", "guest"), Limit: 20}, false, 20},
		// Rare for a limit above its count: 500 traces in one statement,
		// which must keep the search's order.
		{"a frequent value, a limit above its count", TraceSearch{Matches: match("order.ref", "guest"), Limit: 1000}, true, n / 4},
	}
	for _, c := range cases {
		r := mustNew(t, counted, db) // its catalogue cache empty
		s := c.s
		s.Service, s.Start, s.End = "shop", start, end
		want := oneStatementIDs(t, r, s)
		// Twice: the second search takes the catalogue's figures from the
		// cache, so it runs the search's own statements only.
		for round := range 2 {
			counted.n.Store(0)
			got, err := r.FindTraceIDs(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.wantFound || !slices.Equal(got, want) {
				t.Errorf("%s: found %d traces, one statement over the range %d, want %d; equal: %v", c.name, len(got), len(want), c.wantFound, slices.Equal(got, want))
			}
			stmts := counted.n.Load()
			lookups := int64(len(matchScopes(s.Matches[0].Field)))
			if round == 1 {
				lookups = 0
			}
			switch {
			case c.atOnce && stmts != lookups+1:
				t.Errorf("%s (round %d): %d statements, want %d catalogue lookups and one read of the range", c.name, round, stmts, lookups)
				// Windows would be at least two here (the range ends 10
				// minutes after the data).
			case !c.atOnce && stmts < lookups+2:
				t.Errorf("%s (round %d): %d statements, want %d catalogue lookups and windows (at least two)", c.name, round, stmts, lookups)
			}
		}
		// SearchTraces reads the traces in the same statement: a rare
		// value's search and its traces are one statement (the catalogue's
		// figures cached).
		counted.n.Store(0)
		if _, _, err := r.SearchTraces(ctx, s); err != nil {
			t.Fatal(err)
		}
		if stmts := counted.n.Load(); c.atOnce && stmts != 1 {
			t.Errorf("%s: SearchTraces ran %d statements, want one", c.name, stmts)
		}
		requireSearchTracesAsFindAndGet(t, r, s, want)
	}
}

func TestKeyStatsRare(t *testing.T) {
	ids := keyStats{count: 1000, distinct: 900, frequent: map[string]uint64{"guest": 80, "u-1": 1}}
	routes := keyStats{count: 1000, distinct: 4}
	for _, c := range []struct {
		name  string
		k     keyStats
		value string
		limit int
		want  bool
	}{
		{"an id", ids, "u-7", 20, true},
		{"an id counted among the top values", ids, "u-1", 20, true},
		{"a frequent id", ids, "guest", 20, false},
		{"a frequent id, a limit above its count", ids, "guest", 100, true},
		{"a route", routes, "/cart", 20, false},
		{"a route, a limit above its average", routes, "/cart", 500, true},
		{"no span has the key", keyStats{}, "x", 20, true},
	} {
		if got := c.k.rare(c.value, c.limit); got != c.want {
			t.Errorf("%s: rare = %v, want %v", c.name, got, c.want)
		}
	}
}

// A log search for a rare attribute value reads the range at once as
// well; a common value reads windows. Both return what one statement over
// the range returns.
func TestRareValueLogSearchReadsAtOnce(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	ctx := context.Background()
	const n = 3000 // one every 100 ms; attr n is the record's number, path one value
	if err := seed.WriteManyLogs(ctx, conn, db, n); err != nil {
		t.Fatal(err)
	}
	counted := &countingConn{Conn: conn}
	start, end := seed.Base.Add(-time.Hour), seed.Base.Add(n*100*time.Millisecond+10*time.Minute)
	for _, c := range []struct {
		query  string
		atOnce bool
		want   int
	}{
		{"attr.n:1234", true, 1},
		{`service:loadgen attr.n:7`, true, 1},
		{"attr.path:/api/items", false, 20},
	} {
		r := mustNew(t, counted, db) // its catalogue cache empty
		s := LogSearch{Query: c.query, Start: start, End: end, Limit: 20}
		sql, args, err := r.logSearchSQL(s)
		if err != nil {
			t.Fatal(err)
		}
		var oneStatement int
		if err := r.query(ctx, nil, sql, args, func(driverRows) error { oneStatement++; return nil }); err != nil {
			t.Fatal(err)
		}
		counted.n.Store(0)
		lr, err := r.SearchLogs(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for lr.Next() {
			got++
		}
		if err := lr.Err(); err != nil {
			t.Fatal(err)
		}
		lr.Close()
		if got != c.want || min(oneStatement, s.Limit) != got {
			t.Errorf("%s: %d records, one statement %d, want %d", c.query, got, oneStatement, c.want)
		}
		stmts := counted.n.Load()
		switch {
		case c.atOnce && stmts != 2:
			t.Errorf("%s: %d statements, want a catalogue lookup and one read of the range", c.query, stmts)
		case !c.atOnce && stmts < 3:
			t.Errorf("%s: %d statements, want a catalogue lookup and windows (at least two)", c.query, stmts)
		}
	}
}
