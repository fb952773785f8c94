package query

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
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

// BusyError means every query slot stayed taken for the whole queue timeout.
// Try again after RetryAfter.
type BusyError struct {
	RetryAfter time.Duration
	Limit      int
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("the query service is busy (%d queries running, queue timeout reached); retry in %s", e.Limit, e.RetryAfter)
}

// TimeoutError is a query stopped at its time limit.
type TimeoutError struct {
	Limit time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the query ran longer than its limit of %s and was stopped; narrow the time range or add filters", e.Limit)
}

// ClickHouse error codes the service turns into typed errors.
const (
	chTimeoutExceeded   = 159
	chTooManyRowsBytes  = 396
	chTooManyRows       = 158
	chTooManyBytes      = 307
	chQueryWasCancelled = 394
)

func isTooLarge(err error) bool {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case chTooManyRowsBytes, chTooManyRows, chTooManyBytes:
			return true
		}
	}
	return false
}

// classify turns driver errors into the service's typed errors.
func (s *Service) classify(err error) error {
	if err == nil {
		return nil
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		switch ex.Code {
		case chTimeoutExceeded:
			return &TimeoutError{Limit: s.limits.MaxExecutionTime}
		case chTooManyRowsBytes, chTooManyRows, chTooManyBytes:
			return &InputError{Msg: fmt.Sprintf("the result is larger than the limit of %d MiB; narrow the time range, add filters or lower the limit", s.limits.MaxResultBytes>>20), Position: -1}
		}
		return fmt.Errorf("clickhouse: %w", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &TimeoutError{Limit: s.limits.MaxExecutionTime}
	}
	return err
}
