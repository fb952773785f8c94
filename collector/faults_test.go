package collector

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// sender posts numbered traces, one request after the other, until every
// request was answered 200: a client with at-least-once delivery (it sends
// a request again when it got no answer, a 429 or a 503).
type sender struct {
	addr       string
	requests   int
	perRequest int
	progress   atomic.Int64 // requests answered 200
	retries    atomic.Int64
	done       chan error
}

func startSender(addr string, requests, perRequest int) *sender {
	s := &sender{addr: addr, requests: requests, perRequest: perRequest, done: make(chan error, 1)}
	go func() { s.done <- s.run() }()
	return s
}

func (s *sender) run() error {
	services := []string{"gateway", "order"}
	for i := 0; i < s.requests; i++ {
		td := ingesttest.NumberedTraces(uint64(i*s.perRequest), uint64(s.perRequest), services, time.Now())
		body, err := ptraceBody(td)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(120 * time.Second)
		for {
			code, err := postOnce(s.addr, body)
			if err == nil && code == http.StatusOK {
				break
			}
			if err == nil && code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
				return fmt.Errorf("request %d: status %d", i, code)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("request %d not accepted: %v %d", i, err, code)
			}
			s.retries.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		s.progress.Add(1)
	}
	return nil
}

// waitProgress waits until n requests were accepted.
func (s *sender) waitProgress(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for s.progress.Load() < n {
		select {
		case err := <-s.done:
			s.done <- err
			if err != nil {
				t.Fatalf("sender: %v", err)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sender stuck at %d requests, waiting for %d", s.progress.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With the persistent queue (file_storage), ClickHouse goes down, the
// collector restarts while it is down and while data keeps coming, then
// ClickHouse comes back: every span a sender got a 200 for is stored.
// Duplicates (at-least-once delivery: a batch stored just before a
// restart is sent again after it) are counted and reported, not hidden.
func TestPersistentQueueSurvivesOutageAndRestart(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	proxy := ingesttest.StartFaultProxy(t, chtest.Server(t).Addr())
	ep := newEndpoints(t)
	yaml := persistentQueueConfig(ep, proxy.DSN("default"), db, t.TempDir(), "100ms", 200, 1000)
	p := startPipeline(t, yaml)

	const requests, perRequest = 40, 50
	s := startSender(ep.http, requests, perRequest)

	s.waitProgress(t, 10)
	proxy.SetMode(ingesttest.Refuse) // ClickHouse is down
	refusedAt := s.progress.Load()

	s.waitProgress(t, 20)
	waitFor(t, "the exporter to hit the outage", func() bool { return proxy.Refused() > 0 })
	stopPipeline(t, p) // restart mid-stream, ClickHouse still down
	refusedBefore := proxy.Refused()
	p = startPipeline(t, yaml)
	waitFor(t, "the restarted collector to hit the outage", func() bool { return proxy.Refused() > refusedBefore })
	time.Sleep(2 * time.Second) // a few seconds of outage: retries back off to max_interval

	s.waitProgress(t, 30)
	storedDuringOutage := ingesttest.Count(t, conn, "SELECT uniqExact(SpanId) FROM "+db+".spans")
	if limit := uint64((refusedAt + 1) * perRequest); storedDuringOutage > limit {
		t.Fatalf("%d spans stored while ClickHouse was down, at most %d were sent before", storedDuringOutage, limit)
	}
	proxy.SetMode(ingesttest.Pass) // ClickHouse is back

	if err := <-s.done; err != nil {
		t.Fatalf("sender: %v", err)
	}
	sent := uint64(requests * perRequest)
	rows := waitAllSpansStored(t, conn, db, sent)
	if rows < sent {
		t.Errorf("%d rows for %d distinct spans", rows, sent)
	}
	t.Logf("sent %d spans (%d client retries); %d stored before the outage ended; now %d distinct in %d rows: %d duplicates from at-least-once delivery",
		sent, s.retries.Load(), storedDuringOutage, sent, rows, rows-sent)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// persistentQueueConfig is a collector whose exporter keeps its sending
// queue in file_storage under dir and retries for ever: the setup of the
// outage, restart and SIGKILL tests, which differ only in batch sizes.
func persistentQueueConfig(ep endpoints, dsn, db, dir, flushTimeout string, minSize, maxSize int) string {
	return testConfig(ep, dsn, db, fmt.Sprintf(`
    timeout: 20s
    retry_on_failure:
      enabled: true
      initial_interval: 100ms
      max_interval: 500ms
      max_elapsed_time: 0s
    sending_queue:
      storage: file_storage
      sizer: items
      queue_size: 100000
      num_consumers: 2
      batch:
        flush_timeout: %s
        min_size: %d
        max_size: %d`, flushTimeout, minSize, maxSize), "  file_storage:\n    directory: "+dir+"\n", "file_storage")
}

// waitAllSpansStored waits until spans 1 … sent (ingesttest.SpanID) are all
// stored, checks that no other span was, and returns how many rows there
// are: more than sent are duplicates from at-least-once delivery.
func waitAllSpansStored(t *testing.T, conn driver.Conn, db string, sent uint64) (rows uint64) {
	t.Helper()
	ingesttest.WaitCount(t, conn, "SELECT uniqExact(SpanId) FROM "+db+".spans", sent)
	rows = ingesttest.Count(t, conn, "SELECT count() FROM "+db+".spans")
	strangers := ingesttest.Count(t, conn, fmt.Sprintf(
		"SELECT count() FROM %s.spans WHERE reinterpretAsUInt64(reverse(SpanId)) NOT BETWEEN 1 AND %d", db, sent))
	if strangers != 0 {
		t.Errorf("%d stored spans were never sent", strangers)
	}
	return rows
}
