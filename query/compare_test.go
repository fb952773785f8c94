package query

import (
	"strings"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/seed"
)

// TestCompareInExecutionOrder checks that a comparison lists its paths as
// the request ran: every path after its parent, siblings by when they
// started.
func TestCompareInExecutionOrder(t *testing.T) {
	traces := seed.Traces()
	d := DiffTraces(traces[0], traces[1])
	if len(d.Paths) < 5 {
		t.Fatalf("only %d paths", len(d.Paths))
	}
	first := map[string]time.Duration{}
	for _, td := range traces[:2] {
		_, paths := tracePaths(td)
		for k, p := range paths {
			if f, ok := first[k]; !ok || p.first < f {
				first[k] = p.first
			}
		}
	}
	seen := map[string]int{}
	lastChild := map[string]string{} // parent → the last child listed so far
	for i, p := range d.Paths {
		parent := strings.Join(p.Segments[:len(p.Segments)-1], "/")
		if parent != "" {
			if _, ok := seen[parent]; !ok {
				t.Errorf("path %d %q comes before its parent", i, p.Path)
			}
		}
		if prev, ok := lastChild[parent]; ok && first[prev] > first[p.Path] {
			t.Errorf("%q (started +%s) listed after its sibling %q (started +%s)", p.Path, first[p.Path], prev, first[prev])
		}
		lastChild[parent] = p.Path
		seen[p.Path] = i
	}
}
