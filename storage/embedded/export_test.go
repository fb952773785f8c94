package embedded

import "time"

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
