package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/logquery"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// errorMsg is the first error message of an envelope.
func errorMsg(t *testing.T, body []byte) string {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil || len(env.Errors) == 0 {
		t.Fatalf("not an error envelope: %s", body)
	}
	return env.Errors[0].Msg
}

func TestAuthToken(t *testing.T) {
	db, conn := seed.Load(t)
	e := newEnv(t, db, conn, query.Options{}, Options{AuthToken: "s3cret"})
	tail := "/api/v1/logs/tail?limit=1&start=" + rfc(seed.Base)
	cases := []struct {
		name, target string
		header       []string
		status       int
	}{
		{"no token", "/api/services", nil, 401},
		{"wrong token", "/api/services", []string{"Authorization", "Bearer s3cre7"}, 401},
		{"a prefix of the token", "/api/services", []string{"Authorization", "Bearer s3cre"}, 401},
		{"the token and more", "/api/services", []string{"Authorization", "Bearer s3crets3cret"}, 401},
		{"not a bearer token", "/api/services", []string{"Authorization", "Basic czNjcmV0"}, 401},
		{"right token", "/api/services", []string{"Authorization", "Bearer s3cret"}, 200},
		{"scheme in lower case", "/api/services", []string{"Authorization", "bearer s3cret"}, 200},
		{"wrong token as a parameter", tail + "&access_token=nope", nil, 401},
		{"right token as a parameter (EventSource)", tail + "&access_token=s3cret", nil, 200},
		{"health needs none", "/healthz", nil, 200},
	}
	for _, c := range cases {
		resp, body := e.get(t, c.target, c.header...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
		}
		if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}
	// A token read from a secret file keeps its newline.
	fromFile := newEnv(t, db, conn, query.Options{}, Options{AuthToken: "s3cret\n"})
	if resp, body := fromFile.get(t, "/api/services", "Authorization", "Bearer s3cret"); resp.StatusCode != 200 {
		t.Errorf("a token configured with a trailing newline: %d %s", resp.StatusCode, body)
	}
	if resp, _ := fromFile.get(t, "/api/services"); resp.StatusCode != 401 {
		t.Errorf("a token configured with a trailing newline lets a request without one through: %d", resp.StatusCode)
	}
}

// TestHostGuard sends the Host headers of DNS rebinding (a name of the
// attacker's that resolves here) and of the usual ways to reach the
// service.
func TestHostGuard(t *testing.T) {
	db, conn := seed.Load(t)
	e := newEnv(t, db, conn, query.Options{}, Options{})
	named := newEnv(t, db, conn, query.Options{}, Options{AllowedHosts: []string{"traces.example.com", "Tracehouse.Internal."}})
	anyName := newEnv(t, db, conn, query.Options{}, Options{AllowedHosts: []string{"*"}})
	cases := []struct {
		env    *env
		host   string
		path   string
		status int
	}{
		{e, "rebind.attacker.example:8080", "/api/services", 403},
		{e, "rebind.attacker.example:8080", "/", 403},
		{e, "rebind.attacker.example", "/healthz", 200}, // probes use names of their own
		{e, "rebind.attacker.example", "/metrics", 200},
		{e, "127.0.0.1:8080", "/api/services", 200},
		{e, "[::1]:8080", "/api/services", 200},
		{e, "10.1.2.3", "/api/services", 200},
		{e, "localhost:8080", "/api/services", 200},
		{e, "LocalHost.", "/api/services", 200},
		{e, "ui.localhost:8080", "/api/services", 200},
		{e, "localhost.attacker.example", "/api/services", 403},
		{e, "traces.example.com", "/api/services", 403},
		{named, "traces.example.com", "/api/services", 200},
		{named, "TRACES.example.com:443", "/api/services", 200},
		{named, "tracehouse.internal:8080", "/api/services", 200},
		{named, "other.example.com", "/api/services", 403},
		{anyName, "other.example.com", "/api/services", 200},
	}
	for _, c := range cases {
		resp, body := c.env.get(t, c.path, "Host", c.host)
		if resp.StatusCode != c.status {
			t.Errorf("Host %s, GET %s: %d, want %d: %.200s", c.host, c.path, resp.StatusCode, c.status, body)
		}
		if c.status == 403 && !strings.Contains(errorMsg(t, body), "--allowed-hosts") {
			t.Errorf("Host %s: the refusal does not say how to allow the name: %s", c.host, body)
		}
	}
}

// TestCrossSite makes the requests a page of another origin can make:
// each is refused before it reaches a handler, and nothing a request could
// change has changed.
func TestCrossSite(t *testing.T) {
	db, conn := seed.Load(t)
	e := newEnv(t, db, conn, query.Options{}, Options{})
	wr := "/api/v1/logs?" + q("start", rfc(start), "end", rfc(end), "limit", "1000")
	cases := []struct {
		name   string
		method string
		header []string
		status int
	}{
		{"same-origin fetch", "GET", []string{"Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "cors"}, 200},
		{"no browser", "GET", nil, 200},
		{"Origin of this service", "GET", []string{"Origin", "http://127.0.0.1:8080"}, 200},
		{"Origin of another site", "GET", []string{"Origin", "http://attacker.example"}, 403},
		{"Origin of another port", "GET", []string{"Origin", "http://127.0.0.1:3000"}, 403},
		{"Origin of another scheme's default port", "GET", []string{"Origin", "https://127.0.0.1"}, 403},
		{"Origin null (sandboxed page, file://)", "GET", []string{"Origin", "null"}, 403},
		{"cross-site fetch without Origin", "GET", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors"}, 403},
		{"same-site fetch (another port)", "GET", []string{"Sec-Fetch-Site", "same-site", "Sec-Fetch-Mode", "cors"}, 403},
		{"a followed link", "GET", []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"}, 200},
		{"HEAD", "HEAD", nil, 200},
		{"POST", "POST", []string{"Content-Type", "text/plain"}, 405},
		{"PUT", "PUT", nil, 405},
		{"DELETE", "DELETE", nil, 405},
		{"PATCH", "PATCH", nil, 405},
		{"OPTIONS (preflight)", "OPTIONS", []string{"Origin", "http://attacker.example", "Access-Control-Request-Method", "DELETE"}, 405},
	}
	for _, c := range cases {
		resp, body := e.do(t, c.method, wr, c.header...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d: %.300s", c.name, resp.StatusCode, c.status, body)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: the API grants CORS: %v", c.name, resp.Header)
		}
		if c.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: 405 with Allow %q", c.name, resp.Header.Get("Allow"))
		}
	}
	// The UI's pages stay reachable from links on other sites.
	if resp, _ := e.get(t, "/", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate"); resp.StatusCode != 200 {
		t.Errorf("a link to the UI from another site: %d", resp.StatusCode)
	}
	_, body := e.get(t, wr)
	if n := countRows(t, body); n != seed.Logs().LogRecordCount() {
		t.Errorf("after the attempts %d log records remain, want %d", n, seed.Logs().LogRecordCount())
	}
}

// TestTraceIDs asks for traces by repeated ids: repeats are read once, too
// many distinct ids are refused, and the spans of all the traces together
// are capped.
func TestTraceIDs(t *testing.T) {
	db, conn := seed.Load(t)
	e := newEnv(t, db, conn, query.Options{}, Options{})
	ok, failed := seed.TraceOK.String(), seed.TraceFailed.String()

	var got struct {
		Data []struct {
			TraceID string `json:"traceID"`
			Spans   []any  `json:"spans"`
		} `json:"data"`
		Errors []apiError `json:"errors"`
	}
	resp, body := e.get(t, "/api/traces?"+q("traceID", ok, "traceID", ok, "traceID", strings.ToUpper(ok), "traceID", seed.TraceMissing.String(), "traceID", seed.TraceMissing.String()))
	if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v: %s", resp.StatusCode, err, body)
	}
	if len(got.Data) != 1 || got.Data[0].TraceID != ok || len(got.Errors) != 1 {
		t.Errorf("a trace asked for three times and a missing one twice: %d traces, errors %v", len(got.Data), got.Errors)
	}
	spansOK := len(got.Data[0].Spans)

	var ids []string
	for i := 1; i <= 101; i++ {
		ids = append(ids, "traceID", fmt.Sprintf("%x", i))
	}
	resp, body = e.get(t, "/api/traces?"+q(ids...))
	if resp.StatusCode != 400 || !strings.Contains(errorMsg(t, body), "at most 100") {
		t.Errorf("101 distinct ids: %d %s", resp.StatusCode, body)
	}
	resp, _ = e.get(t, "/api/traces?"+q(ids[:200]...))
	if resp.StatusCode != 200 {
		t.Errorf("100 distinct ids: %d", resp.StatusCode)
	}

	// Each trace alone is within the span limit, both together are not.
	_, body = e.get(t, "/api/traces/"+failed)
	if err := json.Unmarshal(body, &got); err != nil || len(got.Data) != 1 {
		t.Fatalf("trace %s: %s", failed, body)
	}
	spansFailed := len(got.Data[0].Spans)
	capped := newEnvLimits(t, db, conn, query.Options{}, reader.Limits{MaxTraceSpans: max(spansOK, spansFailed)}, Options{})
	for _, id := range []string{ok, failed} {
		if resp, body := capped.get(t, "/api/traces?"+q("traceID", id, "traceID", id)); resp.StatusCode != 200 {
			t.Errorf("trace %s alone, under the span limit: %d %s", id, resp.StatusCode, body)
		}
	}
	resp, body = capped.get(t, "/api/traces?"+q("traceID", ok, "traceID", failed))
	if resp.StatusCode != 400 || !strings.Contains(errorMsg(t, body), "spans, the limit of one response") {
		t.Errorf("two traces over the span limit together: %d %s", resp.StatusCode, body)
	}
}

// TestMemoryLimit runs reads under a max_memory_usage no statement fits:
// each is answered 400 with a message naming the limit.
func TestMemoryLimit(t *testing.T) {
	db, conn := seed.Load(t)
	e := newEnvLimits(t, db, conn, query.Options{}, reader.Limits{MaxMemoryUsage: 1 << 10}, Options{})
	for _, target := range []string{
		"/api/v1/logs?" + q("start", rfc(start), "end", rfc(end)),
		"/api/traces/" + seed.TraceOK.String(),
		"/api/traces?" + q("service", "payment", "start", us(start), "end", us(end)),
	} {
		resp, body := e.get(t, target)
		if resp.StatusCode != 400 || !strings.Contains(errorMsg(t, body), "memory limit of 1 KiB") {
			t.Errorf("%s: %d %s", target, resp.StatusCode, body)
		}
	}
	if resp, body := seeded(t).get(t, "/api/traces/"+seed.TraceOK.String()); resp.StatusCode != 200 {
		t.Errorf("the default memory limit: %d %s", resp.StatusCode, body)
	}
}

func TestTailStartTooOld(t *testing.T) {
	e := seeded(t)
	for start, status := range map[string]int{
		rfc(seed.Now.Add(-2 * time.Hour)):    400,
		"now-61m":                            400,
		"0":                                  400,
		rfc(seed.Now.Add(-59 * time.Minute)): 200,
	} {
		resp, body := e.get(t, "/api/v1/logs/tail?"+q("start", start, "limit", "1"))
		if resp.StatusCode != status {
			t.Errorf("start=%s: %d, want %d: %s", start, resp.StatusCode, status, body)
		}
		if status == 400 && !strings.Contains(errorMsg(t, body), "at most 1h0m0s back") {
			t.Errorf("start=%s: %s", start, body)
		}
	}
}

// serve runs an app on a free loopback port until the test ends.
func serve(t *testing.T, svc *query.Service, opts Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.Context, opts.Logger = ctx, zerolog.Nop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, NewApp(svc, opts), ln, zerolog.Nop()) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	})
	return ln.Addr().String()
}

// stalledGet sends a GET and reads only the status line, then reads
// nothing more: a client that stopped reading. Its receive buffer is small
// so that the server's writes block soon.
func stalledGet(t *testing.T, addr, target string, header ...string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\n"
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

// writeBigLogs writes n records of about size bytes each, one per
// millisecond from at.
func writeBigLogs(t *testing.T, conn storage.Conn, db string, n, size int, at time.Time) {
	t.Helper()
	w := writer.NewWriter(conn, writer.Options{Database: db})
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "big")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	body := strings.Repeat("lorem ipsum ", size/12)
	for i := 0; i < n; i++ {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Duration(i) * time.Millisecond)))
		r.SetSeverityNumber(plog.SeverityNumberInfo)
		r.Body().SetStr(fmt.Sprintf("%d %s", i, body))
	}
	if err := w.WriteLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
}

// TestSlowReaderHoldsNoSlot stalls a client in the middle of a large
// NDJSON page while the service has one query slot: another request is
// still served, since the page was read whole before it was written.
func TestSlowReaderHoldsNoSlot(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	writeBigLogs(t, conn, db, 1000, 32<<10, seed.Base)
	e := newEnv(t, db, conn, query.Options{Limits: query.Limits{MaxConcurrentQueries: 1, QueueTimeout: 5 * time.Second}}, Options{})
	addr := serve(t, e.svc, Options{})

	stalledGet(t, addr, "/api/v1/logs?"+q("q", "service:big", "start", rfc(seed.Base), "end", rfc(seed.Base.Add(time.Hour)), "limit", "1000"),
		"Accept", "application/x-ndjson")
	resp, err := http.Get("http://" + addr + "/api/v1/logs?" + q("q", "service:big", "start", rfc(seed.Base), "end", rfc(seed.Base.Add(time.Hour)), "limit", "2"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a request while a client stalls in a 32 MB page: %d %.300s", resp.StatusCode, body)
	}
	if n := countRows(t, body); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}

// getStatus polls target until its status is not 429 (a place frees) or
// tries run out, and returns the last status.
func getStatus(t *testing.T, url string, tries int) int {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || i == tries {
			return resp.StatusCode
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTailCap runs tails up to the cap: the next is refused with 429 and
// Retry-After before any event, and a place frees when a client goes away.
func TestTailCap(t *testing.T) {
	db, conn := seed.Load(t)
	e := newEnv(t, db, conn, query.Options{Limits: query.Limits{MaxTails: 2, TailPollInterval: 20 * time.Millisecond}}, Options{})
	addr := serve(t, e.svc, Options{})
	tail := "http://" + addr + "/api/v1/logs/tail?" + q("q", "service:nobody")

	var open []*http.Response
	for i := 0; i < 2; i++ {
		resp, err := http.Get(tail)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("tail %d: %v %v", i, resp, err)
		}
		open = append(open, resp)
	}
	resp, err := http.Get(tail)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.Contains(errorMsg(t, body), "too many live tails") {
		t.Errorf("a tail over the cap: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if resp, _ := http.Get("http://" + addr + "/metrics"); resp != nil {
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(m), "tracehouse_query_live_tails 2\n") {
			t.Errorf("/metrics does not count the 2 tails")
		}
	}
	// A client that went away is noticed at the next heartbeat.
	open[0].Body.Close()
	probe := "http://" + addr + "/api/v1/logs/tail?" + q("q", "service:order", "start", rfc(seed.Base), "limit", "1")
	if status := getStatus(t, probe, 400); status != 200 {
		t.Errorf("after a tail's client left: %d", status)
	}
	open[1].Body.Close()
}

// TestTailIdleClient stalls a tail's client: the per-write deadline lets it
// go (and frees its place) while the whole-response write timeout, far
// longer, would not have.
func TestTailIdleClient(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	now := time.Now()
	writeBigLogs(t, conn, db, 1000, 32<<10, now.Add(-10*time.Minute))
	e := newEnv(t, db, conn, query.Options{Now: time.Now, Limits: query.Limits{MaxTails: 1, TailPollInterval: 20 * time.Millisecond}}, Options{})
	addr := serve(t, e.svc, Options{WriteTimeout: time.Hour, StreamWriteTimeout: 100 * time.Millisecond})
	target := "/api/v1/logs/tail?" + q("q", "service:big", "start", "now-15m")

	stalledGet(t, addr, target)
	if status := getStatus(t, "http://"+addr+target+"&limit=1", 600); status != 200 {
		t.Errorf("a tail while the only place is held by a client that stopped reading: %d", status)
	}
}

// TestTokenNotLogged sends the token as a parameter on a request that is
// logged with its query string (a timeout): the log shows it redacted.
func TestTokenNotLogged(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	if err := seed.WriteManyLogs(context.Background(), conn, db, 200_000); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	e := newEnvLimits(t, db, conn, query.Options{}, reader.Limits{MaxExecutionTime: time.Millisecond}, Options{})
	e.app = NewApp(e.svc, Options{AuthToken: "tok-5ecret", Logger: zerolog.New(&logs)})
	resp, body := e.get(t, "/api/v1/logs?"+q("q", "attr.n>=0 -attr.n:7", "start", rfc(seed.Base), "end", rfc(seed.Base.Add(24*time.Hour)), "access_token", "tok-5ecret"))
	if resp.StatusCode != 504 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "max_execution_time") || !strings.Contains(logs.String(), "access_token=REDACTED") {
		t.Errorf("the timeout is not logged with the redacted query: %s", logs.String())
	}
	if strings.Contains(logs.String(), "tok-5ecret") {
		t.Errorf("the token reached the log: %s", logs.String())
	}
}

// TestServeTimeouts checks that a client that sends half a request is let
// go at the read timeout, and that a tail outlives the write timeout of
// whole responses.
func TestServeTimeouts(t *testing.T) {
	db, conn := seed.Load(t)
	e := newEnv(t, db, conn, query.Options{Limits: query.Limits{TailPollInterval: 10 * time.Millisecond}}, Options{})
	addr := serve(t, e.svc, Options{ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\n") // never ends
	c.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadAll(c); err != nil {
		t.Errorf("the server did not close a half-sent request: %v", err)
	}

	// A tail reads on for many write timeouts: heartbeats until 50
	// comments have arrived, each poll 10 ms apart.
	resp, err := http.Get("http://" + addr + "/api/v1/logs/tail?" + q("q", "service:nobody"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for beats := 0; beats < 50; {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("the tail ended after %d heartbeats: %v", beats, err)
		}
		if line == ":\n" {
			beats++
		}
	}
}

// TestLogQueryCorpus runs every query of the log query language's fuzz
// corpus against the engine: a query the language accepts compiles to SQL
// ClickHouse runs (200), one it refuses is a 400 — never a 500.
func TestLogQueryCorpus(t *testing.T) {
	e := seeded(t)
	files, err := filepath.Glob("../../storage/logquery/testdata/fuzz/FuzzParseCompile/*")
	if err != nil || len(files) < 100 {
		t.Fatalf("the corpus has %d files: %v", len(files), err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[1]), "string(")
		if !ok {
			t.Fatalf("%s is not a corpus file of one string", f)
		}
		text, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want := 200
		if logquery.Check(text) != nil {
			want = 400
		}
		resp, body := e.get(t, "/api/v1/logs?"+q("q", text, "start", rfc(start), "end", rfc(end)))
		if resp.StatusCode != want {
			t.Errorf("%s: q=%q: %d, want %d: %.300s", filepath.Base(f), text, resp.StatusCode, want, body)
		}
	}
}
