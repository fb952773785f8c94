package embedded

import (
	"net/http"
	"time"
)

// The statement guard, for the external tests that check it against the
// engine's own lists and behaviour.
var (
	CheckStatement  = checkStatement
	CheckInsertData = checkInsertData
)

// SetReadQueueForTest gives the running server's read queue other bounds,
// so that scheduler tests can use small ones on the test binary's one
// engine; the returned function restores the previous bounds.
func (s *Server) SetReadQueueForTest(size int, wait time.Duration) (restore func()) {
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	oldSize, oldWait := s.sched.readQueue, s.sched.readWait
	s.sched.readQueue, s.sched.readWait = size, wait
	return func() {
		s.sched.mu.Lock()
		defer s.sched.mu.Unlock()
		s.sched.readQueue, s.sched.readWait = oldSize, oldWait
	}
}

// UnguardedForTest switches the statement guard off until the returned
// function runs: the scheduler tests stall the engine with url() reads of
// a server of their own, which the guard refuses to clients.
func (s *Server) UnguardedForTest() (restore func()) {
	s.unguarded.Store(true)
	return func() { s.unguarded.Store(false) }
}

// HandlerForTest is the server's HTTP handler, for benchmarks that call it
// without a connection (httptest.ResponseRecorder) to tell the server's own
// code from net/http's and the loopback's.
func (s *Server) HandlerForTest() http.Handler { return s.http.Handler }

// InProcessRequestsForTest is how many requests the server answered
// in-process (without a socket) since it started.
func (s *Server) InProcessRequestsForTest() uint64 { return s.inProcess.served.Load() }
