package query

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracehouse/tracehouse/query/internal/seed"
)

// The id search reads growing windows from the newest (findTraceIDs); it
// must find the same traces, in the same order, as one query over the
// whole range: when the first window holds the limit, when the limit needs
// several windows, and when matches are rare.
func TestSearchWindowsMatchOneQuery(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	ctx := context.Background()
	const n = 3000 // one every 100 ms: 5 minutes of checkouts
	if _, err := seed.WriteManyTraces(ctx, conn, db, n); err != nil {
		t.Fatal(err)
	}
	svc := newService(t, conn, db, Limits{})
	// The range ends well after the data, so the first windows are empty.
	r := TimeRange{seed.Base.Add(-time.Hour), seed.Base.Add(n*100*time.Millisecond + 3*time.Minute)}
	cases := []TraceQuery{
		{Service: "payment", Limit: 1},
		{Service: "payment", Limit: 20},
		{Service: "gateway", Operation: "POST /checkout", Limit: 1000},
		{Service: "payment", Attributes: map[string]string{"error": "true"}, Limit: 1500},
	}
	for _, q := range cases {
		q.Range = r
		sql, args, err := svc.findTraceIDsSQL(q)
		if err != nil {
			t.Fatal(err)
		}
		var want []pcommon.TraceID
		err = svc.query(ctx, sql, args, func(rows driver.Rows) error {
			var raw string
			var ts time.Time
			if err := rows.Scan(&raw, &ts); err != nil {
				return err
			}
			want = append(want, traceIDFrom(raw))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := svc.findTraceIDs(ctx, q, sql, args)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%+v: windows found %d traces, one query %d; equal: %v", q, len(got), len(want), slices.Equal(got, want))
		}
	}
}
