// Command query measures Tracehouse's read path at scale: it loads spans
// and logs through the real write path (storage/writer Writer, large
// batches) into the embedded engine, then times the query service's
// methods (query.Service: GetTrace, FindTraces, SearchLogsPage, RED) as the
// HTTP API calls them, and prints p50/p99 per size as a markdown table.
//
//	go run ./internal/bench/query --spans 1000000,10000000 --runs 50
//
// Sizes are cumulative: the data of the first size stays and more is added
// for the next, so the last size's load dominates the run time. Data is
// written in time order, as a live collector writes it (--random-order
// spreads every batch over the day instead: late data, the worst case).
// Before timing, the bench waits for the merges the bulk load left behind
// (--settle) and restarts the engine on the data (--restart); no merge is
// forced: queries see the parts as the engine's own policy left them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/internal/bench/benchenv"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/storage/writer"
)

func main() {
	spansFlag := flag.String("spans", "1000000,10000000", "comma-separated cumulative span counts to measure at")
	logsFlag := flag.String("logs", "", "comma-separated log record counts, one per size (default: same as --spans)")
	runs := flag.Int("runs", 50, "timed runs of each query per size")
	batch := flag.Int("batch", 50_000, "spans (or log records) per WriteTraces/WriteLogs call")
	dataDir := flag.String("data", "", "data folder (default: a temporary one, removed afterwards)")
	explain := flag.Bool("explain", false, "print EXPLAIN indexes=1 of each query's SQL shape at every size")
	reuse := flag.Bool("reuse", false, "measure the data already in --data (kept from an earlier run) without loading any")
	random := flag.Bool("random-order", false, "spread every batch over the whole day (late data: every part overlaps every minute) instead of writing in time order")
	settle := flag.Duration("settle", 3*time.Minute, "after loading, wait up to this long for the engine's background merges to finish before timing (0: time at once, merges running); merges are never forced")
	restart := flag.Bool("restart", true, "restart the engine on the loaded data before timing (see benchenv.Env.Restart: right after a bulk load, the loading process reads 2-3x slower)")
	flag.Parse()

	spans, err := parseSizes(*spansFlag)
	if err == nil && len(spans) == 0 {
		err = errors.New("--spans is empty")
	}
	logs := spans
	if err == nil && *logsFlag != "" {
		logs, err = parseSizes(*logsFlag)
		if err == nil && len(logs) != len(spans) {
			err = errors.New("--logs needs one count per --spans size")
		}
	}
	if err == nil && *reuse {
		if *dataDir == "" {
			err = errors.New("--reuse needs --data")
		} else {
			err = measureExisting(*runs, *dataDir, *explain)
		}
	} else if err == nil {
		err = run(spans, logs, runOptions{runs: *runs, batch: *batch, dataDir: *dataDir, explain: *explain, random: *random, settle: *settle, restart: *restart})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/query:", err)
		os.Exit(1)
	}
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		if len(out) > 0 && n < out[len(out)-1] {
			return nil, fmt.Errorf("sizes must grow (they are cumulative): %s", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// measure is one query of the table.
type measure struct {
	name   string
	target string
	run    func(ctx context.Context, i int) error
}

type result struct {
	spans, logs int
	p50, p99    map[string]time.Duration
	bytesSpan   float64 // spans + trace_index + red/edges per span
	bytesSpan0  float64 // spans table only
	bytesLog    float64
	spanRate    float64
	logRate     float64
}

type runOptions struct {
	runs, batch     int
	dataDir         string
	explain, random bool
	settle          time.Duration
	restart         bool
}

func run(spanSizes, logSizes []int, o runOptions) error {
	runs, batch, explain := o.runs, o.batch, o.explain
	ctx := context.Background()
	env, err := benchenv.Start(ctx, o.dataDir)
	if err != nil {
		return err
	}
	defer env.Close()
	conn := env.Conn
	w := writer.NewWriter(conn, writer.Options{})
	svc, err := query.New(conn, query.Options{})
	if err != nil {
		return err
	}

	now := time.Now()
	gen := newGen(now, o.random)
	var results []result
	loadedSpans, loadedLogs := 0, 0
	for i := range spanSizes {
		fmt.Fprintf(os.Stderr, "loading spans %d → %d\n", loadedSpans, spanSizes[i])
		spanRate, err := loadSpans(ctx, w, gen, spanSizes[i]-loadedSpans, batch)
		if err != nil {
			return err
		}
		loadedSpans = spanSizes[i]
		fmt.Fprintf(os.Stderr, "loading logs %d → %d\n", loadedLogs, logSizes[i])
		logRate, err := loadLogs(ctx, w, gen, logSizes[i]-loadedLogs, batch)
		if err != nil {
			return err
		}
		loadedLogs = logSizes[i]
		if err := settleMerges(ctx, conn, o.settle); err != nil {
			return err
		}
		if o.restart {
			if err := env.Restart(ctx); err != nil {
				return err
			}
			conn = env.Conn
			w = writer.NewWriter(conn, writer.Options{})
			if svc, err = query.New(conn, query.Options{}); err != nil {
				return err
			}
		}

		r := result{spans: loadedSpans, logs: loadedLogs, spanRate: spanRate, logRate: logRate,
			p50: map[string]time.Duration{}, p99: map[string]time.Duration{}}
		if err := diskUsage(ctx, conn, &r); err != nil {
			return err
		}
		ms := measures(svc, gen, now)
		if explain {
			explainAll(ctx, conn, gen, now)
		}
		for _, m := range ms {
			// One untimed run warms the caches (marks, index) as a running
			// server has them.
			if err := m.run(ctx, runs); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			lat := make([]time.Duration, 0, runs)
			for j := range runs {
				t0 := time.Now()
				if err := m.run(ctx, j); err != nil {
					return fmt.Errorf("%s: %w", m.name, err)
				}
				lat = append(lat, time.Since(t0))
			}
			slices.Sort(lat)
			r.p50[m.name] = lat[len(lat)/2]
			r.p99[m.name] = lat[min(len(lat)-1, (len(lat)*99+99)/100-1)]
			fmt.Fprintf(os.Stderr, "  %-45s p50 %7.1f ms  p99 %7.1f ms\n", m.name, msf(r.p50[m.name]), msf(r.p99[m.name]))
		}
		results = append(results, r)
	}

	// Table.
	fmt.Printf("\n### Query latency (embedded engine, %d cores, %d runs each, no forced merges)\n\n", runtime.NumCPU(), runs)
	hdr := "| measure |"
	sep := "|---|"
	for _, r := range results {
		hdr += fmt.Sprintf(" %s p50 | %s p99 |", human(r.spans), human(r.spans))
		sep += "---|---|"
	}
	fmt.Println(hdr + " target |")
	fmt.Println(sep + "---|")
	for _, m := range measures(svc, gen, now) {
		line := "| " + m.name + " |"
		for _, r := range results {
			line += fmt.Sprintf(" %.1f ms | %.1f ms |", msf(r.p50[m.name]), msf(r.p99[m.name]))
		}
		fmt.Println(line + " " + m.target + " |")
	}
	fmt.Println()
	fmt.Println("| size | load spans/s | load logs/s | bytes/span (spans) | bytes/span (spans+trace_index+aggregates) | bytes/log |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s spans, %s logs | %.0f | %.0f | %.1f | %.1f | %.1f |\n",
			human(r.spans), human(r.logs), r.spanRate, r.logRate, r.bytesSpan0, r.bytesSpan, r.bytesLog)
	}
	return nil
}

// settleMerges waits, up to limit, until the engine has no merge running
// or queued for a few seconds in a row: a bulk load writes a day of data in
// minutes, and the merges it leaves behind would otherwise be timed along
// with the queries. It never forces a merge; parts stay as the engine's
// own policy leaves them.
func settleMerges(ctx context.Context, conn driver.Conn, limit time.Duration) error {
	if limit <= 0 {
		return nil
	}
	start, quiet := time.Now(), 0
	for time.Since(start) < limit {
		var merging uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.merges").Scan(&merging); err != nil {
			return fmt.Errorf("watch merges: %w", err)
		}
		if merging == 0 {
			if quiet++; quiet == 3 {
				fmt.Fprintf(os.Stderr, "  merges settled after %s\n", time.Since(start).Round(time.Second))
				return nil
			}
		} else {
			quiet = 0
			fmt.Fprintf(os.Stderr, "  waiting for %d merge(s) to finish (%s)\n", merging, time.Since(start).Round(time.Second))
		}
		time.Sleep(2 * time.Second)
	}
	fmt.Fprintf(os.Stderr, "  merges still running after %s: timing anyway\n", limit)
	return nil
}

// measureExisting times the queries on data left by an earlier run
// (--data without a temporary folder), sampling trace ids and users from it.
func measureExisting(runs int, dataDir string, explain bool) error {
	ctx := context.Background()
	env, err := benchenv.Start(ctx, dataDir)
	if err != nil {
		return err
	}
	defer env.Close()
	conn := env.Conn
	svc, err := query.New(conn, query.Options{})
	if err != nil {
		return err
	}
	var nSpans, nLogs uint64
	var newest time.Time
	if err := conn.QueryRow(ctx, "SELECT count(), max(Timestamp) FROM spans").Scan(&nSpans, &newest); err != nil {
		return err
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM logs").Scan(&nLogs); err != nil {
		return err
	}
	g := newGen(newest, false)
	rows, err := conn.Query(ctx, "SELECT TraceId, AttrStr['user.id'] FROM spans WHERE ServiceName = 'gateway' AND ParentSpanId = toFixedString('', 8) ORDER BY rand() LIMIT 4096")
	if err != nil {
		return err
	}
	for rows.Next() {
		var raw, user string
		if err := rows.Scan(&raw, &user); err != nil {
			return err
		}
		var id pcommon.TraceID
		copy(id[:], raw)
		g.remember(id, user)
	}
	rows.Close()
	r := result{spans: int(nSpans), logs: int(nLogs), p50: map[string]time.Duration{}, p99: map[string]time.Duration{}}
	if err := diskUsage(ctx, conn, &r); err != nil {
		return err
	}
	if explain {
		explainAll(ctx, conn, g, newest)
	}
	fmt.Printf("| measure (reused data: %s spans, %s logs) | p50 | p99 | target |\n|---|---|---|---|\n", human(r.spans), human(r.logs))
	for _, m := range measures(svc, g, newest) {
		if err := m.run(ctx, runs); err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		lat := make([]time.Duration, 0, runs)
		for j := range runs {
			t0 := time.Now()
			if err := m.run(ctx, j); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		fmt.Printf("| %s | %.1f ms | %.1f ms | %s |\n", m.name, msf(lat[len(lat)/2]), msf(lat[min(len(lat)-1, (len(lat)*99+99)/100-1)]), m.target)
	}
	return nil
}

func measures(svc *query.Service, g *gen, now time.Time) []measure {
	lastHour := query.TimeRange{Start: now.Add(-time.Hour), End: now.Add(time.Minute)}
	lastDay := query.TimeRange{Start: now.Add(-24 * time.Hour), End: now.Add(time.Minute)}
	return []measure{
		{name: "trace by id (GetTrace)", target: "p99 ≤ 15 ms", run: func(ctx context.Context, i int) error {
			id := g.sampleID(i)
			td, err := svc.GetTrace(ctx, id)
			if err != nil {
				return err
			}
			if td.SpanCount() < 5 {
				return fmt.Errorf("trace %s has %d spans", id, td.SpanCount())
			}
			return nil
		}},
		{name: "search service+operation, last 1h, limit 20 (FindTraces)", target: "p99 ≤ 50 ms", run: func(ctx context.Context, i int) error {
			op := orderOps[i%len(orderOps)]
			tds, err := svc.FindTraces(ctx, query.TraceQuery{Service: "order", Operation: op, Range: lastHour, Limit: 20})
			if err != nil {
				return err
			}
			if len(tds) == 0 {
				return fmt.Errorf("no traces for order/%s", op)
			}
			return nil
		}},
		{name: "(same search, limit 1: mostly the id search)", target: "—", run: func(ctx context.Context, i int) error {
			op := orderOps[i%len(orderOps)]
			_, err := svc.FindTraces(ctx, query.TraceQuery{Service: "order", Operation: op, Range: lastHour, Limit: 1})
			return err
		}},
		{name: "search one attribute user.id, last 24h (FindTraces)", target: "p99 ≤ 200 ms", run: func(ctx context.Context, i int) error {
			user := g.sampleUser(i)
			_, err := svc.FindTraces(ctx, query.TraceQuery{Service: "gateway", Attributes: map[string]string{"user.id": user}, Range: lastDay, Limit: 20})
			return err
		}},
		{name: "logs phrase, last 24h, limit 100 (SearchLogsPage)", target: "p99 ≤ 300 ms", run: func(ctx context.Context, i int) error {
			ph := phrases[i%len(phrases)]
			page, err := svc.SearchLogsPage(ctx, query.LogQuery{Query: `"` + ph + `"`, Range: lastDay, Limit: 100})
			if err != nil {
				return err
			}
			if len(page.Entries) == 0 {
				return fmt.Errorf("no logs for %q", ph)
			}
			return nil
		}},
		{name: "RED series, one service, 24h (RED)", target: "—", run: func(ctx context.Context, i int) error {
			s, err := svc.RED(ctx, query.REDQuery{Service: services[i%len(services)], Range: lastDay})
			if err != nil {
				return err
			}
			if len(s.Points) == 0 {
				return errors.New("no RED points")
			}
			return nil
		}},
	}
}

// explainAll prints EXPLAIN indexes=1 of the SQL shapes the service runs
// (copied from query/traces.go and query/logs.go; for reading only).
func explainAll(ctx context.Context, conn driver.Conn, g *gen, now time.Time) {
	ts := func(t time.Time) string {
		return "toDateTime64('" + t.UTC().Format("2006-01-02 15:04:05.000000000") + "', 9)"
	}
	// The search's first window is the range's newest minute (query's
	// findTraceIDs); most searches here end there.
	window, day, end := ts(now), ts(now.Add(-24*time.Hour)), ts(now.Add(time.Minute))
	qs := map[string]string{
		"service+operation": "SELECT TraceId, Timestamp FROM spans WHERE Timestamp >= " + window + " AND Timestamp <= " + end +
			" AND ServiceName = 'order' AND SpanName = 'POST /orders' ORDER BY toStartOfMinute(Timestamp) DESC, Timestamp DESC, TraceId LIMIT 1 BY TraceId LIMIT 20 SETTINGS max_threads=1",
		"attribute": "SELECT TraceId, Timestamp FROM spans WHERE Timestamp >= " + day + " AND Timestamp <= " + end +
			" AND ServiceName = 'gateway' AND has(mapValues(AttrStr), '" + g.sampleUser(0) + "') AND AttrStr['user.id'] = '" + g.sampleUser(0) +
			"' ORDER BY toStartOfMinute(Timestamp) DESC, Timestamp DESC, TraceId LIMIT 1 BY TraceId LIMIT 20 SETTINGS max_threads=1",
		"logs phrase": "SELECT Timestamp FROM logs WHERE Timestamp >= " + day + " AND Timestamp < " + end +
			" AND hasPhrase(Body, '" + phrases[0] + "') ORDER BY Timestamp DESC LIMIT 101",
	}
	for _, name := range []string{"service+operation", "attribute", "logs phrase"} {
		rows, err := conn.Query(ctx, "EXPLAIN indexes = 1 "+qs[name])
		if err != nil {
			fmt.Fprintf(os.Stderr, "explain %s: %v\n", name, err)
			continue
		}
		fmt.Fprintf(os.Stderr, "--- EXPLAIN indexes=1: %s\n", name)
		for rows.Next() {
			var line string
			if rows.Scan(&line) == nil {
				fmt.Fprintln(os.Stderr, line)
			}
		}
		rows.Close()
	}
}

func diskUsage(ctx context.Context, conn driver.Conn, r *result) error {
	var spans, spanAll, logs uint64
	err := conn.QueryRow(ctx, `SELECT
		sumIf(bytes_on_disk, table = 'spans'),
		sumIf(bytes_on_disk, table != 'logs'),
		sumIf(bytes_on_disk, table = 'logs')
	FROM system.parts WHERE active AND database = currentDatabase()`).Scan(&spans, &spanAll, &logs)
	if err != nil {
		return err
	}
	var parts uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE active AND database = currentDatabase() AND table = 'spans'").Scan(&parts); err == nil {
		fmt.Fprintf(os.Stderr, "  active parts of spans: %d\n", parts)
	}
	r.bytesSpan0 = float64(spans) / float64(r.spans)
	r.bytesSpan = float64(spanAll) / float64(r.spans)
	r.bytesLog = float64(logs) / float64(r.logs)
	return nil
}

func loadSpans(ctx context.Context, w *writer.Writer, g *gen, n, batch int) (float64, error) {
	g.sweep(n)
	return load("spans", "spans/s", "WriteTraces", n, batch, g.traces,
		func(td ptrace.Traces) error { return w.WriteTraces(ctx, td) })
}

func loadLogs(ctx context.Context, w *writer.Writer, g *gen, n, batch int) (float64, error) {
	g.sweep(n)
	return load("logs", "records/s", "WriteLogs", n, batch,
		func(k int) (plog.Logs, int) { return g.logs(k), k },
		func(ld plog.Logs) error { return w.WriteLogs(ctx, ld) })
}

// load generates and writes n items in batches, printing progress every
// ten batches, and returns items per second end to end; the progress lines
// also give the rate of write alone. generate returns a batch of about k
// items and how many it holds.
func load[T any](what, unit, call string, n, batch int, generate func(k int) (T, int), write func(T) error) (float64, error) {
	start := time.Now()
	var writeTime time.Duration
	done, calls := 0, 0
	for done < n {
		data, k := generate(min(batch, n-done))
		t0 := time.Now()
		if err := write(data); err != nil {
			return 0, err
		}
		writeTime += time.Since(t0)
		done += k
		calls++
		if calls%10 == 0 || done >= n {
			fmt.Fprintf(os.Stderr, "  %s %d/%d: %.0f %s end to end (%.0f in %s)\n",
				what, done, n, float64(done)/time.Since(start).Seconds(), unit, float64(done)/writeTime.Seconds(), call)
		}
	}
	return float64(done) / time.Since(start).Seconds(), nil
}

// ---- data generation ----

var (
	services = []string{"gateway", "auth", "order", "payment"}
	routes   = []string{"/api/orders", "/api/orders/{id}", "/api/cart", "/api/checkout", "/api/users/{id}"}
	orderOps = []string{"POST /orders", "GET /orders/{id}", "order.validate"}
	phrases  = []string{"connection reset by peer", "card declined by issuer", "token expired for user"}
	messages = []string{
		"request completed",
		"user authenticated successfully",
		"order created and queued for payment",
		"cache miss for cart, loading from database",
		"retrying upstream call after timeout",
		"payment authorised",
		"inventory reserved for order",
		"slow query detected on orders table",
	}
	rareMessages = []string{ // each about 1% of records
		"upstream payment provider: connection reset by peer",
		"charge failed: card declined by issuer",
		"authentication rejected: token expired for user",
	}
)

const users = 1_000_000

// gen makes deterministic, realistic telemetry: traces of 5–10 spans over
// gateway → auth, order → payment, spread over the last 24h with a quarter
// of them in the last hour, written in time order (or, with random, each
// batch spread over the whole day: the worst case of late data, where
// every part overlaps every minute).
type gen struct {
	rng       *rand.Rand
	now       time.Time
	ids       []pcommon.TraceID // reservoir of written trace ids
	seen      int
	userOf    map[pcommon.TraceID]string
	resources [4]pcommon.Resource

	random                bool // timestamps at random over the day instead of in time order
	sweepDone, sweepTotal int  // items made of the current sweep (see sweep)
}

func newGen(now time.Time, random bool) *gen {
	g := &gen{rng: rand.New(rand.NewPCG(1, 2)), now: now, userOf: map[pcommon.TraceID]string{}, random: random}
	for i, s := range services {
		r := pcommon.NewResource()
		a := r.Attributes()
		a.PutStr("service.name", s)
		a.PutStr("service.version", "1.4.2")
		a.PutStr("deployment.environment", "production")
		a.PutStr("host.name", fmt.Sprintf("%s-7d9f8c-%d", s, i))
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("telemetry.sdk.language", "go")
		g.resources[i] = r
	}
	return g
}

// sweep starts a load of n items (spans or log records). In time order,
// the items of a sweep cover the last 24h from the oldest to the newest,
// as a live collector writes them; sizes after the first sweep the day
// again, so their parts overlap the earlier ones.
func (g *gen) sweep(n int) { g.sweepDone, g.sweepTotal = 0, n }

// lastHourShare is the share of items in the last hour: a quarter on top
// of the even spread (three quarters over 24h), so "last hour" searches
// find plenty.
const lastHourShare = 0.25

func (g *gen) startTime() time.Time {
	if g.random {
		if g.rng.Float64() < lastHourShare {
			return g.now.Add(-time.Duration(g.rng.Int64N(int64(time.Hour))))
		}
		return g.now.Add(-time.Duration(g.rng.Int64N(int64(24 * time.Hour))))
	}
	// The same density in time order: the sweep's progress f is mapped
	// through the inverse of that distribution's CDF.
	f := float64(g.sweepDone) / float64(max(g.sweepTotal, 1))
	beforeLastHour := (1 - lastHourShare) * 23 / 24
	var t time.Time
	if f < beforeLastHour {
		t = g.now.Add(-24 * time.Hour).Add(time.Duration(f / beforeLastHour * float64(23*time.Hour)))
	} else {
		t = g.now.Add(-time.Hour).Add(time.Duration((f - beforeLastHour) / (1 - beforeLastHour) * float64(time.Hour)))
	}
	// Items arrive a little after they start; one in a hundred is late
	// by up to five minutes (a retry, a slow agent).
	late := time.Duration(g.rng.Int64N(int64(2 * time.Second)))
	if g.rng.IntN(100) == 0 {
		late = time.Duration(g.rng.Int64N(int64(5 * time.Minute)))
	}
	if t = t.Add(-late); t.After(g.now) {
		return g.now
	}
	return t
}

func (g *gen) traceID() pcommon.TraceID {
	var id pcommon.TraceID
	for i := range 2 {
		v := g.rng.Uint64()
		for j := range 8 {
			id[i*8+j] = byte(v >> (8 * j))
		}
	}
	return id
}

func (g *gen) spanID() pcommon.SpanID {
	var id pcommon.SpanID
	v := g.rng.Uint64() | 1
	for j := range 8 {
		id[j] = byte(v >> (8 * j))
	}
	return id
}

const reservoir = 4096

func (g *gen) remember(id pcommon.TraceID, user string) {
	g.seen++
	if len(g.ids) < reservoir {
		g.ids = append(g.ids, id)
		g.userOf[id] = user
		return
	}
	if j := g.rng.IntN(g.seen); j < reservoir {
		delete(g.userOf, g.ids[j])
		g.ids[j] = id
		g.userOf[id] = user
	}
}

func (g *gen) sampleID(i int) pcommon.TraceID { return g.ids[(i*7919)%len(g.ids)] }

// sampleUser is the user.id of a stored trace (so searches find something).
func (g *gen) sampleUser(i int) string { return g.userOf[g.ids[(i*104729+13)%len(g.ids)]] }

// traces returns about n spans (whole traces) and how many it made.
func (g *gen) traces(n int) (ptrace.Traces, int) {
	td := ptrace.NewTraces()
	var ss [4]ptrace.SpanSlice
	for i := range services {
		rs := td.ResourceSpans().AppendEmpty()
		g.resources[i].CopyTo(rs.Resource())
		sc := rs.ScopeSpans().AppendEmpty()
		sc.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
		sc.Scope().SetVersion("0.61.0")
		ss[i] = sc.Spans()
		ss[i].EnsureCapacity(n / 3)
	}
	made := 0
	for made < n {
		made += g.trace(ss)
	}
	return td, made
}

func (g *gen) span(s ptrace.SpanSlice, tid pcommon.TraceID, parent pcommon.SpanID, name string, kind ptrace.SpanKind, start time.Time, d time.Duration) ptrace.Span {
	sp := s.AppendEmpty()
	sp.SetTraceID(tid)
	sp.SetSpanID(g.spanID())
	sp.SetParentSpanID(parent)
	sp.SetName(name)
	sp.SetKind(kind)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(d)))
	return sp
}

// trace appends one trace of 5–10 spans and returns its span count.
func (g *gen) trace(ss [4]ptrace.SpanSlice) int {
	tid := g.traceID()
	start := g.startTime()
	user := "user-" + strconv.Itoa(g.rng.IntN(users))
	g.remember(tid, user)
	failed := g.rng.IntN(50) == 0
	total := time.Duration(20+g.rng.IntN(400)) * time.Millisecond
	route := routes[g.rng.IntN(len(routes))]
	method := "GET"
	if g.rng.IntN(3) == 0 {
		method = "POST"
	}
	count := 0
	// gateway server
	root := g.span(ss[0], tid, pcommon.SpanID{}, method+" "+route, ptrace.SpanKindServer, start, total)
	a := root.Attributes()
	a.PutStr("http.request.method", method)
	a.PutStr("http.route", route)
	a.PutStr("url.scheme", "https")
	a.PutStr("user.id", user)
	a.PutStr("client.address", fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(256), g.rng.IntN(256), g.rng.IntN(256)))
	a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36")
	status := int64(200)
	if failed {
		status = 500
		root.Status().SetCode(ptrace.StatusCodeError)
	}
	a.PutInt("http.response.status_code", status)
	count++
	// auth: client + server
	t := start.Add(time.Millisecond)
	c := g.span(ss[0], tid, root.SpanID(), "auth.Verify", ptrace.SpanKindClient, t, 5*time.Millisecond)
	c.Attributes().PutStr("rpc.system", "grpc")
	c.Attributes().PutStr("server.address", "auth")
	s := g.span(ss[1], tid, c.SpanID(), "auth.Verify", ptrace.SpanKindServer, t.Add(200*time.Microsecond), 4*time.Millisecond)
	s.Attributes().PutStr("rpc.system", "grpc")
	s.Attributes().PutStr("user.id", user)
	s.Attributes().PutBool("auth.cached", g.rng.IntN(2) == 0)
	count += 2
	// order: client + server + 0–3 internals
	t = t.Add(6 * time.Millisecond)
	op := orderOps[g.rng.IntN(len(orderOps))]
	c = g.span(ss[0], tid, root.SpanID(), op, ptrace.SpanKindClient, t, total-10*time.Millisecond)
	c.Attributes().PutStr("server.address", "order")
	osp := g.span(ss[2], tid, c.SpanID(), op, ptrace.SpanKindServer, t.Add(300*time.Microsecond), total-11*time.Millisecond)
	oa := osp.Attributes()
	oa.PutStr("order.id", "ord-"+strconv.FormatUint(g.rng.Uint64()>>20, 36))
	oa.PutStr("user.id", user)
	oa.PutInt("order.items", int64(1+g.rng.IntN(8)))
	oa.PutDouble("order.total", float64(g.rng.IntN(50000))/100)
	if failed {
		osp.Status().SetCode(ptrace.StatusCodeError)
		osp.Status().SetMessage("payment failed")
	}
	count += 2
	for k := g.rng.IntN(4); k > 0; k-- {
		d := g.span(ss[2], tid, osp.SpanID(), "SELECT orders", ptrace.SpanKindClient, t.Add(time.Millisecond), 2*time.Millisecond)
		d.Attributes().PutStr("db.system.name", "postgresql")
		d.Attributes().PutStr("db.query.text", "SELECT * FROM orders WHERE user_id = $1")
		count++
	}
	// payment: client + server, on POST
	if method == "POST" || g.rng.IntN(3) == 0 {
		pc := g.span(ss[2], tid, osp.SpanID(), "payment.Charge", ptrace.SpanKindClient, t.Add(3*time.Millisecond), total/2)
		pc.Attributes().PutStr("server.address", "payment")
		ps := g.span(ss[3], tid, pc.SpanID(), "payment.Charge", ptrace.SpanKindServer, t.Add(3200*time.Microsecond), total/2-time.Millisecond)
		ps.Attributes().PutStr("payment.method", []string{"card", "paypal", "sepa"}[g.rng.IntN(3)])
		ps.Attributes().PutDouble("payment.amount", float64(g.rng.IntN(50000))/100)
		if failed {
			ps.Status().SetCode(ptrace.StatusCodeError)
			ev := ps.Events().AppendEmpty()
			ev.SetName("exception")
			ev.SetTimestamp(pcommon.NewTimestampFromTime(t.Add(5 * time.Millisecond)))
			ev.Attributes().PutStr("exception.type", "CardDeclined")
			ev.Attributes().PutStr("exception.message", "card declined by issuer")
		}
		count += 2
	}
	g.sweepDone += count
	return count
}

// logs returns n log records spread like the spans, about 1% of them with
// each rare phrase.
func (g *gen) logs(n int) plog.Logs {
	ld := plog.NewLogs()
	var ls [4]plog.LogRecordSlice
	for i := range services {
		rl := ld.ResourceLogs().AppendEmpty()
		g.resources[i].CopyTo(rl.Resource())
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName("log/slog")
		ls[i] = sl.LogRecords()
		ls[i].EnsureCapacity(n/4 + 16)
	}
	for range n {
		g.sweepDone++
		si := g.rng.IntN(len(services))
		r := ls[si].AppendEmpty()
		ts := g.startTime()
		r.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		r.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Millisecond)))
		var body string
		switch x := g.rng.IntN(100); {
		case x < len(rareMessages):
			body = rareMessages[x]
			r.SetSeverityNumber(plog.SeverityNumberError)
			r.SetSeverityText("ERROR")
		default:
			body = messages[g.rng.IntN(len(messages))]
			r.SetSeverityNumber(plog.SeverityNumberInfo)
			r.SetSeverityText("INFO")
		}
		user := "user-" + strconv.Itoa(g.rng.IntN(users))
		r.Body().SetStr(body + " user=" + user + " latency_ms=" + strconv.Itoa(g.rng.IntN(900)))
		r.SetTraceID(g.traceID())
		r.SetSpanID(g.spanID())
		a := r.Attributes()
		a.PutStr("user.id", user)
		a.PutStr("code.function", "handle")
		a.PutInt("thread.id", int64(g.rng.IntN(64)))
	}
	return ld
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func human(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
