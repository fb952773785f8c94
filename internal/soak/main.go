// Command soak runs `tracehouse all-in-one` as a real process under load
// from senders that count exactly what was acknowledged, injects faults on
// a schedule, and prints per signal what was sent, acknowledged, stored,
// lost (acknowledged and not stored) and stored twice, with the process's
// peak resident memory and the time from acknowledgement to visible in the
// query API. Run it with `make soak` (10 minutes; SOAK_FLAGS='--duration
// 1h' for longer); internal/soak/README.md describes the run and its
// table. A short run is a test (soak_test.go) in `make test`.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

// config is one soak run.
type config struct {
	bin      string        // the tracehouse binary
	data     string        // data folder ("": a temporary one)
	duration time.Duration // of sending
	rate     int64         // items per second, per sender
	batch    int           // items per request
	kills    int           // SIGKILLs of all-in-one, spread over the run
	overload time.Duration // a window at twice the rate (0: none)
	heavy    bool          // heavy 7-day log searches alongside
	extra    []string      // more all-in-one flags
	progress io.Writer     // what happens, as it happens
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "tracehouse", "bin/tracehouse", "the tracehouse binary to run")
	flag.StringVar(&cfg.data, "data", "", "all-in-one's data folder (default: a temporary one, removed afterwards)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Minute, "how long the senders send")
	flag.Int64Var(&cfg.rate, "rate", 1000, "items (spans or log records) per second of each of the 5 senders")
	flag.IntVar(&cfg.batch, "batch", 100, "items per request")
	flag.IntVar(&cfg.kills, "kills", 2, "SIGKILLs of all-in-one (each followed by a restart), spread over the run")
	flag.DurationVar(&cfg.overload, "overload", time.Minute, "a window at twice the rate, from 45% of the run (0: none)")
	flag.BoolVar(&cfg.heavy, "heavy-reads", true, "run heavy 7-day log searches through the query API all along")
	extra := flag.String("all-in-one-flags", "", "more flags for all-in-one, space-separated, e.g. '--memory-limit 1GiB'")
	flag.Parse()
	cfg.extra = strings.Fields(*extra)
	cfg.progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if rep != nil {
		rep.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if rep.lost() > 0 {
		fmt.Fprintf(os.Stderr, "soak: %d acknowledged items were not stored\n", rep.lost())
		os.Exit(1)
	}
}

// report is what a run found.
type report struct {
	cfg     config
	rows    []row
	peakRSS uint64
	starts  int
	vis     []*visibility
	heavy   string
	faults  []string
}

type row struct {
	sender *sender
	counts counts
}

func (r *report) lost() uint64 {
	var n uint64
	for _, row := range r.rows {
		n += row.counts.lost
	}
	return n
}

func (r *report) logf(format string, args ...any) {
	if r.cfg.progress != nil {
		fmt.Fprintf(r.cfg.progress, "soak: "+format+"\n", args...)
	}
}

func run(ctx context.Context, cfg config) (*report, error) {
	rep := &report{cfg: cfg}
	data := cfg.data
	if data == "" {
		dir, err := os.MkdirTemp("", "tracehouse-soak-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		data = filepath.Join(dir, "data")
	}
	addrs, err := freeAddrs()
	if err != nil {
		return nil, err
	}
	proc := &allInOne{bin: cfg.bin, data: data, addrs: addrs, extra: cfg.extra, logPath: filepath.Join(filepath.Dir(data), "all-in-one.log")}
	if cfg.data != "" {
		proc.logPath = filepath.Join(data, "..", "soak-all-in-one.log")
	}
	rep.logf("starting %s (log: %s)", cfg.bin, proc.logPath)
	if err := proc.start(ctx); err != nil {
		return nil, err
	}

	// Senders: every signal over every transport that carries it.
	var nonceBytes [8]byte
	rand.Read(nonceBytes[:])
	nonce := binary.BigEndian.Uint64(nonceBytes[:])
	var rate atomic.Int64
	rate.Store(cfg.rate)
	grpcConn, err := grpcConn(addrs.otlpGRPC)
	if err != nil {
		return nil, err
	}
	defer grpcConn.Close()
	senders := []*sender{
		newSender("traces/otlp-grpc", "traces", 1, cfg.batch, &rate, nonce),
		newSender("traces/otlp-http", "traces", 2, cfg.batch, &rate, nonce),
		newSender("logs/otlp-grpc", "logs", 3, cfg.batch, &rate, nonce),
		newSender("logs/otlp-http", "logs", 4, cfg.batch, &rate, nonce),
		newSender("logs/jsonl", "logs", 5, cfg.batch, &rate, nonce),
	}
	otlpGRPCTraces(senders[0], grpcConn)
	otlpHTTPTraces(senders[1], addrs.otlpHTTP)
	otlpGRPCLogs(senders[2], grpcConn)
	otlpHTTPLogs(senders[3], addrs.otlpHTTP)
	jsonlLogs(senders[4], addrs.jsonl)

	stopSending, stopNow := context.WithCancel(ctx)
	giveUp, giveUpNow := context.WithCancel(ctx)
	defer giveUpNow()
	var sending sync.WaitGroup
	for _, s := range senders {
		sending.Add(1)
		go func() { defer sending.Done(); s.run(stopSending, giveUp) }()
	}

	// Alongside: heavy reads, visibility probes, the resident set.
	watch, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	var watching sync.WaitGroup
	restarts := &restartLog{}
	heavy := &heavyReads{byStatus: map[string]int{}}
	if cfg.heavy {
		watching.Add(1)
		go func() { defer watching.Done(); heavy.run(watch, addrs.query) }()
	}
	rep.vis = []*visibility{{sender: senders[0]}, {sender: senders[2]}}
	for _, v := range rep.vis {
		watching.Add(1)
		go func() { defer watching.Done(); v.run(watch, addrs.query, restarts) }()
	}
	go proc.watchRSS(watch, 500*time.Millisecond)

	// Faults on a schedule.
	start := time.Now()
	type event struct {
		at time.Duration
		do func() error
	}
	var events []event
	for i := 1; i <= cfg.kills; i++ {
		events = append(events, event{at: cfg.duration * time.Duration(i) / time.Duration(cfg.kills+1), do: func() error {
			down := time.Now()
			proc.kill()
			if err := proc.start(ctx); err != nil {
				return err
			}
			restarts.add(down, time.Now())
			rep.faults = append(rep.faults, fmt.Sprintf("SIGKILL at %v, ready again %.1fs later", down.Sub(start).Round(time.Second), time.Since(down).Seconds()))
			rep.logf("SIGKILL at %v; restarted", down.Sub(start).Round(time.Second))
			return nil
		}})
	}
	if cfg.overload > 0 {
		from := cfg.duration * 45 / 100
		events = append(events,
			event{at: from, do: func() error {
				rate.Store(2 * cfg.rate)
				rep.logf("twice the rate from %v", from)
				return nil
			}},
			event{at: from + cfg.overload, do: func() error {
				rate.Store(cfg.rate)
				rep.faults = append(rep.faults, fmt.Sprintf("twice the rate (%d items/s per sender) from %v for %v", 2*cfg.rate, from, cfg.overload))
				return nil
			}})
	}
	sort.Slice(events, func(i, j int) bool { return events[i].at < events[j].at })
	var runErr error
	for _, e := range events {
		if e.at >= cfg.duration {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(start.Add(e.at))):
		}
		if ctx.Err() != nil {
			break
		}
		if err := e.do(); err != nil {
			runErr = err
			break
		}
	}
	if runErr == nil {
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(start.Add(cfg.duration))):
		}
	}

	// Stop sending; finish the requests in flight.
	stopNow()
	rep.logf("sending stopped after %v; finishing the requests in flight", time.Since(start).Round(time.Second))
	finished := make(chan struct{})
	go func() { sending.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(3 * time.Minute):
		giveUpNow()
		<-finished
	}
	if runErr != nil {
		stopWatching()
		watching.Wait()
		return rep, runErr
	}

	// Wait until the queue has drained, then count.
	// The engine's generated password, read from the data folder as any
	// client on this machine does.
	dsn := url.URL{Scheme: "http", User: url.User(embedded.DefaultUser), Host: addrs.clickhouse, Path: "/default",
		RawQuery: "password_file=" + url.QueryEscape(filepath.Join(data, embedded.PasswordFileName))}
	conn, err := storage.Open(ctx, dsn.String())
	if err != nil {
		return rep, err
	}
	defer conn.Close()
	rep.logf("waiting for every acknowledged item to be stored")
	if err := waitStored(ctx, conn, senders, 5*time.Minute); err != nil {
		return rep, err
	}
	stopWatching()
	watching.Wait()
	for _, s := range senders {
		c, err := count(ctx, conn, s)
		if err != nil {
			return rep, err
		}
		rep.rows = append(rep.rows, row{sender: s, counts: c})
	}
	conn.Close()
	rep.heavy = heavy.summary()
	stopErr := proc.stop()
	rep.peakRSS, rep.starts = proc.peak(), proc.starts
	return rep, stopErr
}

func (r *report) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\nsoak: %v of sending, 5 senders at %d items/s each in requests of %d", c.duration, c.rate, c.batch)
	if c.overload > 0 {
		fmt.Fprintf(w, " (twice that for %v)", c.overload)
	}
	fmt.Fprintf(w, ", %d SIGKILL(s) of all-in-one", c.kills)
	if len(c.extra) > 0 {
		fmt.Fprintf(w, " (flags %s)", strings.Join(c.extra, " "))
	}
	if c.heavy {
		fmt.Fprint(w, ", heavy 7-day log searches alongside")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| signal | sender | sent | acknowledged | stored | lost | duplicates | stored, never acknowledged | rejected |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	totals := map[string]*counts{}
	var signals []string
	for _, row := range r.rows {
		s, k := row.sender, row.counts
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %d | %d |\n", s.signal, s.name, k.sent, k.acknowledged, k.stored, k.lost, k.duplicates, k.storedUnacked, k.rejected)
		t, ok := totals[s.signal]
		if !ok {
			t = &counts{}
			totals[s.signal] = t
			signals = append(signals, s.signal)
		}
		t.sent += k.sent
		t.acknowledged += k.acknowledged
		t.stored += k.stored
		t.lost += k.lost
		t.duplicates += k.duplicates
		t.storedUnacked += k.storedUnacked
		t.rejected += k.rejected
	}
	for _, sig := range signals {
		k := totals[sig]
		fmt.Fprintf(w, "| **%s** | all | %d | %d | %d | **%d** | **%d** | %d | %d |\n", sig, k.sent, k.acknowledged, k.stored, k.lost, k.duplicates, k.storedUnacked, k.rejected)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "peak RSS of all-in-one: %d MiB (highest VmHWM/VmRSS over %d start(s))\n", r.peakRSS>>20, r.starts)
	for _, v := range r.vis {
		p50, p99, n := v.percentiles()
		fmt.Fprintf(w, "acknowledged → visible in the query API, %s (%s): p50 %v, p99 %v over %d samples (%d waited for a restart and are left out, %d not visible within %v)\n",
			v.sender.signal, v.sender.name, p50.Round(time.Millisecond), p99.Round(time.Millisecond), n, v.spans, v.missed, probeTimeout)
	}
	if r.heavy != "" {
		fmt.Fprintf(w, "heavy 7-day log searches answered: %s\n", r.heavy)
	}
	if len(r.faults) > 0 {
		fmt.Fprintf(w, "faults: %s\n", strings.Join(r.faults, "; "))
	}
	for _, row := range r.rows {
		row.sender.mu.Lock()
		if len(row.sender.rejects) > 0 || row.counts.lost > 0 {
			fmt.Fprintf(w, "%s: %d attempts, last error: %s\n", row.sender.name, row.sender.attempts, row.sender.lastErr)
		}
		row.sender.mu.Unlock()
	}
}
