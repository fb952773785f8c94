package writer

import (
	"time"

	"github.com/tracehouse/tracehouse/storage/nativeblock"
	"github.com/tracehouse/tracehouse/storage/servicegraph"
)

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
