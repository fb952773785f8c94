package reader

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/storage/logquery"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// TestLogSearchErrorAttributes checks that full-text search and infix
// wildcards find a record by the reason in its error attributes (the
// ErrorText column of migration 0009), through the indexes that serve them.
func TestLogSearchErrorAttributes(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := writer.NewWriter(conn, writer.Options{Database: db})
	r := mustNew(t, conn, db)

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "payment")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	add := func(at time.Duration, body string, attrs map[string]string) {
		rec := recs.AppendEmpty()
		rec.SetTimestamp(pcommon.NewTimestampFromTime(baseTime.Add(at)))
		rec.SetSeverityNumber(plog.SeverityNumberError)
		rec.Body().SetStr(body)
		for k, v := range attrs {
			rec.Attributes().PutStr(k, v)
		}
	}
	// Every error attribute, and one that is not.
	all := map[string]string{"user.id": "u-1"}
	for i, k := range logquery.ErrorAttributes {
		all[k] = "reason " + string(rune('a'+i))
	}
	add(0, "request served", map[string]string{"error": "503 unavailable: payment is in a simulated OUTAGE"})
	add(time.Second, "request served", map[string]string{"reason": "card declined"})
	add(2*time.Second, "payment is in a simulated outage", nil)
	add(3*time.Second, "request served", nil)
	add(4*time.Second, "everything", all)
	if err := w.WriteLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}

	// ErrorText holds the error attributes' values, one per line, in
	// logquery.ErrorAttributes' order: the Go list and the migration agree.
	var text string
	if err := conn.QueryRow(ctx, "SELECT ErrorText FROM "+db+".logs WHERE Body = 'everything'").Scan(&text); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range logquery.ErrorAttributes {
		want = append(want, all[k])
	}
	if text != strings.Join(want, "\n") {
		t.Errorf("ErrorText = %q, want %q", text, strings.Join(want, "\n"))
	}

	start, end := baseTime.Add(-time.Minute), baseTime.Add(time.Minute)
	cases := []struct {
		query string
		want  []string // bodies, newest first
		index string   // an index the plan must use
	}{
		{`"simulated outage"`, []string{"payment is in a simulated outage", "request served"}, "idx_error_text"},
		{`declined`, []string{"request served"}, "idx_error_text"},
		{`*outage*`, []string{"payment is in a simulated outage", "request served"}, "idx_body_ngrams"},
		{`*OUTAG*`, []string{"payment is in a simulated outage", "request served"}, "idx_error_ngrams"},
		{`attr.error:*outage*`, nil, "idx_error_ngrams"}, // field values match case-sensitively
		{`attr.error:*OUTAGE`, []string{"request served"}, "idx_error_ngrams"},
		{`attr.reason:card*`, []string{"request served"}, ""},
		{`body:outage`, []string{"payment is in a simulated outage"}, "idx_body"},
	}
	for _, c := range cases {
		s := LogSearch{Query: c.query, Start: start, End: end, Limit: 10}
		rows, err := r.SearchLogs(ctx, s)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		var got []string
		for rows.Next() {
			got = append(got, rows.Entry().Record.Body().Str())
		}
		rows.Close()
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("%s: found %q, want %q", c.query, got, c.want)
		}
		n, err := r.CountLogs(ctx, c.query, start, end)
		if err != nil || n != uint64(len(c.want)) {
			t.Errorf("%s: CountLogs = %d, %v; want %d", c.query, n, err, len(c.want))
		}
		if c.index != "" {
			sql, args, err := r.logSearchSQL(s)
			if err != nil {
				t.Fatal(err)
			}
			if plan := explain(t, conn, sql, args); !strings.Contains(plan, c.index) {
				t.Errorf("%s: the plan does not use %s:\n%s", c.query, c.index, plan)
			}
		}
	}
}

// TestDataSpan checks the first and last span times of a range's minutes.
func TestDataSpan(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	r := mustNew(t, conn, db)
	if _, ok, err := r.DataSpan(ctx, baseTime.Add(-time.Hour), baseTime.Add(time.Hour)); ok || err != nil {
		t.Fatalf("an empty database has data: %v, %v", ok, err)
	}
	w := writer.NewWriter(conn, writer.Options{Database: db})
	td := richTraces(traceID(7))
	if err := w.WriteTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	first, last := time.Time{}, time.Time{}
	for i := range td.ResourceSpans().Len() {
		for j := range td.ResourceSpans().At(i).ScopeSpans().Len() {
			spans := td.ResourceSpans().At(i).ScopeSpans().At(j).Spans()
			for k := range spans.Len() {
				ts := spans.At(k).StartTimestamp().AsTime()
				if first.IsZero() || ts.Before(first) {
					first = ts
				}
				if ts.After(last) {
					last = ts
				}
			}
		}
	}
	got, ok, err := r.DataSpan(ctx, first.Add(-time.Hour), last.Add(time.Hour))
	if err != nil || !ok || !got.First.Equal(first) || !got.Last.Equal(last) {
		t.Errorf("DataSpan = %+v, %v, %v; want %s … %s", got, ok, err, first, last)
	}
}
