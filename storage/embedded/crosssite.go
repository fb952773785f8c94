package embedded

import (
	"net"
	"net/http"
	"strings"
)

// Browsers are the one client that sends requests on someone else's
// behalf: any page the operator opens may aim an <img>, a form or fetch()
// at 127.0.0.1:8123, and a DNS-rebinding page may even read the answers.
// ClickHouse's own clients (clickhouse-go, curl, the collector) never send
// the headers a browser adds, so the server refuses:
//   - any request with an Origin header (browsers send it on every
//     cross-origin request but a plain GET, and on every POST);
//   - Sec-Fetch-Site: cross-site or same-site (modern browsers send it on
//     every request, <img> GETs included);
//   - a Host that is not this machine's address or a configured name: a
//     rebinding page reaches the server under its own host name.
// Credentials (auth.go) and read-only GETs (guard.go) stand behind this.

func (s *Server) refuseCrossSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.checkBrowserHeaders(r); err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) checkBrowserHeaders(r *http.Request) error {
	if origin, ok := r.Header["Origin"]; ok {
		return accessDenied("request from a web page (Origin: %s) refused: the embedded ClickHouse answers no browser requests made on behalf of a site; use clickhouse-go, curl or the Tracehouse UI", truncate(strings.Join(origin, ", "), 100))
	}
	switch site := strings.ToLower(r.Header.Get("Sec-Fetch-Site")); site {
	case "cross-site", "same-site":
		return accessDenied("request from a web page (Sec-Fetch-Site: %s) refused: the embedded ClickHouse answers no browser requests made on behalf of a site", site)
	}
	if !s.hostAllowed(r.Host) {
		return accessDenied("Host %q is neither an address of this machine nor a configured name (a DNS-rebinding page names its own host here); to reach the server under that name start it with --allowed-hosts %s", truncate(r.Host, 100), truncate(hostName(r.Host), 100))
	}
	return nil
}

// hostAllowed tells whether a Host header names this server: an IP address
// (a rebinding page always uses a DNS name), localhost, or a name from
// Config.AllowedHosts. The port is not compared: SSH tunnels and port
// mappings put another port there.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return true // HTTP/1.0 clients send none; browsers always do
	}
	name := hostName(host)
	if net.ParseIP(name) != nil || strings.EqualFold(name, "localhost") {
		return true
	}
	for _, allowed := range s.cfg.AllowedHosts {
		if strings.EqualFold(name, hostName(strings.TrimSpace(allowed))) {
			return true
		}
	}
	return false
}

// hostName is the host part of a Host header, without port or brackets.
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
