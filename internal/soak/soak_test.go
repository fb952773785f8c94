package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The short soaks: the real tracehouse binary as its own processes, five
// senders (OTLP spans and logs over gRPC and HTTP, JSON-lines logs), heavy
// 7-day log searches alongside, and faults. Every item a sender was told
// was accepted is stored (lost = 0), and stored once (duplicates = 0): a
// batch inserted just before a kill and replayed from the persistent
// queue after it carries the same deduplication token
// (ingest/tracehouseexporter/groupcommit.go). Rows of a request the
// sender sent again after a lost answer are the sender's at-least-once,
// counted apart (answerLost).

// TestSoakShort: all-in-one, one SIGKILL and restart.
func TestSoakShort(t *testing.T) {
	rep := soakShort(t, config{
		mode:     modeAllInOne,
		duration: 30 * time.Second,
		kills:    1,
	})
	if len(rep.faults) != 1 || !strings.HasPrefix(rep.faults[0], "SIGKILL of all-in-one") {
		t.Fatalf("faults %q, want one SIGKILL of all-in-one", rep.faults)
	}
}

// TestSoakGatewayShort: `tracehouse clickhouse`, `tracehouse collector
// --config ingest-gateway.yaml` (the shipped config) and `tracehouse
// query`; the engine is SIGKILLed and restarted, then stopped (SIGSTOP)
// for 15 s. The exporter's timeout is 5 s here, so the stop makes INSERTs
// time out that the engine still runs when it goes on: their retries
// must store nothing twice.
func TestSoakGatewayShort(t *testing.T) {
	rep := soakShort(t, config{
		mode:     modeGateway,
		gateway:  filepath.Join("..", "..", "collector", "configs", "ingest-gateway.yaml"),
		duration: 40 * time.Second,
		kills:    1,
		stops:    1,
		stopFor:  15 * time.Second,
		colExtra: []string{"--config", "yaml:exporters::tracehouse::timeout: 5s"},
	})
	if len(rep.faults) != 2 || !strings.HasPrefix(rep.faults[0], "SIGKILL of clickhouse") || !strings.HasPrefix(rep.faults[1], "SIGSTOP of clickhouse") {
		t.Fatalf("faults %q, want a SIGKILL and a SIGSTOP of clickhouse", rep.faults)
	}
	if len(rep.procs) != 3 {
		t.Fatalf("%d processes, want clickhouse, collector and query", len(rep.procs))
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// soakShort builds tracehouse (once), runs cfg with small requests (so a
// fault finds several inserts in flight) and checks the exact counts.
func soakShort(t *testing.T, cfg config) *report {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tracehouse-soak-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "tracehouse")
		build := exec.Command("go", "build", "-o", builtBin, "github.com/tracehouse/tracehouse")
		build.Stderr = os.Stderr
		buildErr = build.Run()
	})
	if buildErr != nil {
		t.Fatalf("build tracehouse: %v", buildErr)
	}
	dir := t.TempDir()
	cfg.bin = builtBin
	cfg.data = filepath.Join(dir, "data")
	cfg.rate, cfg.batch, cfg.inflight = 400, 50, 4
	cfg.heavy = true
	cfg.progress = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	rep, err := run(ctx, cfg)
	if rep != nil {
		var out strings.Builder
		rep.print(&out)
		t.Log(out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rep.rows {
		c := row.counts
		if c.acknowledged == 0 {
			t.Errorf("%s: nothing acknowledged", row.sender.name)
		}
		if c.rejected != 0 {
			t.Errorf("%s: %d items rejected for good", row.sender.name, c.rejected)
		}
		if c.lost != 0 {
			t.Errorf("%s: %d of %d acknowledged items lost", row.sender.name, c.lost, c.acknowledged)
		}
		if c.duplicates != 0 {
			t.Errorf("%s: %d rows of items stored more than once", row.sender.name, c.duplicates)
		}
		if c.stored < c.acknowledged {
			t.Errorf("%s: %d stored, %d acknowledged", row.sender.name, c.stored, c.acknowledged)
		}
	}
	if !strings.Contains(rep.heavy, "200:") {
		t.Errorf("heavy reads %s: none answered 200", rep.heavy)
	}
	return rep
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
