package embedded

import (
	"crypto/subtle"
	"net/http"
)

const codeRequiredPassword = 194

// authenticate checks the request's credentials. They are taken where
// ClickHouse's HTTP interface takes them, first found wins: the
// X-ClickHouse-User/Key headers, basic auth, then the user and password URL
// parameters. Both are compared in constant time so the answer time tells
// nothing about how much of a guess was right. The answers follow
// ClickHouse: 401 when no credentials came, 403 when they are wrong.
func (s *Server) authenticate(r *http.Request) error {
	user, pass := r.Header.Get("X-ClickHouse-User"), r.Header.Get("X-ClickHouse-Key")
	if u, p, ok := r.BasicAuth(); ok && user == "" {
		user, pass = u, p
	}
	if user == "" {
		user, pass = r.URL.Query().Get("user"), r.URL.Query().Get("password")
	}
	if user == "" && pass == "" {
		return &httpError{status: http.StatusUnauthorized, code: codeRequiredPassword,
			msg: "Authentication required: the embedded ClickHouse accepts no request without its user and password (basic auth, the X-ClickHouse-User and X-ClickHouse-Key headers, or the user and password URL parameters). Unless one was set, the password is in the file " + PasswordFileName + " in its data folder. (REQUIRED_PASSWORD)"}
	}
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.User)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.password)) == 1
	if !okUser || !okPass {
		return &httpError{status: http.StatusForbidden, code: codeAuthenticationFailed,
			msg: truncate(user, 64) + ": Authentication failed: password is incorrect, or there is no user with such name. (AUTHENTICATION_FAILED)"}
	}
	return nil
}
