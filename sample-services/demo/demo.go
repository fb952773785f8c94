// Package demo is the one-command demo behind `make run`: it starts the
// Tracehouse all-in-one binary (embedded ClickHouse, collector, query API
// and UI), the broker, the sample services as their own processes (order
// and payment as two replicas each) with the fulfillment worker, and a
// gentle load generator; prints where everything is; and stops it all in
// order on Ctrl-C.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// process is one child of the demo.
type process struct {
	name    string
	args    []string
	bin     string
	port    int    // checked free before start; 0 for none
	ready   string // URL answering 200 once the process serves
	purpose string
	// replicaOf names the service when this is one of its replicas: the
	// demo outlives a replica's exit while another one runs (the callers
	// fail over), so a replica can be killed to watch that.
	replicaOf string
	cmd       *exec.Cmd
	exited    chan error
}

func (c Config) processes() []*process {
	rps := fmt.Sprint(c.RPS)
	const (
		payments = "http://127.0.0.1:8003,http://127.0.0.1:8013"
		orders   = "http://127.0.0.1:8002,http://127.0.0.1:8012"
	)
	svc := func(name string, port int, purpose string, args ...string) *process {
		p := &process{name: name, bin: c.Self, args: args, port: port,
			ready: fmt.Sprintf("http://127.0.0.1:%d/readyz", port), purpose: purpose}
		if strings.Contains(purpose, "replica") {
			p.replicaOf = args[0]
		}
		return p
	}
	procs := []*process{
		{name: "tracehouse", bin: c.Tracehouse, args: []string{"all-in-one", "--data", c.Data}, port: 8080,
			ready: "http://127.0.0.1:8080/readyz", purpose: "query API + UI"},
		svc("broker", 8005, "broker health (NATS on 4222)", "broker", "--data", filepath.Join(c.Data, "broker"), "--instance-id", "broker-1"),
		svc("payment-1", 8003, "payment service, replica 1", "payment", "--instance-id", "payment-1"),
		svc("payment-2", 8013, "payment service, replica 2", "payment", "--listen", "127.0.0.1:8013", "--instance-id", "payment-2"),
		svc("auth", 8001, "auth service", "auth", "--instance-id", "auth-1"),
		svc("order-1", 8002, "order service, replica 1", "order", "--instance-id", "order-1", "--payment-url", payments),
		svc("order-2", 8012, "order service, replica 2", "order", "--listen", "127.0.0.1:8012", "--instance-id", "order-2", "--payment-url", payments),
		svc("fulfillment", 8004, "fulfillment worker", "fulfillment", "--instance-id", "fulfillment-1"),
		svc("gateway", 8000, "gateway (public API)", "gateway", "--instance-id", "gateway-1", "--order-url", orders),
		{name: "loadgen", bin: c.Self, args: []string{"loadgen", "--target", "http://127.0.0.1:8000", "--rps", rps,
			"--concurrency", "2", "--duration", "24h"}},
	}
	procs[0].args = append(procs[0].args, "--tail-logs", tailedLogs(c.Data, procs))
	return procs
}

// tailedLogs is the glob of the log files the all-in-one tails as a
// demonstration of file ingestion: every other process's log (the sample
// services' JSON copy of what they also send over OTLP, plus whatever only
// reaches the file, such as a crash, and the load generator's progress).
// Not tracehouse.log: Tracehouse reading its own log would feed on itself.
// The records carry log.source=file and no trace ids, so the trace view
// and request path list each log line once; `-attr.log.source:file`
// leaves them out of a logs search, `attr.log.source:file` shows only them.
func tailedLogs(data string, procs []*process) string {
	var names []string
	for _, p := range procs {
		if p.name != "tracehouse" {
			names = append(names, p.name)
		}
	}
	return filepath.Join(data, "logs", "{"+strings.Join(names, ",")+"}.log")
}

// clickHousePasswordFile is where the embedded ClickHouse keeps its
// generated password in its data folder (embedded.PasswordFileName; the
// demo does not link the engine to name it).
const clickHousePasswordFile = "clickhouse.password"

// otherPorts are the ports checked up front besides the processes' own,
// so a clash is reported before anything starts.
var otherPorts = map[int]string{8123: "embedded ClickHouse", 4317: "OTLP gRPC", 4318: "OTLP HTTP", 4319: "JSON-lines logs", 4222: "NATS (broker)"}

// Run starts the demo and blocks until ctx ends, then stops every process.
func Run(ctx context.Context, cfg Config, stdout io.Writer) error {
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Minute
	}
	procs := cfg.processes()
	if cfg.RPS <= 0 {
		procs = procs[:len(procs)-1]
	}
	if err := checkPorts(procs); err != nil {
		return err
	}
	logDir := filepath.Join(cfg.Data, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	var started []*process
	defer func() { stopAll(started, stdout) }()
	for _, p := range procs {
		fmt.Fprintf(stdout, "starting %-10s (logs: %s)\n", p.name, filepath.Join(logDir, p.name+".log"))
		if err := p.start(logDir); err != nil {
			return err
		}
		started = append(started, p)
		if p.ready == "" {
			continue
		}
		if err := p.waitReady(ctx, cfg.ReadyTimeout); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, `
Tracehouse demo is running.
  UI and query API   http://127.0.0.1:8080
  logs over HTTP     http://127.0.0.1:8080/api/v1/logs?q=service:order  (level:error finds rows once a fault below is injected)
  tailed log files   %s (attr.log.source:file in a logs search)
  gateway (shop API) http://127.0.0.1:8000  (POST /api/login, POST /api/checkout, GET /api/orders/:id)
  replicas           order :8002 and :8012, payment :8003 and :8013 (X-Served-By names who answered)
  broker             nats://127.0.0.1:4222 (JetStream in %s), fulfillment worker :8004
  faults             PUT http://127.0.0.1:8003/admin/faults  {"error_rate":0.5}
                     PUT http://127.0.0.1:8004/admin/faults  {"poison_sku":"sku-fig"}  (dead letters)
  OTLP               gRPC 127.0.0.1:4317, HTTP 127.0.0.1:4318
  ClickHouse         http://127.0.0.1:8123  (user tracehouse, password in %s; data in %s)
Press Ctrl-C to stop.
`, tailedLogs(cfg.Data, procs), filepath.Join(cfg.Data, "broker"), filepath.Join(cfg.Data, clickHousePasswordFile), cfg.Data)
	running := slices.Clone(started)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ex := <-anyExit(running):
			running = slices.DeleteFunc(running, func(p *process) bool { return p == ex.p })
			if ex.p.replicaOf == "" || !slices.ContainsFunc(running, func(p *process) bool { return p.replicaOf == ex.p.replicaOf }) {
				return ex.err
			}
			fmt.Fprintf(stdout, "%v; the other %s replica takes its requests (start it again: %s %s)\n",
				ex.err, ex.p.replicaOf, ex.p.bin, strings.Join(ex.p.args, " "))
		}
	}
}

type exit struct {
	p   *process
	err error
}

func checkPorts(procs []*process) error {
	ports := map[int]string{}
	for k, v := range otherPorts {
		ports[k] = v
	}
	for _, p := range procs {
		if p.port != 0 {
			ports[p.port] = p.purpose
		}
	}
	for port, purpose := range ports {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("port %d (%s) is already in use: stop whatever holds it (`ss -ltnp | grep :%d` shows it), e.g. an earlier `make run`, and try again", port, purpose, port)
		}
		ln.Close()
	}
	return nil
}

func (p *process) start(logDir string) error {
	logFile, err := os.OpenFile(filepath.Join(logDir, p.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches us; we stop the children in order
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.exited = make(chan error, 1)
	go func() {
		err := p.cmd.Wait()
		logFile.Close()
		if err == nil {
			err = errors.New("exited")
		}
		p.exited <- fmt.Errorf("%s stopped: %w (see its log)", p.name, err)
	}()
	return nil
}

func (p *process) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(p.ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-p.exited:
			p.exited <- err
			return err
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become ready at %s within %s (see its log)", p.name, p.ready, timeout)
		}
	}
}

// anyExit reports the first of procs to exit. Each exit stays readable
// from p.exited for the next caller.
func anyExit(procs []*process) <-chan exit {
	out := make(chan exit, 1)
	for _, p := range procs {
		go func() {
			err := <-p.exited
			p.exited <- err
			select {
			case out <- exit{p, err}:
			default:
			}
		}()
	}
	return out
}

// stopAll stops the processes newest first, so load stops before the
// services and the services flush their telemetry before the collector goes.
func stopAll(procs []*process, stdout io.Writer) {
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		select {
		case <-p.exited:
			continue
		default:
		}
		fmt.Fprintf(stdout, "stopping %s\n", p.name)
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			fmt.Fprintf(stdout, "%s did not stop within 30s; killing it\n", p.name)
			p.cmd.Process.Kill()
			<-p.exited
		}
	}
}
