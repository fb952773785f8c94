package reader

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tracehouse/tracehouse/storage/chsql"
)

// Attribute discovery reads attributes_1h (migration 0010): per hour,
// service, signal, scope and key, how often the key occurs, a sketch of
// its distinct values and its most frequent values. It never scans spans
// or logs: a range is answered in the whole hours it touches.

// Signals and scopes of attributes_1h, as its enums name them.
var (
	AttributeSignals = []string{"span", "log"}
	AttributeScopes  = []string{"attribute", "resource", "field"}
)

// TopValuesCapacity is how many values attributes_1h keeps per key and
// hour (approx_top_sum's counters): the most a values list can hold.
const TopValuesCapacity = 100

// AttributeKeysFilter selects the keys of attributes_1h.
type AttributeKeysFilter struct {
	// Signal is "span" or "log".
	Signal string
	// Scope is "attribute", "resource", "field" or empty for all three.
	Scope string
	// Service, when set, keeps the keys of that service only.
	Service string
	// Start and End bound the range; the hours they touch are read.
	Start, End time.Time
	// Prefix keeps the keys that start with it, in any case.
	Prefix string
	// Limit caps the keys returned, the most frequent first.
	Limit int
}

// AttributeKey is a key with one of its value types.
type AttributeKey struct {
	Scope string
	Key   string
	// Type is str, int, float, bool or other (arrays, maps, bytes, empty).
	Type string
	// Count is how many spans or records carry the key with this type.
	Count uint64
	// Distinct estimates its number of distinct values (within about 2%).
	Distinct uint64
}

// hourRange is the condition on attributes_1h.Timestamp for [start, end):
// the hours the range touches.
func hourRange(p *chsql.Params, start, end time.Time) string {
	return "Timestamp >= toStartOfHour(" + p.Add("DateTime", start.Truncate(time.Second)) + ") AND Timestamp < " + p.Add("DateTime", ceilSecond(end))
}

// AttributeKeys lists the keys seen in the range, the most frequent first
// (then by scope and key).
func (r *Reader) AttributeKeys(ctx context.Context, f AttributeKeysFilter) ([]AttributeKey, error) {
	p := chsql.NewParams("p")
	where := []string{"Signal = " + p.Add("String", f.Signal), hourRange(p, f.Start, f.End)}
	if f.Scope != "" {
		where = append(where, "Scope = "+p.Add("String", f.Scope))
	}
	if f.Service != "" {
		where = append(where, "ServiceName = "+p.Add("String", f.Service))
	}
	if f.Prefix != "" {
		where = append(where, "startsWith(lowerUTF8(Key), lowerUTF8("+p.Add("String", f.Prefix)+"))")
	}
	sql := "SELECT toString(Scope) AS s, toString(Key) AS k, toString(Type) AS t, sum(Count) AS n, uniqCombinedMerge(12)(Distinct) AS d\nFROM " + r.t.attributes1h +
		"\nWHERE " + joinAnd(where) +
		"\nGROUP BY s, k, t\nORDER BY n DESC, s, k, t\nLIMIT " + p.Add("UInt32", uint32(f.Limit))
	return r.attributeKeys(ctx, sql, p.Args())
}

// AttributeValuesFilter selects the values of one key.
type AttributeValuesFilter struct {
	Signal, Scope, Key string
	// Service, when set, keeps the values of that service only.
	Service    string
	Start, End time.Time
	// Prefix keeps the values that start with it, in any case.
	Prefix string
	// Limit caps the values returned, the most frequent first.
	Limit int
}

// AttributeValue is one of a key's frequent values. Count may be
// overestimated by up to Error (Space-Saving: a value counted after the
// counters were full inherits the smallest count as its error); Error is 0
// when the key had at most TopValuesCapacity values.
type AttributeValue struct {
	Value string
	Count uint64
	Error uint64
}

// AttributeValues are a key's most frequent values with what is known of
// the rest.
type AttributeValues struct {
	Values []AttributeValue
	// Count is how many spans or records carry the key (every type).
	Count uint64
	// Distinct estimates the key's number of distinct values: more than
	// TopValuesCapacity means the list holds the frequent ones only.
	Distinct uint64
	// Types are the key's value types, the most frequent first.
	Types []string
}

// AttributeValues reads the most frequent values of one key. Floats and
// "other" values are counted in Distinct only (0010 keeps no list for
// them). A prefix filters the kept values: a rare value outside them is
// not found.
func (r *Reader) AttributeValues(ctx context.Context, f AttributeValuesFilter) (*AttributeValues, error) {
	p := chsql.NewParams("p")
	where := []string{"Signal = " + p.Add("String", f.Signal), "Key = " + p.Add("String", f.Key), hourRange(p, f.Start, f.End)}
	if f.Scope != "" {
		where = append(where, "Scope = "+p.Add("String", f.Scope))
	}
	if f.Service != "" {
		where = append(where, "ServiceName = "+p.Add("String", f.Service))
	}
	prefix := p.Add("String", f.Prefix)
	// Count and Types come from every row of the key; the values from the
	// merged states, filtered and cut after the merge.
	sql := "SELECT n, d, arrayMap(x -> toString(x.1), arraySort(x -> -x.2, arrayZip(tm.1, tm.2))),\n" +
		"  arrayMap(x -> x.1, top), arrayMap(x -> x.2, top), arrayMap(x -> x.3, top)\n" +
		"FROM (SELECT sum(Count) AS n, uniqCombinedMerge(12)(Distinct) AS d, sumMap([toString(Type)], [toUInt64(Count)]) AS tm,\n" +
		"  arraySlice(arrayFilter(x -> startsWith(lowerUTF8(x.1), lowerUTF8(" + prefix + ")), approx_top_sumMerge(" +
		fmt.Sprint(TopValuesCapacity) + ", " + fmt.Sprint(TopValuesCapacity) + ")(TopValues)), 1, " + p.Add("UInt32", uint32(f.Limit)) + ") AS top\n" +
		"FROM " + r.t.attributes1h + "\nWHERE " + joinAnd(where) + ")"
	out := &AttributeValues{Values: []AttributeValue{}, Types: []string{}}
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var (
			values, types  []string
			counts, errors []uint64
		)
		if err := rows.Scan(&out.Count, &out.Distinct, &types, &values, &counts, &errors); err != nil {
			return err
		}
		out.Types = append(out.Types, types...)
		for i := range values {
			out.Values = append(out.Values, AttributeValue{Value: values[i], Count: counts[i], Error: errors[i]})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func joinAnd(conds []string) string { return strings.Join(conds, "\n  AND ") }

// ScanAttributeKeys answers what AttributeKeys answers for the records'
// own attributes (scope "attribute"), by scanning the raw spans or logs of
// the range instead of reading the summary: the cost attributes_1h saves,
// for benchmarks (internal/bench/query) and for checking the summary.
func (r *Reader) ScanAttributeKeys(ctx context.Context, f AttributeKeysFilter) ([]AttributeKey, error) {
	p := chsql.NewParams("p")
	table := r.t.spans
	if f.Signal == "log" {
		table = r.t.logs
	}
	where := []string{"Timestamp >= " + p.Add("DateTime64(9)", f.Start), "Timestamp < " + p.Add("DateTime64(9)", f.End)}
	if f.Service != "" {
		where = append(where, "ServiceName = "+p.Add("String", f.Service))
	}
	sql := "SELECT 'attribute', toString(kv.1) AS k, kv.2 AS t, count() AS n, uniq(kv.3)\nFROM " + table + "\nARRAY JOIN arrayConcat(" +
		"arrayMap((k, v) -> (k, 'str', v), mapKeys(AttrStr), mapValues(AttrStr)), " +
		"arrayMap((k, v) -> (k, 'int', toString(v)), mapKeys(AttrInt), mapValues(AttrInt)), " +
		"arrayMap((k, v) -> (k, 'float', toString(v)), mapKeys(AttrFloat), mapValues(AttrFloat)), " +
		"arrayMap((k, v) -> (k, 'bool', toString(v)), mapKeys(AttrBool), mapValues(AttrBool))) AS kv" +
		"\nWHERE " + joinAnd(where) + "\nGROUP BY k, t ORDER BY n DESC, k, t LIMIT " + p.Add("UInt32", uint32(f.Limit))
	return r.attributeKeys(ctx, sql, p.Args())
}

// ScanAttributeValues answers what AttributeValues answers for a string
// attribute by scanning the raw rows (see ScanAttributeKeys): exact counts.
func (r *Reader) ScanAttributeValues(ctx context.Context, f AttributeValuesFilter) ([]AttributeValue, error) {
	p := chsql.NewParams("p")
	table := r.t.spans
	if f.Signal == "log" {
		table = r.t.logs
	}
	key := p.Add("String", f.Key)
	where := []string{"Timestamp >= " + p.Add("DateTime64(9)", f.Start), "Timestamp < " + p.Add("DateTime64(9)", f.End), "mapContains(AttrStr, " + key + ")"}
	if f.Service != "" {
		where = append(where, "ServiceName = "+p.Add("String", f.Service))
	}
	sql := "SELECT AttrStr[" + key + "] AS v, count() AS n FROM " + table + "\nWHERE " + joinAnd(where) +
		"\nGROUP BY v ORDER BY n DESC, v LIMIT " + p.Add("UInt32", uint32(f.Limit))
	out := []AttributeValue{}
	err := r.query(ctx, nil, sql, p.Args(), func(rows driverRows) error {
		var v AttributeValue
		if err := rows.Scan(&v.Value, &v.Count); err != nil {
			return err
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// attributeKeys runs a statement whose rows are scope, key, type, count
// and distinct values: the summary's and the raw scan's answers alike.
func (r *Reader) attributeKeys(ctx context.Context, sql string, args []any) ([]AttributeKey, error) {
	out := []AttributeKey{}
	err := r.query(ctx, nil, sql, args, func(rows driverRows) error {
		var k AttributeKey
		if err := rows.Scan(&k.Scope, &k.Key, &k.Type, &k.Count, &k.Distinct); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	})
	return out, err
}
