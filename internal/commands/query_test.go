package commands

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/query/api"
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

// runningQuery is a `tracehouse query` started by startQuery.
type runningQuery struct {
	addr        string // http://host:port
	stdout, log *syncBuffer
	stderr      *syncBuffer
	stop        func() error
}

// startQuery runs `tracehouse query` with args and variables on a
// database `tracehouse migrate` created, until stop.
func startQuery(t *testing.T, args []string, vars map[string]string) *runningQuery {
	t.Helper()
	db := chtest.NewDatabase(t)
	dsn := chtest.DSN(t, db)
	var migrated bytes.Buffer
	if err := runMigrateCmd(t, []string{"--clickhouse", dsn}, &migrated, nil); err != nil {
		t.Fatalf("migrate: %v\n%s", err, migrated.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningQuery{stdout: &syncBuffer{}, stderr: &syncBuffer{}, log: &syncBuffer{}}
	done := make(chan error, 1)
	env := cli.Env{Stdout: r.stdout, Stderr: r.stderr, Logger: zerolog.New(r.log), Lookup: lookup(vars)}
	go func() { done <- Query.Run(ctx, append([]string{"--clickhouse", dsn}, args...), env) }()
	stopped := false
	r.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { r.stop() })
	for i := 0; i < 500 && r.addr == ""; i++ {
		if s := r.stdout.String(); strings.Contains(s, "http://") {
			r.addr = strings.Fields(s[strings.Index(s, "http://"):])[0]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("query returned early: %v\n%s", err, r.stdout.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if r.addr == "" {
		t.Fatalf("no address printed: %q", r.stdout.String())
	}
	return r
}

// TestQuery starts `tracehouse query` as the binary does, on a database
// `tracehouse migrate` created, and stops it with its context.
func TestQuery(t *testing.T) {
	r := startQuery(t, []string{"--http", "127.0.0.1:0", "--max-concurrent-queries", "2"}, nil)
	addr := r.addr
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
	if strings.Contains(r.stderr.String(), "WARNING") || strings.Contains(r.log.String(), "WITHOUT A TOKEN") {
		t.Errorf("a warning about a loopback address without a token: %s %s", r.stderr.String(), r.log.String())
	}
	if err := r.stop(); err != nil {
		t.Errorf("query: %v", err)
	}

	if err := Query.Run(context.Background(), []string{"--nope"}, cli.Env{Stdout: io.Discard, Stderr: io.Discard}); err == nil {
		t.Error("an unknown flag was accepted")
	}
}

// TestQueryBeyondLoopback listens on every interface: without a token the
// command warns in its log and on stderr; with one (from its variable) the
// API requires it and there is no warning.
func TestQueryBeyondLoopback(t *testing.T) {
	open := startQuery(t, []string{"--http", "0.0.0.0:0"}, nil)
	if !strings.Contains(open.stderr.String(), "WARNING: the query API listens on") || !strings.Contains(open.stderr.String(), "WITHOUT A TOKEN") {
		t.Errorf("no warning on stderr: %q", open.stderr.String())
	}
	if !strings.Contains(open.log.String(), `"level":"warn"`) || !strings.Contains(open.log.String(), "WITHOUT A TOKEN") {
		t.Errorf("no WARN log line: %q", open.log.String())
	}

	closed := startQuery(t, []string{"--http", "0.0.0.0:0"}, map[string]string{EnvQueryAuthToken: "t0ken-from-env"})
	if s := closed.stderr.String() + closed.log.String(); strings.Contains(s, "WITHOUT A TOKEN") {
		t.Errorf("a warning although a token is set: %q", s)
	}
	if strings.Contains(closed.log.String()+closed.stdout.String()+closed.stderr.String(), "t0ken-from-env") {
		t.Errorf("the token was printed")
	}
	for token, want := range map[string]int{"": 401, "wrong": 401, "t0ken-from-env": 200} {
		req, _ := http.NewRequest("GET", closed.addr+"/api/services", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %q: %d, want %d", token, resp.StatusCode, want)
		}
	}
}

// Both commands serve the API on loopback unless told otherwise, and read
// the token and the host names from the same variables.
func TestQueryAPIDefaults(t *testing.T) {
	vars := map[string]string{EnvQueryAuthToken: "tok", EnvQueryAllowedHosts: "traces.example.com, ui.example.com"}
	fs, q := queryFlags(cli.Env{Lookup: lookup(vars)})
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	a, err := parseAllInOne(nil, cli.Env{Lookup: lookup(vars)})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]struct {
		addr string
		api  apiConfig
	}{"query": {q.addr, q.api}, "all-in-one": {a.httpListen, a.api}} {
		if got.addr != "127.0.0.1:8080" {
			t.Errorf("%s listens on %s by default", name, got.addr)
		}
		opts, err := got.api.options(api.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if opts.AuthToken != "tok" || strings.Join(opts.AllowedHosts, "|") != "traces.example.com|ui.example.com" {
			t.Errorf("%s: token %q, allowed hosts %q", name, opts.AuthToken, opts.AllowedHosts)
		}
	}
}

// The tokens file is read from its variable by both commands; a file that
// is missing or wrong is a usage error naming the file, not a start with
// no users.
func TestQueryAuthTokensFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tokens")
	if err := os.WriteFile(good, []byte("alice alice-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("alice short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("# nobody yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, want string }{
		{good, ""},
		{bad, "line 1: the token of alice is 5 characters long"},
		{empty, "names no user"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		fs, q := queryFlags(cli.Env{Lookup: lookup(map[string]string{EnvQueryAuthTokensFile: c.file})})
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		a, err := parseAllInOne(nil, cli.Env{Lookup: lookup(map[string]string{EnvQueryAuthTokensFile: c.file})})
		if err != nil {
			t.Fatal(err)
		}
		for name, cfg := range map[string]apiConfig{"query": q.api, "all-in-one": a.api} {
			opts, err := cfg.options(api.Options{})
			switch {
			case c.want == "" && (err != nil || len(opts.Users) != 1 || opts.Users[0].User != "alice"):
				t.Errorf("%s %s: users %v, error %v", name, c.file, opts.Users, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("%s %s: error %v, want %q", name, c.file, err, c.want)
			}
			if !cfg.authenticated() {
				t.Errorf("%s: a tokens file does not count as authentication", name)
			}
		}
	}
}
