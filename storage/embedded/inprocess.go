package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// Clients in the server's own process (all-in-one's query service and
// exporter, the test helpers) reach it without a socket: Start registers
// inProcess under the listen address (storage/internal/inprocess), and
// their clickhouse-go connections hand each request to the same handler a
// TCP request reaches (cross-site checks, credentials, the statement
// guard, the scheduler). Only net/http's work on both sides and the
// loopback are skipped: 60–120 µs of the 0.45 ms a small read cost over
// HTTP beyond the engine on this 2-core machine, more under load
// (BenchmarkOverheadInterleaved; numbers in internal/bench/README.md).

// inProcess is the server's http.RoundTripper for clients in its process.
type inProcess struct {
	s *Server
	// served counts the requests served in-process.
	served atomic.Uint64

	mu       sync.RWMutex
	closed   bool           // the server is shutting down: no new request
	inFlight sync.WaitGroup // requests whose handler still runs
}

// errInProcessClosed is what a request gets once the server has shut
// down: the refusal a client sees over TCP, so that it is treated the
// same (storage/reader answers 503 for it while the engine restarts).
func (p *inProcess) errClosed() error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: p.s.listener.Addr(),
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

// enter counts a request in, unless the server is shutting down.
func (p *inProcess) enter() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	p.inFlight.Add(1)
	return true
}

// close refuses new requests and waits for the running ones to finish, or
// ctx to end.
func (p *inProcess) close(ctx context.Context) error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.inFlight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RoundTrip runs the server's handler for req on a goroutine of its own.
// The answer is buffered up to inProcessBuffer bytes, and RoundTrip returns
// once the handler is done or the buffer is full, whichever comes first:
// a small answer then costs one hand-over between the two goroutines
// instead of one per write and read (each a wake-up that, on a busy
// machine, costs more than the write), while a large one streams through
// the bounded buffer and is never held whole. Closing the body early, or
// the end of req's context, cancels the handler's context (a running read
// stops at its next chunk, as when a TCP client goes away) and fails its
// further writes.
func (p *inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if !p.enter() {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, p.errClosed()
	}
	p.served.Add(1)
	ctx, cancel := context.WithCancelCause(req.Context())
	server := req.Clone(ctx)
	// What the server side of net/http would see: the target as sent (an
	// empty path is "/", as on the wire: the mux would answer "" with a
	// redirect), the Host header, a body that is never nil.
	server.RequestURI = req.URL.RequestURI()
	target, err := url.ParseRequestURI(server.RequestURI)
	if err != nil {
		cancel(nil)
		p.inFlight.Done()
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("in-process request to %s: %w", req.URL.Redacted(), err)
	}
	server.URL = target
	if server.Host == "" {
		server.Host = req.URL.Host
	}
	server.RemoteAddr = "in-process"
	if server.Body == nil {
		server.Body = http.NoBody
	}
	body := newBodyBuffer(inProcessBuffer)
	w := &inProcessWriter{header: http.Header{}, started: make(chan struct{}), body: body}
	body.onFull = w.start
	stopOnClientEnd := context.AfterFunc(req.Context(), func() {
		body.closeRead(context.Cause(req.Context()))
	})

	go func() {
		defer p.inFlight.Done()
		defer cancel(nil)
		defer server.Body.Close()
		defer func() {
			if v := recover(); v != nil {
				err := fmt.Errorf("embedded ClickHouse handler failed: %v", v)
				if v != http.ErrAbortHandler {
					p.s.log.Error().Str("panic", fmt.Sprint(v)).Bytes("stack", debug.Stack()).Msg("in-process request handler panicked")
				}
				w.fail(err)
			}
		}()
		p.s.http.Handler.ServeHTTP(w, server)
		w.finish()
	}()

	select {
	case <-w.started:
	case <-req.Context().Done():
		// The handler goes on until it notices its context ended; its
		// writes fail from now on.
		body.closeRead(context.Cause(req.Context()))
		return nil, context.Cause(req.Context())
	}
	if w.err != nil {
		return nil, w.err
	}
	resp := &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		ContentLength: -1,
		Body: &inProcessBody{buf: body, done: func() {
			stopOnClientEnd()
			cancel(errBodyClosed)
		}},
		Request: req,
	}
	if n, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil {
		resp.ContentLength = n
	}
	return resp, nil
}

// inProcessBuffer bounds the answer held between handler and client: the
// whole answer of a small read, 256 KiB of a large one.
const inProcessBuffer = 256 << 10

// errBodyClosed ends a handler whose client closed the response body.
var errBodyClosed = errors.New("the in-process client closed the response body")

// inProcessWriter is the handler's http.ResponseWriter: the status line and
// headers are kept at WriteHeader and handed to RoundTrip (started) once
// the handler is done or the body buffer is full; the body goes into the
// buffer.
type inProcessWriter struct {
	header    http.Header
	sent      http.Header // the headers as they were at WriteHeader
	status    int
	err       error         // set instead of a status when the handler failed before one
	started   chan struct{} // closed once status or err is set and handed over
	startOnce sync.Once
	body      *bodyBuffer
}

func (w *inProcessWriter) Header() http.Header { return w.header }

func (w *inProcessWriter) WriteHeader(status int) {
	if w.sent != nil || w.err != nil {
		return
	}
	w.status, w.sent = status, w.header.Clone()
}

func (w *inProcessWriter) Write(p []byte) (int, error) {
	if w.sent == nil {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

// start hands the status line and headers to RoundTrip.
func (w *inProcessWriter) start() { w.startOnce.Do(func() { close(w.started) }) }

// finish ends the body; a handler that wrote nothing answered 200.
func (w *inProcessWriter) finish() {
	if w.sent == nil && w.err == nil {
		w.WriteHeader(http.StatusOK)
	}
	w.body.closeWrite(nil)
	w.start()
}

// fail ends the request with err: as the error of RoundTrip when no status
// was sent yet, else as the error of the body's next read (a TCP client
// sees the connection cut).
func (w *inProcessWriter) fail(err error) {
	if w.sent == nil && w.err == nil {
		w.err = err
	}
	w.body.closeWrite(err)
	w.start()
}

// bodyBuffer carries the answer from the handler to the client: writes
// wait only while limit bytes are unread, reads wait for data or the end.
type bodyBuffer struct {
	mu       sync.Mutex
	readable sync.Cond // data, the end or a failure
	writable sync.Cond // room, or the reader gone
	data     []byte
	limit    int
	writeEnd bool  // the handler is done
	writeErr error // with this failure (nil: the answer is whole)
	readErr  error // the reader is gone: writes fail with it
	onFull   func()
}

func newBodyBuffer(limit int) *bodyBuffer {
	b := &bodyBuffer{limit: limit}
	b.readable.L, b.writable.L = &b.mu, &b.mu
	return b
}

func (b *bodyBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	written := 0
	for len(p) > 0 {
		if b.readErr != nil {
			return written, b.readErr
		}
		room := b.limit - len(b.data)
		if room <= 0 {
			if b.onFull != nil {
				// The client must start reading before more fits.
				b.mu.Unlock()
				b.onFull()
				b.mu.Lock()
			}
			for b.readErr == nil && len(b.data) >= b.limit {
				b.writable.Wait()
			}
			continue
		}
		n := min(room, len(p))
		b.data = append(b.data, p[:n]...)
		p, written = p[n:], written+n
		b.readable.Signal()
	}
	return written, nil
}

func (b *bodyBuffer) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.data) == 0 && !b.writeEnd && b.readErr == nil {
		b.readable.Wait()
	}
	if b.readErr != nil {
		return 0, b.readErr
	}
	if len(b.data) == 0 {
		if b.writeErr != nil {
			return 0, b.writeErr
		}
		return 0, io.EOF
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	if len(b.data) == 0 {
		b.data = b.data[:0:0] // let a large buffer go
	}
	b.writable.Signal()
	return n, nil
}

// closeWrite ends the answer, with err when the handler failed.
func (b *bodyBuffer) closeWrite(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.writeEnd {
		b.writeEnd, b.writeErr = true, err
	}
	b.readable.Broadcast()
}

// closeRead gives up on the answer: reads and writes fail with err.
func (b *bodyBuffer) closeRead(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.readErr == nil {
		b.readErr = err
	}
	b.readable.Broadcast()
	b.writable.Broadcast()
}

// inProcessBody is the response body: closing it stops the handler.
type inProcessBody struct {
	buf  *bodyBuffer
	once sync.Once
	done func()
}

func (b *inProcessBody) Read(p []byte) (int, error) { return b.buf.Read(p) }

func (b *inProcessBody) Close() error {
	b.once.Do(func() {
		b.buf.closeRead(io.ErrClosedPipe)
		b.done()
	})
	return nil
}
