package chdb

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

var engine *Engine

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chdb-test-")
	if err != nil {
		panic(err)
	}
	engine, err = Open("", dir)
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
	err := engine.Stream("SELECT number FROM numbers(2000000)", "TabSeparated", nil, func(c []byte) error {
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
	err := engine.Stream("SELECT number FROM numbers(100000000)", "TabSeparated", nil, func([]byte) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("got %v", err)
	}
	out, err := engine.Query("SELECT 7", "TabSeparated")
	if err != nil || string(out) != "7\n" {
		t.Fatalf("engine unusable after cancel: %q %v", out, err)
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
