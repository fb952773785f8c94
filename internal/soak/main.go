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
	"errors"
	"flag"
	"fmt"
	"io"
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
)

// The modes: what runs, and what the faults hit.
const (
	// modeAllInOne is `tracehouse all-in-one`, one process; a fault is a
	// SIGKILL of it and a restart.
	modeAllInOne = "all-in-one"
	// modeGateway is `tracehouse clickhouse`, `tracehouse collector
	// --config ingest-gateway.yaml` and `tracehouse query`, three
	// processes; faults hit the engine: a SIGKILL and a restart, or a stop
	// (SIGSTOP, SIGCONT after --stop-for).
	modeGateway = "gateway"
)

// config is one soak run.
type config struct {
	mode     string        // modeAllInOne or modeGateway
	gateway  string        // the gateway's collector config (modeGateway)
	stops    int           // SIGSTOPs of the engine (modeGateway)
	stopFor  time.Duration // how long each stop lasts
	bin      string        // the tracehouse binary
	data     string        // data folder ("": a temporary one)
	duration time.Duration // of sending
	rate     int64         // items per second, per sender
	batch    int           // items per request
	inflight int           // requests in flight per sender
	shopBin  string        // sample-services, for the shop as a sender ("": no shop)
	shopRPS  float64       // the shop's load, requests/s
	kills    int           // SIGKILLs of all-in-one (of the engine in gateway mode), spread over the run
	overload time.Duration // a window at twice the rate (0: none)
	heavy    bool          // heavy 7-day log searches alongside
	extra    []string      // more all-in-one flags
	colExtra []string      // more collector flags (modeGateway)
	progress io.Writer     // what happens, as it happens
}

func main() {
	var cfg config
	flag.StringVar(&cfg.mode, "mode", modeAllInOne, "what runs: all-in-one (one process), or gateway (tracehouse clickhouse, collector --config GATEWAY-CONFIG and query, three processes)")
	flag.StringVar(&cfg.gateway, "gateway-config", "collector/configs/ingest-gateway.yaml", "the collector config of gateway mode (its receivers, health check and metrics are moved to free loopback ports)")
	flag.IntVar(&cfg.stops, "stops", 1, "gateway mode: SIGSTOPs of the engine, each lasting --stop-for, spread over the run with the kills")
	flag.DurationVar(&cfg.stopFor, "stop-for", 30*time.Second, "gateway mode: how long the engine stays stopped")
	flag.StringVar(&cfg.bin, "tracehouse", "bin/tracehouse", "the tracehouse binary to run")
	flag.StringVar(&cfg.data, "data", "", "all-in-one's data folder (default: a temporary one, removed afterwards)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Minute, "how long the senders send")
	flag.Int64Var(&cfg.rate, "rate", 1000, "items (spans or log records) per second of each of the 5 senders")
	flag.IntVar(&cfg.batch, "batch", 100, "items per request")
	flag.IntVar(&cfg.inflight, "inflight", 4, "requests each sender has in flight at most")
	flag.StringVar(&cfg.shopBin, "sample-services", "bin/sample-services", "the sample-services binary: the shop (auth, payment, order, gateway under its load generator) is a sixth sender; empty: no shop")
	flag.Float64Var(&cfg.shopRPS, "shop-rps", 20, "requests/s of the shop's load generator")
	flag.IntVar(&cfg.kills, "kills", 2, "SIGKILLs of all-in-one, or of the engine in gateway mode (each followed by a restart), spread over the run")
	flag.DurationVar(&cfg.overload, "overload", time.Minute, "a window at twice the rate, from 45% of the run (0: none)")
	flag.BoolVar(&cfg.heavy, "heavy-reads", true, "run heavy 7-day log searches through the query API all along")
	extra := flag.String("all-in-one-flags", "", "more flags for all-in-one, space-separated, e.g. '--memory-limit 1GiB'")
	colExtra := flag.String("collector-flags", "", "gateway mode: more flags for the collector, space-separated, e.g. '--config=yaml:exporters::tracehouse::timeout:5s'")
	flag.Parse()
	cfg.extra = strings.Fields(*extra)
	cfg.colExtra = strings.Fields(*colExtra)
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
	if rep.duplicates() > 0 {
		fmt.Fprintf(os.Stderr, "soak: %d rows of items stored more than once (not counting the sender's resends after a lost answer)\n", rep.duplicates())
		os.Exit(1)
	}
}

// report is what a run found.
type report struct {
	cfg    config
	rows   []row
	procs  []*process
	vis    []*visibility
	heavy  string
	faults []string
}

type row struct {
	sender *sender
	counts counts
}

// duplicates are those of the harness's own senders: the shop's SDK
// resends after a lost answer cannot be told apart (shop.go).
func (r *report) duplicates() uint64 {
	var n uint64
	for _, row := range r.rows {
		if !row.sender.sdk {
			n += row.counts.duplicates
		}
	}
	return n
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
	run := filepath.Dir(data)
	if cfg.data != "" {
		run = filepath.Join(data, "..")
	}
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, err
	}
	var token string
	var target *process // what the faults hit
	switch cfg.mode {
	case modeAllInOne:
		target = &process{name: "all-in-one", bin: cfg.bin, args: allInOneArgs(data, addrs, cfg.extra),
			ready:   []string{"http://" + addrs.query + "/readyz", "http://" + addrs.health + "/"},
			logPath: filepath.Join(run, "soak-all-in-one.log")}
		rep.procs = []*process{target}
	case modeGateway:
		var err error
		token, err = writeToken(filepath.Join(run, "ingest-token"))
		if err != nil {
			return nil, err
		}
		engine, collector, query := gatewayProcesses(cfg, data, run, addrs)
		target = engine
		rep.procs = []*process{engine, collector, query}
	default:
		return nil, fmt.Errorf("mode %q: all-in-one or gateway", cfg.mode)
	}
	defer func() {
		for _, p := range rep.procs {
			p.kill() // those still running after an error; no-op otherwise
		}
	}()
	for _, p := range rep.procs {
		rep.logf("starting %s (log: %s)", p.name, p.logPath)
		if err := p.start(ctx); err != nil {
			return nil, err
		}
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
	for _, s := range senders {
		s.token = token
	}
	otlpGRPCTraces(senders[0], grpcConn)
	otlpHTTPTraces(senders[1], addrs.otlpHTTP)
	otlpGRPCLogs(senders[2], grpcConn)
	otlpHTTPLogs(senders[3], addrs.otlpHTTP)
	jsonlLogs(senders[4], addrs.jsonl)

	var theShop *shop
	if cfg.shopBin != "" {
		rep.logf("starting the sample shop (%s) at %v requests/s", cfg.shopBin, cfg.shopRPS)
		var err error
		if theShop, err = startShop(ctx, cfg.shopBin, run, addrs.otlpGRPC, token, cfg.shopRPS); err != nil {
			return nil, err
		}
		defer theShop.stop() // after an error; a no-op once stopped
	}

	stopSending, stopNow := context.WithCancel(ctx)
	giveUp, giveUpNow := context.WithCancel(ctx)
	defer giveUpNow()
	var sending sync.WaitGroup
	for _, s := range senders {
		sending.Add(1)
		go func() { defer sending.Done(); s.run(stopSending, giveUp, cfg.inflight) }()
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
	for _, p := range rep.procs {
		go p.watchRSS(watch, 500*time.Millisecond)
	}

	// Faults on a schedule.
	start := time.Now()
	type event struct {
		at time.Duration
		do func() error
	}
	var events []event
	kill := func() error {
		down := time.Now()
		target.kill()
		if err := target.start(ctx); err != nil {
			return err
		}
		restarts.add(down, time.Now())
		rep.faults = append(rep.faults, fmt.Sprintf("SIGKILL of %s at %v, ready again %.1fs later", target.name, down.Sub(start).Round(time.Second), time.Since(down).Seconds()))
		rep.logf("SIGKILL of %s at %v; restarted", target.name, down.Sub(start).Round(time.Second))
		return nil
	}
	pause := func() error {
		down := time.Now()
		target.pause()
		rep.logf("SIGSTOP of %s at %v for %v", target.name, down.Sub(start).Round(time.Second), cfg.stopFor)
		select {
		case <-ctx.Done():
		case <-time.After(cfg.stopFor):
		}
		target.resume()
		restarts.add(down, time.Now())
		rep.faults = append(rep.faults, fmt.Sprintf("SIGSTOP of %s at %v, SIGCONT %v later", target.name, down.Sub(start).Round(time.Second), time.Since(down).Round(time.Second)))
		return nil
	}
	faults := make([]func() error, 0, cfg.kills+cfg.stops)
	for i := 0; i < cfg.kills || (cfg.mode == modeGateway && i < cfg.stops); i++ {
		if i < cfg.kills {
			faults = append(faults, kill)
		}
		if cfg.mode == modeGateway && i < cfg.stops {
			faults = append(faults, pause)
		}
	}
	for i, f := range faults {
		events = append(events, event{at: cfg.duration * time.Duration(i+1) / time.Duration(len(faults)+1), do: f})
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
	var shopErr error
	var shopSpans, shopLogs uint64
	if theShop != nil {
		// The services flush their telemetry and say what was acknowledged.
		if shopErr = theShop.stop(); shopErr == nil {
			shopSpans, shopLogs, shopErr = theShop.acknowledged()
		}
	}
	if runErr != nil {
		stopWatching()
		watching.Wait()
		return rep, runErr
	}

	// Wait until the queue has drained, then count.
	// The engine's generated password, read from the data folder as any
	// client on this machine does.
	conn, err := storage.Open(ctx, engineDSN(data, addrs.clickhouse))
	if err != nil {
		return rep, err
	}
	defer conn.Close()
	rep.logf("waiting for every acknowledged item to be stored")
	if err := waitStored(ctx, conn, senders, 5*time.Minute); err != nil {
		return rep, err
	}
	if theShop != nil && shopErr == nil {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
			tr, lg, err := countShop(ctx, conn, shopSpans, shopLogs)
			if err != nil || tr.lost+lg.lost == 0 {
				break
			}
		}
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
	if theShop != nil {
		if shopErr != nil {
			return rep, fmt.Errorf("the sample shop: %w", shopErr)
		}
		tr, lg, err := countShop(ctx, conn, shopSpans, shopLogs)
		if err != nil {
			return rep, err
		}
		rep.rows = append(rep.rows, row{sender: theShop.senders[0], counts: tr}, row{sender: theShop.senders[1], counts: lg})
	}
	conn.Close()
	rep.heavy = heavy.summary()
	// Stop in the reverse order of the start: the engine last.
	var stopErr error
	for i := len(rep.procs) - 1; i >= 0; i-- {
		stopErr = errors.Join(stopErr, rep.procs[i].stop())
	}
	return rep, stopErr
}

func (r *report) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\nsoak: %v of sending, 5 senders at %d items/s each in requests of %d (up to %d in flight)", c.duration, c.rate, c.batch, c.inflight)
	if c.overload > 0 {
		fmt.Fprintf(w, " (twice that for %v)", c.overload)
	}
	switch c.mode {
	case modeGateway:
		fmt.Fprintf(w, ", gateway mode (clickhouse, collector --config %s, query), %d SIGKILL(s) of the engine, %d SIGSTOP(s) of it for %v", c.gateway, c.kills, c.stops, c.stopFor)
	default:
		fmt.Fprintf(w, ", %d SIGKILL(s) of all-in-one", c.kills)
	}
	if len(c.extra) > 0 {
		fmt.Fprintf(w, " (flags %s)", strings.Join(c.extra, " "))
	}
	if c.heavy {
		fmt.Fprint(w, ", heavy 7-day log searches alongside")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| signal | sender | sent | acknowledged | stored | lost | duplicates | resent after a lost answer, stored twice | stored, never acknowledged | rejected |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	totals := map[string]*counts{}
	var signals []string
	for _, row := range r.rows {
		s, k := row.sender, row.counts
		sent := fmt.Sprint(k.sent)
		if s.sdk {
			sent = "—" // the SDK's spans are not numbered (shop.go)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %d | %d | %d | %d | %d |\n", s.signal, s.name, sent, k.acknowledged, k.stored, k.lost, k.duplicates, k.resentDuplicates, k.storedUnacked, k.rejected)
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
		t.resentDuplicates += k.resentDuplicates
		t.storedUnacked += k.storedUnacked
		t.rejected += k.rejected
	}
	for _, sig := range signals {
		k := totals[sig]
		fmt.Fprintf(w, "| **%s** | all | %d | %d | %d | **%d** | **%d** | %d | %d | %d |\n", sig, k.sent, k.acknowledged, k.stored, k.lost, k.duplicates, k.resentDuplicates, k.storedUnacked, k.rejected)
	}
	fmt.Fprintln(w)
	for _, p := range r.procs {
		fmt.Fprintf(w, "peak RSS of %s: %d MiB (highest VmHWM/VmRSS over %d start(s))\n", p.name, p.peak()>>20, p.starts)
	}
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
