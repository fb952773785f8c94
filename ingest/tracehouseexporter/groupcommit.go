package tracehouseexporter

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Batches go into the persistent queue whole (group commit), so that a
// batch replayed after a crash is the batch that was inserted before it,
// with the same deduplication token.
//
// The writer's token is the hash of a batch's block (storage/writer,
// token.go): ClickHouse skips a block whose token it has seen, so a batch
// written twice is stored once, but only if it is the same batch. With
// exporterhelper's own batching (sending_queue.batch) the persistent queue
// holds the senders' requests and batches are merged after the queue, on
// a timer: a batch that was inserted just before a SIGKILL, but not yet
// marked done in the queue, comes back after the restart as its requests,
// moved behind the backlog and merged with other requests into other
// batches, with other tokens: every item of it is stored twice
// (TestReplayAfterKillStoresOnce shows it).
//
// So with a persistent queue the exporter merges requests itself, in
// front of the queue, and exporterhelper queues and sends each merged
// batch as one request (its batching turned off). A sender's request
// joins the open batch; the batch is closed when it holds min_size items
// (while ClickHouse keeps up; below), when the next request would take it
// past max_size (a request larger than max_size is a batch of its own;
// sizes count items, so batch::sizer must be items: Config.Validate), or
// on time (below); then it is written to the queue once (to disk, for a
// persistent queue), and every sender whose request is in it is answered
// with the result (OK, or the queue's refusal when its budget is full).
// A replay, a retry and the split of a batch around a bad item
// (writer/bisect.go) all see the same batch, so their tokens are those of
// the first attempt.
//
// Batches (of one signal) are spaced by an interval, unless min_size
// closes one sooner: a few recent INSERT durations, within
// [flush_timeout/10, flush_timeout] (interval, below). A request that
// finds no batch closed within the last interval goes to the queue at once
// (a sender on a quiet collector waits only for the disk), and under a
// steady stream a batch is closed every interval. When ClickHouse
// falls behind (a batch this exporter queued is still waiting for an
// INSERT: pipe), the open batch stays open and grows, up to max_size or
// maxWaitFactor flush_timeouts, so a backlog is written in fewer,
// larger INSERTs, as exporterhelper's batching after the queue did, and
// senders are slowed down by their answers instead of filling the queue
// with small batches. The embedded engine runs one statement at a time
// and inserts first; closing batches faster than that (back to back, or
// on a short timer) starved its reads and made backlogs drain slowly.
//
// A sender waits up to an interval for its answer (maxWaitFactor
// flush_timeouts when ClickHouse is behind). An OTel SDK sends one request
// at a time, 512 spans each: measured with internal/bench/sdkrate against
// all-in-one (flush_timeout 500 ms), one SDK gets about 4,000 spans/s in
// (it got 1,130 when batches were spaced by flush_timeout itself, and
// dropped the rest).
//
// A memory queue has nothing to replay (a retry resends the same batch),
// but it gets the group commit too, when its batches count items: a batch
// enters the queue encoded (request.go), so the queue holds Native blocks
// instead of pdata. With exporterhelper batching after a memory queue,
// the queued pdata made most of a collector's peak RSS: 715 MiB against
// 251 MiB now, for spans under 32 senders (bench/ingest, README.md:
// "Batches that grow under a backlog, and encoded batches in the memory
// queue too"), and each batch was converted after the queue all the
// same. What senders give up for it is the answer at once: they wait for
// their batch to close, as in front of a persistent queue (at most an
// interval while ClickHouse keeps up).

// groupCommit merges requests of type T into batches and hands each batch
// to next, answering every request of a batch with next's result.
type groupCommit[T any] struct {
	minSize, maxSize int // items; maxSize 0: no limit
	wait             time.Duration
	newBatch         func() T
	moveInto         func(dst, src T) // moves every item of src into dst
	next             func(context.Context, T) error
	now              func() time.Time
	// pipe counts the batches queued and not yet being inserted; nil:
	// the timer closes batches whatever ClickHouse does.
	pipe *pipe

	mu        sync.Mutex
	open      *openBatch[T]
	lastClose time.Time // when the last batch was closed
	closed    bool
	// flushes counts batches handed to next and not yet answered, so
	// shutdown can wait for them.
	flushes sync.WaitGroup
}

type openBatch[T any] struct {
	data   T
	items  int
	opened time.Time
	timer  *time.Timer
	done   chan struct{}
	err    error
}

// groupCommitFor returns the group commit of queue's batch settings in
// front of next, or nil when exporterhelper should batch: no batching, or
// batches that do not count items (Config.Validate refuses those in front
// of a persistent queue).
func groupCommitFor[T any](queue exporterhelper.QueueBatchConfig, newBatch func() T, moveInto func(dst, src T), next func(context.Context, T) error, p *pipe) *groupCommit[T] {
	if !queue.Batch.HasValue() || queue.Batch.Get().Sizer != exporterhelper.RequestSizerTypeItems {
		return nil
	}
	b := queue.Batch.Get()
	return &groupCommit[T]{
		minSize:  int(b.MinSize),
		maxSize:  int(b.MaxSize),
		wait:     b.FlushTimeout,
		newBatch: newBatch,
		moveInto: moveInto,
		next:     next,
		pipe:     p,
	}
}

// withoutBatching is queue with exporterhelper's batching turned off: the
// group commit batches instead.
func withoutBatching(queue exporterhelper.QueueBatchConfig) exporterhelper.QueueBatchConfig {
	queue.Batch = configoptional.None[exporterhelper.BatchConfig]()
	return queue
}

// consume adds data (n items) to the open batch and returns once the batch
// is in the queue (or was refused). It does not give up when ctx ends:
// the data is in the batch by then and will be queued; the wait is
// bounded by maxWaitFactor·wait and one queue write.
func (g *groupCommit[T]) consume(ctx context.Context, data T, n int) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return g.next(ctx, data)
	}
	var full *openBatch[T]
	if g.open != nil && g.maxSize > 0 && g.open.items+n > g.maxSize {
		full = g.take()
	}
	// While ClickHouse is behind, min_size does not close a batch and
	// neither does a quiet spell: the batch grows until an INSERT starts
	// on the one before it (flushIfOpen), or to max_size. A backlog is
	// then written in batches as large as the engine's pace allows rather
	// than in min_size steps: the embedded engine spends per INSERT (a
	// part written, merged later) as much as per row, and under the ingest
	// bench's 32 senders batches closed at min_size kept it behind.
	behind := g.pipe.behind()
	due := false // no batch closed within the last wait: close this one at once
	if g.open == nil {
		b := &openBatch[T]{data: g.newBatch(), done: make(chan struct{}), opened: g.clock()}
		delay := g.lastClose.Add(g.interval()).Sub(g.clock())
		if due = delay <= 0 && !behind; !due {
			if delay <= 0 {
				delay = g.wait / 4 // behind: look again in a little while
			}
			b.timer = time.AfterFunc(delay, func() { g.flushIfOpen(b) })
		}
		g.open = b
		g.flushes.Add(1)
	}
	b := g.open
	g.moveInto(b.data, data)
	b.items += n
	var now *openBatch[T]
	if due || (b.items >= g.minSize && !behind) || (g.maxSize > 0 && b.items >= g.maxSize) {
		now = g.take()
	}
	g.mu.Unlock()
	if full != nil {
		go g.flush(full)
	}
	if now != nil {
		g.flush(now)
	}
	<-b.done
	return b.err
}

func (g *groupCommit[T]) clock() time.Time {
	if g.now != nil {
		return g.now()
	}
	return time.Now()
}

// take closes the open batch; the caller flushes it. g.mu is held.
func (g *groupCommit[T]) take() *openBatch[T] {
	b := g.open
	g.open = nil
	g.lastClose = g.clock()
	if b.timer != nil {
		b.timer.Stop()
	}
	return b
}

// The least time between two batches when ClickHouse keeps up: a few
// INSERT durations (insertSpacing), at least flush_timeout/minIntervalDivisor
// and at most flush_timeout.
//
// Why not flush_timeout itself: a sender is answered when its batch is on
// disk, and an OTel SDK sends one export at a time, so with a fixed
// flush_timeout of 500 ms one SDK got about 1,130 spans/s in and dropped
// the rest (internal/bench/sdkrate: 62% of 3,000 spans/s lost). Why not
// back to back: the embedded engine runs one statement at a time, inserts
// first, and small INSERTs one after the other left reads waiting. Spacing
// batches by insertSpacing INSERT durations keeps INSERTs of one signal to
// about half of the engine's time while answering a sender within a few
// INSERT times; when ClickHouse falls behind, batches grow (flushIfOpen).
// Measured with sdkrate, one SDK, against all-in-one (flush_timeout
// 500 ms), spans stored of those made / the trace search's p50 and p90
// meanwhile: at 1,000 spans/s all / 31, 67 ms with flush_timeout spacing,
// all / 40, 108 ms with this; at 3,000 spans/s 38% / 39, 64 ms against
// all / 46, 85 ms (3 INSERT durations: 87%); at 5,000 spans/s 80%. Reads
// pay a few ms for not losing data.
const (
	insertSpacing      = 2
	minIntervalDivisor = 10
)

func (g *groupCommit[T]) interval() time.Duration {
	if g.pipe == nil {
		return g.wait
	}
	return min(max(insertSpacing*g.pipe.insertTime(), g.wait/minIntervalDivisor), g.wait)
}

// maxWaitFactor bounds, in flush_timeouts, how long a batch stays open
// while ClickHouse is behind.
const maxWaitFactor = 10

func (g *groupCommit[T]) flushIfOpen(b *openBatch[T]) {
	g.mu.Lock()
	if g.open != b {
		g.mu.Unlock()
		return
	}
	if g.pipe.behind() && g.clock().Sub(b.opened) < maxWaitFactor*g.wait {
		// ClickHouse has not started on the last batch yet: let this one
		// grow, and look again in a little while.
		b.timer.Reset(g.wait / 4)
		g.mu.Unlock()
		return
	}
	g.take()
	g.mu.Unlock()
	g.flush(b)
}

// flush writes a closed batch to the queue and answers its requests. The
// batch belongs to no sender's context: it outlives any of them.
func (g *groupCommit[T]) flush(b *openBatch[T]) {
	defer g.flushes.Done()
	g.pipe.queued(1)
	b.err = g.next(context.Background(), b.data)
	if b.err != nil {
		g.pipe.queued(-1)
	}
	close(b.done)
}

// shutdown queues the open batch and waits for every batch being
// queued; later requests go to next one by one.
func (g *groupCommit[T]) shutdown() {
	g.mu.Lock()
	g.closed = true
	var b *openBatch[T]
	if g.open != nil {
		b = g.take()
	}
	g.mu.Unlock()
	if b != nil {
		g.flush(b)
	}
	g.flushes.Wait()
}

// pipe counts the batches a group commit put in the queue that no push
// has started on yet. Batches replayed after a restart and retries are
// not told apart from them (the count never goes below 0): they only
// make the count low for a moment.
type pipe struct {
	waiting atomic.Int64
	// insertNanos is a moving average of the INSERTs' durations.
	insertNanos atomic.Int64
}

// inserted records the duration of a push (its INSERTs).
func (p *pipe) inserted(d time.Duration) {
	if p == nil {
		return
	}
	for {
		old := p.insertNanos.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/4
		}
		if p.insertNanos.CompareAndSwap(old, next) {
			return
		}
	}
}

// insertTime is the recent INSERTs' duration (0 before the first).
func (p *pipe) insertTime() time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(p.insertNanos.Load())
}

// behind: a batch this process queued still waits for an INSERT.
func (p *pipe) behind() bool { return p != nil && p.waiting.Load() > 0 }

func (p *pipe) queued(n int64) {
	if p != nil {
		p.waiting.Add(n)
	}
}

// started is called when a push begins.
func (p *pipe) started() {
	if p == nil {
		return
	}
	for {
		n := p.waiting.Load()
		if n <= 0 || p.waiting.CompareAndSwap(n, n-1) {
			return
		}
	}
}

func newTracesBatch() ptrace.Traces { return ptrace.NewTraces() }

func moveTraces(dst, src ptrace.Traces) {
	src.ResourceSpans().MoveAndAppendTo(dst.ResourceSpans())
}

func newLogsBatch() plog.Logs { return plog.NewLogs() }

func moveLogs(dst, src plog.Logs) {
	src.ResourceLogs().MoveAndAppendTo(dst.ResourceLogs())
}
