package commands

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	model "github.com/jaegertracing/jaeger-idl/model/v1"
	"github.com/jaegertracing/jaeger-idl/proto-gen/api_v2"
	jaegerthrift "github.com/jaegertracing/jaeger-idl/thrift-gen/jaeger"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/zipkin"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// `tracehouse all-in-one` with --zipkin, --jaeger, --syslog, --fluent and
// --tail-logs, run as its own process on free ports, takes what clients
// nobody here wrote send, and the query API finds it: a Zipkin trace from
// the OTel Go SDK's Zipkin exporter and Jaeger spans from Jaeger's own
// api_v2 gRPC client and Thrift encoding, by trace id with their links,
// kinds and tags; syslog from util-linux logger and from rsyslog, Fluent
// records from the official Fluent Go client (forward mode too), by
// service:, level: and phrase; tailed file lines each once across a
// restart in the middle. Bad input to each log receiver is counted and
// the receiver goes on. (collector/*_test.go check the mappings in more
// detail on the same configuration.)
func TestAllInOneReceiversEndToEnd(t *testing.T) {
	// rsyslogd is in /usr/sbin, which a non-root PATH may leave out.
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		rsyslogd, err = exec.LookPath("/usr/sbin/rsyslogd")
	}
	if err != nil {
		t.Fatal("rsyslogd is not installed: apt-get install rsyslog (.ci/run installs it)")
	}
	if _, err := exec.LookPath("logger"); err != nil {
		t.Fatal("logger is not installed: apt-get install bsdutils (.ci/run installs it)")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	inventory := filepath.Join(logs, "inventory.log")
	appendLines(t, inventory, `{"level":"error","message":"written before Tracehouse started"}`)
	fluentsend := buildFluentSend(t)

	zipkinAddr, syslogAddr, fluentAddr := freeAddr(t), freeTCPAndUDP(t), freeAddr(t)
	jaegerGRPC, jaegerThrift := freeAddr(t), freeAddr(t)
	p := startAllInOneProcess(t, filepath.Join(dir, "data"),
		"--zipkin="+zipkinAddr, "--jaeger="+jaegerGRPC+","+jaegerThrift, "--syslog="+syslogAddr,
		"--fluent="+fluentAddr, "--tail-logs", filepath.Join(logs, "*.log"))
	runID := fmt.Sprint(time.Now().UnixNano())

	zipkinTrace := checkZipkin(t, p, zipkinAddr)
	checkJaeger(t, p, jaegerGRPC, jaegerThrift)
	checkSyslog(t, p, syslogAddr, rsyslogd, runID)
	checkFluent(t, p, fluentAddr, fluentsend, runID)
	checkFileLog(t, p, logs, inventory, runID)

	// After the restart: what was stored before is still there, and the
	// network receivers listen again.
	p.waitTrace(zipkinTrace, 3)
	logger(t, "--server", "127.0.0.1", "--port", portOf(t, syslogAddr), "--tcp", "--rfc5424",
		"--tag", "after-restart", "--priority", "user.notice", "back again run"+runID)
	p.waitLogs(`service:after-restart level:info "back again" run`+runID, 1)
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// logger runs util-linux logger(1).
func logger(t *testing.T, args ...string) {
	t.Helper()
	run(t, "", "logger", args...)
}

// buildFluentSend builds collector/internal/fluentsend: the official Fluent
// Go client, in a process of its own (its doc comment says why).
func buildFluentSend(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fluentsend")
	run(t, "../..", "go", "build", "-o", bin, "./collector/internal/fluentsend")
	return bin
}

// Zipkin: a trace from the OpenTelemetry Go SDK's Zipkin exporter (v2
// JSON), over two services, reads back through /api/traces/{id} with its
// parent/child links, span kinds, tags, status and services. It returns
// the trace id.
func checkZipkin(t *testing.T, p *allInOneProcess, addr string) string {
	send := func(service string, fn func(trace.Tracer)) {
		exp, err := zipkin.New("http://" + addr + "/api/v2/spans")
		if err != nil {
			t.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
			sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))))
		fn(tp.Tracer("e2e"))
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatalf("zipkin exporter: %v", err)
		}
	}
	var root, client, remote trace.SpanContext
	send("storefront", func(tr trace.Tracer) {
		ctx, parent := tr.Start(context.Background(), "GET /checkout", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", "GET"), attribute.Int("cart.items", 3)))
		_, call := tr.Start(ctx, "POST payments", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("peer.service", "payments")))
		call.SetStatus(codes.Error, "card declined")
		call.End()
		parent.End()
		root, client = parent.SpanContext(), call.SpanContext()
	})
	// payments continues the trace in another process.
	send("payments", func(tr trace.Tracer) {
		_, span := tr.Start(trace.ContextWithRemoteSpanContext(context.Background(), client), "charge",
			trace.WithSpanKind(trace.SpanKindServer))
		span.End()
		remote = span.SpanContext()
	})

	tr := p.waitTrace(root.TraceID().String(), 3)
	rootID, clientID, remoteID := root.SpanID().String(), client.SpanID().String(), remote.SpanID().String()
	if got := tr.parent(t, rootID); got != "" {
		t.Errorf("zipkin: the root span has parent %s", got)
	}
	if got := tr.parent(t, clientID); got != rootID {
		t.Errorf("zipkin: the client span's parent is %q, want %s", got, rootID)
	}
	if got := tr.parent(t, remoteID); got != clientID {
		t.Errorf("zipkin: the payments span's parent is %q, want the client span %s", got, clientID)
	}
	for id, want := range map[string]string{rootID: "server", clientID: "client", remoteID: "server"} {
		if got := tr.tag(t, id, "span.kind"); got != want {
			t.Errorf("zipkin: span %s: span.kind %v, want %s", id, got, want)
		}
	}
	// Zipkin tags are strings.
	if tr.tag(t, rootID, "http.request.method") != "GET" || tr.tag(t, rootID, "cart.items") != "3" ||
		tr.tag(t, clientID, "peer.service") != "payments" {
		t.Errorf("zipkin: tags %+v / %+v", tr.Spans[tr.span(t, rootID)].Tags, tr.Spans[tr.span(t, clientID)].Tags)
	}
	if tr.tag(t, clientID, "otel.status_code") != "ERROR" {
		t.Errorf("zipkin: the failed call's status is lost: %+v", tr.Spans[tr.span(t, clientID)].Tags)
	}
	if tr.service(t, rootID) != "storefront" || tr.service(t, remoteID) != "payments" {
		t.Errorf("zipkin: services %q and %q, want storefront and payments", tr.service(t, rootID), tr.service(t, remoteID))
	}
	return root.TraceID().String()
}

// Jaeger: spans sent with Jaeger's own api_v2 gRPC collector client (as
// jaeger-agent sent them) and as a Thrift batch over HTTP (Jaeger's
// generated Thrift types, Apache Thrift's binary encoding, as the Jaeger
// client libraries' HTTP sender posted them) read back with their links,
// kinds, tags and services.
func checkJaeger(t *testing.T, p *allInOneProcess, grpcAddr, thriftAddr string) {
	ids := make([]byte, 32)
	rand.Read(ids)
	traceID := model.NewTraceID(binary.BigEndian.Uint64(ids[:8]), binary.BigEndian.Uint64(ids[8:16]))
	parentID, childID := model.NewSpanID(binary.BigEndian.Uint64(ids[16:24])|1), model.NewSpanID(binary.BigEndian.Uint64(ids[24:])|1)
	now := time.Now().UTC()

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = api_v2.NewCollectorServiceClient(conn).PostSpans(ctx, &api_v2.PostSpansRequest{Batch: model.Batch{
		Process: &model.Process{ServiceName: "inventory", Tags: []model.KeyValue{model.String("hostname", "inv-1")}},
		Spans: []*model.Span{
			{TraceID: traceID, SpanID: parentID, OperationName: "GET /stock", StartTime: now, Duration: 20 * time.Millisecond,
				Tags: []model.KeyValue{model.String("span.kind", "server"), model.Int64("stock.level", 17)}},
			{TraceID: traceID, SpanID: childID, OperationName: "SELECT stock", StartTime: now.Add(time.Millisecond), Duration: 5 * time.Millisecond,
				References: []model.SpanRef{model.NewChildOfRef(traceID, parentID)},
				Tags:       []model.KeyValue{model.String("span.kind", "client"), model.String("db.system", "postgresql"), model.Bool("error", true)}},
		},
	}}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatalf("jaeger gRPC PostSpans: %v", err)
	}
	tr := p.waitTrace(traceID.String(), 2)
	if got := tr.parent(t, childID.String()); got != parentID.String() {
		t.Errorf("jaeger gRPC: the child's parent is %q, want %s", got, parentID)
	}
	if tr.tag(t, parentID.String(), "span.kind") != "server" || tr.tag(t, childID.String(), "span.kind") != "client" {
		t.Errorf("jaeger gRPC: kinds %v / %v", tr.tag(t, parentID.String(), "span.kind"), tr.tag(t, childID.String(), "span.kind"))
	}
	if tr.tag(t, parentID.String(), "stock.level") != float64(17) || tr.tag(t, childID.String(), "db.system") != "postgresql" ||
		tr.tag(t, childID.String(), "otel.status_code") != "ERROR" {
		t.Errorf("jaeger gRPC: tags %+v / %+v", tr.Spans[tr.span(t, parentID.String())].Tags, tr.Spans[tr.span(t, childID.String())].Tags)
	}
	if tr.service(t, parentID.String()) != "inventory" {
		t.Errorf("jaeger gRPC: service %q, want inventory", tr.service(t, parentID.String()))
	}

	// Thrift over HTTP: a new trace.
	rand.Read(ids)
	high, low := int64(binary.BigEndian.Uint64(ids[:8])|1), int64(binary.BigEndian.Uint64(ids[8:16]))
	rootSpan, callSpan := int64(binary.BigEndian.Uint64(ids[16:24])|1), int64(binary.BigEndian.Uint64(ids[24:])|1)
	str := func(k, v string) *jaegerthrift.Tag {
		return &jaegerthrift.Tag{Key: k, VType: jaegerthrift.TagType_STRING, VStr: thrift.StringPtr(v)}
	}
	us := now.UnixMicro()
	batch := &jaegerthrift.Batch{
		Process: &jaegerthrift.Process{ServiceName: "billing-legacy"},
		Spans: []*jaegerthrift.Span{
			{TraceIdHigh: high, TraceIdLow: low, SpanId: rootSpan, OperationName: "invoice.create", StartTime: us, Duration: 30000,
				Tags: []*jaegerthrift.Tag{str("span.kind", "server"), str("invoice.id", "INV-9")}},
			{TraceIdHigh: high, TraceIdLow: low, SpanId: callSpan, ParentSpanId: rootSpan, OperationName: "smtp.send", StartTime: us + 1000, Duration: 10000,
				Tags: []*jaegerthrift.Tag{str("span.kind", "producer")}},
		},
	}
	body, err := thrift.NewTSerializer().Write(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post("http://"+thriftAddr+"/api/traces", "application/x-thrift", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("jaeger Thrift HTTP: %s", res.Status)
	}
	thriftTrace := model.NewTraceID(uint64(high), uint64(low)).String()
	rootHex, callHex := model.NewSpanID(uint64(rootSpan)).String(), model.NewSpanID(uint64(callSpan)).String()
	tr = p.waitTrace(thriftTrace, 2)
	if got := tr.parent(t, callHex); got != rootHex {
		t.Errorf("jaeger Thrift: the child's parent is %q, want %s", got, rootHex)
	}
	if tr.tag(t, rootHex, "span.kind") != "server" || tr.tag(t, callHex, "span.kind") != "producer" || tr.tag(t, rootHex, "invoice.id") != "INV-9" {
		t.Errorf("jaeger Thrift: tags %+v / %+v", tr.Spans[tr.span(t, rootHex)].Tags, tr.Spans[tr.span(t, callHex)].Tags)
	}
	if tr.service(t, rootHex) != "billing-legacy" {
		t.Errorf("jaeger Thrift: service %q", tr.service(t, rootHex))
	}
}

// Syslog: util-linux logger straight to the port (RFC 5424 over TCP with
// structured data, RFC 3164 over UDP), and rsyslog forwarding what local
// programs log (RFC 5424 over TCP, its traditional RFC 3164 format over
// UDP). An invalid priority is stored as it came, marked and counted.
func checkSyslog(t *testing.T, p *allInOneProcess, addr, rsyslogd, runID string) {
	port := portOf(t, addr)
	// Bad input first: the receiver must go on taking good input.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "<999>1 2026-12-01T00:00:00Z host app - - - invalid priority run%s\n", runID)
	conn.Close()

	logger(t, "--server", "127.0.0.1", "--port", port, "--tcp", "--rfc5424",
		"--tag", "billing", "--id=4242", "--msgid", "CHARGE", "--priority", "local3.err",
		"--sd-id", "order@32473", "--sd-param", `id="A-17"`, "card declined for order A-17 run"+runID)
	logger(t, "--server", "127.0.0.1", "--port", port, "--udp", "--rfc3164",
		"--tag", "cron", "--priority", "cron.warning", "nightly job late run"+runID)

	rec := p.waitLogs(`service:billing level:error "card declined" run`+runID, 1)[0]
	for key, want := range map[string]any{"appname": "billing", "proc_id": "4242", "msg_id": "CHARGE",
		"facility_text": "local3", "structured_data.order@32473.id": "A-17", "log.source": "syslog"} {
		if rec.Attributes[key] != want {
			t.Errorf("syslog from logger: attribute %s = %#v, want %#v", key, rec.Attributes[key], want)
		}
	}
	p.waitLogs(`attr.structured_data.order@32473.id:A-17 run`+runID, 1)
	p.waitLogs(`service:cron level:warn "nightly job late" run`+runID, 1)
	bad := p.waitLogs(`"invalid priority" run`+runID, 1)[0]
	if bad.Attributes["log.parse_error"] == nil {
		t.Errorf("syslog: a line with an invalid priority is not marked with log.parse_error: %+v", bad)
	}
	p.waitMetric("tracehouse_logs_unparsed_records", "logfields/syslog", 1)

	// rsyslog, listening on a socket of its own, forwards to Tracehouse.
	rdir := t.TempDir()
	sock, conf := filepath.Join(rdir, "log.sock"), filepath.Join(rdir, "rsyslog.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`
global(workDirectory="%[1]s")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="%[2]s" CreatePath="on" RateLimit.Interval="0")
if $programname == "shipping" then {
  action(type="omfwd" target="127.0.0.1" port="%[3]s" protocol="tcp" template="RSYSLOG_SyslogProtocol23Format")
}
if $programname == "legacy" then {
  action(type="omfwd" target="127.0.0.1" port="%[3]s" protocol="udp")
}
`, rdir, sock, port)), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, rsyslogd, "-n", "-f", conf, "-i", filepath.Join(rdir, "rsyslogd.pid"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out.String())
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("unixgram", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not open %s: %s", sock, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	logger(t, "--socket", sock, "--tag", "shipping", "--priority", "daemon.err", "label printer jammed run"+runID)
	logger(t, "--socket", sock, "--tag", "legacy", "--priority", "local0.warning", "quota nearly full run"+runID)
	shipping := p.waitLogs(`service:shipping level:error "printer jammed" run`+runID, 1)[0]
	if shipping.Attributes["version"] != float64(1) || shipping.Attributes["facility_text"] != "daemon" {
		t.Errorf("rsyslog over TCP should arrive as RFC 5424 from daemon: %v", shipping.Attributes)
	}
	legacy := p.waitLogs(`service:legacy level:warn "quota nearly full" run`+runID, 1)[0]
	if legacy.Attributes["version"] != nil || legacy.Attributes["facility_text"] != "local0" {
		t.Errorf("rsyslog over UDP should arrive as RFC 3164 from local0: %v", legacy.Attributes)
	}
	p.waitLogs(`attr.log.source:syslog run`+runID, 5)
}

// Fluent forward: a truncated frame is counted and drops its connection;
// then the official Fluent Go client's records (two in message mode, a
// batch of five in forward mode) are found by service, level and phrase.
func checkFluent(t *testing.T, p *allInOneProcess, addr, fluentsend, runID string) {
	// A message-mode array [tag, time, record] whose record map promises
	// two entries and brings one, then the sender goes away.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{0x93, 0xa3, 'a', 'p', 'p', 0xce, 0x65, 0x00, 0x00, 0x00, 0x82, 0xa3, 'm', 's', 'g', 0xa2, 'h', 'i'})
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	conn.Read(make([]byte, 16))
	conn.Close()
	p.waitMetric("tracehouse_fluent_bad_frames", "", 1)

	run(t, "", fluentsend, "-addr", addr, "-run", runID)
	rec := p.waitLogs(`service:checkout level:error "card declined" run`+runID, 1)[0]
	if rec.Attributes["fluent.tag"] != "checkout" || rec.Attributes["kubernetes.pod_name"] != "checkout-7d9f" || rec.Attributes["log.source"] != "fluent" {
		t.Errorf("fluent: attributes %v", rec.Attributes)
	}
	p.waitLogs(`service:edge "healthz 200" run`+runID, 1)
	batch := p.waitLogs(`service:billing.worker level:info attr.log.source:fluent run`+runID, 5)
	seen := map[any]bool{}
	for _, r := range batch {
		seen[r.Attributes["invoice"]] = true
	}
	if len(seen) != 5 {
		t.Errorf("fluent: the forward-mode batch's 5 records arrived as %v", seen)
	}
	p.waitLogs(`attr.fluent.tag:billing.worker "invoice 3 sent" run`+runID, 1)
}

// File log: lines appended to a tailed file are each stored once, across a
// restart of all-in-one in the middle with lines written while it was
// down; what the file held before the first start is not imported; a
// binary file matched by the glob is dropped and counted.
func checkFileLog(t *testing.T, p *allInOneProcess, logs, inventory, runID string) {
	// 64 lines of 1 KiB of random bytes, each with a NUL: every line is
	// binary. (Random bytes with their own newlines made a line of a few
	// bytes now and then, which is text by isBinary's rule; CI stored one.)
	var junk []byte
	for range 64 {
		line := make([]byte, 1<<10)
		rand.Read(line)
		for i, b := range line {
			if b == '\n' {
				line[i] = 0
			}
		}
		line[0] = 0
		junk = append(append(junk, line...), '\n')
	}
	if err := os.WriteFile(filepath.Join(logs, "core.log"), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	line := func(i int) string {
		return fmt.Sprintf(`{"level":"warn","message":"stock low item %d run%s","item":%d}`, i, runID, i)
	}
	for i := range 10 {
		appendLines(t, inventory, line(i))
	}
	p.waitLogs(`service:inventory level:warn "stock low" run`+runID, 10)
	p.waitMetric("tracehouse_logs_binary_records_dropped", "logfields/file", 1)

	p.stop()
	for i := 10; i < 20; i++ {
		appendLines(t, inventory, line(i))
	}
	p.start()
	for i := 20; i < 30; i++ {
		appendLines(t, inventory, line(i))
	}
	recs := p.waitLogs(`service:inventory "stock low" run`+runID, 30)
	items := map[any]int{}
	for _, r := range recs {
		items[r.Attributes["item"]]++
		if r.Attributes["log.source"] != "file" || r.Attributes["log.file.path"] != inventory {
			t.Errorf("file: attributes %v", r.Attributes)
			break
		}
	}
	for i := range 30 {
		if items[float64(i)] != 1 {
			t.Errorf("file: item %d stored %d times, want once", i, items[float64(i)])
		}
	}
	if got := p.logs(`"written before Tracehouse started"`); len(got) != 0 {
		t.Errorf("file: a line already in the file at the first start was imported: %+v", got)
	}
	if got := p.logs(`service:core`); len(got) != 0 {
		t.Errorf("file: %d records of the binary file were stored", len(got))
	}
}
