package query

import (
	"errors"
	"testing"

	"github.com/tracehouse/tracehouse/storage/reader"
)

// TestStoreBusyIsBusy: the store refusing a statement for lack of room is
// the same answer to the client as the service's own full queue.
func TestStoreBusyIsBusy(t *testing.T) {
	err := classify(&reader.BusyError{Msg: "the read queue is full"}, nil)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.RetryAfter <= 0 || busy.Store == "" {
		t.Fatalf("classify(store busy) = %v, want a BusyError with a retry hint", err)
	}
}
