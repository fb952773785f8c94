package commands

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/internal/freeport"
	"github.com/tracehouse/tracehouse/internal/logging"
)

// asTracehouse, set in a test binary's environment, makes the binary
// `tracehouse` itself (see TestMain): the end-to-end tests run
// `tracehouse all-in-one` as a process of its own, exactly as main.go does,
// because the embedded engine allows one per process and this package's
// tests already hold one (chtest), and because a restart needs a process
// to stop.
const asTracehouse = "TRACEHOUSE_TEST_AS_BINARY"

// runAsTracehouse runs the program as main.go does when asTracehouse is
// set, and reports whether it did.
func runAsTracehouse() (int, bool) {
	if os.Getenv(asTracehouse) != "1" {
		return 0, false
	}
	return cli.Main(Tracehouse, logging.New()), true
}

// allInOneProcess is `tracehouse all-in-one` running as a child process on
// free loopback ports, with the query API at api.
type allInOneProcess struct {
	t       *testing.T
	args    []string
	api     string // query API host:port
	metrics string // the collector's Prometheus endpoint host:port
	logPath string
	cmd     *exec.Cmd
	exited  chan error
}

// e2eClient bounds every request of these tests.
var e2eClient = &http.Client{Timeout: 30 * time.Second}

// freeAddr is a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// freeTCPAndUDP is a loopback address whose port is free for TCP and UDP.
func freeTCPAndUDP(t *testing.T) string {
	t.Helper()
	addr, err := freeport.TCPAndUDP()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startAllInOneProcess starts `tracehouse all-in-one --data data` with
// extra arguments (the receiver switches) on free ports, and waits until
// its query API is ready. It stops when the test ends.
func startAllInOneProcess(t *testing.T, data string, extra ...string) *allInOneProcess {
	t.Helper()
	p := &allInOneProcess{t: t, api: freeAddr(t), metrics: freeAddr(t), logPath: filepath.Join(t.TempDir(), "tracehouse.log")}
	p.args = append([]string{"all-in-one", "--data", data,
		"--http", p.api, "--clickhouse-listen", freeAddr(t),
		"--otlp-grpc", freeAddr(t), "--otlp-http", freeAddr(t), "--jsonl", freeAddr(t),
		"--collector-health", freeAddr(t), "--collector-metrics", p.metrics,
		// Small enough for a test machine shared with other work.
		"--memory-limit", "4GiB", "--queue-budget", "256MiB",
	}, extra...)
	p.start()
	t.Cleanup(func() {
		if p.cmd != nil {
			p.stop()
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("tracehouse all-in-one output (end):\n%s", b)
		}
	})
	return p
}

// start starts the process (again, after stop: same data and ports).
func (p *allInOneProcess) start() {
	p.t.Helper()
	out, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(os.Args[0], p.args...)
	cmd.Env = append(os.Environ(), asTracehouse+"=1", "TRACEHOUSE_LOG_LEVEL=info")
	cmd.Stdout, cmd.Stderr = out, out
	// Should this test binary die (a panic, a timeout), so does the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.cmd, p.exited = cmd, make(chan error, 1)
	go func() { p.exited <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-p.exited:
			p.cmd = nil
			b, _ := os.ReadFile(p.logPath)
			p.t.Fatalf("tracehouse all-in-one exited before it was ready: %v\n%s", err, b)
		default:
		}
		if res, err := e2eClient.Get("http://" + p.api + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatal("tracehouse all-in-one not ready after 3 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGTERM, as Ctrl-C or a service manager does, and expects a
// clean exit (the collector drains its queue into ClickHouse first).
func (p *allInOneProcess) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Errorf("tracehouse all-in-one did not exit cleanly on SIGTERM: %v", err)
		}
	case <-time.After(2 * time.Minute):
		p.cmd.Process.Kill()
		<-p.exited
		p.t.Errorf("tracehouse all-in-one still running 2 minutes after SIGTERM")
	}
	p.cmd = nil
}

// alive fails the test if the process has exited.
func (p *allInOneProcess) alive() {
	p.t.Helper()
	select {
	case err := <-p.exited:
		p.cmd = nil
		p.t.Fatalf("tracehouse all-in-one exited: %v", err)
	default:
	}
}

// get answers GET path on the query API: status and body.
func (p *allInOneProcess) get(path string) (int, []byte) {
	p.t.Helper()
	res, err := e2eClient.Get("http://" + p.api + path)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// apiLog is a record as /api/v1/logs answers it.
type apiLog struct {
	Timestamp      string         `json:"timestamp"`
	TraceID        string         `json:"traceId"`
	Service        string         `json:"service"`
	Level          string         `json:"level"`
	SeverityText   string         `json:"severityText"`
	SeverityNumber int32          `json:"severityNumber"`
	Body           any            `json:"body"`
	Attributes     map[string]any `json:"attributes"`
	Resource       map[string]any `json:"resource"`
}

// logs answers GET /api/v1/logs?q=… over a day either side of now (RFC
// 3164 syslog timestamps carry no zone).
func (p *allInOneProcess) logs(q string) []apiLog {
	p.t.Helper()
	now := time.Now().UTC()
	status, body := p.get("/api/v1/logs?limit=1000&start=" + now.Add(-24*time.Hour).Format(time.RFC3339) +
		"&end=" + now.Add(24*time.Hour).Format(time.RFC3339) + "&q=" + url.QueryEscape(q))
	if status != http.StatusOK {
		p.t.Fatalf("logs q=%s: %d %s", q, status, body)
	}
	var out struct {
		Data struct {
			Logs []apiLog `json:"logs"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		p.t.Fatalf("logs q=%s: %v: %s", q, err, body)
	}
	return out.Data.Logs
}

// waitLogs polls until q finds want records, failing on more, or on fewer
// after a minute, and returns them.
func (p *allInOneProcess) waitLogs(q string, want int) []apiLog {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := p.logs(q)
		if len(got) == want {
			return got
		}
		if len(got) > want || time.Now().After(deadline) {
			b, _ := json.MarshalIndent(got, "", "  ")
			if len(b) > 6000 {
				b = append(b[:6000], "…"...)
			}
			p.t.Fatalf("logs q=%s: %d records, want %d:\n%s", q, len(got), want, b)
		}
		p.alive()
		time.Sleep(200 * time.Millisecond)
	}
}

// jaegerTrace is /api/traces/{id}'s answer, the parts these tests read.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
		ProcessID string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// waitTrace polls /api/traces/{id} until it holds want spans.
func (p *allInOneProcess) waitTrace(id string, want int) *jaegerTrace {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		status, body := p.get("/api/traces/" + id)
		if status == http.StatusOK {
			var got struct {
				Data []jaegerTrace `json:"data"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				p.t.Fatalf("trace %s: %v: %s", id, err, body)
			}
			if len(got.Data) == 1 && len(got.Data[0].Spans) == want {
				return &got.Data[0]
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("trace %s: %d %s; want %d spans", id, status, body, want)
		}
		p.alive()
		time.Sleep(200 * time.Millisecond)
	}
}

// span is one span of the trace by id; it fails the test if it is missing.
func (tr *jaegerTrace) span(t *testing.T, id string) (i int) {
	t.Helper()
	for i, s := range tr.Spans {
		if s.SpanID == id {
			return i
		}
	}
	t.Fatalf("span %s missing from trace %s", id, tr.TraceID)
	return -1
}

// parent is the span's CHILD_OF reference, "" for a root.
func (tr *jaegerTrace) parent(t *testing.T, id string) string {
	for _, r := range tr.Spans[tr.span(t, id)].References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// tag is the span's tag key, nil when missing.
func (tr *jaegerTrace) tag(t *testing.T, id, key string) any {
	for _, kv := range tr.Spans[tr.span(t, id)].Tags {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

func (tr *jaegerTrace) service(t *testing.T, id string) string {
	return tr.Processes[tr.Spans[tr.span(t, id)].ProcessID].ServiceName
}

// metric sums the samples of a collector metric whose series contains
// name and label (Prometheus adds prefixes and suffixes to names).
func (p *allInOneProcess) metric(name, label string) float64 {
	p.t.Helper()
	res, err := e2eClient.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var sum float64
	for _, line := range bytes.Split(body, []byte("\n")) {
		series, value, ok := strings.Cut(string(line), " ")
		if !ok || strings.HasPrefix(series, "#") || !strings.Contains(series, name) || !strings.Contains(series, label) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			sum += v
		}
	}
	return sum
}

// waitMetric polls until the metric reaches at least want.
func (p *allInOneProcess) waitMetric(name, label string, want float64) {
	p.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := p.metric(name, label)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("metric %s{%s} = %v, want at least %v", name, label, got, want)
		}
		p.alive()
		time.Sleep(200 * time.Millisecond)
	}
}

// run runs a program to its end and fails the test on an error.
func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
