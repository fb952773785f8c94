package writer

import (
	"slices"
	"sync"
)

// freeList keeps column buffers between writes. A sync.Pool would not do:
// every GC empties it, and a collector holding a queue of pdata collects
// often, so each batch would grow its buffers from nothing again.
type freeList[T interface{ reset() }] struct {
	mu    sync.Mutex
	free  []T
	alloc func() T
}

// maxFreeBuffers bounds the buffers kept per signal: one per concurrent
// write (exporterhelper's num_consumers) is all that is ever reused.
const maxFreeBuffers = 4

func (f *freeList[T]) get() T {
	f.mu.Lock()
	if n := len(f.free); n > 0 {
		c := f.free[n-1]
		var zero T
		f.free[n-1] = zero
		f.free = f.free[:n-1]
		f.mu.Unlock()
		return c
	}
	f.mu.Unlock()
	return f.alloc()
}

func (f *freeList[T]) put(c T) {
	c.reset()
	f.mu.Lock()
	if len(f.free) < maxFreeBuffers {
		f.free = append(f.free, c)
	}
	f.mu.Unlock()
}

// maxPooledBytes is the most a pooled buffer may retain, so that one huge
// batch does not pin its memory for ever. It stays well above what a batch
// of the exporter's largest default size retains, even of rich spans
// (TestLargeBatchBuffersAreKept logs it; figures in bench/ingest/README.md):
// a buffer dropped at the cap is grown again from nothing by the next batch.
const maxPooledBytes = 256 << 20

// growAll makes room for n values in all of cols, growing each at most
// once (see spanColumns.reserve).
func growAll[T any](n int, cols ...*[]T) {
	for _, c := range cols {
		*c = slices.Grow(*c, n-len(*c))
	}
}
