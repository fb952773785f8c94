package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tracehouse/tracehouse/internal/freeport"
)

// addrs are the addresses of one run's processes, chosen free before the
// first start and kept across restarts, so senders never change where
// they send.
type addrs struct {
	otlpGRPC, otlpHTTP, jsonl, query, clickhouse, health, metrics string
}

func freeAddrs() (addrs, error) {
	var a addrs
	for _, p := range []*string{&a.otlpGRPC, &a.otlpHTTP, &a.jsonl, &a.query, &a.clickhouse, &a.health, &a.metrics} {
		addr, err := freeport.Addr()
		if err != nil {
			return a, err
		}
		*p = addr
	}
	return a, nil
}

// process runs one tracehouse command as its own process, restarts it
// after a kill and keeps the peak resident set of every incarnation.
type process struct {
	name    string   // what the report calls it: all-in-one, clickhouse, collector, query
	bin     string   // the tracehouse binary
	args    []string // its arguments, the command first
	env     []string // more environment variables
	ready   []string // URLs that answer 200 once it is ready
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	peakRSS uint64 // bytes, the highest VmHWM or VmRSS seen
	starts  int
	kills   int
}

// allInOneArgs are the arguments of `tracehouse all-in-one` on a's
// addresses.
func allInOneArgs(data string, a addrs, extra []string) []string {
	return append([]string{"all-in-one",
		"--data", data,
		"--http", a.query,
		"--clickhouse-listen", a.clickhouse,
		"--otlp-grpc", a.otlpGRPC,
		"--otlp-http", a.otlpHTTP,
		"--jsonl", a.jsonl,
		"--collector-health", a.health,
		"--collector-metrics", a.metrics,
	}, extra...)
}

// start launches the process and waits until every ready URL answers 200.
func (p *process) start(ctx context.Context) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
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
			return fmt.Errorf("%s exited while starting; its log: %s", p.name, p.logPath)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		all := true
		for _, u := range p.ready {
			all = all && ready(client, u)
		}
		if all {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 3 minutes; its log: %s", p.name, p.logPath)
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
func (p *process) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.kills++
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	p.sampleRSS()
	cmd.Process.Kill()
	<-exited
}

// pause is SIGSTOP: the process holds its connections and answers
// nothing until resume (SIGCONT).
func (p *process) pause() {
	p.signal(syscall.SIGSTOP)
}

func (p *process) resume() {
	p.signal(syscall.SIGCONT)
}

func (p *process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(sig)
	}
}

// stop is SIGTERM and a wait: the graceful shutdown.
func (p *process) stop() error {
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
		return fmt.Errorf("%s did not stop within 2 minutes of SIGTERM", p.name)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("%s exited with %d after SIGTERM; its log: %s", p.name, code, p.logPath)
	}
	return nil
}

// sampleRSS keeps the highest resident set of the running process: its
// VmHWM (the kernel's own peak) and VmRSS.
func (p *process) sampleRSS() {
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

func (p *process) peak() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peakRSS
}

// watchRSS samples the resident set every interval until ctx ends.
func (p *process) watchRSS(ctx context.Context, every time.Duration) {
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
