package query

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/internal/golden"
	"github.com/tracehouse/tracehouse/query/internal/seed"
)

func writeSQL(b *strings.Builder, title, sql string, args []any) {
	fmt.Fprintf(b, "-- %s\n%s\n", title, sql)
	for _, a := range args {
		nv := a.(driver.NamedValue)
		v := nv.Value
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		fmt.Fprintf(b, "--   %s = %q (%T)\n", nv.Name, fmt.Sprint(v), nv.Value)
	}
	b.WriteString("\n")
}

// TestSQLSnapshots records the SQL the service generates (the query
// language's own snapshots are in logquery/testdata).
func TestSQLSnapshots(t *testing.T) {
	svc, err := New(nil, Options{Database: "tracehouse"})
	if err != nil {
		t.Fatal(err)
	}
	r := TimeRange{seed.Base, seed.Base.Add(time.Hour)}
	var b strings.Builder
	searches := []struct {
		title string
		q     TraceQuery
	}{
		{"service only", TraceQuery{Service: "payment", Range: r}},
		{"operation, durations, limit", TraceQuery{Service: "payment", Operation: "POST /charge", MinDuration: 50 * time.Millisecond, MaxDuration: 2 * time.Second, Limit: 5, Range: r}},
		{"typed tags", TraceQuery{Service: "payment", Range: r, Attributes: map[string]string{
			"http.response.status_code": "402", "payment.amount": "42.5", "retry": "true", "card.brand": "visa", "empty": ""}}},
		{"Jaeger's span-field tags", TraceQuery{Service: "gateway", Range: r, Attributes: map[string]string{
			"error": "true", "span.kind": "server", "otel.status_code": "ERROR", "otel.status_description": "payment required", "otel.scope.name": "x", "w3c.tracestate": "a=b"}}},
		{"resource tags", TraceQuery{Service: "auth", Range: r, Attributes: map[string]string{"host.name": "auth-2", "resource.region": "eu"}}},
		{"injection attempts in tag keys and values", TraceQuery{Service: "x' OR 1=1 --", Range: r, Attributes: map[string]string{
			"k'] OR 1=1 --": "v') FORMAT JSON", "{p0:String}": "SETTINGS max_threads=1", "ключ": "значение\t\n\\"}}},
	}
	for _, s := range searches {
		sql, args, err := svc.findTraceIDsSQL(s.q)
		if err != nil {
			t.Fatalf("%s: %v", s.title, err)
		}
		writeSQL(&b, "find traces: "+s.title, sql, args)
	}
	logs := []struct {
		title string
		q     LogQuery
	}{
		{"everything", LogQuery{Range: r}},
		{"query, limit and cursor", LogQuery{Query: `service:payment level>=warn "card declined" -attr.retry:true`, Range: r, Limit: 50,
			Cursor: encodeCursor(logPos{seed.Base.Add(time.Minute).UnixNano(), 12345})}},
	}
	for _, l := range logs {
		sql, args, _, err := svc.searchLogsSQL(l.q)
		if err != nil {
			t.Fatalf("%s: %v", l.title, err)
		}
		writeSQL(&b, "search logs: "+l.title, sql, args)
	}
	golden.Check(t, "sql.golden", b.String())
}
