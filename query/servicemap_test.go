package query

import (
	"context"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// outageShop writes the sample shop at 5 checkouts/s: 4 minutes of steady
// load from half a minute into a minute (so the first minute is partial),
// then payment in an outage behind order's breaker for 7 minutes. The
// service's clock is 3 s after the last request.
func outageShop(t *testing.T) (*Service, seed.ShopCounts, time.Time) {
	t.Helper()
	db, conn := seed.NewDatabase(t)
	shop := seed.Shop{Start: seed.Base.Add(30 * time.Second), Rate: 5, Steady: 4 * time.Minute, Outage: 7 * time.Minute, Prefix: 0x51}
	w := writer.NewWriter(conn, writer.Options{Database: db, Now: func() time.Time { return seed.Base.Add(time.Hour) }})
	counts, err := shop.Write(context.Background(), w)
	if err != nil {
		t.Fatal(err)
	}
	now := counts.End.Add(3 * time.Second)
	return newServiceOpts(t, conn, db, Options{Now: func() time.Time { return now }}, reader.Limits{}), counts, now
}

func nodeOf(t *testing.T, m *ServiceMap, name string) ServiceNode {
	t.Helper()
	for _, n := range m.Nodes {
		if n.Service == name {
			return n
		}
	}
	t.Fatalf("no node %s in %+v", name, m.Nodes)
	return ServiceNode{}
}

func edgeOf(t *testing.T, m *ServiceMap, parent, child string) ServiceEdge {
	t.Helper()
	for _, e := range m.Edges {
		if e.Parent == parent && e.Child == child {
			return e
		}
	}
	t.Fatalf("no edge %s → %s in %+v", parent, child, m.Edges)
	return ServiceEdge{}
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= tolerance*want }

// TestServiceMapDuringOutage checks the numbers the map, the services list
// and the dashboard show for an outage of a service behind a breaker.
func TestServiceMapDuringOutage(t *testing.T) {
	svc, counts, now := outageShop(t)
	ctx := context.Background()
	lastHour := TimeRange{Start: now.Add(-time.Hour), End: now}
	m, err := svc.ServiceMap(ctx, ServiceMapQuery{Range: lastHour})
	if err != nil {
		t.Fatal(err)
	}

	// Rates are over the 11 minutes of data, not the hour: 5/s, not 0.9/s.
	if d := m.Coverage.Duration(); d < 10*time.Minute || d > 12*time.Minute {
		t.Errorf("coverage %s, want the 11 minutes of data", d)
	}
	gw := nodeOf(t, m, "gateway")
	if gw.Calls != uint64(counts.Checkouts) || !near(gw.Rate, 5, 0.01) {
		t.Errorf("gateway served %d at %.3f/s, want %d at 5/s", gw.Calls, gw.Rate, counts.Checkouts)
	}

	// Payment: its own errors are a few percent of the hour (the breaker
	// spared it), but its callers could not reach it: failing, and where
	// the failure starts.
	pay := nodeOf(t, m, "payment")
	if pay.ErrorRate >= BadFailureRate {
		t.Errorf("payment's own error rate over the range is %.3f; the seeded outage should average below %.2f", pay.ErrorRate, BadFailureRate)
	}
	if pay.Callers.ShortCircuits != uint64(counts.ShortCircuits) || pay.Callers.Calls != uint64(counts.PaymentAttempts) {
		t.Errorf("payment's callers: %+v, want %d attempts and %d short-circuits", pay.Callers, counts.PaymentAttempts, counts.ShortCircuits)
	}
	if pay.Health.State != HealthUnreachable || !pay.Health.Now || !pay.Health.RootCause {
		t.Errorf("payment's health %+v, want unreachable now, root cause", pay.Health)
	}
	if pay.Recent.Callers.FailureRate != 1 || pay.Recent.Served.ErrorRate != 1 {
		t.Errorf("payment over the last 5 minutes: %+v, want every call failed", pay.Recent)
	}
	for _, name := range []string{"gateway", "order"} {
		n := nodeOf(t, m, name)
		if n.Health.State != HealthFailing || !n.Health.Now || n.Health.RootCause {
			t.Errorf("%s's health %+v, want failing now, not the root cause", name, n.Health)
		}
	}
	if auth := nodeOf(t, m, "auth"); auth.Health.State != HealthOK {
		t.Errorf("auth's health %+v, want ok", auth.Health)
	}

	// The edge order → payment: what reached payment, and what order saw.
	e := edgeOf(t, m, "order", "payment")
	if e.Calls != uint64(counts.PaymentServed) || e.Caller.Calls != uint64(counts.PaymentAttempts) || e.Caller.ShortCircuits != uint64(counts.ShortCircuits) {
		t.Errorf("order → payment %+v, want %d reached, %d attempted, %d short-circuited", e, counts.PaymentServed, counts.PaymentAttempts, counts.ShortCircuits)
	}
	if !e.Failing || !e.FailingNow || e.Recent.Caller.FailureRate != 1 {
		t.Errorf("order → payment failing=%v now=%v recent %+v, want failing, every recent call failed", e.Failing, e.FailingNow, e.Recent.Caller)
	}
	if e := edgeOf(t, m, "gateway", "auth"); e.Failing || e.FailingNow || !near(e.Caller.Rate, 5, 0.01) {
		t.Errorf("gateway → auth %+v, want healthy at 5/s", e)
	}

	// The dashboard: the same rate over the same coverage, partial edges,
	// no data before the first span.
	red, err := svc.RED(ctx, REDQuery{Service: "gateway", Range: lastHour, Step: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var calls uint64
	var first, last = -1, -1
	for i, p := range red.Points {
		calls += p.Calls
		if p.Covered > 0 {
			if first < 0 {
				first = i
			}
			last = i
		} else if p.Calls > 0 || p.Rate != 0 {
			t.Errorf("point %s has calls but no coverage: %+v", p.Time, p)
		}
	}
	if calls != gw.Calls || red.Coverage != m.Coverage {
		t.Errorf("RED: %d calls over %+v; map: %d over %+v", calls, red.Coverage, gw.Calls, m.Coverage)
	}
	if first < 0 || !red.Points[first].Partial || !red.Points[last].Partial || red.Points[first+1].Partial {
		t.Fatalf("the first and last points with data should be partial, the others whole: %+v … %+v", red.Points[first], red.Points[last])
	}
	for _, i := range []int{first, first + 1, last} {
		if p := red.Points[i]; !near(p.Rate, 5, 0.03) {
			t.Errorf("point %s: %.3f/s over %s, want 5/s (a partial minute is not a fall in traffic)", p.Time, p.Rate, p.Covered)
		}
	}

	// The recent window alone, and bad input.
	if _, err := svc.ServiceMap(ctx, ServiceMapQuery{Range: lastHour, Recent: 90 * time.Second}); !isInput(err, "recent") {
		t.Errorf("a recent window of 90s: %v", err)
	}
}

func TestCompleteness(t *testing.T) {
	now := seed.Base.Add(time.Minute)
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	add := func(id, parent byte, end time.Time) {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1})
		sp.SetSpanID(pcommon.SpanID{id})
		if parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{parent})
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	}
	// Two spans of a request whose root (1) has not arrived.
	add(2, 1, now.Add(-30*time.Second))
	add(3, 2, now.Add(-31*time.Second))
	c := CheckCompleteness(td, now)
	if c.Complete() || !c.RootMissing || c.MissingParents != 1 || c.Arriving {
		t.Errorf("root missing: %+v", c)
	}
	add(1, 0, now.Add(-2*time.Second))
	c = CheckCompleteness(td, now)
	if c.Complete() || c.RootMissing || c.MissingParents != 0 || !c.Arriving || len(c.Reasons()) != 1 {
		t.Errorf("root present, ended 2 s ago: %+v %q", c, c.Reasons())
	}
	if c := CheckCompleteness(td, now.Add(ArrivalWindow)); !c.Complete() {
		t.Errorf("the same trace %s later: %+v", ArrivalWindow, c)
	}
}
