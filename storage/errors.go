package storage

import (
	"errors"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ErrInvalidData marks errors for data that can never be written as it is:
// retrying the same data cannot succeed. Writers wrap it (errors.Is).
var ErrInvalidData = errors.New("data cannot be stored")

// permanentCodes are ClickHouse errors about the data itself: the same
// INSERT fails the same way however often it is retried. Everything else
// (network, timeouts, a server restarting, too many parts, a missing table
// someone may still create) is retried.
var permanentCodes = map[int32]string{
	6:   "CANNOT_PARSE_TEXT",
	27:  "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
	41:  "CANNOT_PARSE_DATETIME",
	53:  "TYPE_MISMATCH",
	62:  "SYNTAX_ERROR",
	69:  "ARGUMENT_OUT_OF_BOUND",
	70:  "CANNOT_CONVERT_TYPE",
	117: "INCORRECT_DATA",
	131: "TOO_LARGE_STRING_SIZE",
	469: "VIOLATED_CONSTRAINT", // a CHECK constraint refused a row
}

// IsPermanent reports whether a write that failed with err can never
// succeed when retried with the same data: err wraps ErrInvalidData, or
// ClickHouse refused the data itself (a parse or type error).
func IsPermanent(err error) bool {
	if errors.Is(err, ErrInvalidData) {
		return true
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		_, ok := permanentCodes[ex.Code]
		return ok
	}
	return false
}
