package partialsuccessextension

import (
	"context"
	"sync"
)

// outcome is what the pipeline rejected of one request.
type outcome struct {
	mu       sync.Mutex
	signal   signal
	rejected int64
	message  string
}

type signal int

const (
	noSignal signal = iota
	spans
	logRecords
)

type outcomeKey struct{}

func withOutcome(ctx context.Context) (context.Context, *outcome) {
	o := &outcome{}
	return context.WithValue(ctx, outcomeKey{}, o), o
}

// RejectSpans records that n spans of the request being received were
// rejected, and why; the sender is told in the response's partialSuccess
// when the extension is in front of the receiver (else it does nothing).
// Two exporters of the same pipeline reject from the same request, so the
// larger count is kept, not the sum.
func RejectSpans(ctx context.Context, n int, message string) { reject(ctx, spans, n, message) }

// RejectLogRecords is RejectSpans for log records.
func RejectLogRecords(ctx context.Context, n int, message string) {
	reject(ctx, logRecords, n, message)
}

func reject(ctx context.Context, sig signal, n int, message string) {
	o, ok := ctx.Value(outcomeKey{}).(*outcome)
	if !ok || n <= 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.signal = sig
	if int64(n) > o.rejected {
		o.rejected = int64(n)
	}
	if o.message == "" {
		o.message = message
	}
}

// result is what was recorded.
func (o *outcome) result() (sig signal, rejected int64, message string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.signal, o.rejected, o.message
}
