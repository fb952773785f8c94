// Package chsql builds the parameterized ClickHouse SQL the query service
// runs. Every value a user supplies, attribute keys included, becomes a
// server-side query parameter ({name:Type}); nothing a user types is ever
// spliced into the SQL text.
package chsql

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracehouse/tracehouse/storage/schema"
)

// Params collects the parameters of one statement and names them
// "<prefix>0", "<prefix>1", … in the order they are added.
type Params struct {
	prefix string
	args   []any
}

// NewParams starts an empty parameter list whose names start with prefix
// (a plain identifier).
func NewParams(prefix string) *Params { return &Params{prefix: prefix} }

// Add records a value and returns its placeholder, e.g. "{q0:String}". typ
// is a ClickHouse type name chosen by the caller, never by a user.
func (p *Params) Add(typ string, value any) string {
	name := p.prefix + strconv.Itoa(len(p.args))
	p.args = append(p.args, clickhouse.Named(name, value))
	return "{" + name + ":" + typ + "}"
}

// Args are the values for Query/Exec, in the order they were added.
func (p *Params) Args() []any { return p.args }

// Len is how many parameters have been added.
func (p *Params) Len() int { return len(p.args) }

// Op is a comparison.
type Op string

// The comparisons of the query languages.
const (
	Eq Op = "="
	Ne Op = "!="
	Gt Op = ">"
	Ge Op = ">="
	Lt Op = "<"
	Le Op = "<="
)

// Ordered tells the comparisons that need an ordered (numeric) value.
func (o Op) Ordered() bool { return o == Gt || o == Ge || o == Lt || o == Le }

// Kind is how a user-typed value is compared.
type Kind int

// Value kinds, decided from the text the user typed (see ParseValue).
const (
	KindString Kind = iota
	KindInt
	KindFloat
	KindBool
)

// Value is a typed attribute value.
type Value struct {
	Kind  Kind
	Text  string // exactly as typed
	Int   int64
	Float float64
	Bool  bool
}

// ParseValue types an unquoted value: an integer compares as a number
// against AttrInt (and AttrFloat), a decimal number against AttrFloat and
// AttrInt, true/false against AttrBool; anything else is a string. Quoted
// values are always strings: use StringValue for them.
func ParseValue(text string) Value {
	v := Value{Kind: KindString, Text: text}
	switch text {
	case "true":
		v.Kind, v.Bool = KindBool, true
		return v
	case "false":
		v.Kind, v.Bool = KindBool, false
		return v
	}
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		v.Kind, v.Int, v.Float = KindInt, i, float64(i)
		return v
	}
	if looksNumeric(text) {
		if f, err := strconv.ParseFloat(text, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			v.Kind, v.Float = KindFloat, f
		}
	}
	return v
}

// looksNumeric rejects what ParseFloat accepts but nobody means as a
// number: "inf", "NaN", hex floats, underscores.
func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9', r == '.':
		case (r == '-' || r == '+') && (i == 0 || s[i-1] == 'e' || s[i-1] == 'E'):
		case (r == 'e' || r == 'E') && i > 0:
		default:
			return false
		}
	}
	return true
}

// StringValue is a value that compares as a string whatever it looks like.
func StringValue(text string) Value { return Value{Kind: KindString, Text: text} }

// AttrPredicate compares attribute key of one attribute set (the typed maps
// in cols) with v. Keys and values are parameters. A key missing from a map
// reads as the type's default (0, false, ""), so comparisons that a default
// would satisfy are guarded with mapContains.
//
// Equality with a number or bool also accepts the same text stored as a
// string attribute: instrumentations disagree on whether a status code is
// 500 or "500", and a search should find both.
func AttrPredicate(p *Params, cols schema.AttrColumns, key string, op Op, v Value) (string, error) {
	if op.Ordered() && v.Kind != KindInt && v.Kind != KindFloat {
		return "", fmt.Errorf("%s needs a number, got %q", op, v.Text)
	}
	k := p.Add("String", key)
	eq := op
	if op == Ne {
		eq = Eq
	}
	var alts []string
	typed := func(col, param string) string {
		return fmt.Sprintf("(mapContains(%s, %s) AND %s[%s] %s %s)", col, k, col, k, eq, param)
	}
	switch v.Kind {
	case KindInt:
		alts = append(alts, typed(cols.Int, p.Add("Int64", v.Int)), typed(cols.Float, p.Add("Float64", v.Float)))
	case KindFloat:
		f := p.Add("Float64", v.Float)
		alts = append(alts, typed(cols.Int, f), typed(cols.Float, f))
	case KindBool:
		alts = append(alts, typed(cols.Bool, p.Add("Bool", v.Bool)))
	}
	if !op.Ordered() {
		s := p.Add("String", v.Text)
		switch {
		case v.Text == "":
			alts = append(alts, typed(cols.Str, s))
		case cols == schema.Attrs:
			// ClickHouse 26.5 prunes with the bloom filter on
			// mapValues(AttrStr) for has(mapValues(…), v), not for the
			// subscript comparison, so both are written: one prunes, the
			// other is exact.
			alts = append(alts, fmt.Sprintf("(has(mapValues(%s), %s) AND %s[%s] = %s)", cols.Str, s, cols.Str, k, s))
		default:
			alts = append(alts, fmt.Sprintf("%s[%s] = %s", cols.Str, k, s))
		}
	}
	expr := strings.Join(alts, " OR ")
	if len(alts) > 1 {
		expr = "(" + expr + ")"
	}
	if op == Ne {
		return "NOT " + expr, nil
	}
	return expr, nil
}

// ResourceAttributes is the column holding a span's or record's resource
// attributes as attributes JSON: {"key": <AnyValue JSON>, …}.
const ResourceAttributes = "ResourceAttributes"

// JSONAttrPredicate is AttrPredicate for an attribute set stored as
// attributes JSON (resource and scope attributes). The same typing rules
// apply: an int value compares with intValue (a string in OTLP/JSON) and
// doubleValue, a bool with boolValue, and equality also accepts the text as
// stringValue.
func JSONAttrPredicate(p *Params, column, key string, op Op, v Value) (string, error) {
	if op.Ordered() && v.Kind != KindInt && v.Kind != KindFloat {
		return "", fmt.Errorf("%s needs a number, got %q", op, v.Text)
	}
	k := p.Add("String", key)
	eq := op
	if op == Ne {
		eq = Eq
	}
	intExpr := fmt.Sprintf("toInt64OrNull(JSONExtractString(%s, %s, 'intValue'))", column, k)
	floatExpr := fmt.Sprintf("JSONExtract(%s, %s, 'doubleValue', 'Nullable(Float64)')", column, k)
	var alts []string
	switch v.Kind {
	case KindInt:
		alts = append(alts, fmt.Sprintf("%s %s %s", intExpr, eq, p.Add("Int64", v.Int)), fmt.Sprintf("%s %s %s", floatExpr, eq, p.Add("Float64", v.Float)))
	case KindFloat:
		f := p.Add("Float64", v.Float)
		alts = append(alts, fmt.Sprintf("%s %s %s", intExpr, eq, f), fmt.Sprintf("%s %s %s", floatExpr, eq, f))
	case KindBool:
		alts = append(alts, fmt.Sprintf("JSONExtract(%s, %s, 'boolValue', 'Nullable(Bool)') = %s", column, k, p.Add("Bool", v.Bool)))
	}
	if !op.Ordered() {
		alts = append(alts, fmt.Sprintf("(JSONHas(%s, %s, 'stringValue') AND JSONExtractString(%s, %s, 'stringValue') = %s)", column, k, column, k, p.Add("String", v.Text)))
	}
	expr := strings.Join(alts, " OR ")
	if len(alts) > 1 {
		expr = "(" + expr + ")"
	}
	if op == Ne {
		return "NOT ifNull(" + expr + ", false)", nil
	}
	return "ifNull(" + expr + ", false)", nil
}

// JSONAttrExists is true when key is in the attributes JSON.
func JSONAttrExists(p *Params, column, key string) string {
	return fmt.Sprintf("JSONHas(%s, %s)", column, p.Add("String", key))
}

// JSONAttrPrefix matches string attributes (in attributes JSON) that start
// with prefix.
func JSONAttrPrefix(p *Params, column, key, prefix string) string {
	k := p.Add("String", key)
	return fmt.Sprintf("(JSONHas(%s, %s, 'stringValue') AND startsWith(JSONExtractString(%s, %s, 'stringValue'), %s))", column, k, column, k, p.Add("String", prefix))
}

// AttrExists is true when key is present in any of the typed maps.
func AttrExists(p *Params, cols schema.AttrColumns, key string) string {
	k := p.Add("String", key)
	parts := make([]string, 0, 5)
	for _, c := range cols.Names() {
		parts = append(parts, fmt.Sprintf("mapContains(%s, %s)", c, k))
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// AttrPrefix matches string attributes that start with prefix.
func AttrPrefix(p *Params, cols schema.AttrColumns, key, prefix string) string {
	k := p.Add("String", key)
	return fmt.Sprintf("(mapContains(%s, %s) AND startsWith(%s[%s], %s))", cols.Str, k, cols.Str, k, p.Add("String", prefix))
}
