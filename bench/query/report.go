package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// sizeResult is what one size measured.
type sizeResult struct {
	spans, logs    int
	rounds, passes int
	t              timings
	split          split
	qs             []question
	disk           map[string]diskUse // by layout
	loadSeconds    float64
}

type diskUse struct {
	spanRows, logRows   int64
	spanBytes, logBytes int64
}

// fmtCell is "p50 / p99" in ms.
func fmtCell(s stat) string { return fmt.Sprintf("%s / %s", fmtMS(s.p50), fmtMS(s.p99)) }

func fmtMS(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}

func check(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// printSize writes the tables of one size as markdown.
func printSize(w io.Writer, r sizeResult) {
	floor, _ := r.t.stat(qFloor, lEngine)
	sel1, _ := r.t.stat(qSelect1, lEngine)
	fmt.Fprintf(w, "\n### %s spans, %s log records — p50 / p99 in ms (median of %d passes × %d rounds; ratios of those medians)\n\n",
		human(r.spans), human(r.logs), r.passes, r.rounds)
	fmt.Fprintln(w, "| question | Tracehouse | contrib | Jaeger v2 | Tracehouse ÷ contrib (p50, p99) | Tracehouse ÷ Jaeger (p50, p99) | p50 ÷ floor p50 (Tracehouse, contrib, Jaeger) | targets |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|")
	for _, q := range r.qs {
		if q.by[lEngine] != nil {
			continue
		}
		cells := map[string]stat{}
		line := "| " + q.name + " |"
		for _, l := range layouts {
			if s, ok := r.t.stat(q.name, l); ok {
				cells[l] = s
				line += " " + fmtCell(s) + " |"
			} else {
				line += " — |"
			}
		}
		th, c, j := cells[lTracehouse], cells[lContrib], cells[lJaeger]
		line += fmt.Sprintf(" %s, %s |", ratio(th.p50, c.p50), ratio(th.p99, c.p99))
		if _, ok := cells[lJaeger]; ok {
			line += fmt.Sprintf(" %s, %s |", ratio(th.p50, j.p50), ratio(th.p99, j.p99))
		} else {
			line += " — |"
		}
		var fl []string
		for _, l := range layouts {
			if s, ok := cells[l]; ok {
				fl = append(fl, ratio(s.p50, floor.p50))
			} else {
				fl = append(fl, "—")
			}
		}
		line += " " + strings.Join(fl, ", ") + " |"
		targets := []string{fmt.Sprintf("p99 ≤ ½ contrib: %s", check(th.p99 <= c.p99/2))}
		if _, ok := cells[lJaeger]; ok {
			targets = append(targets, fmt.Sprintf("p99 ≤ Jaeger: %s", check(th.p99 <= j.p99)))
		}
		if q.name == qTrace {
			targets = append(targets, fmt.Sprintf("p50 ≤ 3× floor: %s", check(th.p50 <= 3*floor.p50)))
		}
		fmt.Fprintln(w, line+" "+strings.Join(targets, "; ")+" |")
	}
	fmt.Fprintf(w, "| %s (engine) | %s | | | | | 1× | the floor |\n", qFloor, fmtCell(floor))
	fmt.Fprintf(w, "| %s (engine) | %s | | | | | %s | |\n", qSelect1, fmtCell(sel1), ratio(sel1.p50, floor.p50))

	// Every pass, so a median never hides a pass that went the other way.
	fmt.Fprintf(w, "\nEvery pass (%d rounds each): Tracehouse ÷ contrib p99, and trace by id p50 ÷ floor p50\n\n", r.rounds)
	hdr, sep := "| ratio |", "|---|"
	for p := range r.passes {
		hdr += fmt.Sprintf(" pass %d |", p+1)
		sep += "---:|"
	}
	fmt.Fprintln(w, hdr+" median |")
	fmt.Fprintln(w, sep+"---:|")
	for _, q := range r.qs {
		th, ok1 := r.t.stat(q.name, lTracehouse)
		c, ok2 := r.t.stat(q.name, lContrib)
		if !ok1 || !ok2 {
			continue
		}
		line := "| " + q.name + ", p99 |"
		var rs []float64
		for p := range r.passes {
			v := th.p99s[p] / c.p99s[p]
			rs = append(rs, v)
			line += " " + strconv.FormatFloat(v, 'f', 2, 64) + " |"
		}
		fmt.Fprintln(w, line+" "+strconv.FormatFloat(median(rs), 'f', 2, 64)+" |")
	}
	if th, ok := r.t.stat(qTrace, lTracehouse); ok {
		line := "| trace by id p50 ÷ floor p50 |"
		var rs []float64
		for p := range r.passes {
			v := th.p50s[p] / floor.p50s[p]
			rs = append(rs, v)
			line += " " + strconv.FormatFloat(v, 'f', 2, 64) + " |"
		}
		fmt.Fprintln(w, line+" "+strconv.FormatFloat(median(rs), 'f', 2, 64)+" |")
	}

	printSplit(w, r)

	fmt.Fprintln(w, "\n| layout | spans stored | bytes/span on disk (span tables) | log records stored | bytes/log on disk |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, l := range layouts {
		d, ok := r.disk[l]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", l, d.spanRows, perRow(d.spanBytes, d.spanRows), orDash(d.logRows), perRow(d.logBytes, d.logRows))
	}
}

// printSplit writes where each question's time goes, per layout: the
// statements it runs, the median time in them (from the call until the
// rows are closed: the round trip, the engine's work, the rows' decoding)
// and the median time outside them (the client's own work).
func printSplit(w io.Writer, r sizeResult) {
	if len(r.split) == 0 {
		return
	}
	fmt.Fprint(w, "\nWhere the time goes (every timed ask, median): statements run, ms in them, ms outside them\n\n")
	fmt.Fprintln(w, "| question | layout | statements | p50 | in statements | outside | each statement, in order |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|")
	for _, q := range r.qs {
		for _, l := range present(q) {
			ss := r.split[cellKey{q.name, l}]
			if ss == nil {
				continue
			}
			n := make([]float64, len(ss.n))
			total := make([]float64, len(ss.n))
			busy := make([]float64, len(ss.n))
			out := make([]float64, len(ss.n))
			for i := range ss.n {
				n[i], total[i], busy[i] = float64(ss.n[i]), ms(ss.total[i]), ms(ss.busy[i])
				out[i] = total[i] - busy[i]
			}
			// Asks of one question may run different numbers of statements
			// (a search's windows): a statement that only some asks ran
			// says in how many.
			var each []string
			for _, ds := range ss.each {
				v := make([]float64, len(ds))
				for i, d := range ds {
					v[i] = ms(d)
				}
				e := fmtMS(median(v))
				if len(ds) < len(ss.n) {
					e += fmt.Sprintf(" (%d of %d asks)", len(ds), len(ss.n))
				}
				each = append(each, e)
			}
			stmts := strconv.FormatFloat(median(n), 'f', -1, 64)
			if lo, hi := slices.Min(n), slices.Max(n); lo != hi {
				stmts += fmt.Sprintf(" (%g–%g)", lo, hi)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", q.name, l,
				stmts, fmtMS(median(total)), fmtMS(median(busy)), fmtMS(median(out)), strings.Join(each, ", "))
		}
	}
}

func perRow(b, n int64) string {
	if n == 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(b)/float64(n), 'f', 1, 64)
}

func orDash(n int64) string {
	if n == 0 {
		return "—"
	}
	return strconv.FormatInt(n, 10)
}

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
