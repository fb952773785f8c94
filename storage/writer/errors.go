package writer

import (
	"fmt"

	"github.com/tracehouse/tracehouse/storage"
)

// ErrInvalidData marks errors for data that can never be written as it is:
// retrying the same data cannot succeed. It is storage.ErrInvalidData, so
// storage.IsPermanent recognises it.
var ErrInvalidData = storage.ErrInvalidData

// RejectedError reports items that were left out because they can never
// be stored (Count, with the first Reason), or, rarely, as part of a batch
// that kept failing (Dropped, DropReason; see bisect.go); everything else
// in the write was stored. errors.Is(err, ErrInvalidData) holds.
type RejectedError struct {
	Signal     string // "spans" or "log records"
	Count      int
	Reason     string
	Dropped    int
	DropReason string
}

func (e *RejectedError) Error() string {
	switch {
	case e.Dropped == 0:
		return fmt.Sprintf("%d %s rejected (the others were stored): %s", e.Count, e.Signal, e.Reason)
	case e.Count == 0:
		return fmt.Sprintf("%d %s dropped (the others were stored): %s", e.Dropped, e.Signal, e.DropReason)
	}
	return fmt.Sprintf("%d %s rejected (%s) and %d dropped (%s); the others were stored", e.Count, e.Signal, e.Reason, e.Dropped, e.DropReason)
}

// Is makes errors.Is(err, ErrInvalidData) true.
func (e *RejectedError) Is(target error) bool { return target == ErrInvalidData }

// EdgesError reports that spans were stored but the service-graph edges they
// completed were not. When Kept, the writer keeps the edges: writing the
// same batch again sends only them (the spans are not sent again). Else
// they are lost: ClickHouse refused them for good.
type EdgesError struct {
	Edges int
	Kept  bool
	Err   error
}

func (e *EdgesError) Error() string {
	if e.Kept {
		return fmt.Sprintf("spans stored, but %d service-graph edges were not (kept for the retry): %v", e.Edges, e.Err)
	}
	return fmt.Sprintf("spans stored, but %d service-graph edges were not: %v", e.Edges, e.Err)
}

func (e *EdgesError) Unwrap() error { return e.Err }
