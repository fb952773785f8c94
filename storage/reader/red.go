package reader

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/chsql"
)

// Quantiles are the duration quantiles p50, p95 and p99 in nanoseconds
// (t-digest estimates merged from the per-minute states); empty when no
// call was counted.
type Quantiles []float64

// REDFilter selects the per-minute rate/error/duration aggregates of one
// service.
type REDFilter struct {
	Service   string
	Operation string           // empty: all operations
	Kind      *ptrace.SpanKind // nil: every kind
	// Start and End bound the minutes; Start is aligned down to Step by
	// the caller.
	Start, End time.Time
	// Step is the width of a point, in whole seconds.
	Step time.Duration
}

// REDRow is one step of a RED series. Steps without calls are absent.
type REDRow struct {
	Time        time.Time
	Calls       uint64
	Errors      uint64
	DurationSum uint64 // nanoseconds
	Quantiles   Quantiles
}

// RED reads a service's series from red_1m, merging the per-minute
// aggregate states into steps.
func (r *Reader) RED(ctx context.Context, f REDFilter) ([]REDRow, error) {
	p := chsql.NewParams("p")
	sql := "SELECT toStartOfInterval(Timestamp, toIntervalSecond(" + p.Add("UInt32", uint32(f.Step/time.Second)) + ")) AS t," +
		" sum(Calls), sum(Errors), sum(DurationSum), quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)\nFROM " + r.t.red1m +
		"\nWHERE ServiceName = " + p.Add("String", f.Service)
	if f.Operation != "" {
		sql += " AND SpanName = " + p.Add("String", f.Operation)
	}
	if f.Kind != nil {
		sql += " AND CAST(SpanKind, 'Int8') = " + p.Add("Int8", int8(*f.Kind))
	}
	sql += "\n  AND Timestamp >= " + p.Add("DateTime", f.Start) + " AND Timestamp < " + p.Add("DateTime", ceilSecond(f.End)) +
		"\nGROUP BY t ORDER BY t"
	var out []REDRow
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var row REDRow
		if err := rows.Scan(&row.Time, &row.Calls, &row.Errors, &row.DurationSum, (*[]float64)(&row.Quantiles)); err != nil {
			return err
		}
		out = append(out, row)
		return nil
	})
	return out, err
}

// ServiceStats are what a service served (its server and consumer spans)
// in a range.
type ServiceStats struct {
	Service       string
	Calls, Errors uint64
	Quantiles     Quantiles
}

// EdgeStats are the calls from Parent to Child in a range; the quantiles
// are the child side's durations.
type EdgeStats struct {
	Parent, Child string
	Calls, Errors uint64
	Quantiles     Quantiles
}

// ServiceGraph reads the services from red_1m and their calls from
// service_edges_1m, for the minutes in [start, end), sorted by name.
func (r *Reader) ServiceGraph(ctx context.Context, start, end time.Time) ([]ServiceStats, []EdgeStats, error) {
	p := chsql.NewParams("p")
	served := "CAST(SpanKind, 'Int8') IN (2, 5)" // Server, Consumer
	sql := "SELECT ServiceName, sumIf(Calls, " + served + "), sumIf(Errors, " + served + ")," +
		" quantilesTDigestMergeIf(0.5, 0.95, 0.99)(DurationQuantiles, " + served + ")\nFROM " + r.t.red1m +
		"\nWHERE Timestamp >= " + p.Add("DateTime", start) + " AND Timestamp < " + p.Add("DateTime", ceilSecond(end)) +
		"\nGROUP BY ServiceName ORDER BY ServiceName"
	nodes := []ServiceStats{}
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var n ServiceStats
		if err := rows.Scan(&n.Service, &n.Calls, &n.Errors, (*[]float64)(&n.Quantiles)); err != nil {
			return err
		}
		nodes = append(nodes, n)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	p = chsql.NewParams("p")
	sql = "SELECT ParentService, ChildService, sum(Calls), sum(Errors), quantilesTDigestMerge(0.5, 0.95, 0.99)(DurationQuantiles)\nFROM " + r.t.edges1m +
		"\nWHERE Timestamp >= " + p.Add("DateTime", start) + " AND Timestamp < " + p.Add("DateTime", ceilSecond(end)) +
		"\nGROUP BY ParentService, ChildService ORDER BY ParentService, ChildService"
	edges := []EdgeStats{}
	err = r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var e EdgeStats
		if err := rows.Scan(&e.Parent, &e.Child, &e.Calls, &e.Errors, (*[]float64)(&e.Quantiles)); err != nil {
			return err
		}
		edges = append(edges, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return nodes, edges, nil
}
