// Package demo is the one-command demo behind `make run`: it starts the
// Tracehouse all-in-one binary (embedded ClickHouse, collector, query API
// and UI), the four sample services as their own processes, and a gentle
// load generator; prints where everything is; and stops it all in order on
// Ctrl-C.
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
	cmd     *exec.Cmd
	exited  chan error
}

func (c Config) processes() []*process {
	rps := fmt.Sprint(c.RPS)
	return []*process{
		{name: "tracehouse", bin: c.Tracehouse, args: []string{"all-in-one", "--data", c.Data, "--tail-logs", c.tailedLogs()}, port: 8080,
			ready: "http://127.0.0.1:8080/readyz", purpose: "query API + UI"},
		{name: "payment", bin: c.Self, args: []string{"payment"}, port: 8003, ready: "http://127.0.0.1:8003/readyz", purpose: "payment service"},
		{name: "auth", bin: c.Self, args: []string{"auth"}, port: 8001, ready: "http://127.0.0.1:8001/readyz", purpose: "auth service"},
		{name: "order", bin: c.Self, args: []string{"order"}, port: 8002, ready: "http://127.0.0.1:8002/readyz", purpose: "order service"},
		{name: "gateway", bin: c.Self, args: []string{"gateway"}, port: 8000, ready: "http://127.0.0.1:8000/readyz", purpose: "gateway (public API)"},
		{name: "loadgen", bin: c.Self, args: []string{"loadgen", "--target", "http://127.0.0.1:8000", "--rps", rps,
			"--concurrency", "2", "--duration", "24h"}},
	}
}

// tailedLogs is the glob of the log files the all-in-one tails as a
// demonstration of file ingestion: the sample services' own logs (the
// JSON copy of what they also send over OTLP, plus whatever only reaches
// the file, such as a crash) and the load generator's progress lines.
// Not tracehouse.log: Tracehouse reading its own log would feed on itself.
// The records carry log.source=file and no trace ids, so the trace view
// and request path list each log line once; `-attr.log.source:file`
// leaves them out of a logs search, `attr.log.source:file` shows only them.
func (c Config) tailedLogs() string {
	return filepath.Join(c.Data, "logs", "{gateway,auth,order,payment,loadgen}.log")
}

// otherPorts are the all-in-one's ports besides the UI's, checked up front
// so a clash is reported before anything starts.
var otherPorts = map[int]string{8123: "embedded ClickHouse", 4317: "OTLP gRPC", 4318: "OTLP HTTP", 4319: "JSON-lines logs"}

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
  logs over HTTP     http://127.0.0.1:8080/api/v1/logs?q=level:error
  tailed log files   %s (attr.log.source:file in a logs search)
  gateway (shop API) http://127.0.0.1:8000  (POST /api/login, POST /api/checkout, GET /api/orders/:id)
  faults             PUT http://127.0.0.1:8003/admin/faults  {"error_rate":0.5}
  OTLP               gRPC 127.0.0.1:4317, HTTP 127.0.0.1:4318
  ClickHouse         http://127.0.0.1:8123  (data in %s)
Press Ctrl-C to stop.
`, cfg.tailedLogs(), cfg.Data)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-anyExit(started):
			return err
		}
	}
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

func anyExit(procs []*process) <-chan error {
	out := make(chan error, 1)
	for _, p := range procs {
		go func() {
			err := <-p.exited
			p.exited <- err
			select {
			case out <- err:
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
