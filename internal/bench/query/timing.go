package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/storage/reader"
)

// measure is one query of the table.
type measure struct {
	name   string
	target string
	run    func(ctx context.Context, i int) error
	// maxRuns, when set, caps the timed runs: a raw scan that takes
	// seconds is timed a few times, not --runs times.
	maxRuns int
}

// timeRuns runs m once untimed, then times runs runs of it and returns the
// latencies sorted. The untimed run warms the caches (marks, index) as a
// running server has them.
func timeRuns(ctx context.Context, m measure, runs int) ([]time.Duration, error) {
	if m.maxRuns > 0 {
		runs = min(runs, m.maxRuns)
	}
	if err := m.run(ctx, runs); err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	lat := make([]time.Duration, 0, runs)
	for j := range runs {
		t0 := time.Now()
		if err := m.run(ctx, j); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat, nil
}

// percentiles returns the p50 and p99 of sorted latencies (nearest rank).
func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	return lat[len(lat)/2], lat[min(len(lat)-1, (len(lat)*99+99)/100-1)]
}

// measures are the rows of the latency table, each with the target it is
// held to.
func measures(svc *query.Service, store *reader.Reader, g *gen, now time.Time) []measure {
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
		// Discovery: each from the hourly summary (attributes_1h), then the
		// same answer by scanning the raw spans (what the summary saves).
		{name: "attribute keys of spans, 24h (summary)", target: "—", run: func(ctx context.Context, i int) error {
			keys, err := svc.AttributeKeys(ctx, query.AttributeQuery{Signal: "span", Scope: "attribute", Range: lastDay, Limit: 100})
			if err == nil && len(keys) == 0 {
				err = errors.New("no keys")
			}
			return err
		}},
		{name: "(same keys by scanning the spans)", target: "—", run: func(ctx context.Context, i int) error {
			_, err := store.ScanAttributeKeys(ctx, reader.AttributeKeysFilter{Signal: "span", Start: lastDay.Start, End: lastDay.End, Limit: 100})
			return err
		}},
		{name: "top values of http.route, 24h (summary)", target: "—", run: func(ctx context.Context, i int) error {
			v, err := svc.AttributeValues(ctx, query.AttributeQuery{Signal: "span", Key: "http.route", Range: lastDay, Limit: 20})
			if err == nil && len(v.Values) == 0 {
				err = errors.New("no values")
			}
			return err
		}},
		{name: "(same values by scanning the spans)", target: "—", run: func(ctx context.Context, i int) error {
			_, err := store.ScanAttributeValues(ctx, reader.AttributeValuesFilter{Signal: "span", Key: "http.route", Start: lastDay.Start, End: lastDay.End, Limit: 20})
			return err
		}},
		{name: "log patterns, last 1h (sample of 10k)", target: "—", run: func(ctx context.Context, i int) error {
			_, err := svc.Patterns(ctx, query.PatternQuery{Range: lastHour})
			return err
		}},
		{name: "(same patterns from every record of the last 1h)", target: "—", maxRuns: 3, run: func(ctx context.Context, i int) error {
			return mineEvery(ctx, store, lastHour)
		}},
		{name: "log patterns, last 24h (sample of 10k)", target: "—", run: func(ctx context.Context, i int) error {
			_, err := svc.Patterns(ctx, query.PatternQuery{Range: lastDay})
			return err
		}},
		{name: "(same patterns from every record of the last 24h)", target: "—", maxRuns: 3, run: func(ctx context.Context, i int) error {
			return mineEvery(ctx, store, lastDay)
		}},
		{name: "(same, mining a sample of 100k)", target: "—", run: func(ctx context.Context, i int) error {
			_, err := svc.Patterns(ctx, query.PatternQuery{Range: lastDay, Sample: query.MaxPatternSample})
			return err
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

// maxMineEvery bounds the records mineEvery reads into this process
// (about 300 bytes each as Go values, and the Drain tree beside them).
const maxMineEvery = 3_000_000

// errSkipped is a measure that cannot run at this size: its row says "—".
var errSkipped = errors.New("skipped")

// mineEvery is the patterns of a range mined from every record instead of
// a sample: the raw answer the sample is measured against. Bodies are read
// as the sample reads them (their first logquery.MaxPatternBody bytes).
func mineEvery(ctx context.Context, store *reader.Reader, r query.TimeRange) error {
	n, err := store.CountLogs(ctx, "", r.Start, r.End)
	if err != nil {
		return err
	}
	if n > maxMineEvery {
		return fmt.Errorf("%w: %d records, more than the %d one process mines here", errSkipped, n, maxMineEvery)
	}
	all, err := store.SampleLogs(ctx, reader.LogSampleQuery{Start: r.Start, End: r.End, Size: math.MaxInt32})
	if err != nil {
		return err
	}
	if all.Fraction != 1 {
		return fmt.Errorf("read a sample of %.3g, not every record", all.Fraction)
	}
	if res := query.MinePatterns(all, r, query.DefaultPatterns); len(res.Patterns) == 0 {
		return errors.New("no patterns")
	}
	return nil
}
