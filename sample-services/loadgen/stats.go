package loadgen

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// histogram counts latencies in logarithmic buckets: bucket i holds values
// up to histogramFloor*histogramGrowth^i, so any quantile is within 2% of
// the true value while memory stays fixed however long the run.
type histogram struct {
	counts []uint64
	total  uint64
	max    time.Duration
}

const (
	histogramFloor  = 10 * time.Microsecond
	histogramGrowth = 1.02
	histogramCeil   = 5 * time.Minute
)

var histogramBuckets = int(math.Ceil(math.Log(float64(histogramCeil)/float64(histogramFloor))/math.Log(histogramGrowth))) + 1

func newHistogram() *histogram { return &histogram{counts: make([]uint64, histogramBuckets)} }

func (h *histogram) record(d time.Duration) {
	i := 0
	if d > histogramFloor {
		i = int(math.Ceil(math.Log(float64(d)/float64(histogramFloor)) / math.Log(histogramGrowth)))
		i = min(i, len(h.counts)-1)
	}
	h.counts[i]++
	h.total++
	h.max = max(h.max, d)
}

// quantile is the upper bound of the bucket holding quantile q (0..1),
// never above the largest value seen.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == len(h.counts)-1 { // the overflow bucket has no upper bound
				return h.max
			}
			upper := time.Duration(float64(histogramFloor) * math.Pow(histogramGrowth, float64(i)))
			return min(upper, h.max)
		}
	}
	return h.max
}

func (h *histogram) reset() {
	clear(h.counts)
	h.total, h.max = 0, 0
}

// KindStats is the outcome of one request kind.
type KindStats struct {
	Requests int
	OK       int
	Errors   int
	P50      time.Duration
	P90      time.Duration
	P99      time.Duration
	Max      time.Duration
}

// Report is the outcome of a run.
type Report struct {
	Elapsed  time.Duration
	Requests int
	OK       int
	Errors   int
	ByKind   map[string]KindStats
	// ErrorsByKind counts failures by what went wrong: the API error code
	// (card_declined, rate_limited...), http_<status> when the body had
	// none, or timeout / connection_refused / connection for no answer.
	ErrorsByKind map[string]int
	// ByInstance counts the responses each process took part in, keyed
	// "service/instance" as the X-Served-By header names them: how the
	// gateway and order spread the load over the replicas.
	ByInstance map[string]int
	P50, P99   time.Duration
}

// RPS is the achieved request rate.
func (r Report) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// recorder collects results from all workers.
type recorder struct {
	mu           sync.Mutex
	start        time.Time
	byKind       map[string]*kindRecorder
	all          *histogram
	interval     *histogram // since the last progress line
	errors       map[string]int
	instances    map[string]int
	requests     int
	lastRequests int
	lastTick     time.Time
}

type kindRecorder struct {
	requests, ok, errors int
	latency              *histogram
}

func newRecorder(start time.Time) *recorder {
	r := &recorder{
		start:     start,
		lastTick:  start,
		byKind:    map[string]*kindRecorder{},
		all:       newHistogram(),
		interval:  newHistogram(),
		errors:    map[string]int{},
		instances: map[string]int{},
	}
	for _, kind := range Kinds {
		r.byKind[kind] = &kindRecorder{latency: newHistogram()}
	}
	return r
}

// record adds one result; errKind is "" for a success, servedBy the
// X-Served-By entries of the response.
func (r *recorder) record(kind string, latency time.Duration, errKind string, servedBy []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, instance := range servedBy {
		r.instances[instance]++
	}
	k := r.byKind[kind]
	k.requests++
	k.latency.record(latency)
	r.all.record(latency)
	r.interval.record(latency)
	r.requests++
	if errKind == "" {
		k.ok++
		return
	}
	k.errors++
	r.errors[errKind]++
}

// progressLine summarises the run so far; rps and quantiles cover the time
// since the previous line, so the line shows what is happening now.
func (r *recorder) progressLine(now time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	window := now.Sub(r.lastTick).Seconds()
	rps := 0.0
	if window > 0 {
		rps = float64(r.requests-r.lastRequests) / window
	}
	line := fmt.Sprintf("[%6s] requests=%d rps=%.1f p50=%s p99=%s errors=%d%s",
		now.Sub(r.start).Truncate(time.Second), r.requests, rps,
		formatLatency(r.interval.quantile(0.50)), formatLatency(r.interval.quantile(0.99)),
		sum(r.errors), formatErrors(r.errors))
	r.lastTick, r.lastRequests = now, r.requests
	r.interval.reset()
	return line
}

func (r *recorder) report(now time.Time) Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{
		Elapsed:      now.Sub(r.start),
		Requests:     r.requests,
		ByKind:       map[string]KindStats{},
		ErrorsByKind: maps.Clone(r.errors),
		ByInstance:   maps.Clone(r.instances),
		P50:          r.all.quantile(0.50),
		P99:          r.all.quantile(0.99),
	}
	for kind, k := range r.byKind {
		rep.ByKind[kind] = KindStats{
			Requests: k.requests, OK: k.ok, Errors: k.errors,
			P50: k.latency.quantile(0.50), P90: k.latency.quantile(0.90),
			P99: k.latency.quantile(0.99), Max: k.latency.max,
		}
		rep.OK += k.ok
		rep.Errors += k.errors
	}
	return rep
}

// WriteTable prints the end-of-run summary.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "kind\trequests\tok\terrors\trps\tp50\tp90\tp99\tmax\t\n")
	for _, kind := range Kinds {
		k := r.ByKind[kind]
		if k.Requests == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t\n", kind, k.Requests, k.OK, k.Errors,
			float64(k.Requests)/r.Elapsed.Seconds(),
			formatLatency(k.P50), formatLatency(k.P90), formatLatency(k.P99), formatLatency(k.Max))
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%.1f\t%s\t\t%s\t\t\n", r.Requests, r.OK, r.Errors, r.RPS(),
		formatLatency(r.P50), formatLatency(r.P99))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "elapsed %s\n", r.Elapsed.Round(time.Millisecond))
	if len(r.ByInstance) > 0 {
		fmt.Fprintln(w, "requests by instance (X-Served-By):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		names := slices.Sorted(maps.Keys(r.ByInstance))
		for _, name := range names {
			fmt.Fprintf(tw, "  %s\t%d\n", name, r.ByInstance[name])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.ErrorsByKind) == 0 {
		_, err := fmt.Fprintln(w, "no errors")
		return err
	}
	fmt.Fprintln(w, "errors by kind:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, name := range sortedByCount(r.ErrorsByKind) {
		fmt.Fprintf(tw, "  %s\t%d\n", name, r.ErrorsByKind[name])
	}
	return tw.Flush()
}

func formatLatency(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func formatErrors(errs map[string]int) string {
	if len(errs) == 0 {
		return ""
	}
	parts := make([]string, 0, len(errs))
	for _, name := range sortedByCount(errs) {
		parts = append(parts, fmt.Sprintf("%s=%d", name, errs[name]))
	}
	return " (" + strings.Join(parts, " ") + ")"
}

func sortedByCount(m map[string]int) []string {
	names := slices.Collect(maps.Keys(m))
	slices.SortFunc(names, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return names
}

func sum(m map[string]int) int {
	total := 0
	for _, v := range m {
		total += v
	}
	return total
}
