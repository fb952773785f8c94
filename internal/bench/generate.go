package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// spanGen makes traces of 10 spans over 4 services, spread over an hour.
type spanGen struct {
	rng    *rand.Rand
	t      time.Time
	traces [][16]byte
}

func newSpanGen(start time.Time) *spanGen {
	return &spanGen{rng: rand.New(rand.NewPCG(1, 2)), t: start}
}

type spanRows struct {
	ts                  []time.Time
	trace, span, parent []string
	name, kind, svc     []string
	duration            []uint64
	status              []string
	resAttrs            []string // OTLP/JSON attributes, as storage/writer writes them
	attrs               []map[string]string
	intAttrs            []map[string]int64
}

var (
	services   = []string{"gateway", "auth", "order", "payment"}
	operations = []string{"POST /api/checkout", "GET /api/orders/:id", "auth.validate", "order.create", "payment.charge", "db.query"}
)

func (g *spanGen) next(n int) *spanRows {
	r := &spanRows{}
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			var id [16]byte
			binary.LittleEndian.PutUint64(id[:8], g.rng.Uint64())
			binary.LittleEndian.PutUint64(id[8:], g.rng.Uint64())
			g.traces = append(g.traces, id)
			g.t = g.t.Add(3600 * time.Second / time.Duration(100_000)) // 1M spans ≈ 1 hour
		}
		trace := g.traces[len(g.traces)-1]
		var span, parent [8]byte
		binary.LittleEndian.PutUint64(span[:], g.rng.Uint64())
		if i%10 != 0 {
			binary.LittleEndian.PutUint64(parent[:], g.rng.Uint64())
		}
		svc := services[(i%10)%len(services)]
		r.ts = append(r.ts, g.t.Add(time.Duration(i%10)*time.Millisecond))
		r.trace = append(r.trace, string(trace[:]))
		r.span = append(r.span, string(span[:]))
		r.parent = append(r.parent, string(parent[:]))
		r.name = append(r.name, operations[g.rng.IntN(len(operations))])
		r.kind = append(r.kind, []string{"Server", "Client", "Internal"}[i%3])
		r.svc = append(r.svc, svc)
		r.duration = append(r.duration, uint64(g.rng.IntN(50_000_000)))
		r.status = append(r.status, []string{"Unset", "Unset", "Unset", "Error"}[g.rng.IntN(4)])
		r.resAttrs = append(r.resAttrs, `{"service.name":{"stringValue":"`+svc+`"},"host.name":{"stringValue":"node-`+svc+`"}}`)
		r.attrs = append(r.attrs, map[string]string{"http.route": "/api/checkout", "user.id": fmt.Sprint("u", g.rng.IntN(10000))})
		r.intAttrs = append(r.intAttrs, map[string]int64{"http.response.status_code": 200})
	}
	return r
}

func (r *spanRows) appendTo(b driver.Batch) error {
	cols := []any{r.ts, r.trace, r.span, r.parent, r.name, r.kind, r.duration, r.status, r.svc, r.resAttrs, r.attrs, r.intAttrs}
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

func (g *spanGen) sampleTraceIDs(n int) [][16]byte {
	out := make([][16]byte, n)
	for i := range out {
		out[i] = g.traces[g.rng.IntN(len(g.traces))]
	}
	return out
}
