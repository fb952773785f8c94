package securitytest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDoS runs each denial-of-service case of issue 15 against the real
// processes: each is answered with a 4xx or a bounded answer, and another
// client is still served meanwhile or right after.
func TestDoS(t *testing.T) {
	a := secured(t)
	qp := queryProc(t)
	var summary strings.Builder
	report := func(format string, args ...any) {
		line := strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " ")
		if len(line) > 220 {
			line = line[:220] + "…"
		}
		fmt.Fprintln(&summary, line)
	}
	defer func() { t.Log("\nDoS cases:\n" + summary.String()) }()

	// served asserts that a client with an ordinary request is served by
	// the all-in-one's query API and engine, and by the query process.
	served := func(t *testing.T, when string) {
		t.Helper()
		if code, body := a.api(t, "/api/services"); code != http.StatusOK {
			t.Errorf("%s: another client's GET /api/services: %d %.200s", when, code, body)
		}
		if code, body := a.sqlStatus("SELECT count() FROM default.spans"); code != http.StatusOK {
			t.Errorf("%s: another client's SELECT on the engine: %d %.200s", when, code, body)
		}
		if code, body := get(t, "http://"+qp+"/api/services", ""); code != http.StatusOK {
			t.Errorf("%s: another client of tracehouse query: %d %.200s", when, code, body)
		}
	}
	traceA, traceB := a.seeded.traceIDs[0], a.seeded.traceIDs[1]

	t.Run("repeated traceID", func(t *testing.T) {
		// One 4 KiB request naming one trace again and again (in both cases
		// of hex) reads it once.
		params := url.Values{}
		for len(params.Encode()) < 4000 {
			id := traceA
			if len(params["traceID"])%2 == 1 {
				id = strings.ToUpper(id)
			}
			params.Add("traceID", id)
		}
		code, body := a.api(t, "/api/traces?"+params.Encode())
		var got struct {
			Data []struct{ Spans []json.RawMessage } `json:"data"`
		}
		if err := json.Unmarshal(body, &got); err != nil || code != http.StatusOK {
			t.Fatalf("%d copies of a trace id: %d %v %.300s", len(params["traceID"]), code, err, body)
		}
		spans := 0
		for _, tr := range got.Data {
			spans += len(tr.Spans)
		}
		if len(got.Data) != 1 || spans != spansPerTrace {
			t.Errorf("%d copies of one trace id (%d bytes): %d traces, %d spans, want 1 trace of %d", len(params["traceID"]), len(params.Encode()), len(got.Data), spans, spansPerTrace)
		}
		report("  %d copies of one trace id in %d bytes: %d, %d trace of %d spans (%d bytes)", len(params["traceID"]), len(params.Encode()), code, len(got.Data), spans, len(body))

		distinct := url.Values{}
		for i := 1; i <= 101; i++ {
			distinct.Add("traceID", fmt.Sprintf("%032x", i))
		}
		code, body = a.api(t, "/api/traces?"+distinct.Encode())
		if code != http.StatusBadRequest || !strings.Contains(string(body), "at most 100") {
			t.Errorf("101 distinct trace ids: %d %.300s, want 400 naming the limit", code, body)
		}
		report("  101 distinct trace ids: %d %s", code, msg(body))

		// The spans of one response are capped: each trace alone fits
		// tracehouse query's --max-spans, both together do not.
		for _, id := range []string{traceA, traceB} {
			if code, body := get(t, "http://"+qp+"/api/traces?traceID="+id, ""); code != http.StatusOK {
				t.Errorf("one trace of %d spans under --max-spans %d: %d %.200s", spansPerTrace, maxSpans, code, body)
			}
		}
		code, body = get(t, "http://"+qp+"/api/traces?traceID="+traceA+"&traceID="+traceB, "")
		if code != http.StatusBadRequest || !strings.Contains(string(body), "spans, the limit of one response") {
			t.Errorf("two traces of %d spans under --max-spans %d: %d %.300s, want 400", spansPerTrace, maxSpans, code, body)
		}
		report("  two traces of %d spans, --max-spans %d: %d %s", spansPerTrace, maxSpans, code, msg(body))
		served(t, "after the trace id cases")
	})

	t.Run("live tail start", func(t *testing.T) {
		for _, start := range []string{"0", time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339), "now-61m"} {
			code, body := a.api(t, "/api/v1/logs/tail?"+url.Values{"start": {start}}.Encode())
			if code != http.StatusBadRequest || !strings.Contains(string(body), "at most 1h0m0s back") {
				t.Errorf("tail start=%s: %d %.300s, want 400 naming the limit", start, code, body)
			}
			report("  live tail start=%s: %d %s", start, code, msg(body))
		}
		served(t, "after the tail starts")
	})

	t.Run("slow NDJSON reader", func(t *testing.T) {
		// tracehouse query has one query slot. A client asks for a page of
		// 32 KiB records as NDJSON and stops reading; another is served.
		page := func(limit string) string {
			return "/api/v1/logs?" + url.Values{"q": {"service:big"}, "limit": {limit},
				"start": {a.seeded.at.Add(-time.Minute).UTC().Format(time.RFC3339)},
				"end":   {time.Now().Add(time.Minute).UTC().Format(time.RFC3339)}}.Encode()
		}
		conn := stalledGet(t, qp, page("1000"), "Accept", "application/x-ndjson")
		code, body := get(t, "http://"+qp+page("2"), "")
		if code != http.StatusOK {
			t.Errorf("a request while a client stalls in an NDJSON page (one query slot): %d %.300s", code, body)
		}
		served(t, "while a client stalls in an NDJSON page")
		// The stalled response was far larger than what the kernel holds
		// for it, so the server was still writing it while the others
		// were served.
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		rest, err := io.Copy(io.Discard, conn)
		if err != nil && !isTimeout(err) {
			t.Errorf("reading the stalled page: %v", err)
		}
		if rest < 8<<20 {
			t.Errorf("the stalled page was %d bytes: small enough for socket buffers, the case proves nothing", rest)
		}
		report("  a client stalls in a %d MB NDJSON page with tracehouse query's one slot: another client %d", rest>>20, code)
	})

	t.Run("too many live tails", func(t *testing.T) {
		tail := "http://" + qp + "/api/v1/logs/tail?q=service:nobody"
		var open []*http.Response
		defer func() {
			for _, r := range open {
				r.Body.Close()
			}
		}()
		for i := 0; i < 2; i++ {
			res, err := http.Get(tail)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("tail %d of --max-tails 2: %v %v", i+1, res, err)
			}
			open = append(open, res)
		}
		res, err := http.Get(tail)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "too many live tails") {
			t.Errorf("a third tail with --max-tails 2: %d Retry-After %q %.300s", res.StatusCode, res.Header.Get("Retry-After"), body)
		}
		report("  a third live tail with --max-tails 2: %d, Retry-After %s, %s", res.StatusCode, res.Header.Get("Retry-After"), msg(body))
		served(t, "while two tails run")
	})

	t.Run("zstd bomb to the engine", func(t *testing.T) {
		// 3 GiB of spaces in 100 KB of zstd, sent as a statement.
		bomb := zstdZeros(3<<30, ' ')
		before := a.rss()
		code, header, body := post(t, "http://"+a.clickhouse+"/", bomb, "Content-Encoding", "zstd",
			"Authorization", basicAuth("tracehouse", a.password))
		grew := int64(a.rss()) - int64(before)
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("a zstd bomb as a statement: %d %.300s, want 413", code, body)
		}
		if grew > 256<<20 {
			t.Errorf("a zstd bomb of %d bytes grew the process by %d MiB", len(bomb), grew>>20)
		}
		report("  zstd bomb (%d KB -> 3 GiB) as a statement: %d (code %s), process grew %d MiB", len(bomb)>>10, code, header.Get("X-ClickHouse-Exception-Code"), grew>>20)

		// A ClickHouse compression frame claiming 2 GiB is refused before
		// anything is allocated.
		frame := make([]byte, 16+9+16)
		frame[16] = 0x82 // LZ4
		binary.LittleEndian.PutUint32(frame[17:], uint32(9+16))
		binary.LittleEndian.PutUint32(frame[21:], 2<<30-1)
		code, _, body = post(t, "http://"+a.clickhouse+"/?decompress=1&query="+url.QueryEscape("INSERT INTO default.logs FORMAT Native"), frame,
			"Authorization", basicAuth("tracehouse", a.password))
		if code < 400 || code >= 500 {
			t.Errorf("an LZ4 frame claiming 2 GiB: %d %.300s, want a 4xx", code, body)
		}
		report("  ClickHouse LZ4 frame claiming 2 GiB: %d %s", code, msg(body))
		served(t, "after the engine's bombs")
	})

	t.Run("gzip bomb to the ingest ports", func(t *testing.T) {
		bomb := gzipZeros(t, 64<<20)
		for _, c := range []struct{ name, url, contentType string }{
			{"OTLP HTTP", "http://" + a.otlpHTTP + "/v1/logs", "application/x-protobuf"},
			{"JSON-lines", "http://" + a.jsonl + "/v1/logs/jsonl", "application/x-ndjson"},
		} {
			code, _, body := post(t, c.url, bomb, a.ingestHeaders("Content-Type", c.contentType, "Content-Encoding", "gzip")...)
			if code != http.StatusRequestEntityTooLarge && code != http.StatusBadRequest {
				t.Errorf("%s: gzip bomb (64 MiB in %d KB): %d %.300s, want 413 or 400", c.name, len(bomb)>>10, code, body)
			}
			report("  %s: gzip bomb (%d KB -> 64 MiB): %d %s", c.name, len(bomb)>>10, code, msg(body))
		}
		served(t, "after the gzip bombs")
	})

	t.Run("over-long JSON line", func(t *testing.T) {
		long := `{"service":"dos","msg":"` + strings.Repeat("x", 2<<20) + `"}` + "\n"
		code, _, body := post(t, "http://"+a.jsonl+"/v1/logs/jsonl", []byte(long), a.ingestHeaders("Content-Type", "application/x-ndjson")...)
		if code != http.StatusBadRequest || !strings.Contains(string(body), "max_line_size") {
			t.Errorf("one 2 MiB line: %d %.300s, want 400 naming max_line_size", code, body)
		}
		report("  one 2 MiB JSON line: %d %s", code, msg(body))
		good := `{"service":"dos","msg":"fine"}` + "\n"
		code, _, body = post(t, "http://"+a.jsonl+"/v1/logs/jsonl", []byte(good+long), a.ingestHeaders("Content-Type", "application/x-ndjson")...)
		if code != http.StatusMultiStatus || !strings.Contains(string(body), `"accepted":1`) {
			t.Errorf("a good line and a 2 MiB one: %d %.300s, want 207 with the good line accepted", code, body)
		}
		report("  a good line and a 2 MiB one: %d %s", code, body)
		served(t, "after the long lines")
	})

	t.Run("unbounded read on the engine", func(t *testing.T) {
		// The engine runs one statement at a time: a read that would run
		// for hours is stopped by --read-timeout, one that would take all
		// memory by --read-max-memory, and the client after them is served.
		for _, c := range []struct{ name, sql, code string }{
			{"a read of hours (--read-timeout 2s)", "SELECT count() FROM numbers(1000000000000) WHERE sipHash64(number) = 0", "159"},
			{"a read of 80 GB (--read-max-memory 128MiB)", "SELECT length(groupArray(number)) FROM numbers(10000000000)", "241"},
		} {
			type answer struct {
				code   int
				header http.Header
				body   []byte
			}
			done := make(chan answer, 1)
			go func() {
				req, _ := http.NewRequest(http.MethodPost, "http://"+a.clickhouse+"/", strings.NewReader(c.sql))
				req.SetBasicAuth("tracehouse", a.password)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- answer{body: []byte(err.Error())}
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				done <- answer{res.StatusCode, res.Header, body}
			}()
			time.Sleep(300 * time.Millisecond) // let it take the engine first
			served(t, "while "+c.name+" runs")
			got := <-done
			if got.code != http.StatusInternalServerError || got.header.Get("X-ClickHouse-Exception-Code") != c.code {
				t.Errorf("%s: %d code %q %.300s, want ClickHouse code %s", c.name, got.code, got.header.Get("X-ClickHouse-Exception-Code"), got.body, c.code)
			}
			report("  %s: %d %s", c.name, got.code, msg(got.body))
		}
	})
}

// msg is the message of an error answer: the query API's envelope, the
// receivers' "error", or the text.
func msg(body []byte) string {
	var answer struct {
		Errors []struct{ Msg string } `json:"errors"`
		Error  string                 `json:"error"`
	}
	if json.Unmarshal(body, &answer) == nil {
		if len(answer.Errors) > 0 && answer.Errors[0].Msg != "" {
			return answer.Errors[0].Msg
		}
		if answer.Error != "" {
			return answer.Error
		}
	}
	return strings.TrimSpace(string(body))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func basicAuth(user, password string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.SetBasicAuth(user, password)
	return req.Header.Get("Authorization")
}

// stalledGet sends a GET, reads the status line and then nothing: a client
// that stopped reading, with a small receive buffer so that the server's
// writes block soon.
func stalledGet(t *testing.T, addr, target string, header ...string) net.Conn {
	t.Helper()
	// The buffer is set before connecting, so that the window the
	// connection starts with is the small one (shrinking it later makes
	// the sender back off for minutes).
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n"
	for i := 0; i+1 < len(header); i += 2 {
		req += header[i] + ": " + header[i+1] + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	status := make([]byte, len("HTTP/1.1 200"))
	if _, err := io.ReadFull(c, status); err != nil || string(status) != "HTTP/1.1 200" {
		t.Fatalf("GET %s: %q %v", target, status, err)
	}
	return c
}

// zstdZeros is a zstd frame of n bytes b, made of RLE blocks (4 bytes per
// 128 KiB): a bomb of any size costs nothing to build.
func zstdZeros(n int64, b byte) []byte {
	const block = 128 << 10
	var out bytes.Buffer
	out.Write([]byte{0x28, 0xB5, 0x2F, 0xFD}) // magic
	// Frame header: no checksum, no content size, no dictionary; window
	// descriptor for a 128 KiB window (exponent 7: 1<<(10+7)).
	out.Write([]byte{0x00, 7 << 3})
	for n > 0 {
		size := int64(block)
		if n < size {
			size = n
		}
		n -= size
		last := 0
		if n == 0 {
			last = 1
		}
		h := uint32(last) | 1<<1 | uint32(size)<<3 // block type 1: RLE
		out.Write([]byte{byte(h), byte(h >> 8), byte(h >> 16), b})
	}
	return out.Bytes()
}

// gzipZeros is n zero bytes, gzipped.
func gzipZeros(t *testing.T, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for i := 0; i < n; i += len(zeros) {
		w.Write(zeros)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
