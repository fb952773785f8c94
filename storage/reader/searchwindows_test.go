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
		sql, args, err := r.traceSearchSQL(s, s.Start, s.End)
		if err != nil {
			t.Fatal(err)
		}
		var want []pcommon.TraceID
		err = r.query(ctx, nil, sql, args, func(rows driverRows) error {
			var raw string
			var ts time.Time
			if err := rows.Scan(&raw, &ts); err != nil {
				return err
			}
			var id pcommon.TraceID
			copy(id[:], raw)
			want = append(want, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.FindTraceIDs(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%+v: windows found %d traces, one statement %d; equal: %v", s, len(got), len(want), slices.Equal(got, want))
		}
	}
}
