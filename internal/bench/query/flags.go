package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// options are the command line: what to load, how to time it.
type options struct {
	spans, logs     []int // cumulative sizes, one log count per span count
	runs, batch     int
	dataDir         string
	explain, random bool
	reuse           bool
	settle          time.Duration
	restart         bool
}

func parseFlags() (options, error) {
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

	o := options{runs: *runs, batch: *batch, dataDir: *dataDir, explain: *explain, reuse: *reuse,
		random: *random, settle: *settle, restart: *restart}
	var err error
	if o.spans, err = parseSizes(*spansFlag); err != nil {
		return o, err
	}
	if len(o.spans) == 0 {
		return o, errors.New("--spans is empty")
	}
	o.logs = o.spans
	if *logsFlag != "" {
		if o.logs, err = parseSizes(*logsFlag); err != nil {
			return o, err
		}
		if len(o.logs) != len(o.spans) {
			return o, errors.New("--logs needs one count per --spans size")
		}
	}
	if o.reuse && o.dataDir == "" {
		return o, errors.New("--reuse needs --data")
	}
	return o, nil
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
