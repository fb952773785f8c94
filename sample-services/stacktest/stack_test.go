// Package stacktest runs the whole demo stack as separate processes — the
// tracehouse all-in-one binary (embedded ClickHouse, collector, query API)
// and the four sample services — drives checkouts through the gateway, and
// checks what Tracehouse reconstructs through its query API.
package stacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

const (
	queryURL   = "http://127.0.0.1:8080"
	gatewayURL = "http://127.0.0.1:8000"
	paymentURL = "http://127.0.0.1:8003"
	orderURL   = "http://127.0.0.1:8002"
)

// The ports the stack binds; a clash fails the test up front with a clear
// message instead of a confusing failure later.
var stackPorts = map[int]string{8123: "embedded ClickHouse", 4317: "OTLP gRPC", 4318: "OTLP HTTP", 4319: "JSON-lines logs",
	13133: "collector health check", 8888: "collector metrics", 8080: "query API", 8000: "gateway", 8001: "auth", 8002: "order", 8003: "payment"}

func checkPortsFree(t *testing.T) {
	for port, what := range stackPorts {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d (%s) is in use; this test runs the real stack on its default ports — stop `make run` or whatever holds it", port, what)
		}
		ln.Close()
	}
}

func build(t *testing.T, dir, out, pkg string) string {
	t.Helper()
	path := filepath.Join(dir, out)
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return path
}

type proc struct {
	name string
	cmd  *exec.Cmd
}

func start(t *testing.T, logDir, name, bin string, args ...string) *proc {
	t.Helper()
	logFile, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd}
	t.Cleanup(func() {
		p.stop(t)
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("--- %s log (last 3000 bytes) ---\n%s", name, tail(b, 3000))
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// stop ends the process with SIGTERM (the services flush their telemetry).
func (p *proc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not stop within 60s of SIGTERM", p.name)
		p.cmd.Process.Kill()
		<-done
	}
}

func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 2 minutes", url)
}

func getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(queryURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil && resp.StatusCode == 200 {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

// Jaeger-shaped trace, as the query API returns it.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type span struct {
	id, parent, service, name string
	isError                   bool
}

func (tr jaegerTrace) spans() map[string]span {
	out := map[string]span{}
	for _, s := range tr.Spans {
		sp := span{id: s.SpanID, service: tr.Processes[s.ProcessID].ServiceName, name: s.OperationName}
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" {
				sp.parent = r.SpanID
			}
		}
		for _, tag := range s.Tags {
			if tag.Key == "error" && tag.Value == true {
				sp.isError = true
			}
		}
		out[sp.id] = sp
	}
	return out
}

// hasCall says whether a span of service `to` has a parent span in `from`.
func hasCall(spans map[string]span, from, to string) bool {
	for _, s := range spans {
		if p, ok := spans[s.parent]; ok && s.service == to && p.service == from {
			return true
		}
	}
	return false
}

func countCalls(spans map[string]span, from, to string) int {
	n := 0
	for _, s := range spans {
		// A cross-service call is counted once: at the callee's server span.
		if p, ok := spans[s.parent]; ok && s.service == to && p.service == from {
			n++
		}
	}
	return n
}

func hasName(spans map[string]span, prefix string) bool {
	for _, s := range spans {
		if strings.HasPrefix(s.name, prefix) {
			return true
		}
	}
	return false
}

func TestWholeStackAsSeparateProcesses(t *testing.T) {
	checkPortsFree(t)
	bins := t.TempDir()
	tracehouse := build(t, bins, "tracehouse", ".")
	samples := build(t, bins, "sample-services", "./sample-services")
	logs := t.TempDir()

	data := t.TempDir()
	start(t, logs, "tracehouse", tracehouse, "all-in-one", "--data", data)
	waitReady(t, queryURL+"/readyz")
	services := []*proc{
		start(t, logs, "payment", samples, "payment", "--latency-p50", "1ms", "--latency-p99", "5ms"),
		start(t, logs, "auth", samples, "auth"),
		start(t, logs, "order", samples, "order", "--payment-attempts", "1"),
		start(t, logs, "gateway", samples, "gateway"),
	}
	for _, port := range []int{8003, 8001, 8002, 8000} {
		waitReady(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
	}

	login := testenv.Do(t, http.MethodPost, gatewayURL+"/api/login", nil, map[string]string{"user": "ann", "password": "secret"})
	if login.Status != http.StatusOK {
		t.Fatalf("login: %d %s", login.Status, login.Body)
	}
	var token struct{ Token string }
	login.JSON(t, &token)
	authz := map[string]string{"Authorization": "Bearer " + token.Token}
	checkout := func(card string) int {
		return testenv.Do(t, http.MethodPost, gatewayURL+"/api/checkout", authz, testenv.CheckoutBody("ann", card)).Status
	}

	const approved, declined, duringOutage = 4, 2, 8
	for i := 0; i < approved; i++ {
		if s := checkout(cards.Approved); s != http.StatusCreated {
			t.Fatalf("approved checkout %d: status %d", i, s)
		}
	}
	for i := 0; i < declined; i++ {
		if s := checkout(cards.AlwaysDeclined); s < 400 {
			t.Fatalf("declined checkout %d: status %d, want an error", i, s)
		}
	}
	// A payment outage: the breaker opens after consecutive failures and
	// later checkouts take the fallback without calling payment.
	testenv.SetFaults(t, orderURL, map[string]any{"breaker_failure_threshold": 3})
	testenv.SetFaults(t, paymentURL, map[string]any{"outage": true})
	for i := 0; i < duringOutage; i++ {
		if s := checkout(cards.Approved); s < 400 {
			t.Fatalf("checkout during the outage: status %d, want an error", s)
		}
	}
	total := approved + declined + duringOutage

	// SIGTERM flushes each service's telemetry to the collector.
	for i := len(services) - 1; i >= 0; i-- {
		services[i].stop(t)
	}

	// Nothing is lost: every span and log record the services' exporters had
	// acknowledged is stored, once.
	var sentSpans, sentLogs int64
	for _, p := range services {
		spans, logs := exportedCounts(t, filepath.Join(logs, p.name+".log"))
		sentSpans += spans
		sentLogs += logs
	}
	if sentSpans == 0 || sentLogs == 0 {
		t.Fatalf("services report %d spans and %d logs exported", sentSpans, sentLogs)
	}
	storedSpans, uniqueSpans := waitStored(t, data, "SELECT count(), uniqExact(TraceId, SpanId) FROM spans", sentSpans)
	storedLogs, _ := waitStored(t, data, "SELECT count(), count() FROM logs", sentLogs)
	if uniqueSpans != sentSpans || storedLogs != sentLogs {
		t.Errorf("sent %d spans and %d logs; stored %d distinct spans (%d rows) and %d logs", sentSpans, sentLogs, uniqueSpans, storedSpans, storedLogs)
	}
	t.Logf("services sent %d spans and %d log records; stored %d span rows (%d distinct) and %d log rows", sentSpans, sentLogs, storedSpans, uniqueSpans, storedLogs)
	if storedSpans != uniqueSpans {
		t.Logf("at-least-once delivery stored %d duplicate span rows", storedSpans-uniqueSpans)
	}

	// The collector batches for up to a second; wait until every checkout's
	// trace is searchable.
	search := "/api/traces?service=gateway&operation=" + url.QueryEscape("POST /api/checkout") + "&lookback=1h&limit=100"
	var found struct{ Data []jaegerTrace }
	deadline := time.Now().Add(time.Minute)
	for {
		found.Data = nil
		getJSON(t, search, &found)
		if len(found.Data) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(found.Data) != total {
		t.Fatalf("found %d checkout traces, want %d", len(found.Data), total)
	}

	var declinedSeen, fallbackSeen, gatewayAuth, gatewayOrder, orderPayment int
	for _, summary := range found.Data {
		var full struct{ Data []jaegerTrace }
		if code := getJSON(t, "/api/traces/"+summary.TraceID, &full); code != 200 || len(full.Data) != 1 {
			t.Fatalf("trace %s: status %d", summary.TraceID, code)
		}
		spans := full.Data[0].spans()
		for _, s := range spans {
			if s.parent != "" {
				if _, ok := spans[s.parent]; !ok {
					t.Errorf("trace %s: span %s (%s %s) has a parent that is not in the trace", summary.TraceID, s.id, s.service, s.name)
				}
			}
		}
		if !hasCall(spans, "gateway", "auth") || !hasCall(spans, "gateway", "order") {
			t.Errorf("trace %s lacks gateway → auth or gateway → order", summary.TraceID)
		}
		gatewayAuth += countCalls(spans, "gateway", "auth")
		gatewayOrder += countCalls(spans, "gateway", "order")
		orderPayment += countCalls(spans, "order", "payment")
		isFallback := hasName(spans, "payment.fallback")
		if isFallback {
			fallbackSeen++
		} else if !hasCall(spans, "order", "payment") {
			t.Errorf("trace %s lacks order → payment", summary.TraceID)
		}
		hasError := false
		for _, s := range spans {
			hasError = hasError || s.isError
		}
		if hasName(spans, "saga.compensate.") {
			declinedSeen++
			if !hasError {
				t.Errorf("trace %s compensates but carries no error status", summary.TraceID)
			}
		}

		// The trace's logs are joined to it and placed under its spans.
		var path struct {
			Data struct {
				Roots []pathSpan `json:"roots"`
			} `json:"data"`
		}
		getJSON(t, "/api/v1/traces/"+summary.TraceID, &path)
		placed := 0
		var walk func(n pathSpan)
		walk = func(n pathSpan) {
			for _, l := range n.Logs {
				placed++
				if l.SpanID != n.SpanID {
					t.Errorf("trace %s: log of span %s placed under span %s", summary.TraceID, l.SpanID, n.SpanID)
				}
			}
			for _, c := range n.Children {
				walk(c)
			}
		}
		for _, r := range path.Data.Roots {
			walk(r)
		}
		if placed == 0 {
			t.Errorf("trace %s has no logs placed under its spans", summary.TraceID)
		}
	}
	if declinedSeen < declined+duringOutage {
		t.Errorf("%d traces show the saga's compensation, want every failed checkout (%d)", declinedSeen, declined+duringOutage)
	}
	if fallbackSeen == 0 {
		t.Error("no trace shows the circuit breaker's fallback during the outage")
	}

	// The service map has exactly the three edges, with the call counts the
	// traces show (logins add gateway → auth calls outside checkouts).
	var deps struct {
		Data []struct {
			Parent, Child string
			CallCount     int
		}
	}
	getJSON(t, fmt.Sprintf("/api/dependencies?endTs=%d&lookback=3600000", time.Now().Add(time.Minute).UnixMilli()), &deps)
	got := map[string]int{}
	for _, d := range deps.Data {
		got[d.Parent+"→"+d.Child] = d.CallCount
	}
	want := map[string]int{"gateway→auth": gatewayAuth + 1, "gateway→order": gatewayOrder, "order→payment": orderPayment}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("service map edges %v, want %v", got, want)
	}
	if gatewayOrder != total {
		t.Errorf("gateway → order calls %d, want one per checkout (%d)", gatewayOrder, total)
	}
}

// pathSpan is a node of /api/v1/traces/:id's span tree.
type pathSpan struct {
	SpanID   string     `json:"spanId"`
	Children []pathSpan `json:"children"`
	Logs     []struct {
		SpanID string `json:"spanId"`
	} `json:"logs"`
}

// exportedCounts reads the "telemetry flushed" line a service writes last:
// what its OTLP exporters had acknowledged.
func exportedCounts(t *testing.T, logPath string) (spans, logs int64) {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var ev struct {
			Message       string `json:"message"`
			SpansExported int64  `json:"spans_exported"`
			LogsExported  int64  `json:"logs_exported"`
			FlushError    string `json:"flush_error"`
		}
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Message == "telemetry flushed" {
			if ev.FlushError != "" {
				t.Errorf("%s: telemetry flush failed: %s", logPath, ev.FlushError)
			}
			return ev.SpansExported, ev.LogsExported
		}
	}
	t.Fatalf("%s has no \"telemetry flushed\" line", logPath)
	return 0, 0
}

// waitStored polls ClickHouse until the first number sql returns reaches
// want (the collector's queue drains asynchronously) or a minute passes.
// It authenticates with the password the engine generated into data.
func waitStored(t *testing.T, data, sql string, want int64) (first, second int64) {
	t.Helper()
	password, err := os.ReadFile(filepath.Join(data, embedded.PasswordFileName))
	if err != nil {
		t.Fatalf("the embedded ClickHouse's password: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:8123/", strings.NewReader(sql))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(embedded.DefaultUser, strings.TrimSpace(string(password)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, _ = io.Copy(&body, resp.Body)
		resp.Body.Close()
		if _, err := fmt.Sscan(body.String(), &first, &second); err != nil {
			t.Fatalf("%s: %q", sql, body.String())
		}
		if first >= want || time.Now().After(deadline) {
			return first, second
		}
		time.Sleep(250 * time.Millisecond)
	}
}
