package browserguardextension

import (
	"context"
	"net"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.uber.org/zap"
)

type guard struct {
	component.StartFunc
	component.ShutdownFunc

	log        *zap.Logger
	anyOrigin  bool
	origins    map[string]bool // lower case, without a trailing slash
	checkHost  bool
	extraHosts map[string]bool // lower case
}

var _ extensionmiddleware.HTTPServer = (*guard)(nil)

func newGuard(cfg *Config, log *zap.Logger) *guard {
	g := &guard{log: log, origins: map[string]bool{}, checkHost: cfg.CheckHost, extraHosts: map[string]bool{}}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			g.anyOrigin = true
		}
		g.origins[strings.TrimSuffix(strings.ToLower(o), "/")] = true
	}
	for _, h := range cfg.AllowedHosts {
		g.extraHosts[strings.ToLower(h)] = true
	}
	return g
}

// GetHTTPHandler wraps the receiver's handler with the checks of the
// package comment.
func (g *guard) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if reason := g.refuse(r); reason != "" {
				g.log.Warn("request refused: it came from a web page", zap.String("reason", reason),
					zap.String("origin", r.Header.Get("Origin")), zap.String("host", r.Host), zap.String("remote", r.RemoteAddr))
				http.Error(w, reason, http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		}), nil
	}, nil
}

// refuse says why r must not be served, or "".
func (g *guard) refuse(r *http.Request) string {
	origin := r.Header.Get("Origin")
	allowed := g.anyOrigin || (origin != "" && g.origins[strings.TrimSuffix(strings.ToLower(origin), "/")])
	if origin != "" && !allowed {
		return "Origin " + origin + " is not allowed to send here: web pages may send only from the browserguard extension's allowed_origins"
	}
	if site := r.Header.Get("Sec-Fetch-Site"); (site == "cross-site" || site == "same-site") && !allowed {
		return "a " + site + " browser request is not allowed to send here: list the page's origin in the browserguard extension's allowed_origins"
	}
	if g.checkHost && !g.hostAllowed(r.Host) {
		return "Host " + r.Host + " is not this receiver's address: send to its IP address or localhost, or list the name in the browserguard extension's allowed_hosts (a page that re-resolved its own name here is refused: DNS rebinding)"
	}
	return ""
}

func (g *guard) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if host == "localhost" || net.ParseIP(host) != nil {
		return true
	}
	return g.extraHosts[host]
}
