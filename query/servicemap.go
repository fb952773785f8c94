package query

import (
	"context"
	"fmt"
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

// ServiceMap is the services and their calls in a time range and in its
// last minutes.
type ServiceMap struct {
	MapWindow
	// Recent holds the last RecentWindow of the range, in whole minutes
	// (so up to a minute more).
	Recent       MapWindow
	RecentWindow time.Duration
	Nodes        []ServiceNode
	Edges        []ServiceEdge
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
	return buildMap(whole, last, q.Recent), nil
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
