package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// addrs are the addresses of one all-in-one, chosen free before the first
// start and kept across restarts, so senders never change where they send.
type addrs struct {
	otlpGRPC, otlpHTTP, jsonl, query, clickhouse, health, metrics string
}

func freeAddrs() (addrs, error) {
	var a addrs
	for _, p := range []*string{&a.otlpGRPC, &a.otlpHTTP, &a.jsonl, &a.query, &a.clickhouse, &a.health, &a.metrics} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return a, err
		}
		*p = ln.Addr().String()
		ln.Close()
	}
	return a, nil
}

// allInOne runs `tracehouse all-in-one` as its own process, restarts it
// after a kill and keeps the peak resident set of every incarnation.
type allInOne struct {
	bin, data string
	addrs     addrs
	extra     []string // more flags
	logPath   string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	peakRSS uint64 // bytes, the highest VmHWM or VmRSS seen
	starts  int
	kills   int
}

func (p *allInOne) args() []string {
	return append([]string{"all-in-one",
		"--data", p.data,
		"--http", p.addrs.query,
		"--clickhouse-listen", p.addrs.clickhouse,
		"--otlp-grpc", p.addrs.otlpGRPC,
		"--otlp-http", p.addrs.otlpHTTP,
		"--jsonl", p.addrs.jsonl,
		"--collector-health", p.addrs.health,
		"--collector-metrics", p.addrs.metrics,
	}, p.extra...)
}

// start launches the process and waits until the query API is ready and
// the OTLP HTTP receiver answers.
func (p *allInOne) start(ctx context.Context) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args()...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// The process dies with the harness, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.starts++
	p.mu.Unlock()

	deadline := time.Now().Add(3 * time.Minute)
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-exited:
			return fmt.Errorf("all-in-one exited while starting; its log: %s", p.logPath)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if ready(client, "http://"+p.addrs.query+"/readyz") && ready(client, "http://"+p.addrs.health+"/") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("all-in-one not ready after 3 minutes; its log: %s", p.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ready(client *http.Client, url string) bool {
	res, err := client.Get(url)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// kill is SIGKILL: no shutdown, no flush, whatever was in flight.
func (p *allInOne) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.kills++
	p.mu.Unlock()
	p.sampleRSS()
	cmd.Process.Kill()
	<-exited
}

// stop is SIGTERM and a wait: the graceful shutdown.
func (p *allInOne) stop() error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	p.sampleRSS()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-exited
		return errors.New("all-in-one did not stop within 2 minutes of SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("all-in-one exited with %d after SIGTERM; its log: %s", code, p.logPath)
	}
	return nil
}

// sampleRSS keeps the highest resident set of the running process: its
// VmHWM (the kernel's own peak) and VmRSS.
func (p *allInOne) sampleRSS() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	for _, field := range []string{"VmHWM:", "VmRSS:"} {
		if v := procStatus(p.cmd.Process.Pid, field); v > p.peakRSS {
			p.peakRSS = v
		}
	}
}

func (p *allInOne) peak() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peakRSS
}

// watchRSS samples the resident set every interval until ctx ends.
func (p *allInOne) watchRSS(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.sampleRSS()
		}
	}
}

// procStatus reads a kB field of /proc/PID/status, in bytes; 0 when the
// process is gone.
func procStatus(pid int, field string) uint64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
