package tracehouseexporter

import (
	"context"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// exporterhelper's own counters of items handed to push.
const (
	metricSentSpans       = "otelcol_exporter_sent_spans"
	metricSendFailedSpans = "otelcol_exporter_send_failed_spans"
)

// waitMetric waits until the metric (attributes matching) reaches want;
// metrics are recorded after the insert returns.
func waitMetric(t *testing.T, tel *componenttest.Telemetry, name string, want int64, match ...attribute.KeyValue) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := sumMetric(t, tel, name, match...)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%s%v = %d, want %d", name, match, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A request of 9 spans, one starting after 2262: the 8 others are queued,
// stored and counted as sent; the ninth is refused before queueing,
// counted as rejected, not as a failed send. A request of nothing but such
// spans is refused with a permanent error.
func TestUnstorableSpanIsRejectedAtAdmission(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	traces := startTraces(t, testConfig(chtest.DSN(t, "default"), db), tel)
	ctx := context.Background()

	td := ingesttest.NumberedTraces(0, 9, services, time.Now())
	future := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1)
	future.SetStartTimestamp(pcommon.Timestamp(math.MaxUint64 - 5))
	if err := traces.ConsumeTraces(ctx, td); err != nil {
		t.Fatalf("ConsumeTraces: %v, want the request accepted (8 of its spans can be stored)", err)
	}
	if td.SpanCount() != 9 {
		t.Errorf("the exporter changed the request it was given (%d spans left)", td.SpanCount())
	}
	ingesttest.WaitCount(t, conn, "SELECT count() FROM "+db+".spans", 8)
	waitMetric(t, tel, metricSentSpans, 8)
	if n := sumMetric(t, tel, metricSendFailedSpans); n != 0 {
		t.Errorf("%s = %d, want 0", metricSendFailedSpans, n)
	}
	if n := sumMetric(t, tel, metricRejected, attribute.String("signal", "traces"), attribute.String("stage", "admission")); n != 1 {
		t.Errorf("rejected_items{stage=admission} = %d, want 1", n)
	}
	if n := sumMetric(t, tel, metricRowsWritten, attribute.String("table", "spans")); n != 8 {
		t.Errorf("rows_written{spans} = %d, want 8", n)
	}

	only := ptrace.NewTraces()
	future.CopyTo(only.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	if err := traces.ConsumeTraces(ctx, only); err == nil || !consumererror.IsPermanent(err) {
		t.Errorf("a request of only unstorable spans: %v, want a permanent error", err)
	}
	if n := sumMetric(t, tel, metricRejected, attribute.String("stage", "admission")); n != 2 {
		t.Errorf("rejected_items{stage=admission} = %d, want 2", n)
	}
}

// An item ClickHouse refuses on its own (here a CHECK constraint, in the
// real engine) is isolated: its batch neighbours are stored, it is
// counted as rejected at insert, and the export succeeds (retrying cannot
// store it).
func TestItemRefusedByClickHouseIsIsolated(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	traces := startTraces(t, synchronous(testConfig(chtest.DSN(t, "default"), db)), tel)
	ctx := context.Background()
	if err := conn.Exec(ctx, "ALTER TABLE "+db+".spans ADD CONSTRAINT no_poison CHECK SpanName != 'poison'"); err != nil {
		t.Fatal(err)
	}

	td := ingesttest.NumberedTraces(0, 9, services, time.Now())
	td.ResourceSpans().At(1).ScopeSpans().At(0).Spans().At(2).SetName("poison")
	if err := traces.ConsumeTraces(ctx, td); err != nil {
		t.Fatalf("ConsumeTraces: %v, want nil (the storable spans were stored)", err)
	}
	if n := ingesttest.Count(t, conn, "SELECT count() FROM "+db+".spans"); n != 8 {
		t.Errorf("%d spans stored, want 8", n)
	}
	if n := sumMetric(t, tel, metricRejected, attribute.String("signal", "traces"), attribute.String("stage", "insert")); n != 1 {
		t.Errorf("rejected_items{stage=insert} = %d, want 1", n)
	}
	if n := sumMetric(t, tel, metricFailures); n != 0 {
		t.Errorf("%d failed exports, want 0", n)
	}
}

// The network loses ClickHouse's answer to an INSERT that committed: the
// exporter times out and retries, and the retry stores nothing twice, in
// any table. Once for the spans INSERT, once for the edges INSERT (whose
// retry must not send the spans again).
func TestLostAnswerIsNotStoredTwice(t *testing.T) {
	for _, table := range []string{"spans", "service_edge_events", "logs"} {
		t.Run(table, func(t *testing.T) {
			db := chtest.NewDatabase(t)
			conn := chtest.ConnTo(t, db)
			proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { tel.Shutdown(context.Background()) })
			cfg := testConfig(proxy.DSN("default"), db)
			cfg.TimeoutConfig.Timeout = 2 * time.Second
			traces := startTraces(t, cfg, tel) // the schema is created through the proxy
			logs := startLogs(t, cfg, tel)
			ctx := context.Background()

			proxy.SetLoseAnswer(table)
			now := time.Now()
			if err := traces.ConsumeTraces(ctx, ingesttest.NumberedTraces(0, 20, services, now)); err != nil {
				t.Fatal(err)
			}
			if err := logs.ConsumeLogs(ctx, ingesttest.NumberedLogs(0, 10, "order", now)); err != nil {
				t.Fatal(err)
			}
			if !proxy.WaitLost(1, 60*time.Second) {
				t.Fatalf("no INSERT into %s committed", table)
			}
			proxy.SetMode(ingesttest.Pass)

			// Sent once the retry succeeded: everything is in by then.
			waitMetric(t, tel, metricSentSpans, 20)
			waitMetric(t, tel, "otelcol_exporter_sent_log_records", 10)
			for query, want := range map[string]uint64{
				"SELECT count() FROM " + db + ".spans":                  20,
				"SELECT count() FROM " + db + ".trace_index":            5, // one row per trace and INSERT
				"SELECT sum(Calls) FROM " + db + ".red_1m":              20,
				"SELECT sum(Calls) FROM " + db + ".service_edges_1m":    15, // 3 cross-service calls per trace
				"SELECT count() FROM " + db + ".logs":                   10,
				"SELECT uniqExact(AttrInt['seq']) FROM " + db + ".logs": 10,
			} {
				if n := ingesttest.Count(t, conn, query); n != want {
					t.Errorf("%s = %d, want %d", query, n, want)
				}
			}
			if n := proxy.InsertsInto(table); n < 2 {
				t.Errorf("%d INSERTs into %s, want the lost one and its retry", n, table)
			}
			if table == "service_edge_events" {
				if n := proxy.InsertsInto("spans"); n != 1 {
					t.Errorf("%d spans INSERTs, want 1: the edges' retry must not send the spans again", n)
				}
			}
		})
	}
}
