package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// The engine runs one statement at a time, so every request waits for it.
// The scheduler decides who goes next, on three rules:
//
//   - Writes go first. Inserts (and the DDL and DESCRIBE that come with
//     them) are what keeps ingest flowing; a read only delays a person
//     looking at a screen. Under a write flood a read still gets the engine
//     after maxWritesInARow writes, so the UI slows down but never stops.
//   - Reads wait in a bounded queue (ReadQueue), for a bounded time
//     (ReadQueueWait). Past either the read is refused with 503 and
//     Retry-After, before it costs the engine anything: a pile of reads
//     that nobody will wait for must not hold ingest up.
//   - A request whose client has gone is never started, wherever it waits;
//     a running read whose client goes is cancelled at its next chunk
//     (chdb.Engine.Stream). Writes are never cancelled once started: the
//     engine commits an INSERT whole or not at all.

// class is how the scheduler treats a statement.
type class int

const (
	classWrite class = iota // inserts, DDL, DESCRIBE: what ingest needs
	classRead               // queries
)

func (c class) String() string {
	if c == classRead {
		return "read"
	}
	return "write"
}

// classify tells reads from writes. DESCRIBE is a write: clickhouse-go
// describes the table before every batch insert, and an insert stuck
// behind reads at its first step would lose its priority. SET and USE are
// answered without running (sessionStatement) and go with the writes
// since they cost nothing.
func classify(req *request) class {
	if req.insertTarget != "" {
		return classWrite
	}
	switch firstWord(req.sql) {
	case "SELECT", "WITH", "(", "SHOW", "EXPLAIN", "EXISTS", "CHECK":
		return classRead
	}
	return classWrite
}

const (
	// maxWritesInARow is how many writes may go while a read waits before
	// the read gets its turn.
	maxWritesInARow = 16
	// maxQueuedWrites bounds writes waiting for the engine. Ingest sends a
	// handful at a time (the exporter's consumers); more means a client
	// gone wrong, and a 503 makes it retry later.
	maxQueuedWrites = 256
	// busyRetryAfter is what a refused request is told to wait.
	busyRetryAfter = 2 * time.Second
	// codeTooManyQueries is ClickHouse's TOO_MANY_SIMULTANEOUS_QUERIES,
	// which a ClickHouse server answers with 503 as well.
	codeTooManyQueries = 202
	// busyLogEvery spaces the log lines about refused requests.
	busyLogEvery = 10 * time.Second
)

// errClientGone: the request's client went away before its turn.
var errClientGone = errors.New("client went away before its statement started")

// SchedulerStats counts what the scheduler did since the server started.
type SchedulerStats struct {
	// ReadsStarted and WritesStarted are statements handed to the engine.
	ReadsStarted, WritesStarted uint64
	// ReadsRefused were refused (503) because the read queue was full;
	// ReadsTimedOut waited ReadQueueWait and were refused (503);
	// WritesRefused found maxQueuedWrites waiting.
	ReadsRefused, ReadsTimedOut, WritesRefused uint64
	// Abandoned requests never started: their client went away first.
	Abandoned uint64
	// ReadsCancelled were stopped while running: their client went away.
	ReadsCancelled uint64
	// QueuedReads and QueuedWrites wait right now.
	QueuedReads, QueuedWrites int
}

// scheduler hands the engine to one request at a time.
type scheduler struct {
	log zerolog.Logger

	mu           sync.Mutex
	readQueue    int
	readWait     time.Duration
	busy         bool      // a request holds the engine
	writes       []*waiter // FIFO
	reads        []*waiter // FIFO
	writesInARow int       // writes granted in a row while reads waited
	lastBusyLog  time.Time
	refusedSince uint64 // refusals since the last log line

	readsStarted, writesStarted                atomic.Uint64
	readsRefused, readsTimedOut, writesRefused atomic.Uint64
	abandoned, readsCancelled                  atomic.Uint64
}

// waiter is one request waiting for the engine.
type waiter struct {
	class   class
	turn    chan struct{} // closed when the engine is this waiter's
	granted bool          // set with turn closed, under scheduler.mu
}

func newScheduler(readQueue int, readWait time.Duration, log zerolog.Logger) *scheduler {
	return &scheduler{readQueue: readQueue, readWait: readWait, log: log}
}

// acquire waits until the engine is the caller's and returns the function
// that gives it back. It fails with a 503 *httpError when the request is
// refused, and with errClientGone when ctx ends first; either way nothing
// ran.
func (s *scheduler) acquire(ctx context.Context, c class) (release func(), err error) {
	if ctx.Err() != nil {
		s.abandoned.Add(1)
		return nil, errClientGone
	}
	s.mu.Lock()
	if !s.busy && len(s.writes) == 0 && len(s.reads) == 0 {
		s.busy = true
		s.mu.Unlock()
		s.started(c)
		return s.release, nil
	}
	if refusal := s.admit(c); refusal != nil {
		s.mu.Unlock()
		return nil, refusal
	}
	w := &waiter{class: c, turn: make(chan struct{})}
	if c == classRead {
		s.reads = append(s.reads, w)
	} else {
		s.writes = append(s.writes, w)
	}
	wait := s.readWait
	s.mu.Unlock()

	var deadline <-chan time.Time
	if c == classRead {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		deadline = timer.C
	}
	timedOut := false
	select {
	case <-w.turn:
	case <-ctx.Done():
	case <-deadline:
		timedOut = true
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted {
		// The engine is this request's, perhaps granted just as it gave up.
		// A read at its deadline runs anyway (it waited its time and the
		// engine is free for it); a request whose client left passes the
		// engine on without touching it.
		if ctx.Err() != nil {
			s.abandoned.Add(1)
			s.next()
			return nil, errClientGone
		}
		s.started(c)
		return s.release, nil
	}
	s.remove(w)
	if timedOut {
		s.readsTimedOut.Add(1)
		return nil, s.refuse("read waited %v for the embedded ClickHouse, which was busy with other statements (inserts go first); retry later, or raise --read-queue-wait", wait)
	}
	s.abandoned.Add(1)
	return nil, errClientGone
}

// admit refuses a request the queues have no room for. Called with mu held.
func (s *scheduler) admit(c class) *busyError {
	switch {
	case c == classRead && len(s.reads) >= s.readQueue:
		s.readsRefused.Add(1)
		return s.refuse("%d reads are already waiting for the embedded ClickHouse (--read-queue); retry later", len(s.reads))
	case c == classWrite && len(s.writes) >= maxQueuedWrites:
		s.writesRefused.Add(1)
		return s.refuse("%d writes are already waiting for the embedded ClickHouse; retry later", len(s.writes))
	}
	return nil
}

// busyError is a refusal: 503 with TOO_MANY_SIMULTANEOUS_QUERIES, and
// Retry-After.
type busyError struct {
	*httpError
	retryAfter time.Duration
}

func (e *busyError) Unwrap() error { return e.httpError }

// refuse makes the 503 a refused request gets, and logs refusals at most
// once per busyLogEvery. Called with mu held.
func (s *scheduler) refuse(format string, args ...any) *busyError {
	msg := fmt.Sprintf(format, args...)
	s.refusedSince++
	if now := time.Now(); now.Sub(s.lastBusyLog) >= busyLogEvery {
		s.log.Warn().Uint64("refused", s.refusedSince).Int("queued_reads", len(s.reads)).Int("queued_writes", len(s.writes)).
			Msg("embedded ClickHouse busy, requests refused with 503: " + msg)
		s.lastBusyLog, s.refusedSince = now, 0
	}
	return &busyError{
		httpError:  &httpError{status: http.StatusServiceUnavailable, code: codeTooManyQueries, msg: msg + " (TOO_MANY_SIMULTANEOUS_QUERIES)"},
		retryAfter: busyRetryAfter,
	}
}

// release gives the engine back and hands it to the next request.
func (s *scheduler) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next()
}

// next hands the engine to the next waiter, or marks it free. Writes go
// first, unless maxWritesInARow went while a read waited. Called with mu
// held, by the request that holds the engine.
func (s *scheduler) next() {
	var w *waiter
	switch {
	case len(s.writes) > 0 && (len(s.reads) == 0 || s.writesInARow < maxWritesInARow):
		w, s.writes = s.writes[0], s.writes[1:]
		if len(s.reads) > 0 {
			s.writesInARow++
		} else {
			s.writesInARow = 0
		}
	case len(s.reads) > 0:
		w, s.reads = s.reads[0], s.reads[1:]
		s.writesInARow = 0
	default:
		s.busy = false
		return
	}
	w.granted = true
	close(w.turn)
}

func (s *scheduler) started(c class) {
	if c == classRead {
		s.readsStarted.Add(1)
	} else {
		s.writesStarted.Add(1)
	}
}

// remove takes a waiter that gave up out of its queue. Called with mu held.
func (s *scheduler) remove(w *waiter) {
	queue := &s.writes
	if w.class == classRead {
		queue = &s.reads
	}
	for i, q := range *queue {
		if q == w {
			*queue = append((*queue)[:i], (*queue)[i+1:]...)
			return
		}
	}
}

func (s *scheduler) stats() SchedulerStats {
	s.mu.Lock()
	queuedReads, queuedWrites := len(s.reads), len(s.writes)
	s.mu.Unlock()
	return SchedulerStats{
		ReadsStarted:   s.readsStarted.Load(),
		WritesStarted:  s.writesStarted.Load(),
		ReadsRefused:   s.readsRefused.Load(),
		ReadsTimedOut:  s.readsTimedOut.Load(),
		WritesRefused:  s.writesRefused.Load(),
		Abandoned:      s.abandoned.Load(),
		ReadsCancelled: s.readsCancelled.Load(),
		QueuedReads:    queuedReads,
		QueuedWrites:   queuedWrites,
	}
}

// SchedulerStats says what the scheduler in front of the engine did.
func (s *Server) SchedulerStats() SchedulerStats { return s.sched.stats() }

// readLimits gives a read the engine-wide limits for the settings its
// client left unset: every read is bounded in time and memory, whoever
// sends it.
func (s *Server) readLimits(req *request) {
	if _, set := req.settings["max_execution_time"]; !set && s.cfg.ReadTimeout > 0 {
		req.settings["max_execution_time"] = strconv.FormatFloat(s.cfg.ReadTimeout.Seconds(), 'f', -1, 64)
	}
	if _, set := req.settings["max_memory_usage"]; !set && s.cfg.ReadMaxMemory > 0 {
		req.settings["max_memory_usage"] = strconv.FormatInt(s.cfg.ReadMaxMemory, 10)
	}
}

// setRetryAfter adds Retry-After to the answer of a refused request.
func setRetryAfter(w http.ResponseWriter, err error) {
	var busy *busyError
	if errors.As(err, &busy) {
		w.Header().Set("Retry-After", strconv.Itoa(int((busy.retryAfter+time.Second-1)/time.Second)))
	}
}
