package tracestore

import (
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Service-graph edges (service_edge_events, migration 0005): one row per
// span whose parent span belongs to another service.
//
// A parent and its child usually arrive in different batches, and the child
// first: a server span in service B ends (and is exported) before the client
// span in A that waits for it. So the writer remembers, for a bounded time
// and number of spans,
//
//   - seen:    span → its service, for children that arrive later, and
//   - waiting: parent span → children that arrived before it,
//
// and emits an edge as soon as both sides are known. Both are two-generation
// maps: new entries go into the current generation; when it is full or old
// (half the TTL), the previous generation is dropped and the current one
// becomes previous. Lookups check both, so an entry lives between TTL/2 and
// TTL, and memory is bounded by 2 × size/2 entries without a per-entry list.
//
// A span already in seen is a duplicate (at-least-once redelivery, or a
// client that sent it twice): it produces no second edge.

// spanKey is a 64-bit hash of trace id + span id: maps keyed by it hash
// and compare one word instead of 24 bytes (with 24-byte keys the cache was
// a tenth of a batch's client-side CPU). Two spans share a key with
// probability about n²/2⁶⁵ for n remembered spans (3·10⁻¹⁰ at the default
// 200k); such a collision costs one service-graph edge, missed or
// misattributed, never a span.
type spanKey uint64

func makeSpanKey(t pcommon.TraceID, s pcommon.SpanID) spanKey {
	h := mix64(binary.LittleEndian.Uint64(s[:]))
	h = mix64(h ^ binary.LittleEndian.Uint64(t[8:]))
	h = mix64(h ^ binary.LittleEndian.Uint64(t[:8]))
	return spanKey(h)
}

// mix64 is MurmurHash3's 64-bit finaliser, a bijection that spreads every
// input bit over the output.
func mix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// edgeSpan is what the edge logic needs from one span.
type edgeSpan struct {
	key, parent spanKey
	hasParent   bool
	service     string // interned
	start       int64  // unix ns
	duration    uint64
	isError     bool
}

// waitingChild is a span whose parent has not been seen yet.
type waitingChild struct {
	service  string
	start    int64
	duration uint64
	isError  bool
}

// edgeRow is one row of service_edge_events.
type edgeRow struct {
	start         int64
	parent, child string
	duration      uint64
	isError       bool
}

type edgeCache struct {
	mu        sync.Mutex
	genSize   int           // entries per generation
	genAge    time.Duration // lifetime of a generation
	now       func() time.Time
	genStart  time.Time
	seen      [2]map[spanKey]string // [0] current, [1] previous
	waiting   [2]map[spanKey][]waitingChild
	nWaiting  int // children in waiting[0]
	evictions int // entries dropped before their parent came (cumulative)
}

func newEdgeCache(size int, ttl time.Duration, now func() time.Time) *edgeCache {
	gen := max(size/2, 1)
	return &edgeCache{
		genSize:  gen,
		genAge:   max(ttl/2, time.Millisecond),
		now:      now,
		genStart: now(),
		seen:     [2]map[spanKey]string{make(map[spanKey]string), make(map[spanKey]string)},
		waiting:  [2]map[spanKey][]waitingChild{make(map[spanKey][]waitingChild), make(map[spanKey][]waitingChild)},
	}
}

func (c *edgeCache) maybeRotate() {
	if len(c.seen[0]) < c.genSize && c.nWaiting < c.genSize && c.now().Sub(c.genStart) < c.genAge {
		return
	}
	for _, kids := range c.waiting[1] {
		c.evictions += len(kids)
	}
	// Reuse the old maps' memory for the new generation.
	clear(c.seen[1])
	clear(c.waiting[1])
	c.seen[0], c.seen[1] = c.seen[1], c.seen[0]
	c.waiting[0], c.waiting[1] = c.waiting[1], c.waiting[0]
	c.nWaiting = 0
	c.genStart = c.now()
}

func (c *edgeCache) lookup(k spanKey) (string, bool) {
	if s, ok := c.seen[0][k]; ok {
		return s, true
	}
	s, ok := c.seen[1][k]
	return s, ok
}

func (c *edgeCache) takeWaiting(k spanKey) []waitingChild {
	kids := c.waiting[0][k]
	if kids != nil {
		delete(c.waiting[0], k)
	}
	if old, ok := c.waiting[1][k]; ok {
		kids = append(kids, old...)
		delete(c.waiting[1], k)
	}
	return kids
}

// resolve records spans (one batch, already stored) and returns the edges
// they complete, appended to dst.
func (c *edgeCache) resolve(spans []edgeSpan, dst []edgeRow) []edgeRow {
	c.mu.Lock()
	defer c.mu.Unlock()

	// Duplicates are marked by clearing their service; the caller's slice is
	// scratch space.
	for i := range spans {
		s := &spans[i]
		if _, dup := c.lookup(s.key); dup {
			s.service = ""
			continue
		}
		c.maybeRotate()
		c.seen[0][s.key] = s.service
	}
	// Children that arrived in earlier batches and waited for these spans.
	for i := range spans {
		s := &spans[i]
		if s.service == "" {
			continue
		}
		for _, kid := range c.takeWaiting(s.key) {
			if kid.service != s.service {
				dst = append(dst, edgeRow{start: kid.start, parent: s.service, child: kid.service,
					duration: kid.duration, isError: kid.isError})
			}
		}
	}
	// Each span's own parent: in this batch, in an earlier one, or not yet.
	for i := range spans {
		s := &spans[i]
		if s.service == "" || !s.hasParent {
			continue
		}
		if parent, ok := c.lookup(s.parent); ok {
			if parent != s.service {
				dst = append(dst, edgeRow{start: s.start, parent: parent, child: s.service,
					duration: s.duration, isError: s.isError})
			}
			continue
		}
		c.maybeRotate()
		c.waiting[0][s.parent] = append(c.waiting[0][s.parent], waitingChild{
			service: s.service, start: s.start, duration: s.duration, isError: s.isError})
		c.nWaiting++
	}
	return dst
}

// interner keeps one copy of each service name, so the edge cache does not
// pin the request buffers the names were decoded from.
type interner struct {
	mu    sync.Mutex
	names map[string]string
	limit int
}

func newInterner(limit int) *interner {
	return &interner{names: make(map[string]string), limit: limit}
}

func (in *interner) intern(s string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if v, ok := in.names[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if len(in.names) < in.limit {
		in.names[v] = v
	}
	return v
}
