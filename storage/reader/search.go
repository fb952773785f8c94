package reader

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/chsql"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// TraceSearch finds traces that hold at least one span matching every
// condition (Jaeger's search semantics).
type TraceSearch struct {
	Service   string // required
	Operation string // span name; empty: any
	// Matches are conditions on the span, all of which must hold.
	Matches     []SpanMatch
	MinDuration time.Duration // 0: no bound
	MaxDuration time.Duration // 0: no bound
	// Start and End bound the span's start time, both included.
	Start, End time.Time
	Limit      int // traces, at least 1
}

// SpanField is what a SpanMatch compares.
type SpanField int

// The fields a SpanMatch compares.
const (
	// SpanAttr, ResourceAttr and SpanOrResourceAttr compare attribute Key
	// of the span, of its resource, or of either with Text. The text decides
	// the type it compares as (chsql.ParseValue): an integer or decimal
	// number against int and double attributes, true or false against bool
	// attributes, anything else against strings (a number or bool also
	// matches the same text stored as a string).
	SpanAttr SpanField = iota
	ResourceAttr
	SpanOrResourceAttr
	// StatusCode and Kind compare with Enum (ptrace.StatusCode, ptrace.SpanKind).
	StatusCode
	Kind
	// StatusMessage, ScopeName, ScopeVersion and TraceState equal Text.
	StatusMessage
	ScopeName
	ScopeVersion
	TraceState
)

// SpanMatch is one condition on a span.
type SpanMatch struct {
	Field  SpanField
	Key    string // the attribute key (the *Attr fields)
	Text   string
	Enum   int8 // StatusCode and Kind
	Negate bool // StatusCode and Kind: not equal
}

// ErrorStatus matches spans whose status is (or, negated, is not) Error.
func ErrorStatus(negate bool) SpanMatch {
	return SpanMatch{Field: StatusCode, Enum: int8(ptrace.StatusCodeError), Negate: negate}
}

// FindTraceIDs returns up to s.Limit ids of traces with a matching span,
// most recent match first. It reads the range in windows from the newest
// (searchWindows), or at once when it searches for a rare attribute value
// (rareSearch).
func (r *Reader) FindTraceIDs(ctx context.Context, s TraceSearch) ([]pcommon.TraceID, error) {
	rare, err := r.rareSearch(ctx, s)
	if err != nil {
		return nil, err
	}
	return r.findTraceIDs(ctx, s, rare)
}

// findTraceIDs is FindTraceIDs once rareSearch has answered.
func (r *Reader) findTraceIDs(ctx context.Context, s TraceSearch, rare bool) ([]pcommon.TraceID, error) {
	limit := max(s.Limit, 1)
	var ids []pcommon.TraceID
	seen := make(map[pcommon.TraceID]struct{}, limit)
	w := newSearchWindows(s.Start, s.End)
	if rare {
		w.readAtOnce()
	}
	for {
		start, end, _, ok := w.window()
		if !ok {
			break
		}
		sql, args, err := r.traceSearchSQL(s, start, end)
		if err != nil {
			return nil, err
		}
		// One reading thread reads the window's newest minutes first and
		// stops at the limit; more threads would read older minutes in
		// parallel for nothing.
		err = r.query(ctx, clickhouse.Settings{"max_threads": 1}, sql, args, func(rows driverRows) error {
			id, err := scanTraceSearchRow(rows)
			if err != nil {
				return err
			}
			// A trace with matches in two windows (or on the instant both
			// bounds include) keeps its place from the newer one.
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		w.advance(start, len(ids), limit)
	}
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}

// SearchTraces is FindTraceIDs, then GetTraces of the ids found: the ids,
// most recent match first, and their traces. A search that reads its
// range at once (a rare attribute value, rareSearch) finds the traces and
// reads their spans in one statement: the id search is a scalar subquery,
// which ClickHouse runs before it analyses the rest, and the traces are
// read through trace_index as GetTraces reads them. A search in windows
// keeps its two steps: a window that finds nothing (the newest minute,
// often) costs 4–5 ms as an id search, and 11–13 ms as one statement that
// would also read its traces (10M spans, bench/query), whose pipelines run
// even for no ids; a window that finds them saves nothing measurable.
func (r *Reader) SearchTraces(ctx context.Context, s TraceSearch) ([]pcommon.TraceID, map[pcommon.TraceID]ptrace.Traces, error) {
	rare, err := r.rareSearch(ctx, s)
	if err != nil {
		return nil, nil, err
	}
	if !rare {
		ids, err := r.findTraceIDs(ctx, s, false)
		if err != nil {
			return nil, nil, err
		}
		found, err := r.GetTraces(ctx, ids)
		return ids, found, err
	}
	search, args, err := r.traceSearchSQL(s, s.Start, s.End)
	if err != nil {
		return nil, nil, err
	}
	var rank uint64 // a trace's place among the search's matches, from 1
	ranks := make(map[pcommon.TraceID]uint64)
	found, err := r.readTraces(ctx, searchTracesQuery(r.t, r.spanCols, search), args, []any{&rank},
		func(id pcommon.TraceID) { ranks[id] = rank })
	if err != nil {
		return nil, nil, err
	}
	ids := make([]pcommon.TraceID, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b pcommon.TraceID) int { return cmp.Compare(ranks[a], ranks[b]) })
	return ids, found, nil
}

// searchTracesQuery is SearchTraces' one statement: tracesByIDQuery with
// the ids of the search (search, traceSearchSQL's statement), and each
// span's trace's rank among them. The search's rows come sorted
// into the array by the order of its ORDER BY: newest match first, then
// TraceId.
func searchTracesQuery(t tables, spanCols, search string) string {
	return "WITH arrayMap(x -> x.1, arraySort(x -> (-toUnixTimestamp64Nano(x.2), x.1)," +
		" (SELECT groupArray((TraceId, Timestamp)) FROM (" + search + ")))) AS ids" +
		" SELECT " + spanCols + ", indexOf(ids, TraceId) FROM " + t.spans +
		" WHERE (toStartOfMinute(Timestamp), TraceId) IN (" + traceKeysOf(t) + ")" +
		" ORDER BY Timestamp"
}

// traceSearchSQL is the id search over [start, end]: newest first in the
// table's own order (minute, then time), one row per trace, stopping at
// the limit, so ClickHouse reads the newest minutes backwards and need not
// look at older ones once it has enough traces.
func (r *Reader) traceSearchSQL(s TraceSearch, start, end time.Time) (string, []any, error) {
	p := chsql.NewParams("p")
	where := []string{
		"Timestamp >= " + p.Add("DateTime64(9)", start),
		"Timestamp <= " + p.Add("DateTime64(9)", end),
		"ServiceName = " + p.Add("String", s.Service),
	}
	if s.Operation != "" {
		where = append(where, "SpanName = "+p.Add("String", s.Operation))
	}
	if s.MinDuration > 0 {
		where = append(where, "Duration >= "+p.Add("UInt64", uint64(s.MinDuration)))
	}
	if s.MaxDuration > 0 {
		where = append(where, "Duration <= "+p.Add("UInt64", uint64(s.MaxDuration)))
	}
	for _, m := range s.Matches {
		cond, err := spanCondition(p, m)
		if err != nil {
			return "", nil, err
		}
		where = append(where, cond)
	}
	sql := "SELECT TraceId, Timestamp\nFROM " + r.t.spans + "\nWHERE " + strings.Join(where, "\n  AND ") +
		"\nORDER BY toStartOfMinute(Timestamp) DESC, Timestamp DESC, TraceId\nLIMIT 1 BY TraceId\nLIMIT " + p.Add("UInt32", uint32(max(s.Limit, 1)))
	return sql, p.Args(), nil
}

// scanTraceSearchRow reads a row of traceSearchSQL: the trace's id (its
// Timestamp is there for the statement's order only).
func scanTraceSearchRow(rows driverRows) (pcommon.TraceID, error) {
	var raw string
	var ts time.Time
	var id pcommon.TraceID
	if err := rows.Scan(&raw, &ts); err != nil {
		return id, err
	}
	copy(id[:], raw)
	return id, nil
}

// spanCondition is one SpanMatch as SQL.
func spanCondition(p *chsql.Params, m SpanMatch) (string, error) {
	eq := " = "
	if m.Negate {
		eq = " != "
	}
	switch m.Field {
	case StatusCode:
		return "CAST(StatusCode, 'Int8')" + eq + p.Add("Int8", m.Enum), nil
	case Kind:
		return "CAST(SpanKind, 'Int8')" + eq + p.Add("Int8", m.Enum), nil
	case StatusMessage:
		return "StatusMessage = " + p.Add("String", m.Text), nil
	case ScopeName:
		return "ScopeName = " + p.Add("String", m.Text), nil
	case ScopeVersion:
		return "ScopeVersion = " + p.Add("String", m.Text), nil
	case TraceState:
		return "TraceState = " + p.Add("String", m.Text), nil
	case SpanAttr:
		return chsql.AttrPredicate(p, schema.Attrs, m.Key, chsql.Eq, chsql.ParseValue(m.Text))
	case ResourceAttr:
		return chsql.JSONAttrPredicate(p, chsql.ResourceAttributes, m.Key, chsql.Eq, chsql.ParseValue(m.Text))
	case SpanOrResourceAttr:
		v := chsql.ParseValue(m.Text)
		span, err := chsql.AttrPredicate(p, schema.Attrs, m.Key, chsql.Eq, v)
		if err != nil {
			return "", err
		}
		res, err := chsql.JSONAttrPredicate(p, chsql.ResourceAttributes, m.Key, chsql.Eq, v)
		return "(" + span + " OR " + res + ")", err
	}
	return "", fmt.Errorf("reader: unknown span field %d", m.Field)
}
