package query

import (
	"context"
	"time"
)

// Coverage is the part of a time range that stored data covers: from the
// first span sent in it to the second after the last. Rates are calls per
// second of coverage, not of the range: a range that began before the
// first span was sent, or whose last minute is still filling, would
// otherwise read as a fall in traffic (5 requests/s for the 6 minutes of
// data in "last hour" is not 0.5/s). The zero Coverage holds no data.
type Coverage struct {
	Start, End time.Time
}

// Duration is how long the coverage is.
func (c Coverage) Duration() time.Duration {
	if !c.End.After(c.Start) {
		return 0
	}
	return c.End.Sub(c.Start)
}

// Within is how much of [from, to) the coverage covers.
func (c Coverage) Within(from, to time.Time) time.Duration {
	if from.Before(c.Start) {
		from = c.Start
	}
	if to.After(c.End) {
		to = c.End
	}
	if !to.After(from) {
		return 0
	}
	return to.Sub(from)
}

// ArrivalWindow is how long after its end a span may still be on its way to
// storage: OpenTelemetry SDKs export spans in batches every 5 s by default,
// and a collector batches again (about a second) before it writes; twice
// that leaves room for a slow export. A trace whose newest span ended less
// than this ago may still be missing spans, and a histogram bucket that
// ended less than this ago may still be filling.
const ArrivalWindow = 10 * time.Second

// coverage reads the coverage of the minutes that start in [start, end).
// The caller holds a limiter slot.
func (s *Service) coverage(ctx context.Context, start, end time.Time) (Coverage, error) {
	span, ok, err := s.store.DataSpan(ctx, start, end)
	if err != nil {
		return Coverage{}, classify(err, nil)
	}
	if !ok {
		return Coverage{}, nil
	}
	return Coverage{Start: span.First, End: span.Last.Truncate(time.Second).Add(time.Second)}, nil
}

// rate is calls per second of d (0 without coverage).
func rate(calls uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(calls) / d.Seconds()
}
