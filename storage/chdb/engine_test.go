package chdb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var engine *Engine

// testMemoryCap is the engine's memory cap in these tests: far above what
// they need, far below what TestMemoryCapHolds asks for.
const testMemoryCap = 1 << 30

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chdb-test-")
	if err != nil {
		panic(err)
	}
	engine, err = OpenWith("", dir, Options{MaxServerMemoryUsage: testMemoryCap})
	if err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	engine.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestQueryWithParams(t *testing.T) {
	out, err := engine.Query("SELECT {a:UInt32} + 1, {s:String}", "TabSeparated",
		Param{"a", "41"}, Param{"s", "it's \x00 safe'; DROP TABLE x --"})
	if err != nil {
		t.Fatal(err)
	}
	want := "42\tit\\'s \\0 safe\\'; DROP TABLE x --\n"
	if string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestErrorsCarryClickHouseCode(t *testing.T) {
	_, err := engine.Query("SELECT * FROM no_such_table", "TabSeparated")
	var ex *Exception
	if !errors.As(err, &ex) {
		t.Fatalf("want *Exception, got %v", err)
	}
	if ex.Code != 60 || !strings.HasPrefix(ex.Message, "Code: 60. DB::Exception:") {
		t.Fatalf("unexpected exception %d %q", ex.Code, ex.Message)
	}
}

func TestStreamDeliversEveryRow(t *testing.T) {
	var buf bytes.Buffer
	chunks := 0
	err := engine.Stream(context.Background(), "SELECT number FROM numbers(2000000)", "TabSeparated", nil, func(c []byte) error {
		chunks++
		buf.Write(c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(buf.Bytes(), []byte("\n")); lines != 2000000 {
		t.Fatalf("got %d lines", lines)
	}
	if chunks < 2 {
		t.Fatalf("result came in %d chunk(s); want it streamed", chunks)
	}
}

func TestStreamCancel(t *testing.T) {
	stop := errors.New("enough")
	err := engine.Stream(context.Background(), "SELECT number FROM numbers(100000000)", "TabSeparated", nil, func([]byte) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("got %v", err)
	}
	out, err := engine.Query("SELECT 7", "TabSeparated")
	if err != nil || string(out) != "7\n" {
		t.Fatalf("engine unusable after cancel: %q %v", out, err)
	}
}

// A context that ends stops a streamed statement at the next chunk: the
// engine is asked to cancel it (chdb_stream_cancel_query) rather than left
// producing the rest.
func TestStreamStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	chunks := 0
	err := engine.Stream(ctx, "SELECT number FROM numbers(100000000000)", "TabSeparated", nil, func([]byte) error {
		chunks++
		if chunks == 3 {
			cancel() // the client went away while the third chunk was sent
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if chunks != 3 {
		t.Fatalf("%d chunks emitted; the statement should stop right after the third", chunks)
	}
	out, err := engine.Query("SELECT 7", "TabSeparated")
	if err != nil || string(out) != "7\n" {
		t.Fatalf("engine unusable after cancel: %q %v", out, err)
	}
}

// A context that ends while the statement starts (here: while its scalar
// subquery fetches from the test's server) stops it after its first chunk.
// chdb 26.5 hangs on a cancel issued before the first fetch; this test
// would hang with it.
func TestStreamStopsWhenContextEndsDuringStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		cancel()
		io.WriteString(w, "line\n")
	}))
	defer web.Close()
	query := "SELECT number FROM numbers(1000000000000) WHERE number % 50000000 = 0 AND (SELECT count() FROM url('" + web.URL + "/x', LineAsString)) = 1"
	chunks := 0
	err := engine.Stream(ctx, query, "TabSeparated", nil, func([]byte) error { chunks++; return nil })
	if !errors.Is(err, context.Canceled) || chunks != 1 {
		t.Fatalf("got %v after %d chunks, want context.Canceled after 1", err, chunks)
	}
	if out, err := engine.Query("SELECT 7", "TabSeparated"); err != nil || string(out) != "7\n" {
		t.Fatalf("engine unusable after cancel: %q %v", out, err)
	}
}

// A statement whose context is already done never reaches the engine: the
// url() table function would fetch from the test's server if it ran.
func TestStreamDoesNotStartWhenContextIsDone(t *testing.T) {
	var hits atomic.Int64
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		io.WriteString(w, "line\n")
	}))
	defer web.Close()
	query := "SELECT * FROM url('" + web.URL + "/data', LineAsString)"

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := engine.Stream(ctx, query, "TabSeparated", nil, func([]byte) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the engine fetched the URL %d times for a statement whose context was done", n)
	}
	// The same statement with a live context does run (the count above can fail).
	var out bytes.Buffer
	if err := engine.Stream(context.Background(), query, "TabSeparated", nil, func(c []byte) error { out.Write(c); return nil }); err != nil {
		t.Fatal(err)
	}
	if out.String() != "line\n" || hits.Load() == 0 {
		t.Fatalf("live statement: %q after %d fetches", out.String(), hits.Load())
	}
}

// The memory cap given at open is the engine's max_server_memory_usage, and
// the engine holds it: a statement that needs more fails with
// MEMORY_LIMIT_EXCEEDED (241) instead of growing the process.
func TestMemoryCapHolds(t *testing.T) {
	out, err := engine.Query("SELECT value FROM system.server_settings WHERE name = 'max_server_memory_usage'", "TabSeparated")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != strconv.Itoa(testMemoryCap) {
		t.Fatalf("max_server_memory_usage = %s, want %d", got, testMemoryCap)
	}
	// About 2.4 GB of UInt64 in one array.
	_, err = engine.Query("SELECT length(groupArray(number)) FROM numbers(300000000)", "TabSeparated")
	var ex *Exception
	if !errors.As(err, &ex) || ex.Code != 241 {
		t.Fatalf("got %v, want MEMORY_LIMIT_EXCEEDED (241)", err)
	}
	if out, err := engine.Query("SELECT 7", "TabSeparated"); err != nil || string(out) != "7\n" {
		t.Fatalf("engine unusable after hitting its cap: %q %v", out, err)
	}
}

// After the engine is loaded, Go must still own the fatal signals: a nil
// dereference has to panic (and be recoverable) rather than hang.
func TestGoPanicsStillRecoverAfterEngineLoad(t *testing.T) {
	recovered := func() (r any) {
		defer func() { r = recover() }()
		var p *int
		return *p
	}()
	if recovered == nil {
		t.Fatal("nil dereference did not panic")
	}
}

// A child process that loads the engine must still die on SIGTERM through
// os/signal handling and crash (not hang) on an unrecovered nil dereference.
func TestSignalsInChildProcess(t *testing.T) {
	if os.Getenv("CHDB_SIGNAL_CHILD") != "" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=TestNilDerefChild$")
	cmd.Env = append(os.Environ(), "CHDB_SIGNAL_CHILD=1")
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Fatalf("child should exit with Go's panic status 2, got %v", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		t.Fatal("child hung on a nil dereference: the engine still owns SIGSEGV")
	}
}

func TestNilDerefChild(t *testing.T) {
	if os.Getenv("CHDB_SIGNAL_CHILD") == "" {
		return
	}
	var p *int
	_ = *p
}
