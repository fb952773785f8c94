// Package ingesttest holds test helpers shared by the ingest and collector
// tests: a fault-injecting HTTP proxy in front of the embedded ClickHouse,
// and OTLP data whose every span or record can be counted in storage.
package ingesttest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/storage/chtest"
)

// Mode is what the proxy does with a request.
type Mode int

const (
	// Pass forwards requests to ClickHouse.
	Pass Mode = iota
	// Stall holds requests (without answering) until the mode changes or
	// the client gives up: a ClickHouse that hangs.
	Stall
	// Refuse drops the connection without an answer: a ClickHouse that is
	// down or restarting.
	Refuse
	// LoseAnswer forwards INSERTs into the table named by SetLoseAnswer
	// to ClickHouse, lets them finish (commit) even when the client has
	// given up, and never answers the client: the insert whose answer
	// the network lost, which the client must retry without storing it
	// twice. Other requests pass.
	LoseAnswer
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Stall:
		return "stall"
	case Refuse:
		return "refuse"
	case LoseAnswer:
		return "lose-answer"
	}
	return "unknown"
}

// FaultProxy is an HTTP proxy in front of ClickHouse's HTTP interface that
// can stall or refuse requests on demand. It is the only fake in the
// tests: data always reaches the real engine behind it.
type FaultProxy struct {
	t   testing.TB
	ln  net.Listener
	srv *http.Server
	rp  *httputil.ReverseProxy

	mu        sync.Mutex
	mode      Mode
	loseTable string         // LoseAnswer's table
	byTable   map[string]int // INSERTs forwarded, by table
	changed   chan struct{}  // closed on every mode change
	closed    bool

	stalled  atomic.Int64
	inserts  atomic.Int64
	refused  atomic.Int64
	requests atomic.Int64
	lost     atomic.Int64
}

// StartFaultProxy proxies to target (host:port of a ClickHouse HTTP
// interface) on a free loopback port; it stops when the test ends.
func StartFaultProxy(t testing.TB, target string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &url.URL{Scheme: "http", Host: target}
	p := &FaultProxy{t: t, ln: ln, changed: make(chan struct{}), byTable: map[string]int{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.ErrorLog = log.New(io.Discard, "", 0)
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// DSN is a clickhouse-go DSN for database db through the proxy, with the
// engine's credentials.
func (p *FaultProxy) DSN(db string) string { return chtest.DSNVia(p.t, p.Addr(), db) }

// SetMode changes what the proxy does from now on; stalled requests
// re-check the new mode.
func (p *FaultProxy) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	close(p.changed)
	p.changed = make(chan struct{})
}

// SetLoseAnswer makes the proxy lose the answers to INSERTs into table
// (unqualified, e.g. "spans") from now on (mode LoseAnswer).
func (p *FaultProxy) SetLoseAnswer(table string) {
	p.mu.Lock()
	p.loseTable = table
	p.mu.Unlock()
	p.SetMode(LoseAnswer)
}

// Lost is the number of INSERTs committed whose answer was withheld.
func (p *FaultProxy) Lost() int64 { return p.lost.Load() }

// InsertsInto is the number of INSERTs into table (unqualified) forwarded
// to ClickHouse, lost answers included.
func (p *FaultProxy) InsertsInto(table string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byTable[table]
}

// WaitLost waits until at least n answers were lost (or the timeout).
func (p *FaultProxy) WaitLost(n int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Lost() >= n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Stalled is the number of requests held right now.
func (p *FaultProxy) Stalled() int64 { return p.stalled.Load() }

// Inserts is the number of INSERT requests forwarded to ClickHouse.
func (p *FaultProxy) Inserts() int64 { return p.inserts.Load() }

// Refused is the number of requests refused.
func (p *FaultProxy) Refused() int64 { return p.refused.Load() }

// WaitStalled waits until at least n requests are held (or the timeout).
func (p *FaultProxy) WaitStalled(n int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Stalled() >= n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Close releases stalled requests (refusing them) and stops the proxy.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.changed)
		p.changed = make(chan struct{})
	}
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		p.srv.Close()
	}
}

func (p *FaultProxy) current() (Mode, <-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.changed, p.closed
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	for {
		mode, changed, closed := p.current()
		if closed {
			mode = Refuse
		}
		switch mode {
		case Pass, LoseAnswer:
			table := p.insertTable(r)
			if table != "" {
				p.inserts.Add(1)
				p.mu.Lock()
				p.byTable[table]++
				lose := mode == LoseAnswer && table == p.loseTable
				p.mu.Unlock()
				if lose {
					p.loseAnswer(r)
					return
				}
			}
			p.rp.ServeHTTP(w, r)
			return
		case Refuse:
			p.refused.Add(1)
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					if tcp, ok := conn.(*net.TCPConn); ok {
						tcp.SetLinger(0) // reset, like a dead server
					}
					conn.Close()
					return
				}
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case Stall:
			p.stalled.Add(1)
			select {
			case <-changed:
				p.stalled.Add(-1)
			case <-r.Context().Done():
				p.stalled.Add(-1)
				return
			}
		}
	}
}

// loseAnswer runs r on ClickHouse to the end, whatever the client does,
// then holds the client until it gives up.
func (p *FaultProxy) loseAnswer(r *http.Request) {
	p.rp.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithoutCancel(r.Context())))
	p.lost.Add(1)
	<-r.Context().Done()
}

// insertTable is the table r INSERTs into (unqualified), or "". The
// statement is in the query parameter or at the head of the body (how
// storage/writer sends its blocks); the body is read and put back.
func (p *FaultProxy) insertTable(r *http.Request) string {
	stmt := strings.TrimSpace(r.URL.Query().Get("query"))
	if stmt == "" && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		if err != nil {
			return ""
		}
		stmt = string(body[:min(len(body), 512)])
	}
	m := insertRE.FindStringSubmatch(stmt)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], "`")
}

// insertRE takes the table out of "INSERT INTO [db.]table …".
var insertRE = regexp.MustCompile("(?is)^\\s*INSERT\\s+INTO\\s+(?:[`\\w]+\\.)?([`\\w]+)")
