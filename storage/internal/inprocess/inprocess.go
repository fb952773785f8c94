// Package inprocess lets a client reach the embedded ClickHouse of its own
// process without a socket. `tracehouse all-in-one` runs the engine, the
// query service and the collector's exporter in one process, and all of
// them speak to the engine through clickhouse-go over HTTP. Over loopback
// TCP every statement pays for net/http on both sides (a connection
// goroutine, a background read, the transport's read and write loops) and
// for the wake-ups between them: 60–120 µs per statement on a loaded
// 2-core machine (storage/embedded BenchmarkOverheadInterleaved). A server
// registers its handler here under its listen address; a client whose DSN
// names that address (storage.ParseDSN) hands each request to the handler
// in-process instead. Everything else stays as over TCP: the same handler
// with its credentials check, statement guard and cross-site checks, the
// same wire format.
//
// The registry is process-wide because what it maps is: a listen address
// that this process serves (and the engine it fronts is one per process).
package inprocess

import (
	"net/http"
	"sync"
)

var servers sync.Map // listen address "host:port" → http.RoundTripper

// Register makes addr reachable in-process through rt until unregister is
// called.
func Register(addr string, rt http.RoundTripper) (unregister func()) {
	servers.Store(addr, rt)
	return func() { servers.CompareAndDelete(addr, rt) }
}

// Transport sends requests for a registered address to its server
// in-process and every other request through next. The look-up is made per
// request, so a client made before its server started, or that outlives a
// restart, finds whichever server holds the address at the time.
func Transport(next http.RoundTripper) http.RoundTripper {
	return &transport{next: next}
}

type transport struct{ next http.RoundTripper }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		if rt, ok := servers.Load(req.URL.Host); ok {
			return rt.(http.RoundTripper).RoundTrip(req)
		}
	}
	return t.next.RoundTrip(req)
}

// CloseIdleConnections closes next's idle connections (http.Client calls it).
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
