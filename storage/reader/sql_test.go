package reader

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/internal/golden"
	"github.com/tracehouse/tracehouse/internal/seed"
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

// TestSQLSnapshots records the SQL the reader generates (the query
// language's own snapshots are in storage/logquery/testdata).
func TestSQLSnapshots(t *testing.T) {
	r, err := New(nil, Options{Database: "tracehouse"})
	if err != nil {
		t.Fatal(err)
	}
	start, end := seed.Base, seed.Base.Add(time.Hour)
	attr := func(k, v string) SpanMatch { return SpanMatch{Field: SpanAttr, Key: k, Text: v} }
	searches := []struct {
		title string
		s     TraceSearch
	}{
		{"service only", TraceSearch{Service: "payment", Limit: 20}},
		{"operation, durations, limit", TraceSearch{Service: "payment", Operation: "POST /charge", MinDuration: 50 * time.Millisecond, MaxDuration: 2 * time.Second, Limit: 5}},
		{"typed attributes", TraceSearch{Service: "payment", Limit: 20, Matches: []SpanMatch{
			attr("card.brand", "visa"), attr("empty", ""), attr("http.response.status_code", "402"), attr("payment.amount", "42.5"), attr("retry", "true")}}},
		{"span fields", TraceSearch{Service: "gateway", Limit: 20, Matches: []SpanMatch{
			ErrorStatus(false), ErrorStatus(true), {Field: Kind, Enum: int8(ptrace.SpanKindServer)}, {Field: StatusMessage, Text: "payment required"},
			{Field: ScopeName, Text: "x"}, {Field: ScopeVersion, Text: "1.0"}, {Field: TraceState, Text: "a=b"}}}},
		{"resource attributes", TraceSearch{Service: "auth", Limit: 20, Matches: []SpanMatch{
			{Field: SpanOrResourceAttr, Key: "host.name", Text: "auth-2"}, {Field: ResourceAttr, Key: "region", Text: "eu"}}}},
		{"injection attempts in keys and values", TraceSearch{Service: "x' OR 1=1 --", Limit: 20, Matches: []SpanMatch{
			attr("k'] OR 1=1 --", "v') FORMAT JSON"), attr("{p0:String}", "SETTINGS max_threads=1"), attr("ключ", "значение\t\n\\")}}},
	}
	var b strings.Builder
	for _, s := range searches {
		sql, args, err := r.traceSearchSQL(s.s, start, end)
		if err != nil {
			t.Fatalf("%s: %v", s.title, err)
		}
		writeSQL(&b, "find traces: "+s.title, sql, args)
	}
	logs := []struct {
		title string
		s     LogSearch
	}{
		{"everything", LogSearch{Start: start, End: end, Limit: 100}},
		{"query, limit and cursor", LogSearch{Query: `service:payment level>=warn "card declined" -attr.retry:true`, Start: start, End: end, Limit: 50,
			Before: &LogPos{seed.Base.Add(time.Minute).UnixNano(), 12345}}},
	}
	for _, l := range logs {
		sql, args, err := r.logSearchSQL(l.s)
		if err != nil {
			t.Fatalf("%s: %v", l.title, err)
		}
		writeSQL(&b, "search logs: "+l.title, sql, args)
	}
	golden.Check(t, "sql.golden", b.String())
}
