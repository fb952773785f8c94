package embedded_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

// The scheduler tests watch the engine from outside: statements read from
// url('<gate>/…'), so the gate (an HTTP server of the test) sees exactly
// which statements the engine ran, in which order, and can hold one
// running for as long as a test needs. No test measures time: a bounded
// wait only keeps a broken scheduler from hanging the suite.

// gate is the test's HTTP server that engine statements read from.
type gate struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	order   []string                 // names, in the order the engine first asked for them
	release map[string]chan struct{} // blocked names
	arrived map[string]chan struct{} // closed when a name is first asked for
	before  map[string]func()        // run when a name is first asked for
}

func newGate(t *testing.T) *gate {
	// The guard refuses url() to clients; these tests are the engine's
	// own and need it to stall a statement where they choose.
	t.Cleanup(chtest.Server(t).UnguardedForTest())
	g := &gate{t: t, release: map[string]chan struct{}{}, arrived: map[string]chan struct{}{}, before: map[string]func(){}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		g.mu.Lock()
		for _, c := range g.release {
			select {
			case <-c:
			default:
				close(c)
			}
		}
		g.mu.Unlock()
		g.srv.Close()
	})
	return g
}

// serve answers /NAME with one line. The engine asks with HEAD, then GET;
// the first request of a name is recorded, and a blocked name holds its
// GET (so the statement keeps running) until unblocked.
func (g *gate) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	g.mu.Lock()
	first := g.arrivedLocked(name)
	select {
	case <-first:
		first = nil
	default:
		g.order = append(g.order, name)
		close(first)
	}
	hook, block := g.before[name], g.release[name]
	g.mu.Unlock()
	if first != nil && hook != nil {
		hook()
	}
	if r.Method == http.MethodGet && block != nil {
		<-block
	}
	io.WriteString(w, name+"\n")
}

func (g *gate) arrivedLocked(name string) chan struct{} {
	c, ok := g.arrived[name]
	if !ok {
		c = make(chan struct{})
		g.arrived[name] = c
	}
	return c
}

// block makes a statement reading name keep running until unblock.
func (g *gate) block(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.release[name] = make(chan struct{})
}

func (g *gate) unblock(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.release[name])
}

// onFirst runs hook when the engine first asks for name, before answering.
func (g *gate) onFirst(name string, hook func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.before[name] = hook
}

// waitArrived waits until a statement reading name has started.
func (g *gate) waitArrived(name string) {
	g.t.Helper()
	g.mu.Lock()
	c := g.arrivedLocked(name)
	g.mu.Unlock()
	select {
	case <-c:
	case <-time.After(60 * time.Second):
		g.t.Fatalf("the engine never read %s", name)
	}
}

func (g *gate) ran(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.arrived[name]
	if !ok {
		return false
	}
	select {
	case <-g.arrived[name]:
		return true
	default:
		return false
	}
}

func (g *gate) sequence() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.order...)
}

// read is a query that makes the engine fetch name from the gate.
func (g *gate) read(name string) string {
	return fmt.Sprintf("SELECT * FROM url('%s/%s', LineAsString)", g.srv.URL, name)
}

// answer is the engine's reply to one request.
type answer struct {
	status     int
	retryAfter string
	code       string // X-ClickHouse-Exception-Code
	body       string
	err        error
}

// post sends sql to the test engine as a ClickHouse HTTP client does; ctx
// ending closes the connection, as a client that gives up does.
func post(ctx context.Context, t *testing.T, sql string, params url.Values) answer {
	u := "http://" + chtest.Server(t).Addr() + "/"
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(sql))
	if err != nil {
		return answer{err: err}
	}
	req.SetBasicAuth(chtest.Credentials(t))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, retryAfter: res.Header.Get("Retry-After"),
		code: res.Header.Get("X-ClickHouse-Exception-Code"), body: string(body), err: err}
}

// postAsync sends sql in the background; the answer arrives on the channel.
func postAsync(ctx context.Context, t *testing.T, sql string) <-chan answer {
	c := make(chan answer, 1)
	go func() { c <- post(ctx, t, sql, nil) }()
	return c
}

func mustOK(t *testing.T, what string, a answer) {
	t.Helper()
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("%s: %d %q %v", what, a.status, a.body, a.err)
	}
}

// waitStats waits until the scheduler's counts satisfy cond.
func waitStats(t *testing.T, what string, cond func(embedded.SchedulerStats) bool) embedded.SchedulerStats {
	t.Helper()
	srv := chtest.Server(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := srv.SchedulerStats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; scheduler: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// holdEngine starts a read that keeps the engine busy until the returned
// function is called, and waits until it runs.
func holdEngine(t *testing.T, g *gate, name string) (release func()) {
	t.Helper()
	g.block(name)
	done := postAsync(context.Background(), t, g.read(name))
	g.waitArrived(name)
	return func() {
		g.unblock(name)
		mustOK(t, "the read holding the engine", <-done)
	}
}

// With a heavy read running, an INSERT that arrives after a read is served
// before it: the queued read starts only once the insert has been answered.
func TestInsertGoesBeforeQueuedReads(t *testing.T) {
	db := chtest.NewDatabase(t)
	mustOK(t, "create", post(context.Background(), t, "CREATE TABLE "+db+".t (n UInt64) ENGINE = MergeTree ORDER BY n", nil))
	g := newGate(t)
	before := chtest.Server(t).SchedulerStats()

	releaseHeavy := holdEngine(t, g, "heavy")
	read1 := postAsync(context.Background(), t, g.read("read1"))
	waitStats(t, "the first read to queue", func(s embedded.SchedulerStats) bool { return s.QueuedReads == 1 })
	inserted := make(chan answer, 1)
	go func() {
		inserted <- post(context.Background(), t, "INSERT INTO "+db+".t FORMAT TabSeparated\n1\n2\n3\n", nil)
	}()
	waitStats(t, "the insert to queue", func(s embedded.SchedulerStats) bool { return s.QueuedWrites == 1 })
	read2 := postAsync(context.Background(), t, g.read("read2"))
	waitStats(t, "the second read to queue", func(s embedded.SchedulerStats) bool { return s.QueuedReads == 2 })

	// When read1 starts, the insert must be done already: had read1 gone
	// first, the insert could not finish while read1 is held here.
	insertDoneFirst := make(chan answer, 1)
	g.onFirst("read1", func() {
		select {
		case a := <-inserted:
			insertDoneFirst <- a
		case <-time.After(30 * time.Second):
			insertDoneFirst <- answer{err: fmt.Errorf("the insert was not answered before read1 started")}
		}
	})
	releaseHeavy()
	mustOK(t, "read1", <-read1)
	mustOK(t, "read2", <-read2)
	mustOK(t, "insert, by the time read1 started", <-insertDoneFirst)
	if got, want := strings.Join(g.sequence(), ","), "heavy,read1,read2"; got != want {
		t.Fatalf("engine ran reads in order %s, want %s", got, want)
	}
	after := chtest.Server(t).SchedulerStats()
	if d := after.WritesStarted - before.WritesStarted; d != 1 {
		t.Errorf("%d writes started, want 1 (the insert)", d)
	}
	a := post(context.Background(), t, "SELECT count() FROM "+db+".t", nil)
	if mustOK(t, "count", a); a.body != "3\n" {
		t.Fatalf("stored %q rows, want 3", a.body)
	}
}

// Writes go first, but a read waiting behind a flood of writes gets the
// engine after 16 of them.
func TestReadsAreNotStarvedByWrites(t *testing.T) {
	db := chtest.NewDatabase(t)
	mustOK(t, "create", post(context.Background(), t, "CREATE TABLE "+db+".lines (s String) ENGINE = MergeTree ORDER BY s", nil))
	g := newGate(t)
	releaseHeavy := holdEngine(t, g, "heavy")

	read := postAsync(context.Background(), t, g.read("read"))
	waitStats(t, "the read to queue", func(s embedded.SchedulerStats) bool { return s.QueuedReads == 1 })
	const writes = 20
	var answers []<-chan answer
	for i := 1; i <= writes; i++ {
		insert := fmt.Sprintf("INSERT INTO %s.lines SELECT * FROM url('%s/w%02d', LineAsString)", db, g.srv.URL, i)
		answers = append(answers, postAsync(context.Background(), t, insert))
		waitStats(t, "the write to queue", func(s embedded.SchedulerStats) bool { return s.QueuedWrites == i })
	}
	releaseHeavy()
	mustOK(t, "read", <-read)
	for i, a := range answers {
		mustOK(t, fmt.Sprintf("write %d", i+1), <-a)
	}
	var want []string
	want = append(want, "heavy")
	for i := 1; i <= 16; i++ {
		want = append(want, fmt.Sprintf("w%02d", i))
	}
	want = append(want, "read")
	for i := 17; i <= writes; i++ {
		want = append(want, fmt.Sprintf("w%02d", i))
	}
	if got := strings.Join(g.sequence(), ","); got != strings.Join(want, ",") {
		t.Fatalf("engine order\n got %s\nwant %s", got, strings.Join(want, ","))
	}
}

// A read that waited its ReadQueueWait, or found the read queue full, is
// answered 503 with Retry-After and ClickHouse's
// TOO_MANY_SIMULTANEOUS_QUERIES, and never runs.
func TestQueuedReadsAreBounded(t *testing.T) {
	srv := chtest.Server(t)
	g := newGate(t)
	t.Cleanup(srv.SetReadQueueForTest(1, 300*time.Millisecond))
	before := srv.SchedulerStats()
	releaseHeavy := holdEngine(t, g, "heavy")

	// Waits its time, then is refused.
	late := post(context.Background(), t, g.read("late"), nil)
	checkBusy(t, "read past its wait", late)
	st := waitStats(t, "the refusal to be counted", func(s embedded.SchedulerStats) bool { return s.ReadsTimedOut == before.ReadsTimedOut+1 })
	if st.QueuedReads != 0 {
		t.Fatalf("%d reads still queued after the refusal", st.QueuedReads)
	}

	// Fills the queue of one; the next is refused at once.
	t.Cleanup(srv.SetReadQueueForTest(1, time.Hour))
	queued := postAsync(context.Background(), t, g.read("queued"))
	waitStats(t, "a read to queue", func(s embedded.SchedulerStats) bool { return s.QueuedReads == 1 })
	checkBusy(t, "read over a full queue", post(context.Background(), t, g.read("over"), nil))
	if st := srv.SchedulerStats(); st.ReadsRefused != before.ReadsRefused+1 {
		t.Fatalf("refused %d reads, want 1", st.ReadsRefused-before.ReadsRefused)
	}

	releaseHeavy()
	mustOK(t, "queued read", <-queued)
	if g.ran("late") || g.ran("over") {
		t.Fatalf("a refused read ran anyway: engine order %v", g.sequence())
	}
	if got := strings.Join(g.sequence(), ","); got != "heavy,queued" {
		t.Fatalf("engine ran %s, want heavy,queued", got)
	}
}

func checkBusy(t *testing.T, what string, a answer) {
	t.Helper()
	if a.err != nil || a.status != http.StatusServiceUnavailable {
		t.Fatalf("%s: %d %q %v, want 503", what, a.status, a.body, a.err)
	}
	if a.retryAfter != "2" || a.code != "202" || !strings.Contains(a.body, "TOO_MANY_SIMULTANEOUS_QUERIES") {
		t.Fatalf("%s: Retry-After %q, exception code %q, body %q; want 2, 202 and TOO_MANY_SIMULTANEOUS_QUERIES", what, a.retryAfter, a.code, a.body)
	}
}

// A read whose client gives up while it waits never reaches the engine,
// and the engine is not held for it.
func TestReadWhoseClientLeftNeverRuns(t *testing.T) {
	srv := chtest.Server(t)
	g := newGate(t)
	before := srv.SchedulerStats()
	releaseHeavy := holdEngine(t, g, "heavy")

	ctx, cancel := context.WithCancel(context.Background())
	gone := postAsync(ctx, t, g.read("gone"))
	waitStats(t, "the read to queue", func(s embedded.SchedulerStats) bool { return s.QueuedReads == 1 })
	cancel()
	if a := <-gone; a.err == nil {
		t.Fatalf("the client gave up, yet got %d %q", a.status, a.body)
	}
	waitStats(t, "the server to notice the client left", func(s embedded.SchedulerStats) bool {
		return s.Abandoned == before.Abandoned+1 && s.QueuedReads == 0
	})

	releaseHeavy()
	mustOK(t, "a later read", post(context.Background(), t, g.read("later"), nil))
	if g.ran("gone") {
		t.Fatal("the engine ran a read whose client had gone")
	}
	after := srv.SchedulerStats()
	if d := after.ReadsStarted - before.ReadsStarted; d != 2 { // heavy and later
		t.Fatalf("%d reads started, want 2 (the abandoned one must not)", d)
	}
}

// A running read whose client goes away is cancelled at its next chunk.
// The read here would run for hours (a trillion rows, a row every 50
// million, and the client lifted the time limit) and writes nothing to the
// connection for minutes (its few rows sit in the response buffer), so
// only the client's leaving can stop it; the engine answering the next
// statement at all shows it stopped.
func TestRunningReadStopsWhenClientLeaves(t *testing.T) {
	srv := chtest.Server(t)
	g := newGate(t)
	before := srv.SchedulerStats()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	params := url.Values{"max_execution_time": {"0"}}
	// The scalar subquery runs as the statement starts: the gate sees it.
	sql := fmt.Sprintf("SELECT number FROM numbers(1000000000000) WHERE number %% 50000000 = 0 AND (SELECT count() FROM url('%s/started', LineAsString)) = 1", g.srv.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+srv.Addr()+"/?"+params.Encode(), strings.NewReader(sql))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(chtest.Credentials(t))
	done := make(chan error, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		done <- err
	}()
	g.waitArrived("started")
	cancel() // the client leaves with the read running
	if err := <-done; err == nil {
		t.Fatal("the client left, yet the read finished")
	}

	waitStats(t, "the read to be cancelled", func(s embedded.SchedulerStats) bool {
		return s.ReadsCancelled == before.ReadsCancelled+1
	})
	a := post(context.Background(), t, "SELECT 7", nil)
	if mustOK(t, "next statement", a); a.body != "7\n" {
		t.Fatalf("next statement: %q", a.body)
	}
}

// Reads get the server's max_execution_time and max_memory_usage unless
// their client set its own; writes get neither.
func TestReadsGetDefaultLimits(t *testing.T) {
	const probe = "SELECT getSetting('max_execution_time'), getSetting('max_memory_usage')"
	wantTime := strconv.Itoa(int(embedded.DefaultReadTimeout.Seconds()))
	a := post(context.Background(), t, probe, nil)
	if mustOK(t, "read", a); a.body != wantTime+"\t"+strconv.Itoa(embedded.DefaultReadMaxMemory)+"\n" {
		t.Fatalf("read without limits runs with %q, want the server's defaults", a.body)
	}
	a = post(context.Background(), t, probe, url.Values{"max_execution_time": {"7"}, "max_memory_usage": {"1000000"}})
	if mustOK(t, "read", a); a.body != "7\t1000000\n" {
		t.Fatalf("read with its own limits runs with %q, want 7 and 1000000", a.body)
	}
	db := chtest.NewDatabase(t)
	mustOK(t, "create", post(context.Background(), t, "CREATE TABLE "+db+".s (t String, m String) ENGINE = MergeTree ORDER BY t", nil))
	mustOK(t, "insert", post(context.Background(), t, "INSERT INTO "+db+".s "+probe, nil))
	a = post(context.Background(), t, "SELECT * FROM "+db+".s", nil)
	if mustOK(t, "select", a); a.body != "0\t0\n" {
		t.Fatalf("a write ran with %q, want no limits (0, 0)", a.body)
	}
}
