package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

func goBuild(root, out, pkg string) error {
	fmt.Fprintln(os.Stderr, "building", out)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// recConn is a connection every layout's reads go through. It counts the
// statements and the time spent in them (from the call until the rows are
// closed) on its clock. While a profiler is explaining, it writes EXPLAIN
// indexes = 1 of each statement first, run with the statement's own
// context (parameters and settings).
type recConn struct {
	driver.Conn
	prof  *profiler
	clock *stmtClock
}

func (c *recConn) Query(ctx context.Context, q string, args ...any) (driver.Rows, error) {
	c.prof.explain(ctx, c.Conn, q, args)
	t0 := time.Now()
	rows, err := c.Conn.Query(ctx, q, args...)
	if err != nil {
		c.clock.add(t0)
		return nil, err
	}
	return &timedRows{Rows: rows, clock: c.clock, t0: t0}, nil
}

func (c *recConn) QueryRow(ctx context.Context, q string, args ...any) driver.Row {
	c.prof.explain(ctx, c.Conn, q, args)
	t0 := time.Now()
	return &timedRow{Row: c.Conn.QueryRow(ctx, q, args...), clock: c.clock, t0: t0}
}

func (c *recConn) Select(ctx context.Context, dest any, q string, args ...any) error {
	c.prof.explain(ctx, c.Conn, q, args)
	defer c.clock.add(time.Now())
	return c.Conn.Select(ctx, dest, q, args...)
}

// stmtClock sums the statements one question runs and the time spent in
// them: the rest of a question's time is the client's own (building the
// statements, decoding, assembling traces). One question runs at a time.
type stmtClock struct {
	n    int
	busy time.Duration
	each []time.Duration // each statement's, in order
}

func (c *stmtClock) reset() { c.n, c.busy, c.each = 0, 0, nil }

func (c *stmtClock) add(t0 time.Time) {
	d := time.Since(t0)
	c.n++
	c.busy += d
	c.each = append(c.each, d)
}

type timedRows struct {
	driver.Rows
	clock  *stmtClock
	t0     time.Time
	closed bool
}

func (r *timedRows) Close() error {
	err := r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.clock.add(r.t0)
	}
	return err
}

type timedRow struct {
	driver.Row
	clock *stmtClock
	t0    time.Time
}

func (r *timedRow) Scan(dest ...any) error {
	defer r.clock.add(r.t0)
	return r.Row.Scan(dest...)
}

// profiler writes, for one input, each question's cost on each layout:
// the engine's system.events deltas over the question (the engine runs
// one statement at a time, so the delta is the question's own, plus the
// snapshot query and any background merge) and the plan of every
// statement it ran.
type profiler struct {
	f          *os.File
	e          *engine
	explaining bool
}

func newProfiler(dir string, e *engine, spans int) (*profiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "profile-"+human(spans)+".txt"))
	if err != nil {
		return nil, err
	}
	return &profiler{f: f, e: e}, nil
}

func (p *profiler) close() { p.f.Close() }

func (p *profiler) explain(ctx context.Context, conn driver.Conn, q string, args []any) {
	if p == nil || !p.explaining {
		return
	}
	fmt.Fprintf(p.f, "\n-- statement:\n%s\n-- EXPLAIN indexes = 1:\n", strings.TrimSpace(q))
	rows, err := conn.Query(ctx, "EXPLAIN indexes = 1 "+q, args...)
	if err != nil {
		fmt.Fprintf(p.f, "(explain failed: %v)\n", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var line string
		if rows.Scan(&line) == nil {
			fmt.Fprintln(p.f, line)
		}
	}
}

// events reads system.events.
func (p *profiler) events() (map[string]int64, error) {
	out, err := p.e.query("SELECT event, value FROM system.events")
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			m[f[0]] = v
		}
	}
	return m, nil
}

// keyEvents are printed first: what was selected and read.
var keyEvents = []string{"SelectedParts", "SelectedRanges", "SelectedMarks", "SelectedRows", "SelectedBytes",
	"ReadCompressedBytes", "CompressedReadBufferBlocks", "CompressedReadBufferBytes", "MarkCacheHits", "MarkCacheMisses",
	"UserTimeMicroseconds", "SystemTimeMicroseconds", "RealTimeMicroseconds", "OSCPUVirtualTimeMicroseconds"}

func (p *profiler) run(ctx context.Context, qs []question, in input) error {
	// What two snapshots in a row count (the snapshot query's own reads)
	// is taken off every delta.
	b0, err := p.events()
	if err != nil {
		return err
	}
	b1, err := p.events()
	if err != nil {
		return err
	}
	fmt.Fprintf(p.f, "# profile: trace %s, user %s, operation %s, phrase %q\n", hexID(in.s), in.s.user, in.op, in.phrase)
	for _, q := range qs {
		for _, l := range present(q) {
			// The events of a second run: the first (with EXPLAINs) warms
			// the caches as the timed rounds had them.
			fmt.Fprintf(p.f, "\n## %s — %s\n", q.name, l)
			p.explaining = true
			_, err := q.by[l](ctx, in)
			p.explaining = false
			if err != nil {
				return err
			}
			before, err := p.events()
			if err != nil {
				return err
			}
			if _, err := q.by[l](ctx, in); err != nil {
				return err
			}
			after, err := p.events()
			if err != nil {
				return err
			}
			var keys []string
			for k, v := range after {
				after[k] = v - (b1[k] - b0[k])
				if after[k] != before[k] {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			fmt.Fprintf(p.f, "\n-- system.events delta (one run, less a snapshot's own):\n")
			for _, k := range keyEvents {
				fmt.Fprintf(p.f, "%s=%d ", k, after[k]-before[k])
			}
			fmt.Fprintln(p.f)
			for _, k := range keys {
				if !slices.Contains(keyEvents, k) {
					fmt.Fprintf(p.f, "%s=%d ", k, after[k]-before[k])
				}
			}
			fmt.Fprintln(p.f)
		}
	}
	return nil
}
