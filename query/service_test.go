package query

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/storage/reader"
)

func newService(t testing.TB, conn driver.Conn, db string, limits Limits) *Service {
	return newServiceOpts(t, conn, db, Options{Limits: limits}, reader.Limits{})
}

// newServiceOpts is a Service on the ClickHouse reader of db, with the
// seed's clock unless opts has one.
func newServiceOpts(t testing.TB, conn driver.Conn, db string, opts Options, readLimits reader.Limits) *Service {
	t.Helper()
	store, err := reader.New(conn, reader.Options{Database: db, Limits: readLimits})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return seed.Now }
	}
	return New(store, opts)
}

var wholeRange = TimeRange{Start: seed.Base.Add(-time.Hour), End: seed.Now}

func traceIDs(traces []ptrace.Traces) []pcommon.TraceID {
	var out []pcommon.TraceID
	for _, td := range traces {
		out = append(out, td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID())
	}
	return out
}

// TestService runs against one seeded database.
func TestService(t *testing.T) {
	db, conn := seed.Load(t)
	svc := newService(t, conn, db, Limits{})
	ctx := context.Background()

	t.Run("Ping", func(t *testing.T) {
		if err := svc.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		empty := newServiceOpts(t, conn, "system", Options{}, reader.Limits{})
		if err := empty.Ping(ctx); err == nil || !strings.Contains(err.Error(), "tracehouse migrate") {
			t.Fatalf("Ping on a database without the schema: %v", err)
		}
	})

	t.Run("GetTrace", func(t *testing.T) {
		for _, want := range seed.Traces() {
			id := want.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).TraceID()
			got, err := svc.GetTrace(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.SpanCount() != want.SpanCount() {
				t.Errorf("trace %s: %d spans, want %d", id, got.SpanCount(), want.SpanCount())
			}
		}
		_, err := svc.GetTrace(ctx, seed.TraceMissing)
		var nf *NotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("missing trace: %v, want NotFoundError", err)
		}
	})

	t.Run("FindTraces", func(t *testing.T) {
		cases := []struct {
			name string
			q    TraceQuery
			want []pcommon.TraceID
		}{
			{"service", TraceQuery{Service: "payment"}, []pcommon.TraceID{seed.TraceFailed, seed.TraceOK}},
			{"limit", TraceQuery{Service: "payment", Limit: 1}, []pcommon.TraceID{seed.TraceFailed}},
			{"operation", TraceQuery{Service: "auth", Operation: "GET /health"}, []pcommon.TraceID{seed.TraceHealth}},
			{"int attribute as number", TraceQuery{Service: "payment", Attributes: map[string]string{"http.response.status_code": "402"}}, []pcommon.TraceID{seed.TraceFailed}},
			{"double attribute", TraceQuery{Service: "payment", Attributes: map[string]string{"payment.amount": "42.5"}}, []pcommon.TraceID{seed.TraceFailed, seed.TraceOK}},
			{"double attribute as integer", TraceQuery{Service: "order", Attributes: map[string]string{"db.rows_affected.ratio": "1"}}, []pcommon.TraceID{seed.TraceFailed, seed.TraceOK}},
			{"bool attribute", TraceQuery{Service: "auth", Attributes: map[string]string{"token.cached": "true"}}, []pcommon.TraceID{seed.TraceOK}},
			{"string attribute", TraceQuery{Service: "gateway", Attributes: map[string]string{"user.id": "u-42"}}, []pcommon.TraceID{seed.TraceFailed, seed.TraceOK}},
			{"number text is not a string match", TraceQuery{Service: "payment", Attributes: map[string]string{"card.brand": "1"}}, nil},
			{"error=true", TraceQuery{Service: "payment", Attributes: map[string]string{"error": "true"}}, []pcommon.TraceID{seed.TraceFailed}},
			{"error=false", TraceQuery{Service: "gateway", Operation: "POST /checkout", Attributes: map[string]string{"error": "false"}}, []pcommon.TraceID{seed.TraceOK}},
			{"span.kind", TraceQuery{Service: "order", Attributes: map[string]string{"span.kind": "internal"}}, []pcommon.TraceID{seed.TraceFailed, seed.TraceOK}},
			{"status description", TraceQuery{Service: "payment", Attributes: map[string]string{"otel.status_description": "card declined"}}, []pcommon.TraceID{seed.TraceFailed}},
			{"resource attribute by semconv key", TraceQuery{Service: "auth", Attributes: map[string]string{"host.name": "auth-2"}}, []pcommon.TraceID{seed.TraceHealth}},
			{"resource attribute by prefix", TraceQuery{Service: "auth", Attributes: map[string]string{"resource.deployment.environment": "test"}}, []pcommon.TraceID{seed.TraceHealth, seed.TraceFailed, seed.TraceOK}},
			{"min duration", TraceQuery{Service: "gateway", Operation: "POST /checkout", MinDuration: 150 * time.Millisecond}, []pcommon.TraceID{seed.TraceFailed}},
			{"max duration", TraceQuery{Service: "gateway", Operation: "POST /checkout", MaxDuration: 150 * time.Millisecond}, []pcommon.TraceID{seed.TraceOK}},
			{"time range", TraceQuery{Service: "payment", Range: TimeRange{seed.Base, seed.Base.Add(30 * time.Second)}}, []pcommon.TraceID{seed.TraceOK}},
			{"injection in values", TraceQuery{Service: "payment' OR 1=1 --", Attributes: map[string]string{"k') OR 1=1 --": "x' FORMAT JSON"}}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.q.Range.Start.IsZero() {
					c.q.Range = wholeRange
				}
				got, err := svc.FindTraces(ctx, c.q)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(traceIDs(got), c.want) {
					t.Errorf("got %v, want %v", traceIDs(got), c.want)
				}
				for _, td := range got {
					id := traceIDs([]ptrace.Traces{td})[0]
					full, _ := svc.GetTrace(ctx, id)
					if td.SpanCount() != full.SpanCount() {
						t.Errorf("trace %s: search returned %d spans, the trace has %d", id, td.SpanCount(), full.SpanCount())
					}
				}
			})
		}
	})

	t.Run("ServicesOperations", func(t *testing.T) {
		services, err := svc.Services(ctx)
		if err != nil || strings.Join(services, ",") != "auth,gateway,order,payment" {
			t.Errorf("services = %v, %v", services, err)
		}
		ops, err := svc.Operations(ctx, "order", nil)
		if err != nil || len(ops) != 3 {
			t.Fatalf("order operations = %v, %v", ops, err)
		}
		client := ptrace.SpanKindClient
		ops, err = svc.Operations(ctx, "order", &client)
		if err != nil || len(ops) != 1 || ops[0].Name != "POST payment/charge" {
			t.Errorf("order client operations = %v, %v", ops, err)
		}
	})

	t.Run("Dependencies", func(t *testing.T) {
		deps, err := svc.Dependencies(ctx, wholeRange)
		if err != nil {
			t.Fatal(err)
		}
		want := []Dependency{{Parent: "gateway", Child: "auth", Calls: 2}, {Parent: "gateway", Child: "order", Calls: 2}, {Parent: "order", Child: "payment", Calls: 3}}
		if !slices.Equal(deps, want) {
			t.Errorf("dependencies = %v, want %v", deps, want)
		}
	})

	t.Run("LogSearch", func(t *testing.T) {
		cases := []struct {
			q    string
			want []string // bodies, newest first
		}{
			{`declined`, []string{"Card Declined ALERT: threshold exceeded", "order o-1002 failed: card declined", "card declined for user u-7", "card declined for user u-7"}},
			{`"card declined" service:payment`, []string{"Card Declined ALERT: threshold exceeded", "card declined for user u-7", "card declined for user u-7"}},
			{`level:error service:gateway`, []string{"checkout failed"}},
			{`level>=warn -service:payment`, []string{"checkout failed", "order o-1002 failed: card declined", "payment failed, retrying"}},
			{`attr.http.status_code>=400`, []string{"checkout failed", "card declined for user u-7", "card declined for user u-7"}},
			{`attr.retry:true`, []string{"card declined for user u-7", "payment failed, retrying"}},
			{`attr.ratio<0.5`, []string{"Card Declined ALERT: threshold exceeded"}},
			{`trace_id:` + seed.TraceOK.String() + ` (started OR complete)`, []string{"checkout complete", "checkout started"}},
			{`resource.host.name:auth-2`, []string{"health check ok"}},
			{`refusé`, []string{"paiement refusé — carte expirée"}},
			{`"DROP TABLE logs"`, []string{"'; DROP TABLE logs; -- (a body that looks like SQL)"}},
			{`attr.note:"x') OR 1=1 --"`, []string{"'; DROP TABLE logs; -- (a body that looks like SQL)"}},
			{`service:"x') OR 1=1 --"`, nil},
			{`settlement`, []string{`{"batch":7,"event":"settlement","ok":true}`}},
		}
		for _, c := range cases {
			page, err := svc.SearchLogsPage(ctx, LogQuery{Query: c.q, Range: wholeRange})
			if err != nil {
				t.Errorf("%s: %v", c.q, err)
				continue
			}
			var got []string
			for _, e := range page.Entries {
				got = append(got, e.Record.Body().AsString())
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s:\n got %q\nwant %q", c.q, got, c.want)
			}
		}
		_, err := svc.SearchLogsPage(ctx, LogQuery{Query: `service:pay AND`, Range: wholeRange})
		var in *InputError
		if !errors.As(err, &in) || in.Param != "q" || in.Position != 12 {
			t.Errorf("bad query: %v", err)
		}
	})

	t.Run("LogPagination", func(t *testing.T) {
		all, err := svc.SearchLogsPage(ctx, LogQuery{Range: wholeRange, Limit: 1000})
		if err != nil || all.NextCursor != "" {
			t.Fatalf("%v, cursor %q", err, all.NextCursor)
		}
		var paged []string
		cursor := ""
		for pages := 0; ; pages++ {
			page, err := svc.SearchLogsPage(ctx, LogQuery{Range: wholeRange, Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Entries {
				paged = append(paged, e.Cursor)
			}
			if page.NextCursor == "" {
				break
			}
			if pages > 100 {
				t.Fatal("pagination does not end")
			}
			cursor = page.NextCursor
		}
		var want []string
		for _, e := range all.Entries {
			want = append(want, e.Cursor)
		}
		if len(want) != len(seedLogCount()) || !slices.Equal(paged, want) {
			t.Errorf("paged %d entries, one page %d, seeded %d", len(paged), len(want), len(seedLogCount()))
		}
		if _, err := svc.SearchLogsPage(ctx, LogQuery{Range: wholeRange, Cursor: "not-a-cursor"}); !isInput(err, "cursor") {
			t.Errorf("bad cursor: %v", err)
		}
	})

	t.Run("Histogram", func(t *testing.T) {
		h, err := svc.LogHistogram(ctx, LogQuery{Query: "service:payment", Range: TimeRange{seed.Base, seed.Base.Add(5 * time.Minute)}})
		if err != nil {
			t.Fatal(err)
		}
		var total, errs uint64
		for _, b := range h.Buckets {
			total += b.Count
			errs += b.Errors
		}
		if h.Step != 5*time.Second || len(h.Buckets) != 60 || total != 6 || errs != 2 {
			t.Errorf("step %v, %d buckets, %d records, %d errors", h.Step, len(h.Buckets), total, errs)
		}
	})

	t.Run("Tail", func(t *testing.T) {
		tctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var got []string
		err := svc.TailLogs(tctx, TailQuery{Query: "service:order", Start: seed.Base.Add(time.Minute)}, func(b TailBatch) error {
			for _, e := range b.Entries {
				got = append(got, e.Record.Body().AsString())
			}
			cancel()
			return nil
		})
		want := []string{"payment failed, retrying", "order o-1002 failed: card declined", "'; DROP TABLE logs; -- (a body that looks like SQL)"}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("tail: %v\n got %q\nwant %q", err, got, want)
		}
	})

	t.Run("RequestPath", func(t *testing.T) {
		rp, err := svc.RequestPath(ctx, seed.TraceFailed)
		if err != nil {
			t.Fatal(err)
		}
		if rp.Spans != 10 || len(rp.Roots) != 1 || len(rp.Errors) != 5 || len(rp.Logs) != 1 {
			t.Errorf("spans %d roots %d errors %d trace-level logs %d", rp.Spans, len(rp.Roots), len(rp.Errors), len(rp.Logs))
		}
		logs := 0
		var walk func([]*PathSpan)
		walk = func(ns []*PathSpan) {
			for _, n := range ns {
				for _, l := range n.Logs {
					if l.Record.SpanID() != n.Span.SpanID() {
						t.Errorf("log of span %s placed under %s", l.Record.SpanID(), n.Span.SpanID())
					}
					logs++
				}
				walk(n.Children)
			}
		}
		walk(rp.Roots)
		if logs != 6 {
			t.Errorf("%d logs under spans, want 6", logs)
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		m, err := svc.ServiceMap(ctx, ServiceMapQuery{Range: wholeRange})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Nodes) != 4 || len(m.Edges) != 3 {
			t.Fatalf("map: %d nodes, %d edges", len(m.Nodes), len(m.Edges))
		}
		pay := m.Edges[2]
		if pay.Parent != "order" || pay.Child != "payment" || pay.Calls != 3 || pay.Errors != 2 || pay.P50 != 55e6 {
			t.Errorf("order → payment = %+v", pay)
		}
		red, err := svc.RED(ctx, REDQuery{Service: "payment", Range: TimeRange{seed.Base, seed.Base.Add(3 * time.Minute)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(red.Points) != 3 || red.Points[0].Calls != 1 || red.Points[1].Calls != 2 || red.Points[1].ErrorRate != 1 || red.Points[2].Calls != 0 {
			t.Errorf("RED points = %+v", red.Points)
		}
		if _, err := svc.RED(ctx, REDQuery{Service: "payment", Range: wholeRange, Step: 90 * time.Second}); !isInput(err, "step") {
			t.Errorf("a step of 90s: %v", err)
		}
	})
}

func seedLogCount() []struct{} { return make([]struct{}, seed.Logs().LogRecordCount()) }

func isInput(err error, param string) bool {
	var in *InputError
	return errors.As(err, &in) && in.Param == param
}

// TestLimits checks that requests over a limit fail with the right typed
// error, before or while reaching ClickHouse.
func TestLimits(t *testing.T) {
	db, conn := seed.Load(t)
	ctx := context.Background()

	t.Run("ranges and sizes", func(t *testing.T) {
		svc := newService(t, conn, db, Limits{MaxTimeRange: time.Hour, MaxTraces: 5, MaxLogs: 10})
		long := TimeRange{seed.Base, seed.Base.Add(2 * time.Hour)}
		if _, err := svc.FindTraces(ctx, TraceQuery{Service: "payment", Range: long}); !isInput(err, "start") {
			t.Errorf("long trace search: %v", err)
		}
		if _, err := svc.SearchLogsPage(ctx, LogQuery{Range: long}); !isInput(err, "start") {
			t.Errorf("long log search: %v", err)
		}
		short := TimeRange{seed.Base, seed.Base.Add(time.Hour)}
		if _, err := svc.FindTraces(ctx, TraceQuery{Service: "payment", Range: short, Limit: 6}); !isInput(err, "limit") {
			t.Errorf("too many traces: %v", err)
		}
		if _, err := svc.SearchLogsPage(ctx, LogQuery{Range: TimeRange{seed.Base, seed.Base.Add(time.Minute)}, Limit: 11}); !isInput(err, "limit") {
			t.Errorf("too many logs: %v", err)
		}
		if _, err := svc.SearchLogsPage(ctx, LogQuery{Range: TimeRange{seed.Base, seed.Base}}); !isInput(err, "end") {
			t.Errorf("empty range: %v", err)
		}
	})

	t.Run("spans per trace", func(t *testing.T) {
		svc := newServiceOpts(t, conn, db, Options{}, reader.Limits{MaxTraceSpans: 5})
		_, err := svc.GetTrace(ctx, seed.TraceOK)
		if !isInput(err, "traceID") || !strings.Contains(err.Error(), "more than 5 spans") {
			t.Errorf("a trace over MaxSpans: %v", err)
		}
		if _, err := svc.GetTrace(ctx, seed.TraceHealth); err != nil {
			t.Errorf("a trace under MaxSpans: %v", err)
		}
	})

	t.Run("result bytes", func(t *testing.T) {
		svc := newServiceOpts(t, conn, db, Options{}, reader.Limits{MaxResultBytes: 1})
		_, err := svc.SearchLogsPage(ctx, LogQuery{Range: wholeRange})
		var in *InputError
		if !errors.As(err, &in) || !strings.Contains(in.Msg, "larger than the limit") {
			t.Errorf("result over MaxResultBytes: %v", err)
		}
	})

	t.Run("busy", func(t *testing.T) {
		lim := NewLimiter(1, time.Millisecond)
		svc := newServiceOpts(t, conn, db, Options{Limiter: lim}, reader.Limits{})
		release, err := lim.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Services(ctx)
		var busy *BusyError
		if !errors.As(err, &busy) || busy.RetryAfter != time.Second {
			t.Errorf("query with every slot taken: %v", err)
		}
		release()
		if _, err := svc.Services(ctx); err != nil {
			t.Errorf("query after the slot was freed: %v", err)
		}
		if lim.Rejected() != 1 || lim.InFlight() != 0 {
			t.Errorf("rejected %d, in flight %d", lim.Rejected(), lim.InFlight())
		}
	})
}

// TestTimeout stops a heavy query at max_execution_time: a search that has
// to read every attribute map of 200,000 log records, with a 1 ms limit.
func TestTimeout(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	if err := seed.WriteManyLogs(context.Background(), conn, db, 200_000); err != nil {
		t.Fatal(err)
	}
	svc := newServiceOpts(t, conn, db, Options{}, reader.Limits{MaxExecutionTime: time.Millisecond})
	_, err := svc.SearchLogsPage(context.Background(), LogQuery{Query: `attr.n>=0 -attr.n:7`, Range: TimeRange{seed.Base, seed.Base.Add(24 * time.Hour)}})
	var te *TimeoutError
	if !errors.As(err, &te) || te.Limit != time.Millisecond {
		t.Fatalf("heavy query under a 1 ms limit: %v, want a TimeoutError", err)
	}
	relaxed := newService(t, conn, db, Limits{})
	page, err := relaxed.SearchLogsPage(context.Background(), LogQuery{Query: `attr.n>=0 -attr.n:7`, Range: TimeRange{seed.Base, seed.Base.Add(24 * time.Hour)}, Limit: 5})
	if err != nil || len(page.Entries) != 5 {
		t.Fatalf("the same query without the limit: %v", err)
	}
}
