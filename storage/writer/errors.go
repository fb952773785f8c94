package writer

import (
	"fmt"

	"github.com/tracehouse/tracehouse/storage"
)

// ErrInvalidData marks errors for data that can never be written as it is:
// retrying the same data cannot succeed. It is storage.ErrInvalidData, so
// storage.IsPermanent recognises it.
var ErrInvalidData = storage.ErrInvalidData

// RejectedError reports items that were skipped because they can never be
// stored; everything else in the write was stored. errors.Is(err,
// ErrInvalidData) holds.
type RejectedError struct {
	Signal string // "spans" or "log records"
	Count  int
	Reason string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("%d %s rejected (the others were stored): %s", e.Count, e.Signal, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidData) true.
func (e *RejectedError) Is(target error) bool { return target == ErrInvalidData }

// EdgesError reports that spans were stored but the service-graph edges they
// completed were not. Retrying the write would store the spans twice.
type EdgesError struct {
	Edges int
	Err   error
}

func (e *EdgesError) Error() string {
	return fmt.Sprintf("spans stored, but %d service-graph edges were not: %v", e.Edges, e.Err)
}

func (e *EdgesError) Unwrap() error { return e.Err }
