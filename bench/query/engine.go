package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// engine is the one embedded ClickHouse every layout is written to and
// read from: `tracehouse clickhouse` on a data folder of this run.
//
// Credentials: the harness makes a password and starts the engine with
// --user/--password; every client takes them from dsn() (clickhouse-go, the
// three exporters) or from user/password (the plain HTTP helper). An
// engine that makes its own password (a file in its data folder) only
// needs credentials() to read it from there instead.
type engine struct {
	bin, lib, dataDir, logDir string
	port                      int
	user, password            string
	p                         *proc
	hc                        *http.Client
}

func newEngine(bin, lib, dataDir, logDir string) (*engine, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	e := &engine{bin: bin, lib: lib, dataDir: dataDir, logDir: logDir, port: port,
		hc: &http.Client{Timeout: 30 * time.Minute}}
	e.user, e.password = credentials()
	return e, nil
}

// credentials are the user and password the engine requires.
func credentials() (user, password string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "bench", hex.EncodeToString(b)
}

func (e *engine) addr() string { return "127.0.0.1:" + strconv.Itoa(e.port) }

// dsn is a clickhouse-go DSN for database db, credentials included (the
// Tracehouse exporter and the query service take it as it is).
func (e *engine) dsn(db string) string {
	return fmt.Sprintf("http://%s:%s@%s/%s", url.PathEscape(e.user), url.PathEscape(e.password), e.addr(), db)
}

// start runs the engine and waits until it answers.
func (e *engine) start() error {
	p, err := start(filepath.Join(e.logDir, "engine.log"), nil, e.bin, "clickhouse",
		"--data", e.dataDir, "--listen", e.addr(), "--lib", e.lib,
		"--user", e.user, "--password", e.password)
	if err != nil {
		return err
	}
	e.p = p
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := e.query("SELECT 1")
		if err == nil {
			return nil
		}
		if done, exitErr := p.exited(); done {
			return fmt.Errorf("engine exited (%v):\n%s", exitErr, p.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("engine does not answer: %w\n%s", err, p.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *engine) stop() {
	if e.p != nil {
		e.p.stop(2 * time.Minute)
	}
}

// restart closes the engine and opens it again on the same data.
func (e *engine) restart() error {
	e.stop()
	return e.start()
}

// query runs one statement over the HTTP interface and returns the body,
// trimmed (TabSeparated).
func (e *engine) query(q string) (string, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+e.addr()+"/", strings.NewReader(q))
	if err != nil {
		return "", err
	}
	req.Header.Set("X-ClickHouse-User", e.user)
	req.Header.Set("X-ClickHouse-Key", e.password)
	resp, err := e.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", firstLine(q), resp.Status, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

func (e *engine) int(q string) (int64, error) {
	s, err := e.query(q)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}

// settle waits until no merge or mutation has run for three polls in a
// row (2 s apart), at most max: queries are timed on the parts the
// engine's own merge policy leaves, not during a bulk load's merges.
func (e *engine) settle(max time.Duration) {
	deadline := time.Now().Add(max)
	quiet := 0
	for quiet < 3 && time.Now().Before(deadline) {
		n, err := e.int("SELECT (SELECT count() FROM system.merges) + (SELECT count() FROM system.mutations WHERE NOT is_done)")
		if err == nil && n == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(2 * time.Second)
	}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
