// Package e2e runs the web UI's browser tests: it starts the real query
// service (query/api, with web.FS mounted at /) on the embedded ClickHouse
// seeded through the real write path (storage/writer), then runs
// web/tests/ui.test.mjs — node's test runner driving the system's headless
// Chromium with playwright-core — against it.
//
// Needs: Node.js 20+ with npm (web/tests' node_modules are installed with
// `npm ci` when missing; playwright-core downloads no browser) and Chromium
// at /usr/bin/chromium (Debian: apt-get install -y chromium) or
// CHROMIUM_PATH. Screenshots of every page go to artifacts/screenshots/ at
// the repository root (TRACEHOUSE_SCREENSHOTS overrides).
package e2e

import (
	"context"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/query/api"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/writer"
	"github.com/tracehouse/tracehouse/web"
)

func TestMain(m *testing.M) { chtest.Main(m) }

func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	testsDir, err := filepath.Abs(filepath.Join("..", "tests"))
	if err != nil {
		t.Fatal(err)
	}
	ensureNodeModules(t, testsDir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	opts := schema.DefaultOptions()
	opts.Database = db
	if _, err := schema.Migrate(ctx, conn, opts); err != nil {
		t.Fatal(err)
	}
	// The service's clock stays at the time of the seed, so what depends
	// on it (a trace whose spans may still be arriving, a histogram bucket
	// still filling) reads the same however long the tests run.
	now := time.Now()
	seed := seedData(t, writer.NewWriter(conn, writer.Options{Database: db}), now)

	store, err := reader.New(conn, reader.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	views, err := writer.NewViews(conn, db)
	if err != nil {
		t.Fatal(err)
	}
	svc := query.New(store, query.Options{Now: func() time.Time { return now }, Views: views})
	var ui fs.FS = web.FS
	if dir := os.Getenv("TRACEHOUSE_UI_DIR"); dir != "" {
		ui = os.DirFS(dir) // edit the UI without rebuilding the test
	}
	app := api.NewApp(svc, api.Options{UI: ui, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), Context: ctx})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	defer func() {
		cancel()
		app.ShutdownWithTimeout(5 * time.Second)
		<-served
	}()

	if hold := os.Getenv("TRACEHOUSE_E2E_SERVE"); hold != "" {
		// Working on the UI: serve the seeded data for a while instead of
		// running the tests (TRACEHOUSE_E2E_SERVE=30m go test -run Browser -v ./web/e2e).
		d, err := time.ParseDuration(hold)
		if err != nil {
			t.Fatalf("TRACEHOUSE_E2E_SERVE=%q: %v", hold, err)
		}
		data, _ := json.Marshal(seed)
		t.Logf("serving http://%s/ for %s; seed: %s", ln.Addr(), d, data)
		time.Sleep(d)
		return
	}
	seedFile := filepath.Join(t.TempDir(), "seed.json")
	data, _ := json.MarshalIndent(seed, "", "  ")
	if err := os.WriteFile(seedFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("TRACEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots, _ = filepath.Abs(filepath.Join("..", "..", "artifacts", "screenshots"))
	}

	cmd := exec.CommandContext(ctx, "node", "--test", "--test-concurrency=1", "--test-reporter=spec", "ui.test.mjs")
	cmd.Dir = testsDir
	cmd.Env = append(os.Environ(),
		"TRACEHOUSE_URL=http://"+ln.Addr().String()+"/",
		"TRACEHOUSE_SEED="+seedFile,
		"CHROMIUM_PATH="+chromium,
		"SCREENSHOT_DIR="+shots,
		"TRACEHOUSE_CSP="+web.ContentSecurityPolicy,
	)
	out := &lineLogger{t: t}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	out.flush()
	if err != nil {
		t.Fatalf("browser tests failed (%v); the log above has node's report, screenshots are in %s", err, shots)
	}
}

func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CHROMIUM_PATH=%s: %v", p, err)
		}
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("the browser tests need headless Chromium: install it with `apt-get update && apt-get install -y chromium` (Debian), or set CHROMIUM_PATH")
	return ""
}

// ensureNodeModules installs web/tests' locked packages when they are
// missing (playwright-core only; it downloads no browser).
func ensureNodeModules(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("the browser tests need Node.js 20+ (node and npm on PATH)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err == nil {
		return
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

// lineLogger passes the node runner's output to t.Log line by line.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	s := l.buf.String()
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		l.t.Log(s[:i])
		s = s[i+1:]
	}
	l.buf.Reset()
	l.buf.WriteString(s)
	return len(p), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 0 {
		l.t.Log(l.buf.String())
		l.buf.Reset()
	}
}
