package commands

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/web"
)

// syncBuffer collects a command's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestQuery starts `tracehouse query` as the binary does, on a database
// `tracehouse migrate` created, and stops it with its context.
func TestQuery(t *testing.T) {
	db := chtest.NewDatabase(t)
	dsn := chtest.DSN(t, db)
	var migrated bytes.Buffer
	if err := runMigrateCmd(t, []string{"--clickhouse", dsn}, &migrated, nil); err != nil {
		t.Fatalf("migrate: %v\n%s", err, migrated.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Query.Run(ctx, []string{"--clickhouse", dsn, "--http", "127.0.0.1:0", "--max-concurrent-queries", "2"}, cli.Env{Stdout: &out, Stderr: &out})
	}()
	var addr string
	for i := 0; i < 500 && addr == ""; i++ {
		if s := out.String(); strings.Contains(s, "http://") {
			addr = strings.Fields(s[strings.Index(s, "http://"):])[0]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("query returned early: %v\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("no address printed: %q", out.String())
	}
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	// Ready only when the DSN's database holds the tables.
	if resp, body := get("/readyz"); resp.StatusCode != 200 || body != "ready\n" {
		t.Errorf("/readyz: %d %q", resp.StatusCode, body)
	}
	if resp, body := get("/"); resp.StatusCode != 200 || !strings.Contains(body, "<html") || resp.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy {
		t.Errorf("GET / does not serve the UI: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := get("/api/traces/0af7651916cd43dd8448eb211c80319c"); resp.StatusCode != 404 {
		t.Errorf("a trace the database does not hold: %d %s", resp.StatusCode, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "tracehouse_query_clickhouse_query_slots 2\n") {
		t.Errorf("--max-concurrent-queries 2 is not the number of query slots:\n%s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("query: %v", err)
	}

	if err := Query.Run(context.Background(), []string{"--nope"}, cli.Env{Stdout: io.Discard, Stderr: io.Discard}); err == nil {
		t.Error("an unknown flag was accepted")
	}
}
