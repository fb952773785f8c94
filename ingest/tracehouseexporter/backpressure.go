package tracehouseexporter

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// When the sending queue is full, exporterhelper returns a plain
// ErrQueueIsFull, which otlpreceiver answers with gRPC UNAVAILABLE / HTTP 503
// and no retry hint. Tracehouse answers RESOURCE_EXHAUSTED / HTTP 429 with
// RetryInfo (otlpreceiver turns it into Retry-After), as OTLP asks for
// throttling: senders back off for the given delay instead of hammering a
// collector that is already behind. (The exporter's front, admission.go,
// applies it.)

// throttled turns a full-queue error into a RESOURCE_EXHAUSTED status with
// a retry delay; other errors pass unchanged.
func throttled(err error, retryAfter time.Duration) error {
	if err == nil || !errors.Is(err, exporterhelper.ErrQueueIsFull) {
		return err
	}
	st := status.New(codes.ResourceExhausted,
		fmt.Sprintf("tracehouse exporter: sending queue is full (ClickHouse is slower than the incoming data); retry in %v", retryAfter))
	if retryAfter > 0 {
		if withDelay, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); derr == nil {
			st = withDelay
		}
	}
	return &queueFullError{st: st, cause: err}
}

// queueFullError is a gRPC status (otlpreceiver and jsonlreceiver read it
// with status.FromError) that still matches errors.Is(err,
// exporterhelper.ErrQueueIsFull).
type queueFullError struct {
	st    *status.Status
	cause error
}

func (e *queueFullError) Error() string              { return e.st.Message() }
func (e *queueFullError) GRPCStatus() *status.Status { return e.st }
func (e *queueFullError) Unwrap() error              { return e.cause }
