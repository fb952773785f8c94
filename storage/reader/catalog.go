package reader

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/chsql"
)

// Services lists the services that sent spans, sorted (from red_1m, which
// is small: one row per service, operation and kind a minute).
func (r *Reader) Services(ctx context.Context) ([]string, error) {
	out := []string{}
	err := r.query(ctx, nil, "SELECT DISTINCT ServiceName FROM "+r.t.red1m+" WHERE ServiceName != '' ORDER BY ServiceName", nil,
		func(rows driverRows) error {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			out = append(out, name)
			return nil
		})
	return out, err
}

// Operation is a span name of a service, with its kind and its spans
// (Calls) over the data red_1m keeps.
type Operation struct {
	Name  string
	Kind  ptrace.SpanKind
	Calls uint64
}

// Operations lists a service's operations sorted by name and kind; kind
// filters when not nil.
func (r *Reader) Operations(ctx context.Context, service string, kind *ptrace.SpanKind) ([]Operation, error) {
	p := chsql.NewParams("p")
	sql := "SELECT SpanName, CAST(SpanKind, 'Int8') AS kind, sum(Calls) FROM " + r.t.red1m + " WHERE ServiceName = " + p.Add("String", service)
	if kind != nil {
		sql += " AND kind = " + p.Add("Int8", int8(*kind))
	}
	sql += " GROUP BY SpanName, kind ORDER BY SpanName, kind"
	out := []Operation{}
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var op Operation
		var k int8
		if err := rows.Scan(&op.Name, &k, &op.Calls); err != nil {
			return err
		}
		op.Kind = ptrace.SpanKind(k)
		out = append(out, op)
		return nil
	})
	return out, err
}

// Dependency is a parent → child service call count.
type Dependency struct {
	Parent, Child string
	Calls         uint64
}

// Dependencies are the service calls from the per-minute service edges
// of the minutes in [start, end), and the deliveries of messages from a
// producer service to a consumer service (broker_edges_1m, whatever the
// destination, redeliveries included): Jaeger's dependency graph has no
// broker nodes, and Jaeger itself counts a consumer under a producer as
// a dependency between their services.
func (r *Reader) Dependencies(ctx context.Context, start, end time.Time) ([]Dependency, error) {
	p := chsql.NewParams("p")
	from, to := p.Add("DateTime", start.Truncate(time.Second)), p.Add("DateTime", ceilSecond(end))
	sql := "SELECT Parent, Child, sum(Calls) FROM (" +
		"SELECT ParentService AS Parent, ChildService AS Child, Calls FROM " + r.t.edges1m +
		" WHERE Timestamp >= " + from + " AND Timestamp < " + to +
		" UNION ALL SELECT ProducerService, ConsumerService, Deliveries FROM " + r.t.brokerEdges1m +
		" WHERE Timestamp >= " + from + " AND Timestamp < " + to + " AND ProducerService != ConsumerService" +
		") GROUP BY Parent, Child ORDER BY Parent, Child"
	out := []Dependency{}
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var d Dependency
		if err := rows.Scan(&d.Parent, &d.Child, &d.Calls); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	})
	return out, err
}
