package logquery

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/internal/golden"
	"github.com/tracehouse/tracehouse/storage/chsql"
)

// compileCases are SQL snapshots: testdata/compile.golden holds the SQL and
// parameters each query compiles to.
var compileCases = []string{
	`declined`,
	`Declined,`,
	`"card declined"`,
	`card-declined`,
	`user@example.com`,
	`déclinée`,
	`service:payment`,
	`service.name=payment`,
	`service:pay*`,
	`service!=auth`,
	`level:error`,
	`level>=warn`,
	`level>warn`,
	`level<info`,
	`level<=INFO`,
	`level!=debug`,
	`severity:17`,
	`severity_text:ERROR`,
	`trace_id:4bf92f3577b34da6a3ce929d0e0e4736`,
	`trace_id:A3CE929D0E0E4736`,
	`span_id:00f067aa0ba902b7`,
	`attr.http.status_code>=500`,
	`attr.http.status_code:500`,
	`attr.http.status_code:"500"`,
	`attr.retry:true`,
	`attr.ratio<0.25`,
	`attr.ratio:>=1e3`,
	`attr.user.id:*`,
	`-attr.user.id:*`,
	`attr.path:/api/*`,
	`attr.error:*outage*`,
	`-attr.error:*outage*`,
	`attr.user.id:*42*`,
	`resource.host.name:*web*`,
	`service:*ay*`,
	`severity_text:W*N`,
	`*outage*`,
	`pay*unavailable`,
	`"simulated outage"`,
	`100%_done*`,
	`attr.user.id:""`,
	`attr.note:0`,
	`resource.host.name:web-1`,
	`body:timeout`,
	`body:"connection reset"`,
	`service:payment level:error "card declined"`,
	`service:payment AND level:error`,
	`timeout OR deadline`,
	`a b OR c d`,
	`NOT level:debug`,
	`-level:debug -service:loadgen`,
	`(timeout OR deadline) service:order`,
	`service:payment (level:error OR (attr.retry:true NOT attr.final:true))`,
	`NOT NOT a`,
	`and or not`,
	// Injection attempts: each is data, never SQL.
	`"'; DROP TABLE logs; --"`,
	`service:x' OR 1=1`,
	`service:"x') OR 1=1 SETTINGS max_threads=1 --"`,
	`"x FORMAT JSON"`,
	`"1 SETTINGS readonly=0"`,
	`'/* comment */ x'`,
	`"tab\there"`,
	`"{q0:String}"`,
	`attr.{q0:String}:x`,
	`"日本語 テキスト"`,
	"\"zero\x00byte\"",
	`pattern:"order <*> created with <*> items"`,
	`pattern:"request completed user=<*> latency_ms=<*>"`,
	`-pattern:"request served" service:order`,
	`pattern:"<*>=1 (x) a.b* <…>"`,
	`pattern:""`,
}

func TestCompileSnapshots(t *testing.T) {
	var out strings.Builder
	for _, q := range compileCases {
		params := chsql.NewParams("q")
		sql, err := ParseAndCompile(q, params)
		if err != nil {
			t.Errorf("%q: %v", q, err)
			continue
		}
		fmt.Fprintf(&out, "-- query: %q\n%s\n", q, sql)
		for _, a := range params.Args() {
			nv := a.(driver.NamedValue)
			fmt.Fprintf(&out, "--   %s = %#v (%T)\n", nv.Name, fmt.Sprint(nv.Value), nv.Value)
		}
		out.WriteString("\n")
	}
	golden.Check(t, "compile.golden", out.String())
}

var errorCases = []struct {
	query string
	pos   int
	msg   string // a substring of the message
}{
	{`service:`, 8, "needs a value"},
	{`(a OR b`, 0, "never closed"},
	{`a OR`, 2, "OR needs a term"},
	{`OR a`, 0, "OR needs a term"},
	{`a AND`, 2, "AND needs a term"},
	{`a )`, 2, "unmatched ')'"},
	{`()`, 0, "empty parentheses"},
	{`NOT`, 0, "NOT needs a term"},
	{`- a`, 0, "excludes the term right after it"},
	{`"unclosed`, 0, "never closed"},
	{`level:loud`, 6, "unknown level"},
	{`level:99`, 6, "outside 1–24"},
	{`trace_id:xyz`, 9, "not hexadecimal"},
	{`trace_id:0123456789abcdef0123456789abcdef00`, 9, "1 to 32 hex digits"},
	{`trace_id>1`, 0, "can only be matched"},
	{`attr.x>abc`, 7, "needs a number"},
	{`attr.:x`, 0, "needs an attribute name"},
	{`duration>5ms`, 0, "applies to spans"},
	{`foo:bar`, 0, "unknown field \"foo\""},
	{`ok http://example.com`, 3, "unknown field \"http\""},
	{`service>a`, 0, "can only be matched"},
	{`*`, 0, "no letters or digits"},
	{`ok **`, 3, "no letters or digits"},
	{`/* comment */`, 0, "no letters or digits"},
	{`attr.x>=*a*`, 8, "matches with : or != only"},
	{`"--"`, 0, "no letters or digits"},
	{`body>x`, 0, "not compared"},
	{`日本 foo:bar`, 3, "unknown field"},
	{`service:x' OR 1=1 --`, 19, "no letters or digits"},
	{`attr.k'])_OR_1=1_--:v`, 8, "unmatched ')'"},
	{`"\\'"`, 0, "no letters or digits"},
	{`service:"x`, 8, "never closed"},
	{`pattern>x`, 0, "can only be matched"},
	{`pattern:"a <…> b"`, 8, "may only end a pattern"},
}

func TestErrors(t *testing.T) {
	for _, c := range errorCases {
		_, err := ParseAndCompile(c.query, chsql.NewParams("q"))
		qe, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: got %v, want a *logquery.Error", c.query, err)
			continue
		}
		if qe.Position != c.pos || !strings.Contains(qe.Msg, c.msg) {
			t.Errorf("%q: got position %d %q, want position %d and %q", c.query, qe.Position, qe.Msg, c.pos, c.msg)
		}
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth+1) + "a" + strings.Repeat(")", MaxDepth+1)
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "nests deeper") {
		t.Errorf("deep nesting: %v", err)
	}
	many := strings.Repeat("a ", MaxTerms+1)
	if _, err := Parse(many); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("many terms: %v", err)
	}
	if _, err := Parse(strings.Repeat("a", MaxLength+1)); err == nil {
		t.Error("an over-long query parsed")
	}
	if _, err := Parse("\xff"); err == nil {
		t.Error("invalid UTF-8 parsed")
	}
	if e, err := Parse("   "); e != nil || err != nil {
		t.Errorf("blank query: %v %v", e, err)
	}
}

func TestTokens(t *testing.T) {
	got := strings.Join(Tokens("Card-declined: user_42 déjà/vu"), "|")
	if want := "Card|declined|user|42|déjà|vu"; got != want {
		t.Errorf("Tokens = %q, want %q", got, want)
	}
}

// Equalities are the exact field:value terms every match has: those of a
// lone comparison or of the top-level AND, never under OR or NOT, nor a
// pattern or an ordering.
func TestEqualities(t *testing.T) {
	for _, c := range []struct {
		query string
		want  []Equality
	}{
		{`attr.user.id:u-7`, []Equality{{"attr.user.id", "u-7"}}},
		{`service:shop attr.order.ref="r 1" level>=warn`, []Equality{{"service", "shop"}, {"attr.order.ref", "r 1"}}},
		{`resource.host.name:"web-*" attr.x:a*`, []Equality{{"resource.host.name", "web-*"}}},
		{`attr.x:*y* timeout`, nil},
		{`attr.a:1 OR attr.b:2`, nil},
		{`NOT attr.a:1`, nil},
		{`(attr.a:1 attr.b:2)`, []Equality{{"attr.a", "1"}, {"attr.b", "2"}}},
		{`attr.a!=1`, nil},
	} {
		e, err := Parse(c.query)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		if got := Equalities(e); !slices.Equal(got, c.want) {
			t.Errorf("Equalities(%s) = %v, want %v", c.query, got, c.want)
		}
	}
}
