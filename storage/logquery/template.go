package logquery

import (
	"fmt"
	"regexp"
	"strings"
)

// A log pattern (pattern:"…" in a query, and what the logs explorer's
// Patterns tab lists) is a body with its variable parts replaced by
// placeholders: "order <*> created with <*> items". This file is its
// grammar, shared by whoever finds patterns (query/patterns, the Drain
// algorithm) and by the compiler that turns pattern:"…" into SQL, so that
// the records a pattern filter returns are exactly those whose bodies
// tokenize into that pattern.
//
// A body is cut into pieces: words are what lies between whitespace
// (space, tab, newline, carriage return, form feed: what RE2's \s
// matches), and a word is cut after every '=' in it, so "user=alice" is
// the pieces "user=" and "alice", the second glued to the first. A piece
// that ends in '=' is an Eq piece. A template is such a sequence with some
// pieces replaced by a placeholder, <*>, which stands for exactly one
// piece of the same kind: "<*>=" for an Eq piece, "<*>" for any other.
// A body of more than MaxPieces pieces, or longer than MaxPatternBody
// bytes, keeps its first pieces and ends in <…>, which stands for the
// rest of it (one piece or more).
//
// So a body matches a template when it has the same pieces, glued the same
// way, with the same text wherever the template has no placeholder, and
// two templates whose pieces differ in a constant at one place match no
// body in common.

// Placeholder is a variable piece in a template; RestPlaceholder ends a
// template whose bodies go on (MaxPieces, MaxPatternBody).
const (
	Placeholder     = "<*>"
	RestPlaceholder = "<…>"
)

// MaxPieces is how many pieces of a body a template keeps; MaxPatternBody
// is how many bytes of a body decide its pattern.
const (
	MaxPieces      = 64
	MaxPatternBody = 4096
)

// Piece is one piece of a body or a template.
type Piece struct {
	// Text is the piece as written in the body; empty when Wild.
	Text string
	// Wild is a placeholder: any piece of the same kind.
	Wild bool
	// Eq is a piece that ends in '=' (a placeholder "<*>=").
	Eq bool
	// Glued follows the previous piece without whitespace (the previous
	// piece is then always an Eq piece).
	Glued bool
}

// Template is a tokenized body, or a pattern when some pieces are Wild.
type Template struct {
	Pieces []Piece
	// Rest is true when the body goes on after Pieces (<…>).
	Rest bool
}

// isSpace is RE2's \s: the whitespace a template's regular expression
// skips between words.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'
}

// Tokenize cuts a body into pieces. truncated says the body was cut
// before its end (it is the first bytes of a longer one, e.g.
// MaxPatternBody): its last word may be cut too, so it is dropped and the
// template ends in Rest. Bodies longer than MaxPatternBody are cut here.
func Tokenize(body string, truncated bool) Template {
	if len(body) > MaxPatternBody {
		body, truncated = body[:MaxPatternBody], true
	}
	var t Template
	i := 0
	for i < len(body) {
		for i < len(body) && isSpace(body[i]) {
			i++
		}
		if i == len(body) {
			break
		}
		end := i
		for end < len(body) && !isSpace(body[end]) {
			end++
		}
		if truncated && end == len(body) {
			t.Rest = true // the last word may be cut: leave it to the rest
			break
		}
		word := splitWord(body[i:end])
		if len(t.Pieces)+len(word) > MaxPieces {
			t.Rest = true
			break
		}
		t.Pieces = append(t.Pieces, word...)
		i = end
	}
	if truncated {
		t.Rest = true
	}
	return t
}

// splitWord cuts a word after every '='.
func splitWord(w string) []Piece {
	var out []Piece
	for w != "" {
		p := Piece{Glued: len(out) > 0}
		if k := strings.IndexByte(w, '='); k >= 0 {
			p.Text, p.Eq, w = w[:k+1], true, w[k+1:]
		} else {
			p.Text, w = w, ""
		}
		out = append(out, p)
	}
	return out
}

// String writes the template as the pattern:"…" text reads it: pieces
// separated by one space unless glued, placeholders as <*> (<*>= for Eq),
// and <…> at the end for Rest. A body without pieces is "".
func (t Template) String() string {
	var b strings.Builder
	for i, p := range t.Pieces {
		if i > 0 && !p.Glued {
			b.WriteByte(' ')
		}
		switch {
		case p.Wild && p.Eq:
			b.WriteString(Placeholder + "=")
		case p.Wild:
			b.WriteString(Placeholder)
		default:
			b.WriteString(p.Text)
		}
	}
	if t.Rest {
		if len(t.Pieces) > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(RestPlaceholder)
	}
	return b.String()
}

// ParseTemplate reads a template written by String (or by hand: runs of
// whitespace count as one space). A word <…> may only end it.
func ParseTemplate(text string) (Template, error) {
	words := strings.FieldsFunc(text, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
	var t Template
	for wi, w := range words {
		if w == RestPlaceholder {
			if wi != len(words)-1 {
				return Template{}, fmt.Errorf("%s stands for the rest of a body and may only end a pattern", RestPlaceholder)
			}
			t.Rest = true
			break
		}
		for _, p := range splitWord(w) {
			if strings.TrimSuffix(p.Text, "=") == Placeholder {
				p.Wild, p.Text = true, ""
			}
			t.Pieces = append(t.Pieces, p)
		}
	}
	if len(t.Pieces) > MaxPieces {
		return Template{}, fmt.Errorf("the pattern has %d pieces; patterns keep at most %d and end in %s", len(t.Pieces), MaxPieces, RestPlaceholder)
	}
	return t, nil
}

// Regexp is the RE2 expression that matches exactly the bodies of the
// template (ClickHouse's match() and Go's regexp read it alike).
func (t Template) Regexp() string {
	var b strings.Builder
	b.WriteString(`^\s*`)
	for i, p := range t.Pieces {
		if i > 0 && !p.Glued {
			b.WriteString(`\s+`)
		}
		switch {
		case p.Wild && p.Eq:
			b.WriteString(`[^\s=]*=`)
		case p.Wild:
			b.WriteString(`[^\s=]+`)
		default:
			b.WriteString(regexp.QuoteMeta(p.Text))
		}
	}
	if t.Rest {
		// One piece or more: right after an Eq piece it may be glued, after
		// any other it starts a new word.
		if len(t.Pieces) > 0 && !t.Pieces[len(t.Pieces)-1].Eq {
			b.WriteString(`\s`)
		}
		b.WriteString(`\s*\S(?s:.*)`)
	}
	b.WriteString(`\s*$`)
	return b.String()
}

// Matches reports whether a body is one of the template's: the test the
// SQL of pattern:"…" runs, in Go.
func (t Template) Matches(body string) bool {
	return regexp.MustCompile(t.Regexp()).MatchString(body)
}

// Constants are the words of the template's constant pieces as the logs
// table's text index splits them (Tokens): every body of the template
// holds each of them as a whole token, so a search for them narrows the
// rows before the regular expression runs. A constant piece is always
// bounded by whitespace or an '=' (pieces are glued only after '='), so
// its tokens are whole tokens of the body.
func (t Template) Constants() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range t.Pieces {
		if p.Wild {
			continue
		}
		for _, tok := range Tokens(p.Text) {
			if !seen[tok] {
				seen[tok] = true
				out = append(out, tok)
			}
		}
	}
	return out
}

// Filter is the query text that selects the records of the template:
// pattern:"…", quoted so that the parser reads the template back.
func (t Template) Filter() string {
	return `pattern:"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(t.String()) + `"`
}
