package query

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/tracehouse/tracehouse/storage/logquery"
	"github.com/tracehouse/tracehouse/storage/reader"
)

// PatternReader reads the sample of log records pattern mining works on.
type PatternReader interface {
	SampleLogs(ctx context.Context, q reader.LogSampleQuery) (*reader.LogSample, error)
}

// Limits of the patterns view.
const (
	// DefaultPatternSample is how many records the patterns of a range are
	// mined from: enough for a pattern of 0.1% of the records to be seen
	// about ten times. MaxPatternSample bounds what a request may ask.
	DefaultPatternSample = 10_000
	MaxPatternSample     = 100_000
	// DefaultPatterns and MaxPatterns bound the patterns returned.
	DefaultPatterns = 50
	MaxPatterns     = 500
	// PatternBuckets is the number of points of a pattern's sparkline.
	PatternBuckets = 30
)

// PatternQuery asks for the patterns of the records a logs query matches.
type PatternQuery struct {
	Query string
	Range TimeRange
	// Limit caps the patterns (0: DefaultPatterns); Sample the records
	// mined (0: DefaultPatternSample).
	Limit  int
	Sample int
}

// Pattern is a template of log bodies with what the sample says of it.
type Pattern struct {
	// Template is the pattern as pattern:"…" reads it; Filter is that query
	// term, which selects exactly the records whose bodies are the
	// template's.
	Template string
	Filter   string
	// Count estimates the records of the range that match the template:
	// Sampled / the sample's fraction (exact when the sample holds every
	// record).
	Count   uint64
	Sampled int
	// Errors is how many of the Sampled records have level error or above.
	Errors int
	// FirstSeen and LastSeen are the oldest and newest records of the
	// sample that match.
	FirstSeen, LastSeen time.Time
	// Sparkline counts the sampled records that match per bucket of the
	// range (PatternBuckets of them), scaled as Count is.
	Sparkline []uint64
	// Example is the newest sampled record that matches.
	Example reader.SampledLog
}

// PatternResult is the patterns of a range, the most frequent first.
type PatternResult struct {
	Patterns []Pattern
	// Total is every record the query matches in the range; Sampled how
	// many of them were mined; Exact that those were all of them.
	Total   uint64
	Sampled int
	Exact   bool
	// Clusters is how many templates the sample formed (Patterns holds the
	// first Limit of them).
	Clusters int
	// Step is the width of a sparkline bucket.
	Step time.Duration
}

// errorSeverity is the first severity number of level error (OTLP).
const errorSeverity = 17

// distinctBody is a body as mined: its tokens and what its records say.
type distinctBody struct {
	tokens  logquery.Template
	records []int // indices into the sample
}

// Patterns mines the templates of the records q matches. The counts are
// those of the filter each pattern's Filter makes: a record is counted in
// every pattern it matches (patterns that overlap, "a <*> c" and "a b <*>",
// both count "a b c"), so that a click through a pattern shows its count.
func (s *Service) Patterns(ctx context.Context, q PatternQuery) (*PatternResult, error) {
	if err := checkRange(q.Range, s.limits.MaxTimeRange); err != nil {
		return nil, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultPatterns
	}
	if q.Limit < 0 || q.Limit > MaxPatterns {
		return nil, inputError("limit", "limit must be between 1 and %d", MaxPatterns)
	}
	if q.Sample == 0 {
		q.Sample = DefaultPatternSample
	}
	if q.Sample < 100 || q.Sample > MaxPatternSample {
		return nil, inputError("sample", "sample must be between 100 and %d records", MaxPatternSample)
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	sample, err := s.store.SampleLogs(ctx, reader.LogSampleQuery{Query: q.Query, Start: q.Range.Start, End: q.Range.End, Size: q.Sample})
	release()
	if err != nil {
		return nil, classify(err, nil)
	}
	return MinePatterns(sample, q.Range, q.Limit), nil
}

// MinePatterns mines the templates of records read already, as Patterns
// does with its sample: for the query bench, which mines every record of a
// range (reader.SampleLogs with a Size above the range's records) to show
// what the sample saves.
func MinePatterns(sample *reader.LogSample, r TimeRange, limit int) *PatternResult {
	step := r.End.Sub(r.Start) / PatternBuckets
	if step <= 0 {
		step = time.Nanosecond
	}
	res := &PatternResult{Patterns: []Pattern{}, Total: sample.Total, Sampled: len(sample.Records), Exact: sample.Fraction >= 1, Step: step}
	// Mine distinct bodies once: logs repeat.
	bodies := map[string]*distinctBody{}
	var order []*distinctBody
	for i, rec := range sample.Records {
		key := rec.Body
		if rec.Truncated {
			key += "\x00…"
		}
		b := bodies[key]
		if b == nil {
			b = &distinctBody{tokens: logquery.Tokenize(rec.Body, rec.Truncated)}
			bodies[key] = b
			order = append(order, b)
		}
		b.records = append(b.records, i)
	}
	d := NewDrain()
	byShape := map[string][]*distinctBody{}
	for _, b := range order {
		for range b.records {
			d.Add(b.tokens)
		}
		sh := Shape(b.tokens)
		byShape[sh] = append(byShape[sh], b)
	}
	// Count every cluster by what its filter matches among the bodies of
	// its shape (only those can match it).
	scale := 1 / sample.Fraction
	for _, c := range d.Clusters {
		p := Pattern{Template: c.Template.String(), Filter: c.Template.Filter(), Sparkline: make([]uint64, PatternBuckets)}
		var exampleAt time.Time
		for _, b := range byShape[c.shape] {
			if !Matches(c.Template, b.tokens) {
				continue
			}
			for _, i := range b.records {
				rec := sample.Records[i]
				p.Sampled++
				if rec.Severity >= errorSeverity {
					p.Errors++
				}
				if p.FirstSeen.IsZero() || rec.Time.Before(p.FirstSeen) {
					p.FirstSeen = rec.Time
				}
				if rec.Time.After(p.LastSeen) {
					p.LastSeen = rec.Time
				}
				if exampleAt.IsZero() || rec.Time.After(exampleAt) {
					exampleAt, p.Example = rec.Time, rec
				}
				k := int(rec.Time.Sub(r.Start) / step)
				p.Sparkline[min(max(k, 0), PatternBuckets-1)]++
			}
		}
		if p.Sampled == 0 {
			continue // a body can only fail its own cluster's filter in the tokenizer's edge cases
		}
		p.Count = uint64(math.Round(float64(p.Sampled) * scale))
		for i, n := range p.Sparkline {
			p.Sparkline[i] = uint64(math.Round(float64(n) * scale))
		}
		res.Patterns = append(res.Patterns, p)
	}
	res.Clusters = len(res.Patterns)
	sort.SliceStable(res.Patterns, func(i, j int) bool {
		if res.Patterns[i].Sampled != res.Patterns[j].Sampled {
			return res.Patterns[i].Sampled > res.Patterns[j].Sampled
		}
		return res.Patterns[i].Template < res.Patterns[j].Template
	})
	if len(res.Patterns) > limit {
		res.Patterns = res.Patterns[:limit]
	}
	return res
}
