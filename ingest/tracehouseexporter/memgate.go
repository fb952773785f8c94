package tracehouseexporter

import (
	"bytes"
	"os"
	"strconv"
	"sync"
	"time"
)

// The collector's memory_limiter processor counts the Go heap only
// (runtime.MemStats.Alloc). In `tracehouse all-in-one` the ClickHouse
// engine lives in the same process and allocates outside the Go heap, so
// the heap can look small while the process is about to be killed. The
// memory gate counts what the kernel counts: the process's resident set.

// memoryCheckEvery bounds how often the resident set is read; between
// reads the last value stands.
const memoryCheckEvery = 100 * time.Millisecond

// memoryGate tells whether the process's resident memory is at or above a
// limit.
type memoryGate struct {
	limit uint64 // bytes

	mu      sync.Mutex
	checked time.Time
	rss     uint64
}

func newMemoryGate(limit uint64) *memoryGate { return &memoryGate{limit: limit} }

// over reports the resident memory and whether it is at or above the
// limit. When the resident set cannot be read (not Linux) the gate is open.
func (g *memoryGate) over() (rss uint64, over bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := time.Now(); now.Sub(g.checked) >= memoryCheckEvery {
		g.rss, _ = residentBytes()
		g.checked = now
	}
	return g.rss, g.rss != 0 && g.rss >= g.limit
}

// residentBytes is the process's resident set size, from /proc/self/statm
// (its second field, in pages).
func residentBytes() (uint64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0, strconv.ErrSyntax
	}
	pages, err := strconv.ParseUint(string(fields[1]), 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * uint64(os.Getpagesize()), nil
}
