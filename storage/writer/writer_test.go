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
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/schema"
)

func TestColumnsFollowSchema(t *testing.T) {
	names := func(cols []nativeblock.Column) []string {
		out := make([]string, len(cols))
		for i, c := range cols {
			out[i] = c.Name
		}
		return out
	}
	if got, want := names(newSpanColumns(8).columns()), schema.SpansColumns(); !slices.Equal(got, want) {
		t.Errorf("span columns\n got %v\nwant %v", got, want)
	}
	if got, want := names(newLogColumns(8).columns()), schema.LogsColumns(); !slices.Equal(got, want) {
		t.Errorf("log columns\n got %v\nwant %v", got, want)
	}
	if got, want := names(edgeColumns(nil)), schema.ServiceEdgeEventsColumns(); !slices.Equal(got, want) {
		t.Errorf("edge columns\n got %v\nwant %v", got, want)
	}
}

// AttributeFragment finds spans by resource attribute with LIKE, as
// migrations/0001_spans.sql describes.
func TestAttributeFragmentFindsResources(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	td := ptrace.NewTraces()
	for i, host := range []string{"node-1", "node-2"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "svc")
		rs.Resource().Attributes().PutStr("host.name", host)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(traceID(0x30))
		s.SetSpanID(spanID(byte(i + 1)))
		s.SetStartTimestamp(ts(0))
		s.SetEndTimestamp(ts(time.Millisecond))
	}
	if err := NewWriter(conn, Options{Database: db}).WriteTraces(ctx, td); err != nil {
		t.Fatal(err)
	}
	frag := anyvalue.AttributeFragment("host.name", pcommon.NewValueStr("node-2"))
	if frag != `"host.name":{"stringValue":"node-2"}` {
		t.Errorf("fragment %s", frag)
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".spans WHERE ResourceAttributes LIKE ?", "%"+frag+"%"); n != 1 {
		t.Errorf("LIKE %s found %d spans, want 1", frag, n)
	}
}

// TestRoundTripLaterBatches writes several batches with one writer, over
// both ways of sending: the writer's own reused Native blocks (HTTP) and
// clickhouse-go's batch API (what the native protocol uses; it works over
// HTTP too). A writer's first batch declares the types DESCRIBE TABLE gave;
// later ones declare attribute string values as plain String (see
// Writer.wireType) and the server converts them. Every batch must store
// every field; a reused block that kept rows of the batch before would show
// as extra rows.
func TestRoundTripLaterBatches(t *testing.T) {
	for _, native := range []bool{false, true} {
		t.Run(map[bool]string{false: "own blocks", true: "batch API"}[native], func(t *testing.T) {
			conn, db := newStore(t)
			ctx := context.Background()
			w := NewWriter(conn, Options{Database: db, NativeProtocol: native})
			r := readerOf(t, conn, db)

			ids := []pcommon.TraceID{traceID(4), traceID(5), traceID(6)}
			var spans, records int
			for i, id := range ids {
				want := richTraces(id)
				if i == 1 { // a smaller batch after a larger one
					want.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
						svc, _ := rs.Resource().Attributes().Get("service.name")
						return svc.Str() == "order"
					})
				}
				spans += want.SpanCount()
				if err := w.WriteTraces(ctx, want); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				got, err := r.GetTrace(ctx, id)
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				requireSameTraces(t, want, got)

				wantLogs := richLogs(id)
				records += wantLogs.LogRecordCount()
				if err := w.WriteLogs(ctx, wantLogs); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				gotLogs, err := r.GetLogs(ctx, reader.LogFilter{TraceID: id})
				if err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				if err := plogtest.CompareLogs(wantLogs, gotLogs, unorderedLogs...); err != nil {
					t.Fatalf("batch %d: logs read back differ: %v", i, err)
				}
			}
			for table, want := range map[string]int{"spans": spans, "logs": records} {
				var n uint64
				if err := conn.QueryRow(ctx, "SELECT count() FROM `"+db+"`."+table).Scan(&n); err != nil {
					t.Fatal(err)
				}
				if int(n) != want {
					t.Errorf("%s: %d rows after %d batches, want %d", table, n, len(ids), want)
				}
			}
			for _, ti := range []*tableInsert{&w.spans, &w.logs} {
				types := ti.types.Load()
				if types == nil {
					t.Fatalf("%s: no column types remembered", ti.table)
				}
				for _, c := range types.cols {
					if c.Name == "AttrStr" && c.Type != "Map(LowCardinality(String), String)" {
						t.Errorf("%s: AttrStr is sent as %s, want plain String values", ti.table, c.Type)
					}
				}
			}
			if !native {
				c := w.spanPool.get()
				if !c.block.Holds(w.spans.types.Load().cols) {
					t.Errorf("the pooled span buffers do not keep the block of the last batch")
				}
			}
		})
	}
}

// TestServerThatDoesNotConvert: a server that refuses blocks declaring
// plain String attribute values (input_format_native_allow_types_conversion
// turned off) fails one insert with an error worth retrying; the retry,
// and every batch after it, declares the table's own types.
// nonConvertingServer is a connection to database db through a proxy that
// refuses, as a server with input_format_native_allow_types_conversion
// off does, every block declaring converted attribute values (wireType);
// refused counts those blocks.
func nonConvertingServer(t *testing.T, db string) (conn driver.Conn, refused *atomic.Int64) {
	t.Helper()
	refusing := []byte("\x07AttrStr\x23" + plainValuesMap)
	refused = new(atomic.Int64)
	target, _ := url.Parse("http://" + chtest.Server(t).Addr())
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, refusing) {
			refused.Add(1)
			w.Header().Set("X-ClickHouse-Exception-Code", "53")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "Code: 53. DB::Exception: Type mismatch for column AttrStr. (TYPE_MISMATCH)")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	conn, err := storage.Open(context.Background(), chtest.DSNVia(t, srv.Listener.Addr().String(), db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, refused
}

func TestServerThatDoesNotConvert(t *testing.T) {
	_, db := newStore(t)
	conn, refused := nonConvertingServer(t, db)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	r := readerOf(t, conn, db)

	ids := []pcommon.TraceID{traceID(7), traceID(8), traceID(9)}
	for i, id := range ids {
		want := richTraces(id)
		err := w.WriteTraces(ctx, want)
		if i == 0 { // the first batch declares converted types
			if err == nil || errors.Is(err, ErrInvalidData) {
				t.Fatalf("batch %d through a server that does not convert: %v, want an error worth retrying", i, err)
			}
			var ex *clickhouse.Exception
			if errors.As(err, &ex) {
				t.Errorf("batch %d: the refusal surfaces as a ClickHouse exception (%v), which callers may treat as permanent", i, err)
			}
			err = w.WriteTraces(ctx, want) // the retry
		}
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		got, err := r.GetTrace(ctx, id)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		requireSameTraces(t, want, got)
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("the server refused %d inserts, want 1", n)
	}
}
