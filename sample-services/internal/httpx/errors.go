// Package httpx holds the HTTP plumbing the sample services share: one JSON
// error shape and the single place that maps errors to statuses, strict JSON
// decoding, the tracing middleware for fiber, the traced client for calls
// between services, health endpoints and graceful serving.
package httpx

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Error codes shared by more than one service. Services add their own
// (card_declined, out_of_stock, ...) next to the handler that returns them.
const (
	CodeInvalidField  = "invalid_field"
	CodeUnauthorized  = "unauthorized"
	CodeNotFound      = "not_found"
	CodeRateLimited   = "rate_limited"
	CodeUnavailable   = "unavailable"
	CodeUpstreamError = "upstream_error"
	CodeInternal      = "internal"
)

// APIError is the one error shape every service answers with:
//
//	{"error": {"code": "invalid_field", "field": "items[0].qty", "message": "..."}}
//
// Code is for programs, Message for people (it says what to change), Field
// names the offending input when there is one.
type APIError struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Field   string            `json:"field,omitempty"`
	Details map[string]string `json:"details,omitempty"`
	// RetryAfter becomes a Retry-After header: the caller may try again,
	// later, and this is how much later.
	RetryAfter time.Duration `json:"-"`
}

func (e *APIError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%d %s (%s): %s", e.Status, e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// NewError builds an APIError with a formatted message.
func NewError(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError is a 400 naming the input field that has to change.
func FieldError(field, format string, args ...any) *APIError {
	return &APIError{
		Status:  http.StatusBadRequest,
		Code:    CodeInvalidField,
		Field:   field,
		Message: fmt.Sprintf(format, args...),
	}
}

// ErrorEnvelope is the JSON body of every error response.
type ErrorEnvelope struct {
	Error *APIError `json:"error"`
}

// ErrorHandler is the fiber error handler of every service: handlers return
// errors, and this is the only place that turns them into a status and body.
func ErrorHandler(c *fiber.Ctx, err error) error {
	apiErr := AsAPIError(err)
	if apiErr.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(apiErr.RetryAfter.Seconds()))))
	}
	return c.Status(apiErr.Status).JSON(ErrorEnvelope{Error: apiErr})
}

// AsAPIError classifies any error: APIErrors as they are, fiber's own
// (unknown route, body too large) by their status, anything else as a 500
// whose details stay in the logs, not in the response.
func AsAPIError(err error) *APIError {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	var fiberErr *fiber.Error
	if errors.As(err, &fiberErr) {
		return &APIError{Status: fiberErr.Code, Code: codeForStatus(fiberErr.Code), Message: fiberErr.Message}
	}
	return &APIError{
		Status:  http.StatusInternalServerError,
		Code:    CodeInternal,
		Message: "internal error; the service log has the details under this request's trace_id",
	}
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusTooManyRequests:
		return CodeRateLimited
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	case http.StatusUnauthorized:
		return CodeUnauthorized
	}
	if status >= 500 {
		return CodeInternal
	}
	// "Method Not Allowed" -> "method_not_allowed"
	return strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_")
}
