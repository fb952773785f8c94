package query

import (
	"context"
	"sync/atomic"
	"time"
)

// Limiter caps how many ClickHouse queries run at once. A query over the cap
// waits up to the queue timeout for a slot and then fails with BusyError, so
// an overloaded service tells clients to come back (HTTP 429) instead of
// piling up work.
type Limiter struct {
	slots        chan struct{}
	queueTimeout time.Duration
	waiting      atomic.Int64
	rejected     atomic.Int64
}

// NewLimiter allows slots concurrent queries (at least 1); others wait up to
// queueTimeout.
func NewLimiter(slots int, queueTimeout time.Duration) *Limiter {
	return &Limiter{slots: make(chan struct{}, max(slots, 1)), queueTimeout: queueTimeout}
}

// Acquire takes a slot; call the returned release exactly once when the
// query is done.
func (l *Limiter) Acquire(ctx context.Context) (release func(), err error) {
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	default:
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	timer := time.NewTimer(l.queueTimeout)
	defer timer.Stop()
	select {
	case l.slots <- struct{}{}:
		return l.release, nil
	case <-timer.C:
		l.rejected.Add(1)
		return nil, &BusyError{RetryAfter: l.retryAfter(), Limit: cap(l.slots)}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *Limiter) release() { <-l.slots }

// retryAfter is a hint, not a promise: at least a second, longer with a
// longer queue.
func (l *Limiter) retryAfter() time.Duration {
	return max(time.Second, l.queueTimeout).Round(time.Second)
}

// InFlight is how many queries hold a slot now.
func (l *Limiter) InFlight() int { return len(l.slots) }

// Waiting is how many queries wait for a slot now.
func (l *Limiter) Waiting() int { return int(l.waiting.Load()) }

// Rejected is how many queries gave up waiting since the start.
func (l *Limiter) Rejected() int64 { return l.rejected.Load() }

// Capacity is the cap.
func (l *Limiter) Capacity() int { return cap(l.slots) }
