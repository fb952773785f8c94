package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tracehouse/tracehouse/storage"
)

// The sample shop as a sixth sender: auth, payment, order and gateway
// (sample-services, each its own process, instrumented with the OTel Go
// SDK) under the shop's load generator, exporting spans and log records
// over OTLP/gRPC to the collector under test. What the collector
// acknowledged is what each service's SDK exporters returned no error
// for: a service counts it (sample-services/internal/telemetry,
// countingSpanExporter) and writes the totals in its last log line
// ("telemetry flushed") when it stops. The load generator itself sends no
// telemetry, and what it got answered is not what the collector got: a
// service's spans of one request reach the collector in the SDK's own
// batches.
//
// Shop spans have random ids, so the harness cannot tell which were
// acknowledged: lost is acknowledged − stored when positive (a lower
// bound: a span stored from a request whose answer was lost makes up for
// a lost one), duplicates are rows beyond the first of a SpanId (for
// log records, of the same time, trace, span and body). The SDK
// exporter retries a request whose answer was lost: those duplicates are
// the SDK's at-least-once, not told apart here, and are reported without
// failing the run.

// shopServices are the services the shop runs, by service.name.
var shopServices = []string{"auth", "payment", "order", "gateway"}

type shop struct {
	procs   []*process
	loadgen *exec.Cmd
	done    chan struct{}
	logPath string
	senders [2]*sender // the table's rows: traces and logs
}

// startShop starts the services, exporting to otlp (gRPC host:port) with
// token (none: ""), and the load generator at rps requests/s.
func startShop(ctx context.Context, bin, run, otlp, token string, rps float64) (*shop, error) {
	ports := map[string]string{}
	for _, name := range shopServices {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports[name] = ln.Addr().String()
		ln.Close()
	}
	var env []string
	if token != "" {
		env = append(env, "OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer "+token)
	}
	args := map[string][]string{
		"auth":    nil,
		"payment": nil,
		"order":   {"--payment-url", "http://" + ports["payment"], "--nats-url", ""},
		"gateway": {"--auth-url", "http://" + ports["auth"], "--order-url", "http://" + ports["order"]},
	}
	s := &shop{done: make(chan struct{})}
	for _, name := range shopServices {
		p := &process{name: "shop " + name, bin: bin,
			args:    append([]string{name, "--listen", ports[name], "--otlp-endpoint", otlp}, args[name]...),
			env:     env,
			ready:   []string{"http://" + ports[name] + "/readyz"},
			logPath: filepath.Join(run, "soak-shop-"+name+".log")}
		if err := p.start(ctx); err != nil {
			s.stop()
			return nil, err
		}
		s.procs = append(s.procs, p)
	}
	s.logPath = filepath.Join(run, "soak-shop-loadgen.log")
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.stop()
		return nil, err
	}
	s.loadgen = exec.Command(bin, "loadgen", "--target", "http://"+ports["gateway"], "--rps", fmt.Sprint(rps),
		"--concurrency", "4", "--duration", "24h") // until stop
	s.loadgen.Stdout, s.loadgen.Stderr = logFile, logFile
	s.loadgen.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.loadgen.Start(); err != nil {
		logFile.Close()
		s.stop()
		return nil, err
	}
	go func() { s.loadgen.Wait(); logFile.Close(); close(s.done) }()
	s.senders = [2]*sender{
		{name: "traces/shop (OTel SDK)", signal: "traces", sdk: true},
		{name: "logs/shop (OTel SDK)", signal: "logs", sdk: true},
	}
	return s, nil
}

// stop ends the load, then the services (SIGTERM: each flushes its
// telemetry and writes what was acknowledged).
func (s *shop) stop() error {
	if s.loadgen != nil && s.loadgen.Process != nil {
		s.loadgen.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.loadgen.Process.Kill()
			<-s.done
		}
	}
	var errs []string
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := s.procs[i].stop(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// acknowledged sums the services' "telemetry flushed" lines.
func (s *shop) acknowledged() (spans, logs uint64, err error) {
	for _, p := range s.procs {
		b, rerr := os.ReadFile(p.logPath)
		if rerr != nil {
			return 0, 0, rerr
		}
		found := false
		for _, line := range strings.Split(string(b), "\n") {
			var ev struct {
				Message       string `json:"message"`
				SpansExported uint64 `json:"spans_exported"`
				LogsExported  uint64 `json:"logs_exported"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Message == "telemetry flushed" {
				// One line per incarnation; a service runs once.
				spans += ev.SpansExported
				logs += ev.LogsExported
				found = true
			}
		}
		if !found {
			return 0, 0, fmt.Errorf("%s wrote no \"telemetry flushed\" line; its log: %s", p.name, p.logPath)
		}
	}
	return spans, logs, nil
}

// countShop compares what the services had acknowledged with what is
// stored.
func countShop(ctx context.Context, conn storage.Conn, ackSpans, ackLogs uint64) (traces, logs counts, err error) {
	in := "('" + strings.Join(shopServices, "','") + "')" // constants, not input
	var distinct, rows uint64
	if err := conn.QueryRow(ctx, "SELECT uniqExact(SpanId), count() FROM default.spans WHERE ServiceName IN "+in).Scan(&distinct, &rows); err != nil {
		return traces, logs, err
	}
	traces = counts{acknowledged: ackSpans, stored: distinct, duplicates: rows - distinct}
	if ackSpans > distinct {
		traces.lost = ackSpans - distinct
	}
	if err := conn.QueryRow(ctx, "SELECT uniqExact(Timestamp, TraceId, SpanId, Body), count() FROM default.logs WHERE ServiceName IN "+in).Scan(&distinct, &rows); err != nil {
		return traces, logs, err
	}
	logs = counts{acknowledged: ackLogs, stored: distinct, duplicates: rows - distinct}
	if ackLogs > distinct {
		logs.lost = ackLogs - distinct
	}
	return traces, logs, nil
}
