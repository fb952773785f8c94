package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"
)

// cellKey is one (question, layout) cell of the table.
type cellKey struct{ question, layout string }

// timings are the latencies of each cell, per pass, sorted.
type timings map[cellKey][][]time.Duration

// split is, per cell, how many statements each timed ask ran and how long
// it spent in them (every pass together).
type split map[cellKey]*stmtSamples

type stmtSamples struct {
	n     []int
	total []time.Duration
	busy  []time.Duration
	each  [][]time.Duration // by statement number: its time in each ask that ran it
}

// present are the layouts that answer q, in the table's column order.
func present(q question) []string {
	var out []string
	for _, l := range append(append([]string(nil), layouts...), lEngine) {
		if q.by[l] != nil {
			out = append(out, l)
		}
	}
	return out
}

// measure times every question on every layout: passes × rounds rounds;
// each round draws one input (a random stored trace, an operation, a
// phrase) and asks each question of each layout in turn, the layouts'
// order rotating from round to round (A B C, B C A, C A B, …) so that no
// layout always runs right after another's query or first in the round.
// One untimed round first warms the caches as on a running server.
func measure(ctx context.Context, qs []question, samples []sample, now time.Time, rounds, passes int, seed uint64, clock *stmtClock) (timings, split, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	t := timings{}
	sp := split{}
	mismatch := map[string]int{}
	round := func(r int, timed bool, pass int) error {
		in := input{s: samples[rng.IntN(len(samples))], op: orderOps[r%len(orderOps)], phrase: phrases[r%len(phrases)], now: now}
		for _, q := range qs {
			ls := present(q)
			counts := map[string]int{}
			for i := range ls {
				l := ls[(i+r)%len(ls)]
				clock.reset()
				t0 := time.Now()
				n, err := q.by[l](ctx, in)
				d := time.Since(t0)
				stmts, busy, each := clock.n, clock.busy, clock.each
				if err != nil {
					return fmt.Errorf("%s on %s: %w", q.name, l, err)
				}
				if err := q.want(n); err != nil {
					return fmt.Errorf("%s on %s (trace %s, user %s, operation %s, phrase %q): %w", q.name, l, hexID(in.s), in.s.user, in.op, in.phrase, err)
				}
				counts[l] = n
				if timed {
					k := cellKey{q.name, l}
					for len(t[k]) <= pass {
						t[k] = append(t[k], nil)
					}
					t[k][pass] = append(t[k][pass], d)
					ss := sp[k]
					if ss == nil {
						ss = &stmtSamples{}
						sp[k] = ss
					}
					ss.n = append(ss.n, stmts)
					ss.total = append(ss.total, d)
					ss.busy = append(ss.busy, busy)
					for i, d := range each {
						for len(ss.each) <= i {
							ss.each = append(ss.each, nil)
						}
						ss.each[i] = append(ss.each[i], d)
					}
				}
			}
			if c, ok := counts[lContrib]; ok && c != counts[lTracehouse] {
				mismatch[q.name]++
			}
		}
		return nil
	}
	if err := round(0, false, 0); err != nil {
		return nil, nil, err
	}
	for p := range passes {
		t0 := time.Now()
		for r := range rounds {
			if err := round(p*rounds+r, true, p); err != nil {
				return nil, nil, err
			}
		}
		fmt.Fprintf(os.Stderr, "  pass %d/%d: %d rounds in %v\n", p+1, passes, rounds, time.Since(t0).Round(time.Second))
	}
	for k := range t {
		for _, lat := range t[k] {
			slices.Sort(lat)
		}
	}
	for q, n := range mismatch {
		fmt.Fprintf(os.Stderr, "  note: %s: Tracehouse and contrib returned different counts in %d rounds\n", q, n)
	}
	return t, sp, nil
}

// percentiles returns the p50 and p99 of sorted latencies (nearest rank).
// Below 100 latencies the p99 is the slowest one: one stall of the shared
// machine decides it, which is why a pass has 100 rounds by default.
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	return lat[(len(lat)+1)/2-1], lat[min(len(lat)-1, (len(lat)*99+99)/100-1)]
}

// median of a few values (the passes).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// stat is a cell's p50 and p99 in each pass (ms) and their medians.
type stat struct {
	p50s, p99s []float64
	p50, p99   float64
}

func (t timings) stat(q, l string) (stat, bool) {
	passes, ok := t[cellKey{q, l}]
	if !ok {
		return stat{}, false
	}
	var s stat
	for _, lat := range passes {
		a, b := percentiles(lat)
		s.p50s = append(s.p50s, ms(a))
		s.p99s = append(s.p99s, ms(b))
	}
	s.p50, s.p99 = median(s.p50s), median(s.p99s)
	return s, true
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
