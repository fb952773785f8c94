// Package servicegraph finds the service-graph edges of spans: one edge per
// span whose parent span belongs to another service (the rows of
// service_edge_events, migration 0005, summed into service_edges_1m for the
// service map), and one broker edge per CONSUMER span whose parent is a
// PRODUCER span (a message delivered through a broker: the rows of
// broker_edge_events, migration 0012). The writer (storage/writer) calls it for every batch of
// spans it stored, inside the exporter process, with a Cache that lives as
// long as the writer.
//
// A parent and its child usually arrive in different batches, and the child
// first: a server span in service B ends (and is exported) before the client
// span in A that waits for it. So the Cache remembers, for a bounded time
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
// A hop through a broker is not a call: the producer does not wait for
// the consumer, and one message may be delivered many times. So a consumer
// span whose parent is a producer span (the messaging conventions'
// creation context) makes a broker edge instead of a call edge, keyed by
// the destination (the producer's messaging.destination.name, else the
// consumer's) and carrying the queue delay, consumer start − producer
// start. One per consumer span: every delivery, redeliveries included.
// A pair without any destination name stays a call edge, as before 0012.
// Producer spans are remembered with their start and destination in a
// third two-generation map, beside seen.
//
// A span already in seen is a duplicate (at-least-once redelivery, or a
// client that sent it twice): it produces no second edge.
//
// What this requires of a deployment: the Cache only sees the spans of its
// own process, so every span of a trace must reach the same exporter
// process. One collector does that by itself; a fleet of gateways behind a
// load balancer needs trace-id-aware routing in front of them (the contrib
// loadbalancing exporter with routing_key: traceID, or Kafka partitioned by
// trace id). Otherwise a parent and child that land in different processes
// never meet: that edge is missed and the service map undercounts calls
// (spans are stored either way). deploy/README.md says the same for
// operators.
package servicegraph

import (
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Defaults of a Cache, as the writer and the exporter use them.
const (
	DefaultCacheSize = 200_000
	DefaultCacheTTL  = 2 * time.Minute
)

// SpanKey is a 64-bit hash of trace id + span id: maps keyed by it hash and
// compare one word instead of 24 bytes, which keeps the cache cheap next to
// the rest of a batch (figures in bench/ingest/README.md). Two spans share a
// key with probability about n²/2⁶⁵ for n remembered spans (3·10⁻¹⁰ at the
// default 200k); such a collision costs one service-graph edge, missed or
// misattributed, never a span.
type SpanKey uint64

// MakeSpanKey is the key of span s of trace t.
func MakeSpanKey(t pcommon.TraceID, s pcommon.SpanID) SpanKey {
	h := mix64(binary.LittleEndian.Uint64(s[:]))
	h = mix64(h ^ binary.LittleEndian.Uint64(t[8:]))
	h = mix64(h ^ binary.LittleEndian.Uint64(t[:8]))
	return SpanKey(h)
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

// Span is what the edge logic needs from one span.
type Span struct {
	Key, Parent SpanKey
	HasParent   bool
	Service     string // interned (Interner): the cache keeps it
	Start       int64  // unix ns
	Duration    uint64 // ns
	IsError     bool
	Kind        Kind
	// Messaging is set on producer and consumer spans (both fields
	// interned); empty on others.
	Messaging Messaging
	// Redelivery marks a consumer span of a delivery other than the
	// message's first.
	Redelivery bool
}

// Kind is what the edge logic tells apart among span kinds.
type Kind uint8

// Kinds of spans.
const (
	KindOther Kind = iota
	KindProducer
	KindConsumer
)

// Messaging names where a message went: messaging.system and
// messaging.destination.name.
type Messaging struct {
	System, Destination string
}

// waitingChild is a span whose parent has not been seen yet.
type waitingChild struct {
	service    string
	start      int64
	duration   uint64
	isError    bool
	consumer   bool
	redelivery bool
	messaging  Messaging
}

// producer is what the cache remembers of a producer span.
type producer struct {
	start     int64
	messaging Messaging
}

// Edge is one row of service_edge_events, a call from Parent to Child with
// the child span's start, duration and error status; or, when Broker is
// set, one row of broker_edge_events: a delivery from the producer Parent
// through Messaging's destination to the consumer Child, with the
// consumer span's start, duration and error status and the queue delay.
type Edge struct {
	Start         int64 // unix ns
	Parent, Child string
	Duration      uint64 // ns
	IsError       bool

	Broker     bool
	Messaging  Messaging
	QueueDelay uint64 // ns: consumer start − producer start, 0 when negative
	Redelivery bool
}

// Cache remembers spans across batches to pair children with parents. It is
// safe for concurrent use.
type Cache struct {
	mu        sync.Mutex
	genSize   int           // entries per generation
	genAge    time.Duration // lifetime of a generation
	now       func() time.Time
	genStart  time.Time
	seen      [2]map[SpanKey]string // [0] current, [1] previous
	producers [2]map[SpanKey]producer
	waiting   [2]map[SpanKey][]waitingChild
	nWaiting  int // children in waiting[0]
	evictions int // entries dropped before their parent came (cumulative)
}

// NewCache returns a Cache that remembers about size spans (and as many
// waiting children) for between ttl/2 and ttl, on the clock now.
func NewCache(size int, ttl time.Duration, now func() time.Time) *Cache {
	gen := max(size/2, 1)
	return &Cache{
		genSize:   gen,
		genAge:    max(ttl/2, time.Millisecond),
		now:       now,
		genStart:  now(),
		seen:      [2]map[SpanKey]string{make(map[SpanKey]string), make(map[SpanKey]string)},
		producers: [2]map[SpanKey]producer{make(map[SpanKey]producer), make(map[SpanKey]producer)},
		waiting:   [2]map[SpanKey][]waitingChild{make(map[SpanKey][]waitingChild), make(map[SpanKey][]waitingChild)},
	}
}

func (c *Cache) maybeRotate() {
	if len(c.seen[0]) < c.genSize && c.nWaiting < c.genSize && c.now().Sub(c.genStart) < c.genAge {
		return
	}
	for _, kids := range c.waiting[1] {
		c.evictions += len(kids)
	}
	// Reuse the old maps' memory for the new generation.
	clear(c.seen[1])
	clear(c.producers[1])
	clear(c.waiting[1])
	c.seen[0], c.seen[1] = c.seen[1], c.seen[0]
	c.producers[0], c.producers[1] = c.producers[1], c.producers[0]
	c.waiting[0], c.waiting[1] = c.waiting[1], c.waiting[0]
	c.nWaiting = 0
	c.genStart = c.now()
}

func (c *Cache) lookup(k SpanKey) (string, bool) {
	if s, ok := c.seen[0][k]; ok {
		return s, true
	}
	s, ok := c.seen[1][k]
	return s, ok
}

func (c *Cache) lookupProducer(k SpanKey) (producer, bool) {
	if p, ok := c.producers[0][k]; ok {
		return p, true
	}
	p, ok := c.producers[1][k]
	return p, ok
}

// hop is the edge from a parent span in service parent (p set when the
// parent is a producer span) to a child; ok is false when it is no edge
// (a call within one service).
func hop(parent string, p *producer, child waitingChild) (Edge, bool) {
	if child.consumer && p != nil {
		m := p.messaging
		if m.Destination == "" {
			m.Destination = child.messaging.Destination
		}
		if m.System == "" {
			m.System = child.messaging.System
		}
		if m.Destination != "" {
			var delay uint64
			if child.start > p.start {
				delay = uint64(child.start - p.start)
			}
			return Edge{Start: child.start, Parent: parent, Child: child.service, Duration: child.duration, IsError: child.isError,
				Broker: true, Messaging: m, QueueDelay: delay, Redelivery: child.redelivery}, true
		}
	}
	if parent == child.service {
		return Edge{}, false
	}
	return Edge{Start: child.start, Parent: parent, Child: child.service, Duration: child.duration, IsError: child.isError}, true
}

func (s *Span) asChild() waitingChild {
	return waitingChild{service: s.Service, start: s.Start, duration: s.Duration, isError: s.IsError,
		consumer: s.Kind == KindConsumer, redelivery: s.Redelivery, messaging: s.Messaging}
}

func (c *Cache) takeWaiting(k SpanKey) []waitingChild {
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

// Resolve records spans (one batch, already stored) and returns the edges
// they complete, appended to dst. It uses spans as scratch space.
func (c *Cache) Resolve(spans []Span, dst []Edge) []Edge {
	c.mu.Lock()
	defer c.mu.Unlock()

	// Duplicates are marked by clearing their service; the caller's slice is
	// scratch space.
	for i := range spans {
		s := &spans[i]
		if _, dup := c.lookup(s.Key); dup {
			s.Service = ""
			continue
		}
		c.maybeRotate()
		c.seen[0][s.Key] = s.Service
		if s.Kind == KindProducer {
			c.producers[0][s.Key] = producer{start: s.Start, messaging: s.Messaging}
		}
	}
	// Children that arrived in earlier batches and waited for these spans.
	for i := range spans {
		s := &spans[i]
		if s.Service == "" {
			continue
		}
		var p *producer
		if s.Kind == KindProducer {
			p = &producer{start: s.Start, messaging: s.Messaging}
		}
		for _, kid := range c.takeWaiting(s.Key) {
			if e, ok := hop(s.Service, p, kid); ok {
				dst = append(dst, e)
			}
		}
	}
	// Each span's own parent: in this batch, in an earlier one, or not yet.
	for i := range spans {
		s := &spans[i]
		if s.Service == "" || !s.HasParent {
			continue
		}
		if parent, ok := c.lookup(s.Parent); ok {
			var p *producer
			if s.Kind == KindConsumer {
				if pr, ok := c.lookupProducer(s.Parent); ok {
					p = &pr
				}
			}
			if e, ok := hop(parent, p, s.asChild()); ok {
				dst = append(dst, e)
			}
			continue
		}
		c.maybeRotate()
		c.waiting[0][s.Parent] = append(c.waiting[0][s.Parent], s.asChild())
		c.nWaiting++
	}
	return dst
}

// Interner keeps one copy of each service name, so the Cache does not pin
// the request buffers the names were decoded from. It is safe for
// concurrent use.
type Interner struct {
	mu    sync.Mutex
	names map[string]string
	limit int
}

// NewInterner returns an Interner that keeps at most limit names (beyond
// that, Intern still returns a copy, not kept).
func NewInterner(limit int) *Interner {
	return &Interner{names: make(map[string]string), limit: limit}
}

// Intern returns the kept copy of s.
func (in *Interner) Intern(s string) string {
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
