package query

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracehouse/tracehouse/storage/logquery"
	"github.com/tracehouse/tracehouse/storage/reader"
)

// InputError is a request the service will not run as given: a bad
// parameter, an unparsable query, a range or result over a limit. Msg says
// what to change.
type InputError struct {
	// Param names the request parameter at fault ("q", "start", "traceID"),
	// when there is one.
	Param string
	Msg   string
	// Position is where in Param's value the problem starts, in characters
	// from 0, or -1.
	Position int
}

func (e *InputError) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	if e.Position >= 0 {
		return fmt.Sprintf("%s: %s (at position %d)", e.Param, e.Msg, e.Position)
	}
	return e.Param + ": " + e.Msg
}

func inputError(param, format string, args ...any) *InputError {
	return &InputError{Param: param, Msg: fmt.Sprintf(format, args...), Position: -1}
}

// NotFoundError is an id that matches nothing.
type NotFoundError struct {
	What string // e.g. "trace 4bf92f3577b34da6a3ce929d0e0e4736"
}

func (e *NotFoundError) Error() string { return e.What + " not found" }

// BusyError means the service is at a capacity limit: every query slot
// stayed taken for the whole queue timeout, or (Tails) the live tails are
// at Limits.MaxTails. Try again after RetryAfter.
type BusyError struct {
	RetryAfter time.Duration
	Limit      int
	Tails      bool
	// Store holds the store's own message when it was the store that was
	// busy (its queue of statements full), not this service.
	Store string
}

func (e *BusyError) Error() string {
	if e.Store != "" {
		return fmt.Sprintf("ClickHouse is busy and did not start the query (%s); retry in %s", e.Store, e.RetryAfter)
	}
	if e.Tails {
		return fmt.Sprintf("too many live tails: %d are running, the limit of this service; retry in %s, or close a tail you left open", e.Limit, e.RetryAfter)
	}
	return fmt.Sprintf("the query service is busy (%d queries running, queue timeout reached); retry in %s", e.Limit, e.RetryAfter)
}

// UnavailableError is a query that could not reach the store (down or
// restarting): answered 503 with Retry-After, not as a server fault.
type UnavailableError struct {
	RetryAfter time.Duration
	Cause      string
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("the store is unavailable (%s); retry in %s", e.Cause, e.RetryAfter)
}

// storeDownRetryAfter is the hint given while the store cannot be reached:
// an embedded engine restarts in seconds.
const storeDownRetryAfter = 5 * time.Second

// TimeoutError is a query stopped at its time limit.
type TimeoutError struct {
	Limit time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the query ran longer than its limit of %s and was stopped; narrow the time range or add filters", e.Limit)
}

// storeBusyRetryAfter is the hint given when the store refused a statement
// because it was busy (the embedded engine's read queue suggests 2 s).
const storeBusyRetryAfter = 2 * time.Second

// classify turns the store's errors into the service's typed errors. A
// result over the store's size limits is the user's to narrow: tooLarge
// says how for the request at hand (nil: a generic message).
func classify(err error, tooLarge func(*reader.TooLargeError) error) error {
	var timeout *reader.TimeoutError
	var memory *reader.MemoryLimitError
	var large *reader.TooLargeError
	var lang *logquery.Error
	var busy *reader.BusyError
	var down *reader.UnavailableError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &timeout):
		return &TimeoutError{Limit: timeout.Limit}
	case errors.As(err, &memory):
		return &InputError{Msg: memory.Error(), Position: -1}
	case errors.As(err, &large) && tooLarge != nil:
		return tooLarge(large)
	case errors.As(err, &large):
		return &InputError{Msg: fmt.Sprintf("the result is larger than the limit of %d MiB; narrow the time range, add filters or lower the limit", large.MaxBytes>>20), Position: -1}
	case errors.As(err, &busy):
		// The store's own queue is full: the same answer as the service's
		// (429 with Retry-After), not a server error.
		return &BusyError{RetryAfter: storeBusyRetryAfter, Store: busy.Msg}
	case errors.As(err, &down):
		return &UnavailableError{RetryAfter: storeDownRetryAfter, Cause: down.Err.Error()}
	case errors.As(err, &lang):
		return &InputError{Param: "q", Msg: lang.Msg, Position: lang.Position}
	}
	return err
}
