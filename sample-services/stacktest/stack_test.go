// Package stacktest runs the whole demo stack as separate processes — the
// tracehouse all-in-one binary (embedded ClickHouse, collector, query API),
// the broker, the sample services with order and payment as two replicas
// each, and the fulfillment worker — drives checkouts through the gateway,
// and checks what Tracehouse reconstructs through its query API.
//
// Every process listens on its default port, on a loopback address of its
// own (127.x.y.z, chosen at random; STACKTEST_HOST picks one), so the test
// does not collide with `make run` or another stack on 127.0.0.1. One port
// stays on 127.0.0.1: the collector's own metrics (8888), which the
// all-in-one configuration binds there.
package stacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/messaging"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
	"github.com/tracehouse/tracehouse/sample-services/loadgen"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

// Ports of the stack (the defaults of `make run`), on the test's host.
const (
	portQuery       = 8080
	portClickHouse  = 8123
	portGateway     = 8000
	portAuth        = 8001
	portOrder1      = 8002
	portOrder2      = 8012
	portPayment1    = 8003
	portPayment2    = 8013
	portFulfillment = 8004
	portBroker      = 8005
	portNATS        = 4222
	portOTLPGRPC    = 4317
)

// hostPorts are every port the stack binds on its host, for the check up
// front; metricsPort is bound on 127.0.0.1 whatever the host.
var hostPorts = map[int]string{portClickHouse: "embedded ClickHouse", portOTLPGRPC: "OTLP gRPC", 4318: "OTLP HTTP", 4319: "JSON-lines logs",
	13133: "collector health check", portQuery: "query API", portGateway: "gateway", portAuth: "auth", portOrder1: "order-1",
	portOrder2: "order-2", portPayment1: "payment-1", portPayment2: "payment-2", portFulfillment: "fulfillment",
	portBroker: "broker health", portNATS: "NATS"}

const metricsPort = 8888

// pickHost is STACKTEST_HOST, or a random loopback address other than
// 127.0.0.1 with every port free.
func pickHost(t *testing.T) string {
	if h := os.Getenv("STACKTEST_HOST"); h != "" {
		if err := portsFree(h); err != nil {
			t.Fatalf("STACKTEST_HOST=%s: %v", h, err)
		}
		return h
	}
	var err error
	for range 20 {
		h := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(250), rand.IntN(256), 1+rand.IntN(250))
		if err = portsFree(h); err == nil {
			return h
		}
	}
	t.Fatalf("no free loopback address for the stack: %v", err)
	return ""
}

func portsFree(host string) error {
	for port, what := range hostPorts {
		ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			return fmt.Errorf("port %d (%s) on %s: %w", port, what, host, err)
		}
		ln.Close()
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", metricsPort))
	if err != nil {
		return fmt.Errorf("port %d (collector metrics) on 127.0.0.1 is in use; stop `make run` or whatever holds it", metricsPort)
	}
	ln.Close()
	return nil
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
	name    string
	cmd     *exec.Cmd
	logPath string
}

func start(t *testing.T, logDir string, env []string, name, bin string, args ...string) *proc {
	t.Helper()
	logFile, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logFile.Name()}
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

// stack is the running processes and where they listen.
type stack struct {
	host  string
	logs  string
	data  string  // all-in-one's data folder
	procs []*proc // in start order
}

func (s *stack) url(port int) string { return fmt.Sprintf("http://%s:%d", s.host, port) }

func (s *stack) proc(name string) *proc {
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	panic("no process " + name)
}

func (s *stack) getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(s.url(portQuery) + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil && resp.StatusCode == 200 {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

// sql runs a query on the embedded ClickHouse and scans its one row of
// numbers into dst.
func (s *stack) sql(t *testing.T, query string, dst ...any) {
	t.Helper()
	// The engine's generated password, as any client on this machine
	// reads it from the data folder.
	password, err := os.ReadFile(filepath.Join(s.data, embedded.PasswordFileName))
	if err != nil {
		t.Fatalf("the embedded ClickHouse's password: %v", err)
	}
	req, err := http.NewRequest(http.MethodPost, s.url(portClickHouse)+"/", strings.NewReader(query))
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
	if _, err := fmt.Sscan(body.String(), dst...); err != nil {
		t.Fatalf("%s: %q", query, body.String())
	}
}

// startStack builds the binaries and starts the stack: tracehouse first,
// then the broker, payment, auth, order, fulfillment and the gateway.
func startStack(t *testing.T) *stack {
	host := pickHost(t)
	bins := t.TempDir()
	tracehouse := build(t, bins, "tracehouse", ".")
	samples := build(t, bins, "sample-services", "./sample-services")
	st := &stack{host: host, logs: t.TempDir(), data: t.TempDir()}
	t.Logf("stack on %s", host)

	at := func(port int) string { return net.JoinHostPort(host, fmt.Sprint(port)) }
	svc := func(name string, port int, args ...string) {
		args = append(args, "--listen", at(port), "--instance-id", name, "--otlp-endpoint", at(portOTLPGRPC))
		st.procs = append(st.procs, start(t, st.logs, nil, name, samples, args...))
		waitReady(t, st.url(port)+"/readyz")
	}
	st.procs = append(st.procs, start(t, st.logs, []string{"TRACEHOUSE_LISTEN_HOST=" + host}, "tracehouse", tracehouse,
		"all-in-one", "--data", st.data, "--http", at(portQuery), "--clickhouse-listen", at(portClickHouse)))
	waitReady(t, st.url(portQuery)+"/readyz")

	natsURL := "nats://" + at(portNATS)
	payments := st.url(portPayment1) + "," + st.url(portPayment2)
	svc("broker-1", portBroker, "broker", "--nats-listen", at(portNATS), "--data", t.TempDir())
	svc("payment-1", portPayment1, "payment", "--latency-p50", "1ms", "--latency-p99", "5ms")
	svc("payment-2", portPayment2, "payment", "--latency-p50", "1ms", "--latency-p99", "5ms")
	svc("auth-1", portAuth, "auth")
	svc("order-1", portOrder1, "order", "--payment-attempts", "1", "--payment-url", payments, "--nats-url", natsURL)
	svc("order-2", portOrder2, "order", "--payment-attempts", "1", "--payment-url", payments, "--nats-url", natsURL)
	svc("fulfillment-1", portFulfillment, "fulfillment", "--nats-url", natsURL, "--max-deliveries", "3",
		"--retry-base-delay", "50ms", "--retry-max-delay", "200ms", "--latency-p50", "1ms", "--latency-p99", "5ms")
	svc("gateway-1", portGateway, "gateway", "--auth-url", st.url(portAuth), "--order-url", st.url(portOrder1)+","+st.url(portOrder2))
	return st
}

// servedRequests counts the POST /v1/orders access log lines in a log.
func servedRequests(t *testing.T, logPath string) int {
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"request served"`) && strings.Contains(line, `"http.route":"/v1/orders"`) && strings.Contains(line, `"POST"`) {
			n++
		}
	}
	return n
}

// Jaeger-shaped trace, as the query API returns it.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
		StartTime     int64  `json:"startTime"` // µs
		References    []struct {
			RefType string `json:"refType"`
			TraceID string `json:"traceID"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []jaegerTag `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string      `json:"serviceName"`
		Tags        []jaegerTag `json:"tags"`
	} `json:"processes"`
}

type jaegerTag struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

type span struct {
	id, parent, service, instance, name string
	kind                                string
	start                               time.Time
	isError                             bool
	tags                                map[string]string
	links                               int
}

func (tr jaegerTrace) spans() map[string]span {
	out := map[string]span{}
	for _, s := range tr.Spans {
		p := tr.Processes[s.ProcessID]
		sp := span{id: s.SpanID, service: p.ServiceName, name: s.OperationName, tags: map[string]string{},
			start: time.UnixMicro(s.StartTime)}
		for _, tag := range p.Tags {
			if tag.Key == "service.instance.id" {
				sp.instance = fmt.Sprint(tag.Value)
			}
		}
		for _, r := range s.References {
			switch r.RefType {
			case "CHILD_OF":
				sp.parent = r.SpanID
			case "FOLLOWS_FROM":
				sp.links++
			}
		}
		for _, tag := range s.Tags {
			sp.tags[tag.Key] = fmt.Sprint(tag.Value)
			if tag.Key == "error" && tag.Value == true {
				sp.isError = true
			}
		}
		sp.kind = sp.tags["span.kind"]
		out[sp.id] = sp
	}
	return out
}

// hasCall says whether a span of service `to` has a parent span in `from`.
func hasCall(spans map[string]span, from, to string) bool {
	return countCalls(spans, from, to) > 0
}

func countCalls(spans map[string]span, from, to string) int {
	n := 0
	for _, s := range spans {
		// A cross-service call is counted once: at the callee's span.
		if p, ok := spans[s.parent]; ok && s.service == to && p.service == from {
			n++
		}
	}
	return n
}

func named(spans map[string]span, service, name string) []span {
	var out []span
	for _, s := range spans {
		if s.service == service && s.name == name {
			out = append(out, s)
		}
	}
	return out
}

func hasName(spans map[string]span, prefix string) bool {
	for _, s := range spans {
		if strings.HasPrefix(s.name, prefix) {
			return true
		}
	}
	return false
}

// checkBrokerHop checks order → broker → fulfillment for the event on
// subject: order's PRODUCER span and, under it, fulfillment's CONSUMER
// spans (one per delivery), attributed by the messaging conventions. It
// returns the deliveries.
func checkBrokerHop(t *testing.T, traceID string, spans map[string]span, subject string) []span {
	t.Helper()
	publishes := named(spans, "order", "publish "+subject)
	if len(publishes) != 1 {
		t.Errorf("trace %s: %d %q spans in order, want 1", traceID, len(publishes), "publish "+subject)
		return nil
	}
	pub := publishes[0]
	var deliveries []span
	for _, s := range named(spans, "fulfillment", "process "+subject) {
		if s.parent == pub.id {
			deliveries = append(deliveries, s)
		}
	}
	want := map[string]string{"span.kind": "producer", "messaging.system": "nats", "messaging.destination.name": subject, "messaging.operation.type": "send"}
	for k, v := range want {
		if pub.tags[k] != v {
			t.Errorf("trace %s: publish span %s = %q, want %q", traceID, k, pub.tags[k], v)
		}
	}
	if len(deliveries) == 0 {
		t.Errorf("trace %s: no fulfillment process span under order's publish of %s (order → broker → fulfillment)", traceID, subject)
	}
	for _, d := range deliveries {
		if d.kind != "consumer" || d.tags["messaging.operation.type"] != "process" || d.tags["messaging.message.id"] != pub.tags["messaging.message.id"] ||
			d.tags["messaging.nats.message.delivery_count"] == "" || d.links != 1 {
			t.Errorf("trace %s: process span %v lacks the consumer kind, messaging attributes or its batch link", traceID, d.tags)
		}
	}
	return deliveries
}

func TestWholeStackAsSeparateProcesses(t *testing.T) {
	st := startStack(t)
	gatewayURL := st.url(portGateway)

	login := testenv.Do(t, http.MethodPost, gatewayURL+"/api/login", nil, map[string]string{"user": "ann", "password": "secret"})
	if login.Status != http.StatusOK {
		t.Fatalf("login: %d %s", login.Status, login.Body)
	}
	var token struct{ Token string }
	login.JSON(t, &token)
	authz := map[string]string{"Authorization": "Bearer " + token.Token}
	checkout := func(body map[string]any) testenv.Response {
		return testenv.Do(t, http.MethodPost, gatewayURL+"/api/checkout", authz, body)
	}

	const approved, declined, duringOutage, underLoad, loadWorkers = 4, 2, 12, 40, 4
	for i := 0; i < approved; i++ {
		if r := checkout(testenv.CheckoutBody("ann", cards.Approved)); r.Status != http.StatusCreated {
			t.Fatalf("approved checkout %d: status %d", i, r.Status)
		}
	}
	for i := 0; i < declined; i++ {
		if r := checkout(testenv.CheckoutBody("ann", cards.AlwaysDeclined)); r.Status < 400 {
			t.Fatalf("declined checkout %d: status %d, want an error", i, r.Status)
		}
	}

	// A poison message: fulfillment fails it on every delivery; after the
	// third it is in the dead-letter stream.
	testenv.SetFaults(t, st.url(portFulfillment), map[string]any{"poison_sku": "sku-poison"})
	poisonBody := testenv.CheckoutBody("ann", cards.Approved)
	poisonBody["items"] = []map[string]any{{"sku": "sku-poison", "qty": 1, "price": 3.5}}
	r := checkout(poisonBody)
	if r.Status != http.StatusCreated {
		t.Fatalf("poison checkout: %d %s", r.Status, r.Body)
	}
	var poisoned struct {
		OrderID string `json:"order_id"`
	}
	r.JSON(t, &poisoned)
	deadLetter := waitDeadLetter(t, "nats://"+net.JoinHostPort(st.host, fmt.Sprint(portNATS)), poisoned.OrderID)
	testenv.SetFaults(t, st.url(portFulfillment), map[string]any{"poison_sku": ""})

	// Load, and order-1 stopped in the middle of it (SIGTERM, as a
	// rolling restart or a scale-in does): not one checkout may fail.
	load := loadgen.DefaultConfig()
	load.Target, load.RPS, load.Concurrency, load.Duration, load.Requests = gatewayURL, 20, loadWorkers, 0, underLoad
	load.Mix = loadgen.Mix{loadgen.KindCheckout: 1}
	type result struct {
		rep loadgen.Report
		err error
	}
	order1 := st.proc("order-1")
	servedBefore := servedRequests(t, order1.logPath)
	loadDone := make(chan result, 1)
	go func() {
		rep, err := loadgen.Run(context.Background(), load, io.Discard, io.Discard)
		loadDone <- result{rep, err}
	}()
	for deadline := time.Now().Add(time.Minute); servedRequests(t, order1.logPath) < servedBefore+5; {
		if time.Now().After(deadline) {
			t.Fatal("order-1 served fewer than 5 of the load's orders in a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
	killedAt := time.Now()
	order1.stop(t)
	res := <-loadDone
	if res.err != nil || res.rep.OK != underLoad || res.rep.Errors != 0 {
		t.Fatalf("load with order-1 stopped mid-way: %v; %d of %d ok, errors %v", res.err, res.rep.OK, underLoad, res.rep.ErrorsByKind)
	}
	if res.rep.ByInstance["order/order-1"] == 0 || res.rep.ByInstance["order/order-2"] == 0 {
		t.Errorf("loadgen saw instances %v; want both order replicas", res.rep.ByInstance)
	}
	t.Logf("load: %v", res.rep.ByInstance)

	// A payment outage: order-2's breaker opens after 3 failures and later
	// checkouts take the fallback without calling payment.
	testenv.SetFaults(t, st.url(portOrder2), map[string]any{"breaker_failure_threshold": 3})
	testenv.SetFaults(t, st.url(portPayment1), map[string]any{"outage": true})
	testenv.SetFaults(t, st.url(portPayment2), map[string]any{"outage": true})
	for i := 0; i < duringOutage; i++ {
		if r := checkout(testenv.CheckoutBody("ann", cards.Approved)); r.Status < 400 {
			t.Fatalf("checkout during the outage: status %d, want an error", r.Status)
		}
	}
	total := approved + declined + 1 + underLoad + duringOutage

	// Let fulfillment finish every event, then stop the services newest
	// first; SIGTERM flushes each one's telemetry to the collector.
	waitConsumerIdle(t, st.url(portFulfillment))
	for i := len(st.procs) - 1; i >= 1; i-- {
		st.procs[i].stop(t)
	}

	// Nothing is lost: every span and log record each process's exporters
	// had acknowledged is stored, once.
	var sentSpans, sentLogs int64
	for _, p := range st.procs[1:] {
		spans, logs := exportedCounts(t, p.logPath)
		sentSpans += spans
		sentLogs += logs
	}
	if sentSpans == 0 || sentLogs == 0 {
		t.Fatalf("services report %d spans and %d logs exported", sentSpans, sentLogs)
	}
	storedSpans, uniqueSpans := waitStored(t, st, "SELECT count(), uniqExact(TraceId, SpanId) FROM spans", sentSpans)
	storedLogs, _ := waitStored(t, st, "SELECT count(), count() FROM logs", sentLogs)
	if uniqueSpans != sentSpans || storedLogs != sentLogs {
		t.Errorf("sent %d spans and %d logs; stored %d distinct spans (%d rows) and %d logs", sentSpans, sentLogs, uniqueSpans, storedSpans, storedLogs)
	}
	for _, p := range st.procs[1:] {
		spans, logs := exportedCounts(t, p.logPath)
		frag := fmt.Sprintf(`"service.instance.id":{"stringValue":"%s"}`, p.name)
		var storedSpans, storedLogs int64
		st.sql(t, fmt.Sprintf("SELECT uniqExact(TraceId, SpanId) FROM spans WHERE position(ResourceAttributes, '%s') > 0", frag), &storedSpans)
		st.sql(t, fmt.Sprintf("SELECT count() FROM logs WHERE position(ResourceAttributes, '%s') > 0", frag), &storedLogs)
		if storedSpans != spans || storedLogs != logs {
			t.Errorf("%s exported %d spans and %d logs; stored %d and %d under its service.instance.id", p.name, spans, logs, storedSpans, storedLogs)
		}
	}
	t.Logf("services sent %d spans and %d log records; stored %d span rows (%d distinct) and %d log rows", sentSpans, sentLogs, storedSpans, uniqueSpans, storedLogs)

	// The collector batches for up to a second; wait until every checkout's
	// trace is searchable.
	search := "/api/traces?service=gateway&operation=" + url.QueryEscape("POST /api/checkout") + "&lookback=1h&limit=500"
	var found struct{ Data []jaegerTrace }
	deadline := time.Now().Add(time.Minute)
	for {
		found.Data = nil
		st.getJSON(t, search, &found)
		if len(found.Data) >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(found.Data) != total {
		t.Fatalf("found %d checkout traces, want %d", len(found.Data), total)
	}

	var declinedSeen, fallbackSeen, shipped, failedOver, gatewayAuth, gatewayOrder, orderPayment, orderFulfillment int
	servedBy := map[string]int{}
	// The broker hops the traces show, as the service map must count
	// them: publish spans per service and destination, and deliveries
	// (consumer spans under a publish) per destination and consumer, with
	// the redeliveries among them.
	publishes, deliveries, redeliveries, failedDeliveries := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	for _, summary := range found.Data {
		var full struct{ Data []jaegerTrace }
		if code := st.getJSON(t, "/api/traces/"+summary.TraceID, &full); code != 200 || len(full.Data) != 1 {
			t.Fatalf("trace %s: status %d", summary.TraceID, code)
		}
		spans := full.Data[0].spans()
		for _, s := range spans {
			if s.parent != "" {
				if _, ok := spans[s.parent]; !ok {
					t.Errorf("trace %s: span %s (%s %s) has a parent that is not in the trace", summary.TraceID, s.id, s.service, s.name)
				}
			}
			if s.instance == "" {
				t.Errorf("trace %s: span %s of %s has no service.instance.id", summary.TraceID, s.name, s.service)
			}
		}
		if !hasCall(spans, "gateway", "auth") || !hasCall(spans, "gateway", "order") {
			t.Errorf("trace %s lacks gateway → auth or gateway → order", summary.TraceID)
		}
		gatewayAuth += countCalls(spans, "gateway", "auth")
		gatewayOrder += countCalls(spans, "gateway", "order")
		orderPayment += countCalls(spans, "order", "payment")
		orderFulfillment += countCalls(spans, "order", "fulfillment")
		for _, sp := range spans {
			dest := sp.tags["messaging.destination.name"]
			switch sp.kind {
			case "producer":
				publishes[sp.service+"→"+dest]++
			case "consumer":
				if p, ok := spans[sp.parent]; ok && p.kind == "producer" {
					deliveries[p.tags["messaging.destination.name"]+"→"+sp.service]++
					if sp.isError {
						failedDeliveries[p.tags["messaging.destination.name"]+"→"+sp.service]++
					}
					if n, _ := strconv.Atoi(sp.tags["messaging.nats.message.delivery_count"]); n > 1 {
						redeliveries[p.tags["messaging.destination.name"]+"→"+sp.service]++
					}
				}
			}
		}

		// Which order replica served it, and never the stopped one after
		// it stopped.
		root := named(spans, "gateway", "POST /api/checkout")
		servers := named(spans, "order", "POST /v1/orders")
		if len(root) != 1 || len(servers) != 1 {
			t.Errorf("trace %s: %d gateway roots and %d order server spans, want 1 and 1", summary.TraceID, len(root), len(servers))
			continue
		}
		servedBy[servers[0].instance]++
		if servers[0].instance == "order-1" && root[0].start.After(killedAt) {
			t.Errorf("trace %s: order-1 served a checkout that started after it was stopped", summary.TraceID)
		}
		attempts := 0
		for _, c := range named(spans, "gateway", "POST /v1/orders") {
			if c.kind == "client" {
				attempts++
			}
		}
		if attempts > 1 {
			failedOver++
		}

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
		switch {
		case hasName(spans, "saga.compensate."):
			declinedSeen++
			if !hasError {
				t.Errorf("trace %s compensates but carries no error status", summary.TraceID)
			}
			checkBrokerHop(t, summary.TraceID, spans, messaging.SubjectOrderCancelled)
		case root[0].tags["order.id"] == poisoned.OrderID:
			deliveries := checkBrokerHop(t, summary.TraceID, spans, messaging.SubjectOrderConfirmed)
			var counts []string
			for _, d := range deliveries {
				counts = append(counts, d.tags["messaging.nats.message.delivery_count"])
				if !d.isError {
					t.Errorf("poison delivery %s is not marked failed", d.tags["messaging.nats.message.delivery_count"])
				}
			}
			slices.Sort(counts)
			if fmt.Sprint(counts) != "[1 2 3]" {
				t.Errorf("poison message trace shows deliveries %v, want [1 2 3]", counts)
			}
			if dlq := named(spans, "fulfillment", "publish "+messaging.DeadLetterPrefix+messaging.SubjectOrderConfirmed); len(dlq) != 1 || dlq[0].kind != "producer" {
				t.Errorf("poison message trace has %d dead-letter publish spans, want 1", len(dlq))
			} else if dlq[0].tags["messaging.message.id"] != deadLetter {
				t.Errorf("dead-letter span message id %q, want %q", dlq[0].tags["messaging.message.id"], deadLetter)
			}
		default:
			// An approved checkout: gateway → auth, gateway → order →
			// payment, order → broker → fulfillment, one trace.
			if len(checkBrokerHop(t, summary.TraceID, spans, messaging.SubjectOrderConfirmed)) != 1 {
				t.Errorf("trace %s: the order.confirmed event was not processed exactly once", summary.TraceID)
			}
			shipped++
		}

		// The trace's logs are joined to it and placed under its spans.
		var path struct {
			Data struct {
				Roots []pathSpan `json:"roots"`
			} `json:"data"`
		}
		st.getJSON(t, "/api/v1/traces/"+summary.TraceID, &path)
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
	t.Logf("order server spans by instance %v; %d checkouts failed over to another order replica", servedBy, failedOver)
	if servedBy["order-1"] == 0 || servedBy["order-2"] == 0 {
		t.Errorf("order server spans by instance %v, want both replicas", servedBy)
	}
	if declinedSeen < declined+duringOutage {
		t.Errorf("%d traces show the saga's compensation, want every failed checkout (%d)", declinedSeen, declined+duringOutage)
	}
	if shipped != approved+underLoad {
		t.Errorf("%d traces show an approved checkout shipped, want %d", shipped, approved+underLoad)
	}
	if fallbackSeen == 0 {
		t.Error("no trace shows the circuit breaker's fallback during the outage")
	}

	// The service map has exactly the edges of the traces, with their call
	// counts (the logins, ours and loadgen's, add gateway → auth calls
	// outside checkouts; order → fulfillment counts every delivery).
	var deps struct {
		Data []struct {
			Parent, Child string
			CallCount     int
		}
	}
	st.getJSON(t, fmt.Sprintf("/api/dependencies?endTs=%d&lookback=3600000", time.Now().Add(time.Minute).UnixMilli()), &deps)
	got := map[string]int{}
	for _, d := range deps.Data {
		got[d.Parent+"→"+d.Child] = d.CallCount
	}
	want := map[string]int{"gateway→auth": gatewayAuth + 1 + loadWorkers, "gateway→order": gatewayOrder, "order→payment": orderPayment, "order→fulfillment": orderFulfillment}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("service map edges %v, want %v", got, want)
	}
	if gatewayOrder != total {
		t.Errorf("gateway → order calls %d, want one per checkout (%d)", gatewayOrder, total)
	}

	// Tracehouse's own map draws the broker: order → order.confirmed →
	// fulfillment is a destination node between a publish edge and a
	// delivery edge, not a call, each counted as in the traces
	// (deliveries with their redeliveries); the dead letters are
	// fulfillment's publishes to dlq.order.confirmed, which nobody
	// consumes.
	var sm struct {
		Data struct {
			Edges []struct {
				Parent, Child string
				Calls         int
			}
			Destinations []struct {
				System, Name         string
				Published, Delivered int
			}
			Publishes []struct {
				Service, System, Destination string
				Calls, Errors                int
			}
			Deliveries []struct {
				System, Destination, Consumer string
				Calls, Errors, Redeliveries   int
				QueueDelay                    struct{ P50Ns, P99Ns float64 }
			}
		}
	}
	mapRange := fmt.Sprintf("start=%s&end=%s", url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)), url.QueryEscape(time.Now().Add(time.Minute).UTC().Format(time.RFC3339)))
	if code := st.getJSON(t, "/api/v1/servicemap?"+mapRange, &sm); code != 200 {
		t.Fatalf("service map: status %d", code)
	}
	calls := map[string]int{}
	for _, e := range sm.Data.Edges {
		calls[e.Parent+"→"+e.Child] = e.Calls
	}
	if want := map[string]int{"gateway→auth": gatewayAuth + 1 + loadWorkers, "gateway→order": gatewayOrder, "order→payment": orderPayment}; fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("service map calls %v, want %v (a broker hop is not a call)", calls, want)
	}
	var dests []string
	for _, d := range sm.Data.Destinations {
		dests = append(dests, d.System+":"+d.Name)
	}
	if want := []string{"nats:dlq.order.confirmed", "nats:order.cancelled", "nats:order.confirmed"}; fmt.Sprint(dests) != fmt.Sprint(want) {
		t.Errorf("service map destinations %v, want %v", dests, want)
	}
	gotPub, gotDel, gotRedel, gotFailed := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
	for _, p := range sm.Data.Publishes {
		gotPub[p.Service+"→"+p.Destination] = p.Calls
	}
	for _, d := range sm.Data.Deliveries {
		k := d.Destination + "→" + d.Consumer
		gotDel[k], gotRedel[k], gotFailed[k] = d.Calls, d.Redeliveries, d.Errors
		if d.QueueDelay.P50Ns <= 0 || d.QueueDelay.P99Ns < d.QueueDelay.P50Ns {
			t.Errorf("%s: queue delay %+v", k, d.QueueDelay)
		}
	}
	if fmt.Sprint(gotPub) != fmt.Sprint(publishes) || fmt.Sprint(gotDel) != fmt.Sprint(deliveries) || fmt.Sprint(gotRedel) != fmt.Sprint(fillZero(redeliveries, deliveries)) {
		t.Errorf("service map broker hops: publishes %v, deliveries %v, redeliveries %v; the traces show %v, %v, %v", gotPub, gotDel, gotRedel, publishes, deliveries, redeliveries)
	}
	if fmt.Sprint(gotFailed) != fmt.Sprint(fillZero(failedDeliveries, deliveries)) {
		t.Errorf("service map failed deliveries %v; the traces show %v", gotFailed, failedDeliveries)
	}
	if deliveries["order.confirmed→fulfillment"] < approved+underLoad+3 || redeliveries["order.confirmed→fulfillment"] < 2 || publishes["fulfillment→dlq.order.confirmed"] != 1 {
		t.Errorf("the traces show %v publishes and %v deliveries (%v redeliveries): want every approved order's event, the poison message's 3 deliveries and 1 dead letter", publishes, deliveries, redeliveries)
	}
	t.Logf("service map: calls %v; publishes %v; deliveries %v (redeliveries %v)", calls, gotPub, gotDel, gotRedel)
}

// fillZero gives want a 0 for every key of keys it lacks.
func fillZero(want, keys map[string]int) map[string]int {
	out := map[string]int{}
	for k := range keys {
		out[k] = want[k]
	}
	return out
}

// waitDeadLetter reads the dead-letter stream on the broker until it holds
// the order.confirmed event of orderID, and returns its message id.
func waitDeadLetter(t *testing.T, natsURL, orderID string) string {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatalf("connect to the broker: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	want := messaging.SubjectOrderConfirmed + ":" + orderID
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if stream, err := js.Stream(ctx, messaging.StreamDeadLetters); err == nil {
			if m, err := stream.GetLastMsgForSubject(ctx, messaging.DeadLetterPrefix+messaging.SubjectOrderConfirmed); err == nil &&
				m.Header.Get(jetstream.MsgIDHeader) == want {
				cancel()
				if got := m.Header.Get(messaging.HeaderDeadLetterDeliveries); got != "3" {
					t.Errorf("dead letter after %s deliveries, want 3", got)
				}
				return want
			}
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("order %s's event is not in the dead-letter stream after a minute", orderID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitConsumerIdle waits until fulfillment has no message pending or
// unacknowledged.
func waitConsumerIdle(t *testing.T, fulfillmentURL string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var info struct {
			Pending    uint64 `json:"pending"`
			AckPending int    `json:"ack_pending"`
		}
		r := testenv.Do(t, http.MethodGet, fulfillmentURL+"/admin/consumer", nil, nil)
		if r.Status == http.StatusOK {
			r.JSON(t, &info)
			if info.Pending == 0 && info.AckPending == 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("fulfillment still has work after a minute: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStored polls ClickHouse until the first number sql returns reaches
// want (the collector's queue drains asynchronously) or a minute passes.
func waitStored(t *testing.T, st *stack, sql string, want int64) (first, second int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st.sql(t, sql, &first, &second)
		if first >= want || time.Now().After(deadline) {
			return first, second
		}
		time.Sleep(250 * time.Millisecond)
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
