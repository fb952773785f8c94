package logquery

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage/chsql"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// FuzzParseCompile parses and compiles any text. It must never panic;
// a refusal is an *Error at a position inside the query; a compiled
// condition is SQL made only of the compiler's own words, with every piece
// of the query's text in the parameters. The seed corpus is
// testdata/fuzz/FuzzParseCompile plus the snapshot and error cases.
func FuzzParseCompile(f *testing.F) {
	for _, q := range compileCases {
		f.Add(q)
	}
	for _, c := range errorCases {
		f.Add(c.query)
	}
	f.Fuzz(func(t *testing.T, query string) {
		params := chsql.NewParams("q")
		sql, err := ParseAndCompile(query, params)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("%q: error %T is not a *logquery.Error: %v", query, err, err)
			}
			if n := utf8.RuneCountInString(query); qe.Position < 0 || qe.Position > n {
				t.Fatalf("%q: error position %d outside 0…%d: %v", query, qe.Position, n, err)
			}
			if qe.Msg == "" {
				t.Fatalf("%q: empty error message", query)
			}
			return
		}
		values, err := checkSQL(sql, params)
		if err != nil {
			t.Fatalf("%q: %v", query, err)
		}
		again := chsql.NewParams("q")
		if sql2, err := ParseAndCompile(query, again); err != nil || sql2 != sql {
			t.Fatalf("%q compiles differently the second time: %v\n%s\n%s", query, err, sql, sql2)
		}
		e, _ := Parse(query)
		checkValuesInParams(t, query, e, values)
	})
}

// The words, string literals and parameter types the compiler writes.
var (
	sqlWords = map[string]bool{
		"NOT": true, "AND": true, "OR": true, "BETWEEN": true, "false": true,
		"ServiceName": true, "SeverityText": true, "SeverityNumber": true, "TraceId": true, "SpanId": true, "Body": true,
		chsql.ResourceAttributes: true,
		"hasToken":               true, "hasPhrase": true, "startsWith": true, "unhex": true, "mapContains": true, "has": true,
		"mapValues": true, "JSONHas": true, "ErrorText": true, "lower": true, "LIKE": true, "JSONExtractString": true, "JSONExtract": true, "toInt64OrNull": true, "ifNull": true,
		"match": true,
	}
	sqlLiterals = map[string]bool{
		"'intValue'": true, "'doubleValue'": true, "'boolValue'": true, "'stringValue'": true,
		"'Nullable(Float64)'": true, "'Nullable(Bool)'": true,
	}
	paramTypes = map[string]bool{"String": true, "UInt8": true, "Int64": true, "Float64": true, "Bool": true}
	sqlToken   = regexp.MustCompile(`^(?:\s+|\{(q[0-9]+):([A-Za-z0-9]+)\}|'[A-Za-z0-9()]*'|[A-Za-z_][A-Za-z0-9_]*|[0-9]+|!=|>=|<=|[()\[\],=<>])`)
)

func init() {
	for _, c := range schema.Attrs.Names() {
		sqlWords[c] = true
	}
}

// checkSQL tokenises sql and refuses anything the compiler does not
// write itself: so no text of the query (a word, a quote, a comment
// marker) can be in it. It returns the parameters' values by name.
func checkSQL(sql string, params *chsql.Params) (map[string]any, error) {
	values := map[string]any{}
	for _, a := range params.Args() {
		nv, ok := a.(driver.NamedValue)
		if !ok {
			return nil, fmt.Errorf("parameter %#v is not a driver.NamedValue", a)
		}
		values[nv.Name] = nv.Value
	}
	used := map[string]bool{}
	for rest := sql; rest != ""; {
		// Every token is short: matching a window keeps the check linear.
		m := sqlToken.FindStringSubmatch(rest[:min(len(rest), 64)])
		if m == nil {
			return nil, fmt.Errorf("the SQL holds %.20q, which the compiler never writes:\n%s", rest, sql)
		}
		tok := m[0]
		switch {
		case m[1] != "":
			if _, ok := values[m[1]]; !ok {
				return nil, fmt.Errorf("placeholder %s has no parameter:\n%s", tok, sql)
			}
			if !paramTypes[m[2]] {
				return nil, fmt.Errorf("placeholder %s has an unexpected type", tok)
			}
			used[m[1]] = true
		case tok[0] == '\'':
			if !sqlLiterals[tok] {
				return nil, fmt.Errorf("the SQL holds the literal %s, which the compiler never writes:\n%s", tok, sql)
			}
		case tok[0] == '_' || tok[0] >= 'A' && tok[0] <= 'Z' || tok[0] >= 'a' && tok[0] <= 'z':
			if !sqlWords[tok] {
				return nil, fmt.Errorf("the SQL holds the word %q, which the compiler never writes:\n%s", tok, sql)
			}
		case tok[0] >= '0' && tok[0] <= '9':
			if sql != "1" {
				return nil, fmt.Errorf("a number %s in the SQL:\n%s", tok, sql)
			}
		}
		rest = rest[len(tok):]
	}
	for name := range values {
		if !used[name] {
			return nil, fmt.Errorf("parameter %s is not used:\n%s", name, sql)
		}
	}
	return values, nil
}

// checkValuesInParams walks the parsed query: every attribute key and
// every text value compared as a string must be a parameter's value (a
// trailing * is the prefix's, a pattern with other *s goes in as a LIKE
// pattern).
func checkValuesInParams(t *testing.T, query string, e Expr, values map[string]any) {
	t.Helper()
	has := func(s string) bool {
		for _, v := range values {
			if v == s {
				return true
			}
		}
		return false
	}
	var walk func(Expr)
	walk = func(e Expr) {
		switch e := e.(type) {
		case *And:
			for _, x := range e.Terms {
				walk(x)
			}
		case *Or:
			for _, x := range e.Terms {
				walk(x)
			}
		case *Not:
			walk(e.Term)
		case *Text:
			if !e.Quoted && strings.Contains(e.Text, "*") {
				if p := containsPattern(strings.ToLower(e.Text)); !has(p) {
					t.Fatalf("%q: the pattern %q is not in the parameters %v", query, p, values)
				}
				return
			}
			if tokens := Tokens(e.Text); len(tokens) == 1 && !has(tokens[0]) || len(tokens) > 1 && !has(e.Text) {
				t.Fatalf("%q: the text %q is not in the parameters %v", query, e.Text, values)
			}
		case *Compare:
			var key string
			switch {
			case strings.HasPrefix(e.Field, "attr."), strings.HasPrefix(e.Field, "attributes."), strings.HasPrefix(e.Field, "resource."):
				key = e.Field[strings.IndexByte(e.Field, '.')+1:]
				if !has(key) {
					t.Fatalf("%q: the attribute key %q is not in the parameters %v", query, key, values)
				}
			case e.Field == "pattern":
				tmpl, err := ParseTemplate(e.Value)
				if err != nil || !has(tmpl.Regexp()) {
					t.Fatalf("%q: the pattern's expression is not in the parameters %v (%v)", query, values, err)
				}
				return
			case e.Field == "service", e.Field == "service.name", e.Field == "severity_text":
			default:
				return // levels and ids compare as numbers and bytes
			}
			v := e.Value
			if !e.Quoted && key != "" && v == "*" {
				return // presence: the key alone
			}
			switch {
			case !e.Quoted && isWildcard(v):
				v = likePattern(v) // an infix pattern goes in as LIKE's
			case !e.Quoted && strings.HasSuffix(v, "*"):
				v = strings.TrimSuffix(v, "*")
			}
			if chsql.ParseValue(v).Kind == chsql.KindString || e.Quoted || key == "" {
				if !has(v) {
					t.Fatalf("%q: the value %q of %s is not in the parameters %v", query, v, e.Field, values)
				}
			}
		default:
			t.Fatalf("%q: unknown expression %T", query, e)
		}
	}
	if e != nil {
		walk(e)
	}
}

// TestFuzzChecksCatchLeaks makes sure the fuzz check refuses SQL that
// carries user text, so that a quiet fuzz run means something.
func TestFuzzChecksCatchLeaks(t *testing.T) {
	params := func() *chsql.Params {
		p := chsql.NewParams("q")
		p.Add("String", "x")
		return p
	}
	if _, err := checkSQL("hasToken(Body, {q0:String})", params()); err != nil {
		t.Errorf("the check refuses the compiler's own SQL: %v", err)
	}
	for _, sql := range []string{
		"hasToken(Body, {q0:String}) OR 1=1",
		"hasToken(Body, 'x') OR hasToken(Body, {q0:String})",
		"ServiceName = {q0:String} -- x",
		"hasToken(Body, {q0:String}); DROP TABLE logs",
		"hasToken(Body, {q0:String}) OR x",
		`hasToken(Body, {q0:String}) OR Body = "x"`,
		"hasToken(Body, {q1:String})",
		"hasToken(Body, {q0:Array(String)})",
		"1",
	} {
		if _, err := checkSQL(sql, params()); err == nil {
			t.Errorf("the check lets %q through", sql)
		}
	}
}
