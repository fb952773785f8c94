package reader

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracehouse/tracehouse/internal/seed"
)

// The id search reads growing windows from the newest (FindTraceIDs); it
// must find the same traces, in the same order, as one statement over the
// whole range: when the first window holds the limit, when the limit needs
// several windows, and when matches are rare.
func TestSearchWindowsMatchOneQuery(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	ctx := context.Background()
	const n = 3000 // one every 100 ms: 5 minutes of checkouts
	if _, err := seed.WriteManyTraces(ctx, conn, db, n); err != nil {
		t.Fatal(err)
	}
	r, err := New(conn, Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	// The range ends well after the data, so the first windows are empty.
	start, end := seed.Base.Add(-time.Hour), seed.Base.Add(n*100*time.Millisecond+3*time.Minute)
	cases := []TraceSearch{
		{Service: "payment", Limit: 1},
		{Service: "payment", Limit: 20},
		{Service: "gateway", Operation: "POST /checkout", Limit: 1000},
		{Service: "payment", Matches: []SpanMatch{ErrorStatus(false)}, Limit: 1500},
	}
	for _, s := range cases {
		s.Start, s.End = start, end
		want := oneStatementIDs(t, r, s)
		got, err := r.FindTraceIDs(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%+v: windows found %d traces, one statement %d; equal: %v", s, len(got), len(want), slices.Equal(got, want))
		}
		requireSearchTracesAsFindAndGet(t, r, s, want)
	}
}

// requireSearchTracesAsFindAndGet checks that SearchTraces finds the ids
// want (FindTraceIDs'), in order, with the traces GetTraces reads for them.
func requireSearchTracesAsFindAndGet(t *testing.T, r *Reader, s TraceSearch, want []pcommon.TraceID) {
	t.Helper()
	ctx := context.Background()
	ids, found, err := r.SearchTraces(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("%+v: SearchTraces found %d traces, FindTraceIDs %d; equal: %v", s, len(ids), len(want), slices.Equal(ids, want))
	}
	byID, err := r.GetTraces(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(byID) {
		t.Fatalf("%+v: SearchTraces read %d traces, GetTraces %d", s, len(found), len(byID))
	}
	for _, id := range want {
		requireSameTraces(t, byID[id], found[id])
	}
}

// oneStatementIDs is what FindTraceIDs must find: the ids of the search's
// statement over the whole range at once.
func oneStatementIDs(t *testing.T, r *Reader, s TraceSearch) []pcommon.TraceID {
	t.Helper()
	sql, args, err := r.traceSearchSQL(s, s.Start, s.End)
	if err != nil {
		t.Fatal(err)
	}
	var ids []pcommon.TraceID
	err = r.query(context.Background(), nil, sql, args, func(rows driverRows) error {
		id, err := scanTraceSearchRow(rows)
		ids = append(ids, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// The log search reads windows from the newest too (SearchLogs): every
// page, its order and its "more" must be those of one statement over the
// range, through the pages of a cursor as well, and a page that the newest
// minutes fill must not read the rest of the range.
func TestLogSearchWindowsMatchOneQuery(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	ctx := context.Background()
	const n = 3000 // one every 100 ms: 5 minutes
	if err := seed.WriteManyLogs(ctx, conn, db, n); err != nil {
		t.Fatal(err)
	}
	r, err := New(conn, Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	start, end := seed.Base.Add(-time.Hour), seed.Base.Add(n*100*time.Millisecond+3*time.Minute)
	read := func(lr *LogRows) (pos []LogPos, more bool) {
		defer lr.Close()
		for lr.Next() {
			pos = append(pos, lr.Entry().Pos)
		}
		if err := lr.Err(); err != nil {
			t.Fatal(err)
		}
		return pos, lr.More()
	}
	oneStatement := func(s LogSearch) ([]LogPos, bool) {
		// One window over the whole range: the statement of logSearchSQL.
		cond, qp, err := compileLogQuery(s.Query)
		if err != nil {
			t.Fatal(err)
		}
		lr := &LogRows{r: r, ctx: ctx, search: s, limit: s.Limit, cond: cond, condArgs: qp.Args(),
			windows: &searchWindows{start: s.Start, end: s.End, next: s.End, width: s.End.Sub(s.Start)}}
		lr.dest = lr.row.dest(true)
		if err := lr.openWindow(); err != nil {
			t.Fatal(err)
		}
		return read(lr)
	}
	for _, c := range []struct {
		query string
		limit int
	}{{"", 1}, {"", 20}, {"", 1000}, {"", n}, {"", n + 500}, {"attr.n:7", 100}, {"attr.n:2999 OR attr.n:3", 100}, {"nothing-matches-this", 10}} {
		s := LogSearch{Query: c.query, Start: start, End: end, Limit: c.limit}
		want, wantMore := oneStatement(s)
		lr, err := r.SearchLogs(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		got, more := read(lr)
		if !slices.Equal(got, want) || more != wantMore {
			t.Errorf("%q limit %d: windows %d records (more %v), one statement %d (more %v)", c.query, c.limit, len(got), more, len(want), wantMore)
		}
		if c.query == "" && c.limit == 20 && !lr.from.After(start) {
			t.Errorf("a page the newest minutes fill read the range back to its start")
		}
	}
	// Pages through a cursor: the same records, each once, newest first.
	var all []LogPos
	s := LogSearch{Start: start, End: end, Limit: 700}
	for page := 0; ; page++ {
		lr, err := r.SearchLogs(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		got, more := read(lr)
		all = append(all, got...)
		if !more {
			break
		}
		if page > n/700+1 {
			t.Fatal("the pages do not end")
		}
		last := got[len(got)-1]
		s.Before = &last
	}
	whole, _ := oneStatement(LogSearch{Start: start, End: end, Limit: n + 1})
	if len(all) != n || !slices.Equal(all, whole) {
		t.Errorf("paged %d records, want the %d of one statement in its order", len(all), len(whole))
	}
}
