package tracehouseexporter

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// storageHost is a host with one file_storage extension, the persistent
// queue's storage, on a folder that outlives the exporter.
type storageHost struct {
	component.Host
	id  component.ID
	ext component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{h.id: h.ext}
}

var queueStorageID = component.MustNewIDWithName("file_storage", "queue")

// startStorage starts a file_storage extension on dir; stop shuts it down.
func startStorage(t *testing.T, dir string) (h storageHost, stop func()) {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	return storageHost{Host: componenttest.NewNopHost(), id: queueStorageID, ext: ext}, func() {
		if err := ext.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}
}

// persistentConfig writes through dsn into db with the sending queue on
// the host's file_storage, batching requests that arrive within half a
// second.
func persistentConfig(dsn, db string) *Config {
	cfg := testConfig(dsn, db)
	q := cfg.QueueConfig.Get()
	id := queueStorageID
	q.StorageID = &id
	q.Batch.Get().FlushTimeout = 500 * time.Millisecond
	cfg.TimeoutConfig.Timeout = 2 * time.Second
	// The first retry comes after the shutdown (the "kill"): the batch
	// stays in the queue, dispatched and not done.
	cfg.RetryConfig.InitialInterval = time.Minute
	cfg.RetryConfig.MaxInterval = time.Minute
	return cfg
}

// A batch is inserted (ClickHouse commits it) but the collector dies
// before the persistent queue records it as done, so the next start
// replays it, while new data arrives. The replay must be the batch that
// was inserted, with the same deduplication token, however the new data
// is batched: every span is stored once. With exporterhelper batching
// after the queue, the replayed request was merged with the new one into
// another batch with another token, and the first 20 spans were stored
// twice (60 rows instead of 40).
func TestReplayAfterKillStoresOnce(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
	queueDir := t.TempDir()
	cfg := persistentConfig(proxy.DSN("default"), db)
	ctx := context.Background()
	now := time.Now()

	// First life: two senders' requests, one batch; its answer is lost
	// after ClickHouse committed it, and the collector stops before
	// retrying (the queue keeps the batch, as after a SIGKILL).
	host, stopStorage := startStorage(t, queueDir)
	set1 := settings(nil)
	set1.ID = component.NewID(componentType) // the queue's file is named after it
	first, err := NewFactory().CreateTraces(ctx, set1, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(ctx, host); err != nil {
		t.Fatal(err)
	}
	proxy.SetLoseAnswer("spans")
	if err := first.ConsumeTraces(ctx, ingesttest.NumberedTraces(0, 20, services, now)); err != nil {
		t.Fatal(err)
	}
	if !proxy.WaitLost(1, time.Minute) {
		t.Fatal("the batch's INSERT never committed")
	}
	if n := ingesttest.Count(t, conn, "SELECT count() FROM "+db+".spans"); n != 20 {
		t.Fatalf("%d spans stored by the first INSERT, want the batch's 20", n)
	}
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	stopStorage()

	// Second life: the queue replays the batch while a third request
	// arrives.
	proxy.SetMode(ingesttest.Pass)
	host, stopStorage = startStorage(t, queueDir)
	defer stopStorage()
	cfg.RetryConfig.InitialInterval = 50 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 200 * time.Millisecond
	tel := componenttest.NewTelemetry()
	defer tel.Shutdown(ctx)
	set2 := settings(tel)
	set2.ID = set1.ID
	second, err := NewFactory().CreateTraces(ctx, set2, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(ctx, host); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := second.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	}()
	if err := second.ConsumeTraces(ctx, ingesttest.NumberedTraces(20, 20, services, now)); err != nil {
		t.Fatal(err)
	}
	// Sent: the replayed 20 and the new 20 (exporterhelper counts a
	// deduplicated INSERT as sent).
	waitMetric(t, tel, metricSentSpans, 40)
	for query, want := range map[string]uint64{
		"SELECT count() FROM " + db + ".spans":               40,
		"SELECT uniqExact(SpanId) FROM " + db + ".spans":     40,
		"SELECT sum(Calls) FROM " + db + ".red_1m":           40,
		"SELECT sum(Calls) FROM " + db + ".service_edges_1m": 30, // 3 cross-service calls per trace of 4
	} {
		if n := ingesttest.Count(t, conn, query); n != want {
			t.Errorf("%s = %d, want %d", query, n, want)
		}
	}
}

// The group commit answers every request of a batch with the batch's
// result, closes a batch at min_size or before max_size is passed, and
// after shutdown hands requests on one by one. A request that finds no
// batch closed within the last flush_timeout is queued at once.
func TestGroupCommitBatches(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	g := &groupCommit[ptrace.Traces]{
		minSize: 30, maxSize: 50, wait: time.Hour,
		newBatch: newTracesBatch, moveInto: moveTraces,
		next: func(_ context.Context, td ptrace.Traces) error {
			mu.Lock()
			batches = append(batches, td.SpanCount())
			mu.Unlock()
			return nil
		},
	}
	// A batch was just closed: the next waits for min_size (or an hour).
	g.lastClose = time.Now()
	ctx := context.Background()
	var wg sync.WaitGroup
	send := func(first, n uint64) {
		wg.Go(func() {
			if err := g.consume(ctx, ingesttest.NumberedTraces(first, n, services, time.Now()), int(n)); err != nil {
				t.Error(err)
			}
		})
	}
	// 20 waits; 20 more close the batch at min_size (40).
	send(0, 20)
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.open != nil && g.open.items == 20 })
	send(20, 20)
	wg.Wait()
	// 20 waits; 40 would pass max_size: the 20 go alone, the 40 make a
	// batch of their own (past min_size).
	send(40, 20)
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.open != nil && g.open.items == 20 })
	send(60, 40)
	wg.Wait()
	// 10 wait for the shutdown, which queues them; later requests pass.
	send(100, 10)
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.open != nil && g.open.items == 10 })
	g.shutdown()
	wg.Wait()
	send(110, 5)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	want := []int{40, 20, 40, 10, 5}
	if len(batches) != len(want) {
		t.Fatalf("batches %v, want %v", batches, want)
	}
	for i := range want {
		if batches[i] != want[i] && !(i == 1 || i == 2) {
			t.Fatalf("batches %v, want %v", batches, want)
		}
	}
	// The 20 and the 40 are flushed concurrently: either order.
	if batches[1]+batches[2] != 60 || batches[1]*batches[2] != 800 {
		t.Fatalf("batches %v, want %v", batches, want)
	}
}

func TestGroupCommitQuietCollectorAnswersAtOnce(t *testing.T) {
	var batches []int
	g := &groupCommit[ptrace.Traces]{
		minSize: 1000, maxSize: 5000, wait: time.Hour,
		newBatch: newTracesBatch, moveInto: moveTraces,
		next: func(_ context.Context, td ptrace.Traces) error {
			batches = append(batches, td.SpanCount())
			return nil
		},
	}
	if err := g.consume(context.Background(), ingesttest.NumberedTraces(0, 7, services, time.Now()), 7); err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 || batches[0] != 7 {
		t.Fatalf("batches %v, want the request queued at once", batches)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open != nil || time.Since(g.lastClose) > time.Minute {
		t.Fatalf("open batch %v, last closed %v", g.open, g.lastClose)
	}
}

// While a batch it queued waits for an INSERT, the open batch stays open
// and grows past min_size; it closes once an INSERT starts on the waiting
// one, or at max_size.
func TestGroupCommitWaitsWhileClickHouseIsBehind(t *testing.T) {
	var mu sync.Mutex
	var batches []int
	p := &pipe{}
	g := &groupCommit[ptrace.Traces]{
		minSize: 20, maxSize: 60, wait: 20 * time.Millisecond,
		newBatch: newTracesBatch, moveInto: moveTraces, pipe: p,
		next: func(_ context.Context, td ptrace.Traces) error {
			mu.Lock()
			batches = append(batches, td.SpanCount())
			mu.Unlock()
			return nil
		},
	}
	ctx := context.Background()
	// The first goes at once and waits in the queue (no push started).
	if err := g.consume(ctx, ingesttest.NumberedTraces(0, 5, services, time.Now()), 5); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range uint64(3) {
		wg.Go(func() {
			if err := g.consume(ctx, ingesttest.NumberedTraces(10+10*i, 10, services, time.Now()), 10); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.open != nil && g.open.items == 30 })
	time.Sleep(5 * g.wait) // past the flush timeout: still open
	g.mu.Lock()
	stillOpen := g.open != nil
	g.mu.Unlock()
	if !stillOpen {
		t.Fatal("the batch closed while ClickHouse had not started on the one before")
	}
	p.started()
	wg.Wait()
	// The 30 wait in the queue: 20 at a time, the batch closes at max_size
	// (60), not at min_size (20), and not because none closed lately.
	time.Sleep(2 * g.wait)
	for i := range uint64(4) {
		wg.Go(func() {
			if err := g.consume(ctx, ingesttest.NumberedTraces(100+20*i, 20, services, time.Now()), 20); err != nil {
				t.Error(err)
			}
		})
		waitFor(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			g.mu.Lock()
			defer g.mu.Unlock()
			return len(batches) == 3 || (g.open != nil && g.open.items == int(20*(i+1)))
		})
	}
	g.shutdown()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if want := []int{5, 30, 60, 20}; !slices.Equal(batches, want) {
		t.Fatalf("batches %v, want %v", batches, want)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With a pipe, batches are spaced by a few recent INSERT durations within
// [flush_timeout/minIntervalDivisor, flush_timeout], so that one SDK
// (one export at a time) is answered within a few INSERTs, not a whole
// flush_timeout; without one, by flush_timeout.
func TestGroupCommitIntervalFollowsInserts(t *testing.T) {
	p := &pipe{}
	g := &groupCommit[ptrace.Traces]{wait: 500 * time.Millisecond, pipe: p}
	if got := g.interval(); got != 50*time.Millisecond {
		t.Errorf("before any INSERT: %v, want the floor 50ms", got)
	}
	p.inserted(40 * time.Millisecond)
	if got := g.interval(); got != insertSpacing*40*time.Millisecond {
		t.Errorf("INSERTs of 40ms: %v, want %v", got, insertSpacing*40*time.Millisecond)
	}
	// A moving average: one slow INSERT moves it a quarter of the way.
	p.inserted(440 * time.Millisecond)
	if got := p.insertTime(); got != 140*time.Millisecond {
		t.Errorf("average after 40ms and 440ms: %v, want 140ms", got)
	}
	for range 20 {
		p.inserted(2 * time.Second)
	}
	if got := g.interval(); got != g.wait {
		t.Errorf("slow INSERTs: %v, want flush_timeout %v", got, g.wait)
	}
	if got := (&groupCommit[ptrace.Traces]{wait: time.Second}).interval(); got != time.Second {
		t.Errorf("no pipe: %v, want flush_timeout", got)
	}
}
