package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The short soak: the real tracehouse binary as its own process, five
// senders (OTLP spans and logs over gRPC and HTTP, JSON-lines logs), one
// SIGKILL and restart, heavy 7-day log searches alongside. Every item a
// sender was told was accepted is stored (lost = 0). Duplicates are
// reported, not yet asserted: a batch stored just before the kill is sent
// again after it until inserts carry deduplication tokens.
func TestSoakShort(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tracehouse")
	build := exec.Command("go", "build", "-o", bin, "github.com/tracehouse/tracehouse")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build tracehouse: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	rep, err := run(ctx, config{
		bin:      bin,
		data:     filepath.Join(dir, "data"),
		duration: 30 * time.Second,
		rate:     400,
		batch:    50,
		kills:    1,
		heavy:    true,
		// Small batches so that the kill finds several inserts in flight.
		progress: testWriter{t},
	})
	if rep != nil {
		var out strings.Builder
		rep.print(&out)
		t.Log(out.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.faults) != 1 || !strings.HasPrefix(rep.faults[0], "SIGKILL") {
		t.Fatalf("faults %q, want one SIGKILL", rep.faults)
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
		if c.stored < c.acknowledged {
			t.Errorf("%s: %d stored, %d acknowledged", row.sender.name, c.stored, c.acknowledged)
		}
	}
	if !strings.Contains(rep.heavy, "200:") {
		t.Errorf("heavy reads %s: none answered 200", rep.heavy)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
