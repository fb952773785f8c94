package query

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/tracehouse/tracehouse/storage/reader"
)

// Stats are a node's or an edge's totals over a window, as the callee saw
// them (its server and consumer spans).
type Stats struct {
	Calls     uint64
	Errors    uint64
	Rate      float64 // calls per second of the window's coverage
	ErrorRate float64 // errors/calls
	Latency
}

func statsOf(calls, errors uint64, q []float64, cov Coverage) Stats {
	st := Stats{Calls: calls, Errors: errors, Latency: latencyOf(q, calls), Rate: rate(calls, cov.Duration())}
	if calls > 0 {
		st.ErrorRate = float64(errors) / float64(calls)
	}
	return st
}

// CallStats are calls as their callers saw them (reader.PeerCallStats):
// what failed on the way, not only what reached the callee.
type CallStats struct {
	Calls         uint64 // attempts made (client and producer spans naming the callee)
	Errors        uint64 // attempts that failed at the caller: error answers, timeouts, no connection
	ShortCircuits uint64 // calls a circuit breaker answered without making them
	// Rate is (Calls + ShortCircuits) per second of coverage, FailureRate
	// (Errors + ShortCircuits) / (Calls + ShortCircuits).
	Rate        float64
	FailureRate float64
	Latency     // of the attempts, at the caller
}

// Attempted is every call the callers wanted to make.
func (c CallStats) Attempted() uint64 { return c.Calls + c.ShortCircuits }

// Failed is every call that failed at the caller.
func (c CallStats) Failed() uint64 { return c.Errors + c.ShortCircuits }

func (c *CallStats) add(p reader.PeerCallStats) {
	c.Calls += p.Calls
	c.Errors += p.Errors
	c.ShortCircuits += p.ShortCircuits
}

func (c *CallStats) finish(cov Coverage) {
	c.Rate = rate(c.Attempted(), cov.Duration())
	if n := c.Attempted(); n > 0 {
		c.FailureRate = float64(c.Failed()) / float64(n)
	}
}

// NodeStats are a service's numbers over one window: the requests it served
// and the calls its callers made to it.
type NodeStats struct {
	Served  Stats
	Callers CallStats
}

// EdgeStats are one caller → callee pair's numbers over one window: the
// calls that reached the callee (Stats, from its spans) and the calls as
// the caller saw them.
type EdgeStats struct {
	Stats
	Caller CallStats
}

// Health states of a service on the map.
const (
	HealthOK          = "ok"
	HealthIdle        = "idle"        // no requests served, none attempted
	HealthFailing     = "failing"     // its requests fail, or its callers' calls to it do
	HealthUnreachable = "unreachable" // its callers' calls fail, most without reaching it
)

// BadFailureRate is the share of failed requests or calls at which a
// service or a call is failing.
const BadFailureRate = 0.05

// Health says whether a service is failing, and whether it is where the
// failure starts.
type Health struct {
	State string
	// Now is true when State holds over the recent window; false when the
	// service failed earlier in the range and not since.
	Now bool
	// RootCause marks a failing service none of whose callees is failing
	// in the same window: the failure starts here rather than below.
	RootCause bool
	// Reason is one sentence saying what the numbers show.
	Reason string
}

func (h Health) failing() bool { return h.State == HealthFailing || h.State == HealthUnreachable }

// ServiceNode is a service: the requests it served (server and consumer
// spans) and the calls made to it, over the map's range and its recent
// window, and its health.
type ServiceNode struct {
	Service string
	Stats             // served over the range
	Callers CallStats // calls made to it over the range
	Recent  NodeStats
	Health  Health
}

// ServiceEdge is calls from Parent to Child over the range and the recent
// window.
type ServiceEdge struct {
	Parent, Child string
	EdgeStats
	Recent EdgeStats
	// Failing: at least BadFailureRate of the calls failed, at the caller
	// or at the callee, over the range (FailingNow: the recent window).
	Failing, FailingNow bool
}

// MapWindow is a window of the map: its whole minutes and the part of them
// data covers.
type MapWindow struct {
	Range    TimeRange
	Coverage Coverage
}

// Destination is a broker's destination (topic, subject, queue) that
// services publish to or consume from: a node of the map between its
// producers and its consumers.
type Destination struct {
	System, Name string
	// Published counts the publish attempts over the range, Delivered the
	// deliveries to consumers (redeliveries included).
	Published, Delivered uint64
}

// PublishEdge is Service publishing to a destination: its producer spans
// (publish attempts; Errors failed at the producer) over the range and
// the recent window.
type PublishEdge struct {
	Service, System, Destination string
	Stats
	Recent              Stats
	Failing, FailingNow bool
}

// DeliveryStats are deliveries of messages to a consumer over a window:
// Calls counts consumer spans (every delivery, so a message delivered
// three times counts three), Errors the failed deliveries, Redeliveries
// the deliveries that were not a message's first; Latency is the
// consumer spans' processing time, QueueDelay how long messages waited
// from their publish to the start of a delivery.
type DeliveryStats struct {
	Stats
	Redeliveries uint64
	QueueDelay   QueueDelay
}

// QueueDelay holds queue delay quantiles and the mean, in nanoseconds.
type QueueDelay struct {
	P50, P99, Mean float64
}

// DeliveryEdge is a destination's messages delivered to Consumer, over the
// range and the recent window; Producers are the services whose messages
// they were.
type DeliveryEdge struct {
	System, Destination, Consumer string
	Producers                     []string
	DeliveryStats
	Recent              DeliveryStats
	Failing, FailingNow bool
}

// ServiceMap is the services and their calls in a time range and in its
// last minutes, and the broker destinations between producers and
// consumers.
type ServiceMap struct {
	MapWindow
	// Recent holds the last RecentWindow of the range, in whole minutes
	// (so up to a minute more).
	Recent       MapWindow
	RecentWindow time.Duration
	Nodes        []ServiceNode
	Edges        []ServiceEdge
	// Destinations, Publishes and Deliveries are the hops through
	// brokers: service → destination → service. A hop is not a call (the
	// producer does not wait), so it is not among Edges and plays no part
	// in the services' health.
	Destinations []Destination
	Publishes    []PublishEdge
	Deliveries   []DeliveryEdge
}

// DefaultRecentWindow is the recent window of a map: short enough that an
// outage is most of it, long enough to hold a breaker's trial calls.
const DefaultRecentWindow = 5 * time.Minute

// ServiceMapQuery asks for the map of Range, with the last Recent of it
// (whole minutes; 0 means DefaultRecentWindow) as its recent window.
type ServiceMapQuery struct {
	Range  TimeRange
	Recent time.Duration
}

// ServiceMap reads the services and their calls in a range and in its
// recent window. Minutes are whole: the range's start is rounded down to
// the minute, and its last minute counts whole.
func (s *Service) ServiceMap(ctx context.Context, q ServiceMapQuery) (*ServiceMap, error) {
	r := q.Range
	r.Start = r.Start.Truncate(time.Minute)
	if err := checkRange(r, s.limits.MaxAggregateRange); err != nil {
		return nil, err
	}
	if q.Recent == 0 {
		q.Recent = DefaultRecentWindow
	}
	if q.Recent < time.Minute || q.Recent%time.Minute != 0 || q.Recent > time.Hour {
		return nil, inputError("recent", "the recent window %s must be whole minutes, from 1m to 1h", q.Recent)
	}
	recent := TimeRange{Start: r.End.Add(-q.Recent).Truncate(time.Minute), End: r.End}
	if recent.Start.Before(r.Start) {
		recent.Start = r.Start
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	whole, err := s.mapWindow(ctx, r)
	if err != nil {
		return nil, err
	}
	last, err := s.mapWindow(ctx, recent)
	if err != nil {
		return nil, err
	}
	m := buildMap(whole, last, q.Recent)
	addBrokers(m, whole, last)
	return m, nil
}

// graphWindow is a window's rows.
type graphWindow struct {
	MapWindow
	graph *reader.ServiceGraph
}

func (s *Service) mapWindow(ctx context.Context, r TimeRange) (graphWindow, error) {
	g, err := s.store.ServiceGraph(ctx, r.Start, r.End)
	if err != nil {
		return graphWindow{}, classify(err, nil)
	}
	cov, err := s.coverage(ctx, r.Start, r.End)
	if err != nil {
		return graphWindow{}, err
	}
	return graphWindow{MapWindow{Range: r, Coverage: cov}, g}, nil
}

type pair struct{ parent, child string }

// windowStats folds one window's rows into per-service and per-pair stats.
func windowStats(w graphWindow) (map[string]*NodeStats, map[pair]*EdgeStats) {
	nodes := map[string]*NodeStats{}
	node := func(name string) *NodeStats {
		n := nodes[name]
		if n == nil {
			n = &NodeStats{}
			nodes[name] = n
		}
		return n
	}
	edges := map[pair]*EdgeStats{}
	edge := func(p pair) *EdgeStats {
		e := edges[p]
		if e == nil {
			e = &EdgeStats{}
			edges[p] = e
		}
		return e
	}
	cov := w.Coverage
	for _, n := range w.graph.Services {
		node(n.Service).Served = statsOf(n.Calls, n.Errors, n.Quantiles, cov)
	}
	for _, e := range w.graph.Edges {
		edge(pair{e.Parent, e.Child}).Stats = statsOf(e.Calls, e.Errors, e.Quantiles, cov)
		node(e.Parent)
		node(e.Child)
	}
	for _, c := range w.graph.PeerCalls {
		e := edge(pair{c.Caller, c.Peer})
		e.Caller.add(c)
		e.Caller.Latency = latencyOf(c.Quantiles, c.Calls)
		e.Caller.finish(cov)
		node(c.Caller)
		n := node(c.Peer)
		n.Callers.add(c)
	}
	for _, n := range nodes {
		n.Callers.finish(cov)
	}
	return nodes, edges
}

func buildMap(whole, last graphWindow, recentWindow time.Duration) *ServiceMap {
	nodesW, edgesW := windowStats(whole)
	nodesR, edgesR := windowStats(last)
	m := &ServiceMap{MapWindow: whole.MapWindow, Recent: last.MapWindow, RecentWindow: recentWindow, Nodes: []ServiceNode{}, Edges: []ServiceEdge{}}
	names := map[string]bool{}
	for name := range nodesW {
		names[name] = true
	}
	for name := range nodesR {
		names[name] = true
	}
	for name := range names {
		n := ServiceNode{Service: name}
		if w := nodesW[name]; w != nil {
			n.Stats, n.Callers = w.Served, w.Callers
		}
		if r := nodesR[name]; r != nil {
			n.Recent = *r
		}
		m.Nodes = append(m.Nodes, n)
	}
	sort.Slice(m.Nodes, func(i, j int) bool { return m.Nodes[i].Service < m.Nodes[j].Service })
	pairs := map[pair]bool{}
	for p := range edgesW {
		pairs[p] = true
	}
	for p := range edgesR {
		pairs[p] = true
	}
	for p := range pairs {
		e := ServiceEdge{Parent: p.parent, Child: p.child}
		if w := edgesW[p]; w != nil {
			e.EdgeStats = *w
		}
		if r := edgesR[p]; r != nil {
			e.Recent = *r
		}
		e.Failing, e.FailingNow = edgeFailing(e.EdgeStats), edgeFailing(e.Recent)
		m.Edges = append(m.Edges, e)
	}
	sort.Slice(m.Edges, func(i, j int) bool {
		if m.Edges[i].Parent != m.Edges[j].Parent {
			return m.Edges[i].Parent < m.Edges[j].Parent
		}
		return m.Edges[i].Child < m.Edges[j].Child
	})
	setHealth(m)
	return m
}

type destKey struct{ system, name string }

type pubKey struct {
	service string
	dest    destKey
}

type deliveryKey struct {
	dest     destKey
	consumer string
}

// brokerWindow folds one window's broker rows into publish and delivery
// stats, and says which producers each delivery edge's messages came from.
func brokerWindow(w graphWindow) (map[pubKey]*Stats, map[deliveryKey]*DeliveryStats, map[deliveryKey]map[string]bool) {
	pubs := map[pubKey]*Stats{}
	cov := w.Coverage
	for _, p := range w.graph.Publishes {
		st := statsOf(p.Calls, p.Errors, p.Quantiles, cov)
		pubs[pubKey{p.Service, destKey{p.System, p.Destination}}] = &st
	}
	type acc struct {
		deliveries, errors, redeliveries, delaySum uint64
		// The quantiles of several producers' rows cannot be merged
		// here: the largest row's stand for the edge (one producer per
		// destination and consumer is the rule).
		quantiles, delay []float64
		most             uint64
	}
	accs := map[deliveryKey]*acc{}
	producers := map[deliveryKey]map[string]bool{}
	for _, b := range w.graph.Brokers {
		k := deliveryKey{destKey{b.System, b.Destination}, b.Consumer}
		a := accs[k]
		if a == nil {
			a = &acc{}
			accs[k] = a
			producers[k] = map[string]bool{}
		}
		producers[k][b.Producer] = true
		a.deliveries += b.Deliveries
		a.errors += b.Errors
		a.redeliveries += b.Redeliveries
		a.delaySum += b.QueueDelaySum
		if b.Deliveries > a.most {
			a.most, a.quantiles, a.delay = b.Deliveries, b.Quantiles, b.QueueDelay
		}
		// A producer's publishes are known even when publishes_1m has
		// none (spans written before 0012, or producer spans that name no
		// destination): its edge is drawn, with the counts known.
		pk := pubKey{b.Producer, k.dest}
		if pubs[pk] == nil {
			pubs[pk] = &Stats{}
		}
	}
	deliveries := map[deliveryKey]*DeliveryStats{}
	for k, a := range accs {
		d := &DeliveryStats{Stats: statsOf(a.deliveries, a.errors, a.quantiles, cov), Redeliveries: a.redeliveries}
		if a.deliveries > 0 && len(a.delay) == 2 {
			d.QueueDelay = QueueDelay{P50: finite(a.delay[0]), P99: finite(a.delay[1]), Mean: math.Round(float64(a.delaySum) / float64(a.deliveries))}
		}
		deliveries[k] = d
	}
	return pubs, deliveries, producers
}

// addBrokers puts the broker hops of both windows on the map.
func addBrokers(m *ServiceMap, whole, last graphWindow) {
	pubsW, delW, prodW := brokerWindow(whole)
	pubsR, delR, prodR := brokerWindow(last)
	m.Destinations, m.Publishes, m.Deliveries = []Destination{}, []PublishEdge{}, []DeliveryEdge{}
	dests := map[destKey]*Destination{}
	dest := func(k destKey) *Destination {
		d := dests[k]
		if d == nil {
			d = &Destination{System: k.system, Name: k.name}
			dests[k] = d
		}
		return d
	}
	pubKeys := map[pubKey]bool{}
	for k := range pubsW {
		pubKeys[k] = true
	}
	for k := range pubsR {
		pubKeys[k] = true
	}
	for k := range pubKeys {
		e := PublishEdge{Service: k.service, System: k.dest.system, Destination: k.dest.name}
		if w := pubsW[k]; w != nil {
			e.Stats = *w
		}
		if r := pubsR[k]; r != nil {
			e.Recent = *r
		}
		e.Failing = e.Calls > 0 && e.ErrorRate >= BadFailureRate
		e.FailingNow = e.Recent.Calls > 0 && e.Recent.ErrorRate >= BadFailureRate
		dest(k.dest).Published += e.Calls
		m.Publishes = append(m.Publishes, e)
	}
	delKeys := map[deliveryKey]bool{}
	for k := range delW {
		delKeys[k] = true
	}
	for k := range delR {
		delKeys[k] = true
	}
	for k := range delKeys {
		e := DeliveryEdge{System: k.dest.system, Destination: k.dest.name, Consumer: k.consumer, Producers: []string{}}
		if w := delW[k]; w != nil {
			e.DeliveryStats = *w
		}
		if r := delR[k]; r != nil {
			e.Recent = *r
		}
		for p := range prodW[k] {
			e.Producers = append(e.Producers, p)
		}
		for p := range prodR[k] {
			if !prodW[k][p] {
				e.Producers = append(e.Producers, p)
			}
		}
		sort.Strings(e.Producers)
		e.Failing = e.Calls > 0 && e.ErrorRate >= BadFailureRate
		e.FailingNow = e.Recent.Calls > 0 && e.Recent.ErrorRate >= BadFailureRate
		dest(k.dest).Delivered += e.Calls
		m.Deliveries = append(m.Deliveries, e)
	}
	for _, d := range dests {
		m.Destinations = append(m.Destinations, *d)
	}
	sort.Slice(m.Destinations, func(i, j int) bool {
		a, b := m.Destinations[i], m.Destinations[j]
		return a.Name < b.Name || (a.Name == b.Name && a.System < b.System)
	})
	sort.Slice(m.Publishes, func(i, j int) bool {
		a, b := m.Publishes[i], m.Publishes[j]
		return a.Service+"\x00"+a.Destination+"\x00"+a.System < b.Service+"\x00"+b.Destination+"\x00"+b.System
	})
	sort.Slice(m.Deliveries, func(i, j int) bool {
		a, b := m.Deliveries[i], m.Deliveries[j]
		return a.Destination+"\x00"+a.System+"\x00"+a.Consumer < b.Destination+"\x00"+b.System+"\x00"+b.Consumer
	})
	// A service that only publishes or consumes is on the map too.
	have := map[string]bool{}
	for _, n := range m.Nodes {
		have[n.Service] = true
	}
	added := false
	for _, e := range m.Publishes {
		if !have[e.Service] {
			have[e.Service] = true
			m.Nodes = append(m.Nodes, ServiceNode{Service: e.Service, Health: Health{State: HealthIdle, Now: true, Reason: "no requests in the range"}})
			added = true
		}
	}
	for _, e := range m.Deliveries {
		if !have[e.Consumer] {
			have[e.Consumer] = true
			m.Nodes = append(m.Nodes, ServiceNode{Service: e.Consumer, Health: Health{State: HealthIdle, Now: true, Reason: "no requests in the range"}})
			added = true
		}
	}
	if added {
		sort.Slice(m.Nodes, func(i, j int) bool { return m.Nodes[i].Service < m.Nodes[j].Service })
	}
}

func edgeFailing(e EdgeStats) bool {
	return (e.Calls > 0 && e.ErrorRate >= BadFailureRate) || (e.Caller.Attempted() > 0 && e.Caller.FailureRate >= BadFailureRate)
}

// windowHealth is a service's state over one window, and why.
func windowHealth(n NodeStats, window string) (string, string) {
	served, callers := n.Served, n.Callers
	callersFail := callers.Attempted() > 0 && callers.FailureRate >= BadFailureRate
	switch {
	case callersFail && served.Calls*2 < callers.Attempted():
		reason := fmt.Sprintf("its callers could not reach it %s: %s of %d calls failed at the caller", window, pct(callers.FailureRate), callers.Attempted())
		if callers.ShortCircuits > 0 {
			reason += fmt.Sprintf(", %d of them short-circuited by a circuit breaker", callers.ShortCircuits)
		}
		if served.Calls > 0 {
			reason += fmt.Sprintf("; it served %d requests", served.Calls)
		} else {
			reason += "; it served none"
		}
		return HealthUnreachable, reason
	case served.Calls > 0 && served.ErrorRate >= BadFailureRate:
		reason := fmt.Sprintf("%s of the %d requests it served %s failed", pct(served.ErrorRate), served.Calls, window)
		if callersFail {
			reason += fmt.Sprintf("; its callers saw %s of %d calls fail", pct(callers.FailureRate), callers.Attempted())
		}
		return HealthFailing, reason
	case callersFail:
		return HealthFailing, fmt.Sprintf("its callers saw %s of %d calls to it fail %s (errors, timeouts or short-circuits at the caller)", pct(callers.FailureRate), callers.Attempted(), window)
	case served.Calls == 0 && callers.Attempted() == 0:
		return HealthIdle, "no requests " + window
	}
	return HealthOK, ""
}

func pct(f float64) string {
	if f > 0 && f < 0.01 {
		return fmt.Sprintf("%.1f%%", f*100)
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

// setHealth gives every node its state, from the recent window when the
// service fails there, else from the whole range, then marks the failing
// services none of whose callees fails in the same window.
func setHealth(m *ServiceMap) {
	idx := map[string]*ServiceNode{}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		idx[n.Service] = n
		recentState, recentReason := windowHealth(n.Recent, "in the last "+shortDuration(m.RecentWindow))
		wholeState, wholeReason := windowHealth(NodeStats{Served: n.Stats, Callers: n.Callers}, "in the range")
		switch {
		case recentState == HealthFailing || recentState == HealthUnreachable:
			n.Health = Health{State: recentState, Now: true, Reason: recentReason}
		case wholeState == HealthFailing || wholeState == HealthUnreachable:
			n.Health = Health{State: wholeState, Reason: wholeReason + ", not since"}
		default:
			n.Health = Health{State: wholeState, Now: true, Reason: wholeReason}
		}
	}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if !n.Health.failing() {
			continue
		}
		n.Health.RootCause = true
		for _, e := range m.Edges {
			if e.Parent != n.Service || e.Child == n.Service {
				continue
			}
			if c := idx[e.Child]; c != nil && c.Health.failing() && (c.Health.Now || !n.Health.Now) {
				n.Health.RootCause = false
				break
			}
		}
	}
}

// shortDuration writes whole minutes as "5 min".
func shortDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", int(d/time.Minute))
	}
	return d.Round(time.Second).String()
}
