package embedded

import (
	"crypto/subtle"
	"fmt"
	"net/http"
)

// authenticate checks the request's credentials when the server has a user.
// They are taken where ClickHouse's HTTP interface takes them, first found
// wins: the X-ClickHouse-User/Key headers, basic auth, then the user and
// password URL parameters. Both are compared in constant time so the answer
// time tells nothing about how much of a guess was right.
func (s *Server) authenticate(r *http.Request) error {
	if s.cfg.User == "" {
		return nil
	}
	user, pass := r.Header.Get("X-ClickHouse-User"), r.Header.Get("X-ClickHouse-Key")
	if u, p, ok := r.BasicAuth(); ok && user == "" {
		user, pass = u, p
	}
	if user == "" {
		user, pass = r.URL.Query().Get("user"), r.URL.Query().Get("password")
	}
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.User)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Password)) == 1
	if !okUser || !okPass {
		return &httpError{status: http.StatusUnauthorized, code: codeAuthenticationFailed,
			msg: fmt.Sprintf("%s: Authentication failed: password is incorrect, or there is no user with such name.", user)}
	}
	return nil
}
