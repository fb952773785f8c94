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
	"sync"
	"testing"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/reader"
)

// bodyRecorder is a proxy in front of the engine that keeps every request
// as it crossed the wire: its decompress parameter and its body. The data
// goes on to the real engine unchanged.
type bodyRecorder struct {
	mu   sync.Mutex
	reqs []recordedRequest
	srv  *httptest.Server
}

type recordedRequest struct {
	decompress string
	body       []byte
}

func newBodyRecorder(t testing.TB) *bodyRecorder {
	target, _ := url.Parse("http://" + chtest.Server(t).Addr())
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := &bodyRecorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recordedRequest{decompress: r.URL.Query().Get("decompress"), body: body})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (rec *bodyRecorder) requests() []recordedRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recordedRequest(nil), rec.reqs...)
}

// frameMethodByte is the method byte of a ClickHouse compression frame.
var frameMethodByte = map[compress.Method]byte{compress.LZ4: 0x82, compress.LZ4HC: 0x82, compress.ZSTD: 0x90}

// TestCompressedInserts writes spans, their edges and logs through DSNs
// asking for each compression: every INSERT body crosses the wire in
// ClickHouse's frames with decompress=1 (plain without compression), holds
// the statement and the block once decompressed, is smaller than that,
// is what WriteStats.Bytes counts, and the engine stores exactly what was
// written.
func TestCompressedInserts(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name, param string
		method      compress.Method
	}{
		{"none", "", compress.None},
		{"lz4", "&compress=lz4", compress.LZ4},
		{"lz4hc", "&compress=lz4hc", compress.LZ4HC},
		{"zstd", "&compress=zstd", compress.ZSTD},
		// HTTP compression: Exec cannot set Content-Encoding, so the
		// bodies stay plain.
		{"gzip", "&compress=gzip", compress.None},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, db := newStore(t)
			rec := newBodyRecorder(t)
			conn, err := storage.Open(ctx, chtest.DSNVia(t, rec.srv.Listener.Addr().String(), db)+"?max_execution_time=60"+c.param)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if got := storage.BodyCompression(conn); got != c.method {
				t.Fatalf("BodyCompression = %s, want %s", got, c.method)
			}
			w := NewWriter(conn, Options{Database: db})
			id := traceID(0x31)
			td, ld := richTraces(id), richLogs(id)
			spanStats, err := w.WriteTracesStats(ctx, td)
			if err != nil {
				t.Fatal(err)
			}
			logStats, err := w.WriteLogsStats(ctx, ld)
			if err != nil {
				t.Fatal(err)
			}
			if spanStats.Edges == 0 {
				t.Fatal("the fixture completes no edge: the edges INSERT is not exercised")
			}

			r := readerOf(t, conn, db)
			got, err := r.GetTrace(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			requireSameTraces(t, td, got)
			gotLogs, err := r.GetLogs(ctx, reader.LogFilter{TraceID: id})
			if err != nil {
				t.Fatal(err)
			}
			if err := plogtest.CompareLogs(ld, gotLogs, unorderedLogs...); err != nil {
				t.Fatalf("logs read back differ: %v", err)
			}

			var inserts, wire int
			for _, q := range rec.requests() {
				plain := q.body
				if q.decompress == "1" {
					if c.method == compress.None {
						t.Fatalf("a request with decompress=1 on a DSN without compression: %.60q", q.body)
					}
					plain = decompressed(t, c.method, q.body)
				}
				if bytes.HasPrefix(plain, []byte("INSERT INTO ")) {
					if c.method != compress.None && q.decompress != "1" {
						t.Fatalf("an INSERT went uncompressed: %.60q", q.body)
					}
					inserts++
					wire += len(q.body)
				}
			}
			if inserts != 3 { // spans, service edges, logs
				t.Errorf("%d INSERTs crossed the proxy, want 3", inserts)
			}
			if stats := spanStats.Bytes + logStats.Bytes; stats != wire {
				t.Errorf("WriteStats.Bytes = %d, but %d bytes of INSERT bodies crossed the wire", stats, wire)
			}
		})
	}
}

// decompressed is a body in method's frames, decompressed; it must be
// smaller compressed.
func decompressed(t *testing.T, method compress.Method, body []byte) []byte {
	t.Helper()
	if len(body) < 25 || body[16] != frameMethodByte[method] {
		t.Fatalf("the body is not in %s frames: %.40x", method, body)
	}
	var out bytes.Buffer
	// ch-go's reader wraps the io.EOF that ends the last frame.
	if _, err := out.ReadFrom(compress.NewReader(bytes.NewReader(body))); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("the body does not decompress: %v", err)
	}
	plain := out.Bytes()
	if len(body) >= len(plain) {
		t.Errorf("compressed body of %d bytes for %d plain", len(body), len(plain))
	}
	return plain
}

// TestCompressedInsertOpensConnection: a later batch on a connection pool
// with no open connection (it was closed after an error, or had lived
// ConnMaxLifetime) opens one inside the INSERT's Exec. The driver's hello
// goes first, in the same call: it must go without decompress=1, or the
// server refuses it (plain SQL is not frames) and no insert succeeds until
// some read opens a connection.
func TestCompressedInsertOpensConnection(t *testing.T) {
	ctx := context.Background()
	conn, db := newStore(t)
	first := NewWriter(conn, Options{Database: db})
	if err := first.WriteTraces(ctx, richTraces(traceID(0x41))); err != nil { // learns the column types
		t.Fatal(err)
	}

	rec := newBodyRecorder(t)
	fresh, _, err := storage.OpenConn(chtest.DSNVia(t, rec.srv.Listener.Addr().String(), db) + "?compress=zstd")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	w := NewWriter(fresh, Options{Database: db})
	// A later batch: the types are known, no DESCRIBE goes first.
	w.spans.types.Store(first.spans.types.Load())
	w.edges.types.Store(first.edges.types.Load())
	td := richTraces(traceID(0x42))
	if err := w.WriteTraces(ctx, td); err != nil {
		t.Fatalf("the first INSERT on a new connection: %v", err)
	}
	reqs := rec.requests()
	if len(reqs) < 2 || !bytes.HasPrefix(reqs[0].body, []byte("SELECT displayName()")) || reqs[0].decompress != "" {
		t.Fatalf("the first request on the new connection is not a plain hello: %d requests, first %.60q decompress=%q",
			len(reqs), reqs[0].body, reqs[0].decompress)
	}
	if reqs[1].decompress != "1" || !bytes.HasPrefix(decompressed(t, compress.ZSTD, reqs[1].body), []byte("INSERT INTO ")) {
		t.Fatalf("the second request is not the compressed INSERT: decompress=%q", reqs[1].decompress)
	}
	id := traceID(0x42)
	if n := count(t, conn, "SELECT count() FROM "+db+".spans WHERE TraceId = unhex(?)", storage.HexParam(id[:])); n != uint64(td.SpanCount()) {
		t.Errorf("%d spans stored, want %d", n, td.SpanCount())
	}
}
