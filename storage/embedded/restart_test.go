package embedded_test

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

const childDataEnv = "EMBEDDED_TEST_CHILD_DATA"

// runChildServer is the body of a child test process: an embedded server on
// the given folder that stops on SIGTERM like the product binary does.
func runChildServer(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: zerolog.Nop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("ADDR %s\n", srv.Addr())
	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type child struct {
	cmd  *exec.Cmd
	addr string
	dsn  string // reads the password from the file the server keeps in its folder
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDataEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child server did not start: %q %v", line, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	dsn := "http://" + embedded.DefaultUser + "@" + addr + "/default?password_file=" + url.QueryEscape(filepath.Join(dir, embedded.PasswordFileName))
	return &child{cmd: cmd, addr: addr, dsn: dsn}
}

// waitExit waits for the child to end; the bound only keeps a hung child
// from hanging the suite.
func (c *child) waitExit(t *testing.T) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		c.cmd.Process.Kill()
		t.Fatal("child server did not stop after SIGTERM")
		return nil
	}
}

func countRows(t *testing.T, c *child) uint64 {
	t.Helper()
	conn, err := storage.Open(context.Background(), c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDataSurvivesGracefulRestartAndKill(t *testing.T) {
	dir := t.TempDir()
	first := startChild(t, dir)
	conn, err := storage.Open(context.Background(), first.dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE events (n UInt64, s String) ENGINE = MergeTree ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO events")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10000; i++ {
		batch.Append(uint64(i), fmt.Sprint("row ", i))
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// SIGTERM reaches os/signal (the engine does not swallow it) and the
	// server shuts down cleanly.
	first.cmd.Process.Signal(syscall.SIGTERM)
	if err := first.waitExit(t); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	passwordFile := filepath.Join(dir, embedded.PasswordFileName)
	firstPassword, err := os.ReadFile(passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	second := startChild(t, dir)
	// The password generated on the first start is kept, privately.
	if st, err := os.Stat(passwordFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v, want mode 0600", st.Mode(), err)
	}
	if again, err := os.ReadFile(passwordFile); err != nil || string(again) != string(firstPassword) || len(firstPassword) < 32 {
		t.Fatalf("the password changed across a restart or is short: %d bytes, %v", len(firstPassword), err)
	}
	if n := countRows(t, second); n != 10000 {
		t.Fatalf("after a graceful restart: %d rows, want 10000", n)
	}
	conn, err = storage.Open(ctx, second.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO events SELECT number + 10000, 'more' FROM numbers(5000)"); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// A crash after an acknowledged insert loses nothing either.
	second.cmd.Process.Kill()
	second.cmd.Wait()
	third := startChild(t, dir)
	if n := countRows(t, third); n != 15000 {
		t.Fatalf("after SIGKILL and restart: %d rows, want 15000", n)
	}
}
