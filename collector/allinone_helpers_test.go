package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/query/api"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/reader"
)

// allInOne is the all-in-one pipeline as `tracehouse all-in-one` runs it —
// the shipped all-in-one.yaml with AllInOneReceivers' overrides — on free
// ports, writing to a fresh database, with the query API over it.
type allInOne struct {
	t        *testing.T
	db       string
	conn     driver.Conn
	api      string // query API host:port
	metrics  string // the collector's Prometheus endpoint host:port
	pipeline *Pipeline
	rcv      Receivers
}

// startAllInOne starts the pipeline with the receivers r turns on; a
// second call on the same allInOne (after stop) restarts it over the same
// database and data folder.
func startAllInOne(t *testing.T, r Receivers) *allInOne {
	t.Helper()
	db := chtest.NewDatabase(t)
	a := &allInOne{t: t, db: db, conn: chtest.ConnTo(t, db), rcv: r}
	t.Setenv("TRACEHOUSE_CLICKHOUSE", chtest.DSN(t, db))
	// The sending queue of this test alone, kept across a restart as
	// all-in-one keeps DATA/queue (the shipped default, ./data/queue,
	// would be shared by every test).
	t.Setenv("TRACEHOUSE_QUEUE_DIR", t.TempDir())
	a.start()
	t.Cleanup(a.stop)

	store, err := reader.New(a.conn, reader.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	app := api.NewApp(query.New(store, query.Options{}), api.Options{Logger: testLogger(t), Context: ctx})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- api.ServeListener(ctx, app, ln, testLogger(t)) }()
	t.Cleanup(func() { cancel(); <-served })
	a.api = ln.Addr().String()
	return a
}

func (a *allInOne) start() {
	a.t.Helper()
	ep := newEndpoints(a.t)
	a.metrics = freeAddr(a.t)
	host, port, _ := net.SplitHostPort(a.metrics)
	overrides := []string{
		"yaml:receivers::otlp::protocols::grpc::endpoint: " + ep.grpc,
		"yaml:receivers::otlp::protocols::http::endpoint: " + ep.http,
		"yaml:receivers::jsonl::endpoint: " + ep.jsonl,
		"yaml:extensions::health_check::endpoint: " + freeAddr(a.t),
		"yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: " + host + ", port: " + port + "}}}}]",
		"yaml:exporters::tracehouse::sending_queue::batch::flush_timeout: 50ms",
	}
	rcv, err := AllInOneReceivers(a.rcv)
	if err != nil {
		a.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := StartPipeline(ctx, PipelineSettings{Overrides: append(overrides, rcv...), Logger: testLogger(a.t)})
	if err != nil {
		a.t.Fatal(err)
	}
	a.pipeline = p
}

func (a *allInOne) stop() {
	if a.pipeline != nil {
		stopPipeline(a.t, a.pipeline)
		a.pipeline = nil
	}
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

// logs answers GET /api/v1/logs?q=….
func (a *allInOne) logs(q string) []apiLog {
	a.t.Helper()
	var out struct {
		Data struct {
			Logs []apiLog `json:"logs"`
		} `json:"data"`
	}
	// A day either side: RFC 3164 syslog timestamps carry no zone.
	now := time.Now().UTC()
	a.getJSON("/api/v1/logs?limit=1000&start="+now.Add(-24*time.Hour).Format(time.RFC3339)+
		"&end="+now.Add(24*time.Hour).Format(time.RFC3339)+"&q="+url.QueryEscape(q), &out)
	return out.Data.Logs
}

// waitLogs polls until q finds want records (failing on more, or after a
// minute with fewer) and returns them.
func (a *allInOne) waitLogs(q string, want int) []apiLog {
	a.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := a.logs(q)
		if len(got) == want {
			return got
		}
		if len(got) > want || time.Now().After(deadline) {
			a.t.Fatalf("q=%s: %d records, want %d: %s", q, len(got), want, dumpLogs(got))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func dumpLogs(logs []apiLog) string {
	b, _ := json.MarshalIndent(logs, "", "  ")
	if len(b) > 6000 {
		b = append(b[:6000], "…"...)
	}
	return string(b)
}

func (a *allInOne) getJSON(path string, out any) {
	a.t.Helper()
	res, err := httpClient.Get("http://" + a.api + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		a.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		a.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// metric sums the samples of a collector metric whose name contains name
// (Prometheus adds prefixes and suffixes) and whose labels contain label.
func (a *allInOne) metric(name, label string) float64 {
	a.t.Helper()
	res, err := httpClient.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, ok := strings.Cut(line, " ")
		if !ok || !strings.Contains(series, name) || !strings.Contains(series, label) {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			sum += v
		}
	}
	return sum
}

// waitMetric polls until the metric reaches at least want.
func (a *allInOne) waitMetric(name, label string, want float64) {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := a.metric(name, label)
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("metric %s{%s} = %v, want at least %v", name, label, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeTCPAndUDP is a loopback address whose port is free for TCP and UDP.
func freeTCPAndUDP(t *testing.T) string {
	t.Helper()
	for range 20 {
		addr := freeAddr(t)
		pc, err := net.ListenPacket("udp", addr)
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}

func portOf(t *testing.T, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

var _ = fmt.Sprintf

func decodeJSON(t *testing.T, body []byte, out any) {
	t.Helper()
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
}
