package logquery

import (
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestTokenize(t *testing.T) {
	for _, c := range []struct {
		body, want string
		pieces     int
	}{
		{"order 1004 created with 3 items", "order 1004 created with 3 items", 6},
		{"  request\tcompleted\nuser=user-42 latency_ms=12  ", "request completed user=user-42 latency_ms=12", 6},
		{"a=b=c", "a=b=c", 3},
		{"key= value", "key= value", 2},
		{"", "", 0},
		{"   ", "", 0},
	} {
		tmpl := Tokenize(c.body, false)
		if got := tmpl.String(); got != c.want || len(tmpl.Pieces) != c.pieces {
			t.Errorf("Tokenize(%q) = %q with %d pieces, want %q with %d", c.body, got, len(tmpl.Pieces), c.want, c.pieces)
		}
		if !tmpl.Matches(c.body) {
			t.Errorf("%q does not match its own template %q (%s)", c.body, tmpl, tmpl.Regexp())
		}
	}
	// A cut body drops its last (maybe cut) word and ends in the rest.
	if got := Tokenize("connection reset by pe", true).String(); got != "connection reset by "+RestPlaceholder {
		t.Errorf("truncated: %q", got)
	}
	long := strings.Repeat("w ", MaxPieces+10)
	tmpl := Tokenize(long, false)
	if len(tmpl.Pieces) != MaxPieces || !tmpl.Rest || !tmpl.Matches(long) {
		t.Errorf("a body of %d words: %d pieces, rest %v, matches %v", MaxPieces+10, len(tmpl.Pieces), tmpl.Rest, tmpl.Matches(long))
	}
	if tmpl := Tokenize(strings.Repeat("x", MaxPatternBody+10), false); len(tmpl.Pieces) != 0 || !tmpl.Rest {
		t.Errorf("one word longer than %d bytes: %+v", MaxPatternBody, tmpl)
	}
}

func TestParseTemplateRoundTrip(t *testing.T) {
	for _, text := range []string{
		"order <*> created with <*> items",
		"request completed user=<*> latency_ms=<*>",
		"<*>=1 (x) a.b* " + RestPlaceholder,
		"GET /api/<*> <*>",
		"",
		RestPlaceholder,
	} {
		tmpl, err := ParseTemplate(text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := tmpl.String(); got != text {
			t.Errorf("ParseTemplate(%q).String() = %q", text, got)
		}
	}
	if _, err := ParseTemplate("a " + RestPlaceholder + " b"); err == nil {
		t.Error("<…> in the middle parsed")
	}
	if _, err := ParseTemplate(strings.Repeat("a ", MaxPieces+1)); err == nil {
		t.Error("a template over MaxPieces parsed")
	}
}

// A body matches a template exactly when it tokenizes into the
// template's shape (pieces, kinds, glue) with the template's text at every
// constant piece: checked on random bodies against templates made from
// other random bodies.
func TestRegexpMatchesExactlyTheTemplatesBodies(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	words := []string{"a", "b", "x=", "x=1", "=", "k=v=w", "(z)", "1.5", "é", "a.b", "*", "\\", "[", "$"}
	spaces := []string{" ", "  ", "\t", "\n", " \r\n "}
	body := func() string {
		var b strings.Builder
		if rng.IntN(4) == 0 {
			b.WriteString(spaces[rng.IntN(len(spaces))])
		}
		for i := range rng.IntN(5) {
			if i > 0 {
				b.WriteString(spaces[rng.IntN(len(spaces))])
			}
			b.WriteString(words[rng.IntN(len(words))])
		}
		return b.String()
	}
	// matches is the definition: same shape, same constants.
	matches := func(tmpl Template, body string) bool {
		got := Tokenize(body, false)
		if len(got.Pieces) != len(tmpl.Pieces) {
			return false
		}
		for i, p := range tmpl.Pieces {
			g := got.Pieces[i]
			if g.Eq != p.Eq || g.Glued != p.Glued || !p.Wild && g.Text != p.Text {
				return false
			}
		}
		return true
	}
	for range 3000 {
		tmpl := Tokenize(body(), false)
		for i := range tmpl.Pieces {
			if rng.IntN(2) == 0 {
				tmpl.Pieces[i].Wild, tmpl.Pieces[i].Text = true, ""
			}
		}
		re := regexp.MustCompile(tmpl.Regexp())
		// The text round-trips.
		parsed, err := ParseTemplate(tmpl.String())
		if err != nil || !reflect.DeepEqual(parsed.Pieces, tmpl.Pieces) && len(tmpl.Pieces) > 0 {
			t.Fatalf("%q does not round-trip: %+v, %v", tmpl.String(), parsed, err)
		}
		for range 20 {
			b := body()
			if got, want := re.MatchString(b), matches(tmpl, b); got != want {
				t.Fatalf("template %q (%s) on %q: regexp says %v, pieces say %v", tmpl, tmpl.Regexp(), b, got, want)
			}
		}
	}
}

func TestConstants(t *testing.T) {
	tmpl, _ := ParseTemplate("request completed user=<*> latency_ms=<*> <*>=x order")
	if got := strings.Join(tmpl.Constants(), "|"); got != "request|completed|user|latency|ms|x|order" {
		t.Errorf("Constants = %q", got)
	}
}
