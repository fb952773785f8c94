package embedded

import (
	"errors"
	"fmt"
	"net/http"
)

// ClickHouse error codes the HTTP layer reports itself, so clients see the
// same codes a ClickHouse server would send for these failures.
const (
	codeSyntaxError          = 62
	codeBadArguments         = 36
	codeCannotDecompress     = 271
	codeUnknownFormat        = 73
	codeAuthenticationFailed = 516
	codeTooLarge             = 1001
)

// httpError is a failure answered before the engine runs anything.
type httpError struct {
	status int
	code   int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(code int, format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// sizeAware turns the body limit's error into a ClickHouse-style one that
// says which limit was hit and how to stay under it.
func (s *Server) sizeAware(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
			msg: fmt.Sprintf("request body is larger than the limit of %d bytes (raise it with --max-request-bytes, or send smaller batches)", s.cfg.MaxRequestBytes)}
	}
	var decoded *errDecodedTooLarge
	if errors.As(err, &decoded) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
			msg: fmt.Sprintf("request body decompresses to more than the limit of %d bytes (raise it with --max-request-bytes, or send smaller batches)", s.cfg.MaxRequestBytes)}
	}
	return err
}
