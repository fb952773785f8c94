package query

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/storage/logquery"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// corpusTemplate is a log line of the corpus, the pattern it must be
// found as, and how many records of it are written.
type corpusTemplate struct {
	service string
	level   plog.SeverityNumber
	line    func(i int) string
	pattern string
	n       int
}

// corpus is a few hundred log lines shaped as the sample services'
// (sample-services/*: zerolog messages with ids and key=value fields),
// with known templates.
var corpus = []corpusTemplate{
	{"order", plog.SeverityNumberInfo, func(i int) string { return fmt.Sprintf("order o-%d created with %d items", 1000+i, 1+i%7) },
		"order <*> created with <*> items", 300},
	{"payment", plog.SeverityNumberError, func(i int) string { return fmt.Sprintf("card declined for user u-%d: insufficient funds", i%40) },
		"card declined for user <*> insufficient funds", 50},
	{"gateway", plog.SeverityNumberInfo, func(i int) string {
		return fmt.Sprintf("request served method=%s route=/checkout status=%d latency_ms=%d", []string{"GET", "POST"}[i%2], 200, 3+i%50)
	}, "request served method=<*> route=/checkout status=<*> latency_ms=<*>", 200},
	{"gateway", plog.SeverityNumberInfo, func(int) string { return "checkout started" }, "checkout started", 120},
	{"order", plog.SeverityNumberWarn, func(i int) string { return fmt.Sprintf("payment failed, retrying (attempt %d)", 1+i%3) },
		"payment failed, retrying (attempt <*>", 40},
	{"fulfillment", plog.SeverityNumberInfo, func(i int) string { return fmt.Sprintf("shipment s-%d dispatched to warehouse eu-west", i) },
		"shipment <*> dispatched to warehouse eu-west", 90},
}

func writeCorpus(t *testing.T, repeat int) (string, *Service) {
	t.Helper()
	db, conn := seed.NewDatabase(t)
	w := writer.NewWriter(conn, writer.Options{Database: db})
	for r := 0; r < repeat; r++ {
		ld := plog.NewLogs()
		for ti, c := range corpus {
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", c.service)
			recs := rl.ScopeLogs().AppendEmpty().LogRecords()
			for i := 0; i < c.n; i++ {
				rec := recs.AppendEmpty()
				// Spread over the hour, distinct times per record.
				at := seed.Base.Add(time.Duration((r*len(corpus)+ti)*1000+i) * 3 * time.Millisecond).Add(time.Duration(i) * time.Second)
				rec.SetTimestamp(pcommon.NewTimestampFromTime(at))
				rec.SetSeverityNumber(c.level)
				rec.Body().SetStr(c.line(i + r*c.n))
			}
		}
		if err := w.WriteLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
	}
	return db, newService(t, conn, db, Limits{})
}

var corpusRange = TimeRange{Start: seed.Base, End: seed.Base.Add(time.Hour)}

func TestPatternsOfACorpusWithKnownTemplates(t *testing.T) {
	_, svc := writeCorpus(t, 1)
	ctx := context.Background()
	res, err := svc.Patterns(ctx, PatternQuery{Range: corpusRange})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range corpus {
		total += c.n
	}
	if res.Total != uint64(total) || res.Sampled != total || !res.Exact {
		t.Fatalf("total %d sampled %d exact %v, want %d of %d, exact", res.Total, res.Sampled, res.Exact, total, total)
	}
	found := map[string]Pattern{}
	for _, p := range res.Patterns {
		found[p.Template] = p
	}
	if len(res.Patterns) != len(corpus) {
		for _, p := range res.Patterns {
			t.Logf("%6d  %s", p.Count, p.Template)
		}
		t.Fatalf("%d patterns, want the corpus's %d", len(res.Patterns), len(corpus))
	}
	for _, c := range corpus {
		p, ok := found[c.pattern]
		if !ok {
			t.Errorf("pattern %q not found", c.pattern)
			continue
		}
		if p.Count != uint64(c.n) || p.Sampled != c.n {
			t.Errorf("%q: count %d (sampled %d), want %d", c.pattern, p.Count, p.Sampled, c.n)
		}
		wantErrors := 0
		if c.level >= plog.SeverityNumberError {
			wantErrors = c.n
		}
		if p.Errors != wantErrors {
			t.Errorf("%q: %d errors, want %d", c.pattern, p.Errors, wantErrors)
		}
		var spark uint64
		for _, n := range p.Sparkline {
			spark += n
		}
		if spark != p.Count || len(p.Sparkline) != PatternBuckets {
			t.Errorf("%q: sparkline %v sums to %d, want %d over %d buckets", c.pattern, p.Sparkline, spark, p.Count, PatternBuckets)
		}
		if p.Example.Service != c.service || p.Example.Body != c.line(c.n-1) || !p.LastSeen.Equal(p.Example.Time) || !p.FirstSeen.Before(p.LastSeen) {
			t.Errorf("%q: example %+v first %s last %s, want the newest record %q of %s", c.pattern, p.Example, p.FirstSeen, p.LastSeen, c.line(c.n-1), c.service)
		}
		// The click-through: the pattern's filter selects exactly its
		// records, through the query language and its SQL.
		n, err := svc.CountLogs(ctx, LogQuery{Query: p.Filter, Range: corpusRange})
		if err != nil {
			t.Fatalf("%s: %v", p.Filter, err)
		}
		if n != uint64(c.n) {
			t.Errorf("%s selects %d records, want %d", p.Filter, n, c.n)
		}
		page, err := svc.SearchLogsPage(ctx, LogQuery{Query: p.Filter, Range: corpusRange, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := logquery.ParseTemplate(p.Template)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if e.Service() != c.service || !tmpl.Matches(e.Record.Body().Str()) {
				t.Fatalf("%s returned %s's %q", p.Filter, e.Service(), e.Record.Body().Str())
			}
		}
	}

	// A query narrows the records mined, and limit the patterns.
	res, err = svc.Patterns(ctx, PatternQuery{Query: "service:order", Range: corpusRange, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 340 || len(res.Patterns) != 1 || res.Patterns[0].Template != "order <*> created with <*> items" || res.Clusters != 2 {
		t.Fatalf("order's patterns: total %d, %d clusters, %+v", res.Total, res.Clusters, res.Patterns)
	}
	// Bad input.
	for _, q := range []PatternQuery{
		{Range: corpusRange, Limit: -1},
		{Range: corpusRange, Sample: 10},
		{Range: TimeRange{Start: corpusRange.End, End: corpusRange.Start}},
		{Range: corpusRange, Query: `pattern:"a <…> b"`},
	} {
		if _, err := svc.Patterns(ctx, q); !isInputError(err) {
			t.Errorf("%+v: %v, want an InputError", q, err)
		}
	}
}

func isInputError(err error) bool {
	_, ok := err.(*InputError)
	return ok
}

// Over more records than the sample, counts are estimated from a uniform
// sample: each within a few standard errors of the truth.
func TestPatternsEstimateFromASample(t *testing.T) {
	_, svc := writeCorpus(t, 4)
	res, err := svc.Patterns(context.Background(), PatternQuery{Range: corpusRange, Sample: 1000})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range corpus {
		total += 4 * c.n
	}
	if res.Total != uint64(total) || res.Exact || res.Sampled < 700 || res.Sampled > 1300 {
		t.Fatalf("total %d (want %d), exact %v, sampled %d (want about 1000)", res.Total, total, res.Exact, res.Sampled)
	}
	found := map[string]Pattern{}
	for _, p := range res.Patterns {
		found[p.Template] = p
	}
	for _, c := range corpus {
		p, ok := found[c.pattern]
		if !ok {
			t.Errorf("pattern %q not found in the sample", c.pattern)
			continue
		}
		want := float64(4 * c.n)
		frac := float64(res.Sampled) / float64(total)
		// Binomial standard error of the estimate, ×4 for a test that
		// fails on a wrong estimator, not on chance.
		tol := 4 * math.Sqrt(want*(1-frac)/frac)
		if math.Abs(float64(p.Count)-want) > tol {
			t.Errorf("%q: estimated %d, want %.0f ± %.0f", c.pattern, p.Count, want, tol)
		}
	}
}
