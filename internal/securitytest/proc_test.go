package securitytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/freeport"
)

// The processes under attack are shared by the package's tests: building
// tracehouse and starting the engine is most of the suite's time. Each is
// started on first use and stopped by TestMain.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	tmpRoot   string

	procsMu sync.Mutex
	procs   = map[string]*process{}
)

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "securitytest-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		tmpRoot = dir
		defer os.RemoveAll(dir)
		defer stopAll()
		return m.Run()
	}()
	os.Exit(code)
}

// tracehouse builds the binary once.
func tracehouse(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binPath = filepath.Join(tmpRoot, "tracehouse")
		build := exec.Command("go", "build", "-o", binPath, "github.com/tracehouse/tracehouse")
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build tracehouse: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// process is one tracehouse process of the suite.
type process struct {
	name    string
	args    []string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

func stopAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for _, p := range procs {
		p.stop()
	}
}

// start runs the binary with args until TestMain stops it, and waits until
// every URL in ready answers 200.
func start(t *testing.T, name string, args []string, ready ...string) *process {
	t.Helper()
	bin := tracehouse(t)
	p := &process{name: name, args: args, logPath: filepath.Join(tmpRoot, name+".log")}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	// The process dies with the test binary, whatever happens to it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p.exited = make(chan struct{})
	go func() {
		p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	procsMu.Lock()
	procs[name] = p
	procsMu.Unlock()

	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(3 * time.Minute)
	for _, url := range ready {
		for !answers200(client, url) {
			select {
			case <-p.exited:
				t.Fatalf("%s exited while starting:\n%s", name, p.logTail())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s not ready after 3 minutes:\n%s", name, url, p.logTail())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return p
}

func answers200(client *http.Client, url string) bool {
	res, err := client.Get(url)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func (p *process) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail is the end of the process's log, for failure messages.
func (p *process) logTail() string {
	data, _ := os.ReadFile(p.logPath)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// rss is the process's resident set in bytes (VmRSS).
func (p *process) rss() uint64 {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// allInOne is a running `tracehouse all-in-one`.
type allInOne struct {
	*process
	data                                                 string
	query, clickhouse, otlpGRPC, otlpHTTP, jsonl, health string
	metrics                                              string
	ingestToken, queryToken, password                    string
	seeded                                               seedCounts
}

// Tokens of the secured all-in-one.
const (
	ingestToken = "ingest-7f3c9a1e"
	queryToken  = "query-2b8d4e6f"
	// aliceToken is a query token that names its user (--auth-tokens-file).
	aliceToken = "alice-5e1c0a7d93b2"
)

// The two all-in-ones: secured has both tokens and tight read limits on
// its engine (the auth matrix and the DoS cases), open runs as a laptop
// user runs it, without tokens (the browser attack: what a web page can do
// to a default install).
func secured(t *testing.T) *allInOne {
	tokens := filepath.Join(tmpRoot, "secured-tokens")
	if err := os.WriteFile(tokens, []byte("alice "+aliceToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startAllInOne(t, "secured", ingestToken, queryToken, "--read-timeout", "2s", "--read-max-memory", "128MiB", "--auth-tokens-file", tokens)
}

func open(t *testing.T) *allInOne {
	return startAllInOne(t, "open", "", "")
}

var (
	aioMu sync.Mutex
	aios  = map[string]*allInOne{}
)

func startAllInOne(t *testing.T, name, ingest, query string, extra ...string) *allInOne {
	t.Helper()
	aioMu.Lock()
	defer aioMu.Unlock()
	if a, ok := aios[name]; ok {
		if a == nil {
			t.Fatalf("all-in-one %s failed to start in an earlier test", name)
		}
		return a
	}
	aios[name] = nil
	a := &allInOne{
		data: filepath.Join(tmpRoot, name), query: freeAddr(t), clickhouse: freeAddr(t),
		otlpGRPC: freeAddr(t), otlpHTTP: freeAddr(t), jsonl: freeAddr(t), health: freeAddr(t), metrics: freeAddr(t),
		ingestToken: ingest, queryToken: query,
	}
	args := []string{"all-in-one", "--data", a.data, "--http", a.query, "--clickhouse-listen", a.clickhouse,
		"--otlp-grpc", a.otlpGRPC, "--otlp-http", a.otlpHTTP, "--jsonl", a.jsonl,
		"--collector-health", a.health, "--collector-metrics", a.metrics,
		// Two engines run beside the other tests of `make test`.
		"--memory-limit", "3GiB"}
	if ingest != "" {
		args = append(args, "--ingest-token", ingest)
	}
	if query != "" {
		args = append(args, "--auth-token", query)
	}
	a.process = start(t, "all-in-one-"+name, append(args, extra...), "http://"+a.query+"/readyz", "http://"+a.health+"/")
	pw, err := os.ReadFile(filepath.Join(a.data, "clickhouse.password"))
	if err != nil {
		t.Fatalf("the engine's password file: %v", err)
	}
	a.password = strings.TrimSpace(string(pw))
	a.seeded = seed(t, a)
	aios[name] = a
	return a
}

// queryProc is `tracehouse query` against the secured all-in-one's engine,
// with limits small enough to reach: one query slot, two live tails, 150
// spans a response.
func queryProc(t *testing.T) string {
	t.Helper()
	a := secured(t)
	aioMu.Lock()
	defer aioMu.Unlock()
	if p, ok := procs["query"]; ok {
		return p.args[len(p.args)-1]
	}
	addr := freeAddr(t)
	dsn := "http://tracehouse@" + a.clickhouse + "/default?password_file=" + filepath.Join(a.data, "clickhouse.password")
	start(t, "query", []string{"query", "--clickhouse", dsn, "--max-concurrent-queries", "1", "--queue-timeout", "5s",
		"--max-tails", "2", "--max-spans", strconv.Itoa(maxSpans), "--http", addr}, "http://"+addr+"/readyz")
	return addr
}

// maxSpans is the query process's --max-spans: more than one seeded trace
// holds, less than two.
const maxSpans = spansPerTrace * 3 / 2

// sql runs a statement on the engine with its credentials.
func (a *allInOne) sql(t *testing.T, stmt string) string {
	t.Helper()
	code, body := a.sqlStatus(stmt)
	if code != http.StatusOK {
		t.Fatalf("%s: %d %s", stmt, code, body)
	}
	return body
}

func (a *allInOne) sqlStatus(stmt string) (int, string) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.clickhouse+"/", strings.NewReader(stmt))
	req.SetBasicAuth("tracehouse", a.password)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// api GETs a query API path with the query token (when there is one).
func (a *allInOne) api(t *testing.T, path string) (int, []byte) {
	t.Helper()
	return get(t, "http://"+a.query+path, a.queryToken)
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body
}

// tableRows counts the rows of every table of the default database, and
// lists its views: what an attacker could drop, empty or add to. Tables
// whose engine merges rows (Aggregating-, ReplacingMergeTree) are counted
// FINAL so that a background merge does not change the count.
func (a *allInOne) tableRows(t *testing.T) map[string]int64 {
	t.Helper()
	rows := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(a.sql(t,
		"SELECT name, engine FROM system.tables WHERE database = 'default' ORDER BY name FORMAT TSV")), "\n") {
		name, engine, _ := strings.Cut(line, "\t")
		switch {
		case engine == "MergeTree":
			rows[name] = a.count(t, "SELECT count() FROM default."+name)
		case strings.HasSuffix(engine, "MergeTree"):
			rows[name] = a.count(t, "SELECT count() FROM default."+name+" FINAL")
		default: // views, Null: no rows of their own
			rows[name+" ("+engine+")"] = -1
		}
	}
	return rows
}

func (a *allInOne) count(t *testing.T, stmt string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(a.sql(t, stmt)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return n
}

// formatRows prints table row counts in name order.
func formatRows(rows map[string]int64) string {
	names := make([]string, 0, len(rows))
	for n := range rows {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if rows[n] < 0 {
			fmt.Fprintf(&b, "  %-40s exists\n", n)
		} else {
			fmt.Fprintf(&b, "  %-40s %d rows\n", n, rows[n])
		}
	}
	return b.String()
}

// waitFor polls cond until it holds or two minutes pass (make test runs
// beside other packages on two cores).
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after two minutes (%s)", what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// post sends body with headers and returns the status and the answer.
func post(t *testing.T, url string, body []byte, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, answer
}
