package reader

import (
	"context"
	"math"
	"time"

	"github.com/tracehouse/tracehouse/storage/chsql"
	"github.com/tracehouse/tracehouse/storage/logquery"
)

// LogSampleQuery selects a sample of the records a query matches, for
// pattern mining.
type LogSampleQuery struct {
	Query      string
	Start, End time.Time
	// Size is about how many records the sample holds at most.
	Size int
}

// SampledLog is one record of a sample: what pattern mining reads and
// what an example shows.
type SampledLog struct {
	Time     time.Time
	Service  string
	Severity uint8
	// Body is at most logquery.MaxPatternBody bytes; Truncated says the
	// body went on.
	Body      string
	Truncated bool
	TraceID   string
	SpanID    string
}

// LogSample is a uniform sample of the records a query matches.
type LogSample struct {
	// Total is every record the query matches in the range.
	Total uint64
	// Fraction is the share of the records the sample was drawn with: 1
	// when it holds them all. Counts in the sample divided by Fraction
	// estimate counts over the range.
	Fraction float64
	Records  []SampledLog
}

// sampleBuckets is the resolution of the sampling rule: a record is kept
// when a hash of its time and service, modulo sampleBuckets, is below
// Fraction × sampleBuckets.
const sampleBuckets = 1 << 20

// SampleLogs counts the records the query matches, then reads all of them
// when they are at most Size, or else a sample of about Size: each record
// is kept when cityHash64(Timestamp, ServiceName) falls in the first
// Size/Total of its range. The hash is of columns the sort key holds, so
// the rule reads Timestamp and ServiceName of every record of the range but
// bodies only of the records kept (PREWHERE), and the same records are
// kept by every request over the same data: a pattern's count does not
// jump between reloads.
func (r *Reader) SampleLogs(ctx context.Context, q LogSampleQuery) (*LogSample, error) {
	total, err := r.CountLogs(ctx, q.Query, q.Start, q.End)
	if err != nil {
		return nil, err
	}
	out := &LogSample{Total: total, Fraction: 1, Records: []SampledLog{}}
	if total == 0 {
		return out, nil
	}
	cond, qp, err := compileLogQuery(q.Query)
	if err != nil {
		return nil, err
	}
	p := chsql.NewParams("p")
	prewhere := "Timestamp >= " + p.Add("DateTime64(9)", q.Start) + " AND Timestamp < " + p.Add("DateTime64(9)", q.End)
	limit := total
	if total > uint64(q.Size) {
		keep := uint64(math.Ceil(float64(q.Size) / float64(total) * sampleBuckets))
		out.Fraction = float64(keep) / sampleBuckets
		prewhere += " AND cityHash64(Timestamp, ServiceName) % " + p.Add("UInt64", uint64(sampleBuckets)) + " < " + p.Add("UInt64", keep)
		// A hash is not exact: leave room above Size, and cut there.
		limit = uint64(q.Size) + uint64(q.Size)/4 + 100
	}
	sql := "SELECT Timestamp, ServiceName, SeverityNumber, substring(Body, 1, " + p.Add("UInt32", uint32(logquery.MaxPatternBody)) + "), " +
		"length(Body) > " + p.Add("UInt32", uint32(logquery.MaxPatternBody)) + ", lower(hex(TraceId)), lower(hex(SpanId))\nFROM " + r.t.logs +
		"\nPREWHERE " + prewhere + "\nWHERE " + cond + "\nLIMIT " + p.Add("UInt64", limit)
	err = r.query(ctx, nil, sql, append(p.Args(), qp.Args()...), func(rows driverRows) error {
		var s SampledLog
		if err := rows.Scan(&s.Time, &s.Service, &s.Severity, &s.Body, &s.Truncated, &s.TraceID, &s.SpanID); err != nil {
			return err
		}
		if s.TraceID == "00000000000000000000000000000000" {
			s.TraceID = ""
		}
		if s.SpanID == "0000000000000000" {
			s.SpanID = ""
		}
		out.Records = append(out.Records, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.Fraction < 1 && uint64(len(out.Records)) == limit {
		// The hash kept more than the room left above Size (rare: it is
		// several standard deviations out): the LIMIT cut the sample, so
		// its share is what it holds, not what the hash aimed at.
		out.Fraction = float64(len(out.Records)) / float64(total)
	}
	return out, nil
}
