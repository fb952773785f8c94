package writer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// tableCounts are what one batch adds to every table it reaches.
type tableCounts struct {
	spans, logs, traceIndex, redCalls, edgeCalls uint64
}

func countTables(t *testing.T, conn driver.Conn, db string) tableCounts {
	t.Helper()
	return tableCounts{
		spans: count(t, conn, "SELECT count() FROM "+db+".spans"),
		logs:  count(t, conn, "SELECT count() FROM "+db+".logs"),
		// Rows, not traces: each INSERT adds its own row per trace until
		// merges fold them, so a duplicate INSERT shows.
		traceIndex: count(t, conn, "SELECT count() FROM "+db+".trace_index"),
		redCalls:   count(t, conn, "SELECT sum(Calls) FROM "+db+".red_1m"),
		edgeCalls:  count(t, conn, "SELECT sum(Calls) FROM "+db+".service_edges_1m"),
	}
}

// The same batch written again (a retry, or a replay from a persistent
// queue after a restart: a new writer) is stored once, in the tables and
// in every materialized view, over both ways of sending (the token in the
// statement over HTTP; in the settings of clickhouse-go's batch, which the
// embedded server applies as session settings).
func TestRetriedBatchCountsOnce(t *testing.T) {
	for _, native := range []bool{false, true} {
		t.Run(map[bool]string{false: "own blocks", true: "batch API"}[native], func(t *testing.T) {
			conn, db := newStore(t)
			ctx := context.Background()
			td, ld := richTraces(traceID(0x60)), richLogs(traceID(0x60))
			want := tableCounts{spans: uint64(td.SpanCount()), logs: uint64(ld.LogRecordCount()),
				traceIndex: 1, redCalls: uint64(td.SpanCount()), edgeCalls: 1}

			w := NewWriter(conn, Options{Database: db, NativeProtocol: native})
			for range 2 {
				st, err := w.WriteTracesStats(ctx, td)
				if err != nil {
					t.Fatal(err)
				}
				if st.Rows != td.SpanCount() {
					t.Errorf("stats say %d spans stored, want %d (a duplicate is taken, then skipped by ClickHouse)", st.Rows, td.SpanCount())
				}
				if err := w.WriteLogs(ctx, ld); err != nil {
					t.Fatal(err)
				}
			}
			// A new writer (a restarted collector) has a fresh edge cache:
			// it finds the edge again, with the same token.
			restarted := NewWriter(conn, Options{Database: db, NativeProtocol: native})
			st, err := restarted.WriteTracesStats(ctx, td)
			if err != nil || st.Edges != 1 {
				t.Fatalf("replay after a restart: %d edges, err %v; want the edge sent again (and skipped)", st.Edges, err)
			}
			if err := restarted.WriteLogs(ctx, ld); err != nil {
				t.Fatal(err)
			}
			if got := countTables(t, conn, db); got != want {
				t.Errorf("after one batch written three times: %+v, want %+v", got, want)
			}

			// Other rows are not mistaken for duplicates: the next trace,
			// whose edge has the same services, times and durations (only
			// its ids differ), counts in full.
			if err := w.WriteTraces(ctx, richTraces(traceID(0x61))); err != nil {
				t.Fatal(err)
			}
			want.spans, want.traceIndex, want.redCalls, want.edgeCalls = 2*want.spans, 2, 2*want.redCalls, 2
			if got := countTables(t, conn, db); got != want {
				t.Errorf("after a second trace: %+v, want %+v", got, want)
			}
		})
	}
}

// Duplicate spans in different batches (a client that sent them twice) are
// stored twice, since the batches differ; GetTrace returns them once.
func TestDuplicateSpans(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	id := traceID(0x12)
	td := richTraces(id)
	if err := w.WriteTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	more := richTraces(id)
	oneSpan(more, "other", traceID(0x14), 1)
	if err := w.WriteTraces(ctx, more); err != nil {
		t.Fatal(err)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".spans WHERE TraceId = unhex(?)", storage.HexParam(id[:])); n != uint64(2*td.SpanCount()) {
		t.Errorf("%d rows of the trace in spans, want %d (each span twice)", n, 2*td.SpanCount())
	}
	got, err := readerOf(t, conn, db).GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	requireSameTraces(t, td, got)
}

// poisonTraces is 9 spans of one trace, the fifth named "poison".
func poisonTraces(id pcommon.TraceID) ptrace.Traces {
	td := ptrace.NewTraces()
	for i := range 9 {
		s := oneSpan(td, "svc", id, byte(i+1))
		if i == 4 {
			s.SetName("poison")
		}
	}
	return td
}

// A batch ClickHouse refuses because of one item is split until that item
// is found: it is rejected with ClickHouse's reason, the others are stored
// once, however often the batch is retried. The refusal comes from the
// real engine: a CHECK constraint on the table.
func TestPermanentErrorIsolatesTheBadItem(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	for _, ddl := range []string{
		"ALTER TABLE " + db + ".spans ADD CONSTRAINT no_poison CHECK SpanName != 'poison'",
		"ALTER TABLE " + db + ".logs ADD CONSTRAINT no_poison CHECK Body != 'poison'",
	} {
		if err := conn.Exec(ctx, ddl); err != nil {
			t.Fatal(err)
		}
	}
	w := NewWriter(conn, Options{Database: db})
	td := poisonTraces(traceID(0x70))
	for attempt := range 2 {
		st, err := w.WriteTracesStats(ctx, td)
		var rejected *RejectedError
		if !errors.As(err, &rejected) || rejected.Count != 1 || rejected.Dropped != 0 {
			t.Fatalf("attempt %d: err %v, want 1 span rejected", attempt, err)
		}
		if st.Rows != 8 || st.Rejected != 1 || !strings.Contains(st.RejectReason, "VIOLATED_CONSTRAINT") {
			t.Errorf("attempt %d: stats %+v, want 8 stored, 1 rejected for the constraint", attempt, st)
		}
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".spans"); n != 8 {
		t.Errorf("%d spans stored, want 8", n)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".spans WHERE SpanName = 'poison'"); n != 0 {
		t.Errorf("the poison span was stored")
	}
	if n := count(t, conn, "SELECT sum(Calls) FROM "+db+".red_1m"); n != 8 {
		t.Errorf("red_1m counts %d calls, want 8", n)
	}

	ld := plog.NewLogs()
	recs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range 9 {
		r := recs.AppendEmpty()
		r.SetTimestamp(ts(time.Duration(i) * time.Millisecond))
		r.Body().SetStr([]string{"fine", "poison"}[min(1, i/8)])
	}
	st, err := w.WriteLogsStats(ctx, ld)
	if !errors.Is(err, ErrInvalidData) || st.Rows != 8 || st.Rejected != 1 {
		t.Errorf("logs: stats %+v, err %v; want 8 stored and 1 rejected", st, err)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".logs"); n != 8 {
		t.Errorf("%d log records stored, want 8", n)
	}
}

// An error about the batch rather than its items (every part fails) stops
// the splitting after maxFailedSplits parts: what is not isolated by then
// is dropped as a whole and counted as dropped, not rejected.
func TestPermanentErrorForEveryItemIsBounded(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, "ALTER TABLE "+db+".spans ADD CONSTRAINT nothing CHECK SpanName = 'never'"); err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	for i := range 200 {
		oneSpan(td, "svc", traceID(0x71), byte(i))
	}
	st, err := NewWriter(conn, Options{Database: db}).WriteTracesStats(ctx, td)
	var rejected *RejectedError
	if !errors.As(err, &rejected) {
		t.Fatalf("err %v, want a RejectedError", err)
	}
	if st.Rows != 0 || st.Rejected+st.Dropped != 200 || st.Dropped == 0 || !strings.Contains(st.DropReason, "not isolated") {
		t.Errorf("stats %+v, want none stored, the 200 rejected or dropped, most dropped", st)
	}
	// Splitting stopped after maxFailedSplits failed parts, each of which
	// isolated at most its two halves.
	if st.Rejected > 2*maxFailedSplits {
		t.Errorf("%d spans rejected one by one: the splitting went on past its bound", st.Rejected)
	}
}

// insertSpy is a proxy in front of the engine that can refuse inserts into
// one table (a ClickHouse that fails between two INSERTs) and counts the
// inserts it forwards, by table. It is the fault: the data goes to the
// real engine.
type insertSpy struct {
	mu     sync.Mutex
	refuse string         // table whose inserts are answered with a network error
	seen   map[string]int // inserts forwarded, by table
	srv    *httptest.Server
}

func newInsertSpy(t *testing.T) *insertSpy {
	target, _ := url.Parse("http://" + chtest.Server(t).Addr())
	proxy := httputil.NewSingleHostReverseProxy(target)
	s := &insertSpy{seen: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if table := insertTable(body); table != "" {
			s.mu.Lock()
			refuse := s.refuse == table
			if !refuse {
				s.seen[table]++
			}
			s.mu.Unlock()
			if refuse {
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.Close()
				}
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// insertTable is the table an INSERT body writes to, or "".
func insertTable(body []byte) string {
	head, _, _ := bytes.Cut(body[:min(len(body), 200)], []byte(" ("))
	if !bytes.HasPrefix(head, []byte("INSERT INTO ")) {
		return ""
	}
	_, table, _ := strings.Cut(string(head), ".")
	return table
}

func (s *insertSpy) set(refuse string) {
	s.mu.Lock()
	s.refuse = refuse
	s.mu.Unlock()
}

func (s *insertSpy) inserts(table string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[table]
}

// A failed edges INSERT is retried with the batch: the retry sends the
// edges and not the spans, which were stored.
func TestFailedEdgesAreRetriedWithoutTheSpans(t *testing.T) {
	_, db := newStore(t)
	spy := newInsertSpy(t)
	conn, err := storage.Open(context.Background(), chtest.DSNVia(t, spy.srv.Listener.Addr().String(), db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	td := richTraces(traceID(0x72))

	spy.set("service_edge_events")
	st, err := w.WriteTracesStats(ctx, td)
	var edgesErr *EdgesError
	if !errors.As(err, &edgesErr) || !edgesErr.Kept || storage.IsPermanent(err) {
		t.Fatalf("err %v, want an EdgesError worth retrying, edges kept", err)
	}
	if st.Rows != td.SpanCount() || st.Edges != 0 {
		t.Errorf("first attempt: stats %+v, want the %d spans stored, no edge", st, td.SpanCount())
	}
	spy.set("")
	st, err = w.WriteTracesStats(ctx, td)
	if err != nil || st.Edges != 1 || st.Rows != 0 {
		t.Fatalf("retry: stats %+v, err %v; want only the edge written", st, err)
	}
	if n := spy.inserts("spans"); n != 1 {
		t.Errorf("%d spans INSERTs, want 1 (the retry must not send the spans again)", n)
	}
	if got, want := countTables(t, conn, db), (tableCounts{spans: uint64(td.SpanCount()), traceIndex: 1,
		redCalls: uint64(td.SpanCount()), edgeCalls: 1}); got != want {
		t.Errorf("tables %+v, want %+v", got, want)
	}
}
