package logquery

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tracehouse/tracehouse/storage/chsql"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Fields lists what a query can compare, for error messages and docs.
const Fields = "service, level (or severity), severity_text, trace_id, span_id, body, pattern, attr.<key>, resource.<key>"

// Compile turns a parsed query into a ClickHouse condition over the logs
// table, adding every value to params. A nil Expr compiles to "1".
func Compile(query string, e Expr, params *chsql.Params) (string, error) {
	if e == nil {
		return "1", nil
	}
	c := compiler{query: query, params: params}
	return c.expr(e)
}

// ParseAndCompile is Parse followed by Compile.
func ParseAndCompile(query string, params *chsql.Params) (string, error) {
	e, err := Parse(query)
	if err != nil {
		return "", err
	}
	return Compile(query, e, params)
}

// Check reports a query that would not parse or compile (a *Error), without
// building SQL for it.
func Check(query string) error {
	_, err := ParseAndCompile(query, chsql.NewParams("q"))
	return err
}

type compiler struct {
	query  string
	params *chsql.Params
}

func (c *compiler) errAt(pos int, format string, args ...any) *Error {
	return &Error{Query: c.query, Position: pos, Msg: fmt.Sprintf(format, args...)}
}

func (c *compiler) expr(e Expr) (string, error) {
	switch e := e.(type) {
	case *And:
		return c.join(e.Terms, " AND ")
	case *Or:
		return c.join(e.Terms, " OR ")
	case *Not:
		inner, err := c.expr(e.Term)
		if err != nil {
			return "", err
		}
		return "NOT (" + inner + ")", nil
	case *Text:
		return c.text(e.Text, e.Quoted, e.At, false)
	case *Compare:
		return c.compare(e)
	}
	return "", fmt.Errorf("logquery: unknown expression %T", e)
}

func (c *compiler) join(terms []Expr, sep string) (string, error) {
	parts := make([]string, len(terms))
	for i, t := range terms {
		s, err := c.expr(t)
		if err != nil {
			return "", err
		}
		parts[i] = "(" + s + ")"
	}
	return strings.Join(parts, sep), nil
}

// Tokens splits text the way the logs table's text index does
// (splitByNonAlpha): runs of ASCII letters and digits, and of any non-ASCII
// bytes, are tokens; every other ASCII character separates them.
func Tokens(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool {
		return r < 0x80 && !((r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	})
}

// ErrorAttributes are the string attributes whose values migration 0009
// gathers into the logs table's ErrorText column (one per line, in this
// order): where instrumentations put an error's reason. Full-text search
// looks at them as well as at the body, through ErrorText's indexes.
var ErrorAttributes = []string{"error", "error.message", "error.type", "exception.type", "exception.message", "reason"}

// ErrorText is the column that holds the ErrorAttributes' values.
const ErrorText = "ErrorText"

// textColumns are what bare words and phrases search: the body and the
// error reasons, each with a text index over its lower-cased words.
var textColumns = []string{"Body", ErrorText}

// text searches the body (and, unless bodyOnly, the error attributes). One
// token is hasToken, more are hasPhrase (the tokens in that order, next to
// each other); the text indexes answer both and lower-case, so the search
// ignores case. A word with * is a pattern (textPattern).
func (c *compiler) text(text string, quoted bool, at int, bodyOnly bool) (string, error) {
	cols := textColumns
	if bodyOnly {
		cols = cols[:1]
	}
	if !quoted && strings.Contains(text, "*") {
		return c.textPattern(text, at, cols)
	}
	tokens := Tokens(text)
	fn, arg := "hasPhrase", text
	switch len(tokens) {
	case 0:
		return "", c.errAt(at, "%q has no letters or digits to search for", text)
	case 1:
		fn, arg = "hasToken", tokens[0]
	}
	param := c.params.Add("String", arg)
	parts := make([]string, len(cols))
	for i, col := range cols {
		parts[i] = fn + "(" + col + ", " + param + ")"
	}
	return orOf(parts), nil
}

// textPattern is a word with * in the body or the error attributes: the
// text matches when it contains something the pattern matches, * standing
// for any characters, case ignored (*outage* and outage* alike). The
// 3-gram indexes of 0009 serve lower(…) LIKE for a fragment of 3 or more
// characters: on lower(ErrorText) a text index (only the rows holding
// every 3-gram are read), on lower(Body) an ngram bloom filter (granules
// lacking one of them are skipped).
func (c *compiler) textPattern(text string, at int, cols []string) (string, error) {
	if len(Tokens(text)) == 0 {
		return "", c.errAt(at, "%q has no letters or digits to search for; put some next to the *", text)
	}
	pattern := c.params.Add("String", containsPattern(strings.ToLower(text)))
	parts := make([]string, len(cols))
	for i, col := range cols {
		parts[i] = "lower(" + col + ") LIKE " + pattern
	}
	return orOf(parts), nil
}

// likePattern turns a pattern with * into LIKE's: * becomes %, and LIKE's
// own %, _ and \ match themselves.
func likePattern(p string) string {
	var b strings.Builder
	for _, r := range p {
		switch r {
		case '*':
			b.WriteByte('%')
		case '%', '_', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// containsPattern is the LIKE pattern of text that contains a match of p.
func containsPattern(p string) string {
	return "%" + likePattern(strings.Trim(p, "*")) + "%"
}

func orOf(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

// isWildcard says whether an unquoted value is a pattern with a * other
// than one trailing * (which is a prefix: startsWith).
func isWildcard(v string) bool {
	i := strings.IndexByte(v, '*')
	return i >= 0 && i != len(v)-1
}

var notForLogs = map[string]bool{
	"duration": true, "operation": true, "span.name": true, "span_name": true, "status": true, "kind": true, "span.kind": true,
}

func (c *compiler) compare(e *Compare) (string, error) {
	op := chsql.Op(e.Op)
	if e.Op == ":" {
		op = chsql.Eq
	}
	field := e.Field
	switch {
	case field == "service" || field == "service.name":
		return c.stringColumn(e, "ServiceName", op)
	case field == "severity_text":
		return c.stringColumn(e, "SeverityText", op)
	case field == "level" || field == "severity":
		return c.level(e, op)
	case field == "trace_id":
		return c.id(e, "TraceId", 16, op)
	case field == "span_id":
		return c.id(e, "SpanId", 8, op)
	case field == "body":
		if op != chsql.Eq {
			return "", c.errAt(e.At, "body can only be searched (body:word or body:\"a phrase\"), not compared with %s", e.Op)
		}
		return c.text(e.Value, e.Quoted, e.ValAt, true)
	case field == "pattern":
		return c.pattern(e, op)
	case strings.HasPrefix(field, "attr.") || strings.HasPrefix(field, "attributes."):
		return c.attr(e, schema.Attrs, field[strings.IndexByte(field, '.')+1:], op)
	case strings.HasPrefix(field, "resource."):
		return c.resourceAttr(e, strings.TrimPrefix(field, "resource."), op)
	case notForLogs[field]:
		return "", c.errAt(e.At, "%s applies to spans, not to logs; search traces for it, or filter logs by trace_id", field)
	}
	return "", c.errAt(e.At, "unknown field %q (fields: %s); to search the body for this text, put it in quotes", field, Fields)
}

// maxPatternTokens bounds the index lookups a pattern's condition makes:
// the first words of its constant pieces narrow the rows enough.
const maxPatternTokens = 8

// pattern matches the records whose body is one of a template's
// (template.go): match() with the template's regular expression, after
// hasToken on its constant words, which the body's text index answers.
func (c *compiler) pattern(e *Compare, op chsql.Op) (string, error) {
	if op != chsql.Eq && op != chsql.Ne {
		return "", c.errAt(e.At, "pattern can only be matched with : or != (pattern:\"order <*> created\"), not compared with %s", e.Op)
	}
	t, err := ParseTemplate(e.Value)
	if err != nil {
		return "", c.errAt(e.ValAt, "pattern: %v", err)
	}
	var parts []string
	for i, tok := range t.Constants() {
		if i == maxPatternTokens {
			break
		}
		parts = append(parts, "hasToken(Body, "+c.params.Add("String", tok)+")")
	}
	parts = append(parts, "match(Body, "+c.params.Add("String", t.Regexp())+")")
	cond := strings.Join(parts, " AND ")
	if op == chsql.Ne {
		return "NOT (" + cond + ")", nil
	}
	return "(" + cond + ")", nil
}

func (c *compiler) stringColumn(e *Compare, column string, op chsql.Op) (string, error) {
	switch op {
	case chsql.Eq, chsql.Ne:
	default:
		return "", c.errAt(e.At, "%s can only be matched with : or != (not %s)", e.Field, e.Op)
	}
	var cond string
	if !e.Quoted && isWildcard(e.Value) {
		cond = column + " LIKE " + c.params.Add("String", likePattern(e.Value))
	} else if prefix, ok := strings.CutSuffix(e.Value, "*"); ok && !e.Quoted {
		cond = "startsWith(" + column + ", " + c.params.Add("String", prefix) + ")"
	} else {
		cond = column + " = " + c.params.Add("String", e.Value)
	}
	if op == chsql.Ne {
		return "NOT (" + cond + ")", nil
	}
	return cond, nil
}

// Severity ranges of the OpenTelemetry log data model.
var levels = []struct {
	names    []string
	from, to uint8
}{
	{[]string{"trace"}, 1, 4},
	{[]string{"debug"}, 5, 8},
	{[]string{"info", "information"}, 9, 12},
	{[]string{"warn", "warning"}, 13, 16},
	{[]string{"error", "err"}, 17, 20},
	{[]string{"fatal", "critical", "panic"}, 21, 24},
}

const levelNames = "trace, debug, info, warn, error, fatal, or a severity number 1–24"

func (c *compiler) level(e *Compare, op chsql.Op) (string, error) {
	var from, to uint8
	if n, err := strconv.ParseUint(e.Value, 10, 8); err == nil && !e.Quoted {
		if n < 1 || n > 24 {
			return "", c.errAt(e.ValAt, "severity number %d is outside 1–24", n)
		}
		from, to = uint8(n), uint8(n)
	} else {
		found := false
		for _, l := range levels {
			for _, name := range l.names {
				if strings.EqualFold(e.Value, name) {
					from, to, found = l.from, l.to, true
				}
			}
		}
		if !found {
			return "", c.errAt(e.ValAt, "unknown level %q (use %s; severity_text:… matches the text as logged)", e.Value, levelNames)
		}
	}
	col := "SeverityNumber"
	switch op {
	case chsql.Eq:
		if from == to {
			return col + " = " + c.params.Add("UInt8", from), nil
		}
		return col + " BETWEEN " + c.params.Add("UInt8", from) + " AND " + c.params.Add("UInt8", to), nil
	case chsql.Ne:
		return col + " NOT BETWEEN " + c.params.Add("UInt8", from) + " AND " + c.params.Add("UInt8", to), nil
	case chsql.Ge:
		return col + " >= " + c.params.Add("UInt8", from), nil
	case chsql.Gt:
		return col + " > " + c.params.Add("UInt8", to), nil
	case chsql.Le:
		return col + " <= " + c.params.Add("UInt8", to), nil
	case chsql.Lt:
		return col + " < " + c.params.Add("UInt8", from), nil
	}
	return "", c.errAt(e.At, "unsupported comparison %s", e.Op)
}

// id compares a binary id column with a hex id. Shorter ids are padded with
// leading zeros, as Jaeger does for 64-bit trace ids.
func (c *compiler) id(e *Compare, column string, size int, op chsql.Op) (string, error) {
	if op != chsql.Eq && op != chsql.Ne {
		return "", c.errAt(e.At, "%s can only be matched with : or != (not %s)", e.Field, e.Op)
	}
	h, err := NormalizeID(e.Value, size)
	if err != nil {
		return "", c.errAt(e.ValAt, "%s %v", e.Field, err)
	}
	cond := column + " = unhex(" + c.params.Add("String", h) + ")"
	if op == chsql.Ne {
		return "NOT (" + cond + ")", nil
	}
	return cond, nil
}

// NormalizeID checks a hex id of at most size bytes and returns it as
// 2*size lower-case hex digits.
func NormalizeID(s string, size int) (string, error) {
	if s == "" || len(s) > 2*size {
		return "", fmt.Errorf("%q must be 1 to %d hex digits", s, 2*size)
	}
	if _, err := hex.DecodeString(strings.Repeat("0", len(s)%2) + s); err != nil {
		return "", fmt.Errorf("%q is not hexadecimal (0-9, a-f)", s)
	}
	return strings.Repeat("0", 2*size-len(s)) + strings.ToLower(s), nil
}

func (c *compiler) attr(e *Compare, cols schema.AttrColumns, key string, op chsql.Op) (string, error) {
	return c.anyAttr(e, key, op, attrSet{
		exists: func(k string) string { return chsql.AttrExists(c.params, cols, k) },
		prefix: func(k, pre string) string { return chsql.AttrPrefix(c.params, cols, k, pre) },
		like: func(k, value string) string {
			kp := c.params.Add("String", k)
			cond := fmt.Sprintf("(mapContains(%s, %s) AND %s[%s] LIKE %s)", cols.Str, kp, cols.Str, kp, c.params.Add("String", likePattern(value)))
			if !slices.Contains(ErrorAttributes, k) {
				return cond
			}
			// The value is a line of ErrorText: where it matches, ErrorText
			// holds a match too, and that condition has an index (0009).
			return "(lower(" + ErrorText + ") LIKE " + c.params.Add("String", containsPattern(strings.ToLower(value))) + " AND " + cond + ")"
		},
		cmp: func(k string, op chsql.Op, v chsql.Value) (string, error) {
			return chsql.AttrPredicate(c.params, cols, k, op, v)
		},
	})
}

func (c *compiler) resourceAttr(e *Compare, key string, op chsql.Op) (string, error) {
	col := chsql.ResourceAttributes
	return c.anyAttr(e, key, op, attrSet{
		exists: func(k string) string { return chsql.JSONAttrExists(c.params, col, k) },
		prefix: func(k, pre string) string { return chsql.JSONAttrPrefix(c.params, col, k, pre) },
		like: func(k, value string) string {
			kp := c.params.Add("String", k)
			return fmt.Sprintf("(JSONHas(%s, %s, 'stringValue') AND JSONExtractString(%s, %s, 'stringValue') LIKE %s)", col, kp, col, kp, c.params.Add("String", likePattern(value)))
		},
		cmp: func(k string, op chsql.Op, v chsql.Value) (string, error) {
			return chsql.JSONAttrPredicate(c.params, col, k, op, v)
		},
	})
}

// attrSet builds the conditions of one attribute set, however stored.
type attrSet struct {
	exists func(key string) string
	prefix func(key, prefix string) string
	like   func(key, value string) string // value: a pattern with *
	cmp    func(key string, op chsql.Op, v chsql.Value) (string, error)
}

func (c *compiler) anyAttr(e *Compare, key string, op chsql.Op, set attrSet) (string, error) {
	if key == "" {
		return "", c.errAt(e.At, "%s needs an attribute name after the dot", e.Field)
	}
	if !e.Quoted {
		if e.Value == "*" {
			switch op {
			case chsql.Eq:
				return set.exists(key), nil
			case chsql.Ne:
				return "NOT " + set.exists(key), nil
			}
		}
		if strings.Contains(e.Value, "*") {
			if op.Ordered() {
				return "", c.errAt(e.ValAt, "a value with * matches with : or != only (e.g. %s:*timeout*)", e.Field)
			}
			var cond string
			if isWildcard(e.Value) {
				cond = set.like(key, e.Value)
			} else {
				cond = set.prefix(key, strings.TrimSuffix(e.Value, "*"))
			}
			if op == chsql.Ne {
				return "NOT " + cond, nil
			}
			return cond, nil
		}
	}
	v := chsql.ParseValue(e.Value)
	if e.Quoted {
		v = chsql.StringValue(e.Value)
	}
	cond, err := set.cmp(key, op, v)
	if err != nil {
		return "", c.errAt(e.ValAt, "%s: %v", e.Field, err)
	}
	return cond, nil
}
