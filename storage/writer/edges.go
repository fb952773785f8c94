package writer

import (
	"slices"
	"sync"
	"time"

	"github.com/tracehouse/tracehouse/storage/nativeblock"
	"github.com/tracehouse/tracehouse/storage/servicegraph"
)

// splitEdges separates calls (service_edge_events) from broker hops
// (broker_edge_events). edges is left as it is: it may be kept for a
// retry.
func splitEdges(edges []servicegraph.Edge) (calls, broker []servicegraph.Edge) {
	for _, e := range edges {
		if e.Broker {
			broker = append(broker, e)
		}
	}
	if len(broker) == 0 {
		return edges, nil
	}
	calls = make([]servicegraph.Edge, 0, len(edges)-len(broker))
	for _, e := range edges {
		if !e.Broker {
			calls = append(calls, e)
		}
	}
	return calls, broker
}

// brokerEdgeColumns are the columns of broker_edge_events for broker
// edges, in schema.BrokerEdgeEventsColumns order.
func brokerEdgeColumns(edges []servicegraph.Edge) []nativeblock.Column {
	ts := make([]time.Time, len(edges))
	producer := make([]string, len(edges))
	system := make([]string, len(edges))
	dest := make([]string, len(edges))
	consumer := make([]string, len(edges))
	delay := make([]uint64, len(edges))
	duration := make([]uint64, len(edges))
	isError := make([]bool, len(edges))
	redelivery := make([]bool, len(edges))
	for i, e := range edges {
		ts[i] = time.Unix(0, e.Start)
		producer[i], system[i], dest[i], consumer[i] = e.Parent, e.Messaging.System, e.Messaging.Destination, e.Child
		delay[i], duration[i], isError[i], redelivery[i] = e.QueueDelay, e.Duration, e.IsError, e.Redelivery
	}
	return []nativeblock.Column{
		{Name: "Timestamp", Values: ts}, {Name: "ProducerService", Values: producer}, {Name: "System", Values: system},
		{Name: "Destination", Values: dest}, {Name: "ConsumerService", Values: consumer}, {Name: "QueueDelay", Values: delay},
		{Name: "Duration", Values: duration}, {Name: "IsError", Values: isError}, {Name: "Redelivery", Values: redelivery},
	}
}

// edgeColumns are the columns of service_edge_events for edges, in
// schema.ServiceEdgeEventsColumns order.
func edgeColumns(edges []servicegraph.Edge) []nativeblock.Column {
	ts := make([]time.Time, len(edges))
	parent := make([]string, len(edges))
	child := make([]string, len(edges))
	duration := make([]uint64, len(edges))
	isError := make([]bool, len(edges))
	for i, e := range edges {
		ts[i] = time.Unix(0, e.Start)
		parent[i], child[i] = e.Parent, e.Child
		duration[i], isError[i] = e.Duration, e.IsError
	}
	return []nativeblock.Column{
		{Name: "Timestamp", Values: ts}, {Name: "ParentService", Values: parent}, {Name: "ChildService", Values: child},
		{Name: "Duration", Values: duration}, {Name: "IsError", Values: isError},
	}
}

// pendingEdges are the service-graph edges of batches whose spans were
// stored but whose edges INSERT failed, by the batch's spans token. The
// edges cannot be found again: the edge cache has seen the spans, and a
// retry of the batch resolves none. So the writer keeps them, and when the
// batch comes back (exporterhelper retries the same request, so the same
// block and token) it sends only these edges, without the spans.
//
// A consumer retries its one batch until it gets through, so a few entries
// suffice; maxPendingBatches bounds those of batches given up for good,
// the oldest forgotten first (their edges are lost; EdgesError said so
// when they failed). They live in memory only: after a restart a
// replayed batch's spans are deduplicated by their token and its edges
// found again as far as the fresh edge cache can pair them.
type pendingEdges struct {
	mu      sync.Mutex
	byToken map[string][]servicegraph.Edge
	order   []string // oldest first
}

const maxPendingBatches = 16

func (p *pendingEdges) put(token string, edges []servicegraph.Edge) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byToken == nil {
		p.byToken = map[string][]servicegraph.Edge{}
	}
	if _, ok := p.byToken[token]; !ok {
		p.order = append(p.order, token)
	}
	p.byToken[token] = edges
	for len(p.order) > maxPendingBatches {
		delete(p.byToken, p.order[0])
		p.order = p.order[1:]
	}
}

// take returns and forgets the edges kept for token.
func (p *pendingEdges) take(token string) ([]servicegraph.Edge, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	edges, ok := p.byToken[token]
	if ok {
		delete(p.byToken, token)
		p.order = slices.DeleteFunc(p.order, func(t string) bool { return t == token })
	}
	return edges, ok
}
