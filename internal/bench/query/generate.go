package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

var (
	services = []string{"gateway", "auth", "order", "payment"}
	routes   = []string{"/api/orders", "/api/orders/{id}", "/api/cart", "/api/checkout", "/api/users/{id}"}
	orderOps = []string{"POST /orders", "GET /orders/{id}", "order.validate"}
	phrases  = []string{"connection reset by peer", "card declined by issuer", "token expired for user"}
	messages = []string{
		"request completed",
		"user authenticated successfully",
		"order created and queued for payment",
		"cache miss for cart, loading from database",
		"retrying upstream call after timeout",
		"payment authorised",
		"inventory reserved for order",
		"slow query detected on orders table",
	}
	rareMessages = []string{ // each about 1% of records
		"upstream payment provider: connection reset by peer",
		"charge failed: card declined by issuer",
		"authentication rejected: token expired for user",
	}
)

const users = 1_000_000

// gen makes deterministic, realistic telemetry: traces of 5–10 spans over
// gateway → auth, order → payment, spread over the last 24h with a quarter
// of them in the last hour, written in time order (or, with random, each
// batch spread over the whole day: the worst case of late data, where
// every part overlaps every minute).
type gen struct {
	rng       *rand.Rand
	now       time.Time
	ids       []pcommon.TraceID // reservoir of written trace ids
	seen      int
	userOf    map[pcommon.TraceID]string
	resources [4]pcommon.Resource

	random                bool // timestamps at random over the day instead of in time order
	sweepDone, sweepTotal int  // items made of the current sweep (see sweep)
}

func newGen(now time.Time, random bool) *gen {
	g := &gen{rng: rand.New(rand.NewPCG(1, 2)), now: now, userOf: map[pcommon.TraceID]string{}, random: random}
	for i, s := range services {
		r := pcommon.NewResource()
		a := r.Attributes()
		a.PutStr("service.name", s)
		a.PutStr("service.version", "1.4.2")
		a.PutStr("deployment.environment", "production")
		a.PutStr("host.name", fmt.Sprintf("%s-7d9f8c-%d", s, i))
		a.PutStr("k8s.namespace.name", "shop")
		a.PutStr("telemetry.sdk.language", "go")
		g.resources[i] = r
	}
	return g
}

// sweep starts a load of n items (spans or log records). In time order,
// the items of a sweep cover the last 24h from the oldest to the newest,
// as a live collector writes them; sizes after the first sweep the day
// again, so their parts overlap the earlier ones.
func (g *gen) sweep(n int) { g.sweepDone, g.sweepTotal = 0, n }

// lastHourShare is the share of items in the last hour: a quarter on top
// of the even spread (three quarters over 24h), so "last hour" searches
// find plenty.
const lastHourShare = 0.25

func (g *gen) startTime() time.Time {
	if g.random {
		if g.rng.Float64() < lastHourShare {
			return g.now.Add(-time.Duration(g.rng.Int64N(int64(time.Hour))))
		}
		return g.now.Add(-time.Duration(g.rng.Int64N(int64(24 * time.Hour))))
	}
	// The same density in time order: the sweep's progress f is mapped
	// through the inverse of that distribution's CDF.
	f := float64(g.sweepDone) / float64(max(g.sweepTotal, 1))
	beforeLastHour := (1 - lastHourShare) * 23 / 24
	var t time.Time
	if f < beforeLastHour {
		t = g.now.Add(-24 * time.Hour).Add(time.Duration(f / beforeLastHour * float64(23*time.Hour)))
	} else {
		t = g.now.Add(-time.Hour).Add(time.Duration((f - beforeLastHour) / (1 - beforeLastHour) * float64(time.Hour)))
	}
	// Items arrive a little after they start; one in a hundred is late
	// by up to five minutes (a retry, a slow agent).
	late := time.Duration(g.rng.Int64N(int64(2 * time.Second)))
	if g.rng.IntN(100) == 0 {
		late = time.Duration(g.rng.Int64N(int64(5 * time.Minute)))
	}
	if t = t.Add(-late); t.After(g.now) {
		return g.now
	}
	return t
}

func (g *gen) traceID() pcommon.TraceID {
	var id pcommon.TraceID
	for i := range 2 {
		v := g.rng.Uint64()
		for j := range 8 {
			id[i*8+j] = byte(v >> (8 * j))
		}
	}
	return id
}

func (g *gen) spanID() pcommon.SpanID {
	var id pcommon.SpanID
	v := g.rng.Uint64() | 1
	for j := range 8 {
		id[j] = byte(v >> (8 * j))
	}
	return id
}

const reservoir = 4096

func (g *gen) remember(id pcommon.TraceID, user string) {
	g.seen++
	if len(g.ids) < reservoir {
		g.ids = append(g.ids, id)
		g.userOf[id] = user
		return
	}
	if j := g.rng.IntN(g.seen); j < reservoir {
		delete(g.userOf, g.ids[j])
		g.ids[j] = id
		g.userOf[id] = user
	}
}

func (g *gen) sampleID(i int) pcommon.TraceID { return g.ids[(i*7919)%len(g.ids)] }

// sampleUser is the user.id of a stored trace (so searches find something).
func (g *gen) sampleUser(i int) string { return g.userOf[g.ids[(i*104729+13)%len(g.ids)]] }
