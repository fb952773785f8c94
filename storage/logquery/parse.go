// Package logquery is Tracehouse's small language for searching logs:
//
//	service:payment level:error "card declined" trace_id:4bf92f3577b34da6a3ce929d0e0e4736
//	attr.http.status_code>=500 -attr.user.id:42 (timeout OR deadline) NOT level:debug
//
// Bare words and "quoted phrases" search the body and the error attributes
// (full text, case insensitive, through the logs table's text indexes); a
// word with * matches a fragment (*outage*). field:value compares a field;
// field>=value, >, <, <=, = and != compare too; a * in a value is a
// wildcard (service:pay*, attr.error:*timeout*). Terms side by side
// must all match; OR, NOT (or a leading -) and parentheses combine them.
// AND, OR and NOT are keywords only in capitals. Errors carry the position
// (in characters from 0) where the query stops making sense.
//
// Parse turns the text into an Expr; Compile turns an Expr into a
// ClickHouse WHERE condition whose every user value is a query parameter.
package logquery

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is a query that cannot be parsed or compiled.
type Error struct {
	Query    string
	Position int // in characters (runes) from the start of Query
	Msg      string
}

func (e *Error) Error() string {
	return fmt.Sprintf("query error at position %d: %s", e.Position, e.Msg)
}

// Expr is a parsed query.
type Expr interface{ pos() int }

// And matches when all of its terms match.
type And struct {
	Terms []Expr
	At    int
}

// Or matches when any of its terms match.
type Or struct {
	Terms []Expr
	At    int
}

// Not matches when Term does not.
type Not struct {
	Term Expr
	At   int
}

// Text is a full-text search of the body: a bare word or a quoted phrase.
type Text struct {
	Text   string
	Quoted bool
	At     int
}

// Compare compares a field with a value.
type Compare struct {
	Field  string // as typed, e.g. "attr.http.status_code"
	Op     string // ":", "=", "!=", ">", ">=", "<", "<="
	Value  string
	Quoted bool // the value was in quotes: always a string
	At     int  // position of the field
	ValAt  int  // position of the value
}

func (e *And) pos() int     { return e.At }
func (e *Or) pos() int      { return e.At }
func (e *Not) pos() int     { return e.At }
func (e *Text) pos() int    { return e.At }
func (e *Compare) pos() int { return e.At }

// MaxLength bounds a query's size in bytes; MaxDepth bounds nesting.
const (
	MaxLength = 4096
	MaxDepth  = 32
	MaxTerms  = 128
)

// Parse parses a query. An empty (or all-space) query is a nil Expr: it
// matches everything.
func Parse(query string) (Expr, error) {
	if len(query) > MaxLength {
		return nil, &Error{Query: query, Position: 0, Msg: fmt.Sprintf("the query is %d bytes long; the limit is %d", len(query), MaxLength)}
	}
	if !utf8.ValidString(query) {
		return nil, &Error{Query: query, Position: 0, Msg: "the query is not valid UTF-8"}
	}
	p := &parser{src: query}
	p.skipSpace()
	if p.eof() {
		return nil, nil
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		if p.peek() == ')' {
			return nil, p.errAt(p.off, "unmatched ')'")
		}
		return nil, p.errAt(p.off, fmt.Sprintf("unexpected %q", p.rest(12)))
	}
	return e, nil
}

type parser struct {
	src   string
	off   int // byte offset
	depth int
	terms int
}

func (p *parser) eof() bool { return p.off >= len(p.src) }

func (p *parser) peek() rune {
	r, _ := utf8.DecodeRuneInString(p.src[p.off:])
	return r
}

func (p *parser) rest(n int) string {
	s := p.src[p.off:]
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n]) + "…"
	}
	return s
}

func (p *parser) skipSpace() {
	for !p.eof() {
		r, size := utf8.DecodeRuneInString(p.src[p.off:])
		if !unicode.IsSpace(r) {
			return
		}
		p.off += size
	}
}

// errAt reports an error at byte offset off, as a character position.
func (p *parser) errAt(off int, msg string) *Error {
	return &Error{Query: p.src, Position: utf8.RuneCountInString(p.src[:off]), Msg: msg}
}

func (p *parser) charPos(off int) int { return utf8.RuneCountInString(p.src[:off]) }

// keyword reports whether the upper-case keyword kw starts at the current
// offset as a whole word.
func (p *parser) keyword(kw string) bool {
	if !strings.HasPrefix(p.src[p.off:], kw) {
		return false
	}
	end := p.off + len(kw)
	if end == len(p.src) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(p.src[end:])
	return unicode.IsSpace(r) || r == '(' || r == ')' || r == '"'
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errAt(p.off, fmt.Sprintf("the query nests deeper than %d levels", MaxDepth))
	}
	return nil
}

func (p *parser) parseOr() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	at := p.charPos(p.off)
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	for {
		p.skipSpace()
		if !p.keyword("OR") {
			break
		}
		orOff := p.off
		p.off += 2
		p.skipSpace()
		if p.eof() || p.peek() == ')' || p.keyword("OR") || p.keyword("AND") {
			return nil, p.errAt(orOff, "OR needs a term on both sides")
		}
		next, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		terms = append(terms, next)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return &Or{Terms: terms, At: at}, nil
}

func (p *parser) parseAnd() (Expr, error) {
	p.skipSpace()
	at := p.charPos(p.off)
	for _, kw := range []string{"AND", "OR"} {
		if p.keyword(kw) {
			return nil, p.errAt(p.off, kw+" needs a term on both sides")
		}
	}
	var terms []Expr
	for {
		p.skipSpace()
		if p.eof() || p.peek() == ')' || p.keyword("OR") {
			break
		}
		if p.keyword("AND") {
			andOff := p.off
			p.off += 3
			p.skipSpace()
			if len(terms) == 0 || p.eof() || p.peek() == ')' || p.keyword("OR") || p.keyword("AND") {
				return nil, p.errAt(andOff, "AND needs a term on both sides")
			}
		}
		t, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	if len(terms) == 0 {
		return nil, p.errAt(p.off, "expected a term")
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return &And{Terms: terms, At: at}, nil
}

func (p *parser) parseUnary() (Expr, error) {
	p.skipSpace()
	at := p.off
	switch {
	case p.keyword("NOT"):
		p.off += 3
		p.skipSpace()
		if p.eof() || p.peek() == ')' || p.keyword("OR") || p.keyword("AND") {
			return nil, p.errAt(at, "NOT needs a term after it")
		}
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		t, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return &Not{Term: t, At: p.charPos(at)}, nil
	case p.peek() == '-':
		next, _ := utf8.DecodeRuneInString(p.src[p.off+1:])
		if p.off+1 >= len(p.src) || unicode.IsSpace(next) || next == ')' {
			return nil, p.errAt(at, "'-' excludes the term right after it; remove the space or quote the '-'")
		}
		p.off++
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		t, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		return &Not{Term: t, At: p.charPos(at)}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (Expr, error) {
	p.skipSpace()
	at := p.off
	if p.terms++; p.terms > MaxTerms {
		return nil, p.errAt(at, fmt.Sprintf("the query has more than %d terms", MaxTerms))
	}
	switch r := p.peek(); {
	case r == '(':
		p.off++
		p.skipSpace()
		if p.peek() == ')' {
			return nil, p.errAt(at, "empty parentheses")
		}
		e, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.eof() || p.peek() != ')' {
			return nil, p.errAt(at, "'(' is never closed")
		}
		p.off++
		return e, nil
	case r == '"' || r == '\'':
		s, err := p.quoted()
		if err != nil {
			return nil, err
		}
		return &Text{Text: s, Quoted: true, At: p.charPos(at)}, nil
	case r == ')':
		return nil, p.errAt(at, "unmatched ')'")
	}
	word := p.word()
	if field, op, value, opLen, ok := splitField(word); ok {
		valOff := at + len(field) + opLen
		c := &Compare{Field: field, Op: op, Value: value, At: p.charPos(at), ValAt: p.charPos(valOff)}
		if value == "" || value[0] == '"' || value[0] == '\'' {
			p.off = valOff // a quoted value may hold spaces and parentheses
			if q := p.peek(); !p.eof() && (q == '"' || q == '\'') {
				s, err := p.quoted()
				if err != nil {
					return nil, err
				}
				c.Value, c.Quoted = s, true
			} else {
				return nil, p.errAt(valOff, fmt.Sprintf("%s%s needs a value (quote it if it has spaces)", field, op))
			}
		}
		return c, nil
	}
	return &Text{Text: word, At: p.charPos(at)}, nil
}

// word reads up to the next space or parenthesis.
func (p *parser) word() string {
	start := p.off
	for !p.eof() {
		r, size := utf8.DecodeRuneInString(p.src[p.off:])
		if unicode.IsSpace(r) || r == '(' || r == ')' {
			break
		}
		p.off += size
	}
	return p.src[start:p.off]
}

// quoted reads a "…" or '…' string; a backslash escapes the next character.
func (p *parser) quoted() (string, error) {
	start := p.off
	quote, _ := utf8.DecodeRuneInString(p.src[p.off:])
	p.off++
	var b strings.Builder
	for !p.eof() {
		r, size := utf8.DecodeRuneInString(p.src[p.off:])
		p.off += size
		switch r {
		case '\\':
			if p.eof() {
				return "", p.errAt(start, "the quoted text ends with a lone backslash")
			}
			r2, size2 := utf8.DecodeRuneInString(p.src[p.off:])
			p.off += size2
			b.WriteRune(r2)
		case quote:
			return b.String(), nil
		default:
			b.WriteRune(r)
		}
	}
	return "", p.errAt(start, fmt.Sprintf("the quote %c is never closed", quote))
}

// splitField cuts "name<op>value" where name looks like a field name.
func splitField(word string) (field, op, value string, opLen int, ok bool) {
	i := 0
	for i < len(word) {
		c := word[i]
		if c == '_' || c == '.' || c == '-' || c == '/' || c == '@' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80 {
			i++
			continue
		}
		break
	}
	if i == 0 || i == len(word) {
		return "", "", "", 0, false
	}
	first := word[0]
	if !(first == '_' || (first >= 'a' && first <= 'z') || (first >= 'A' && first <= 'Z')) {
		return "", "", "", 0, false
	}
	rest := word[i:]
	for _, o := range []string{":>=", ":<=", ":>", ":<", ">=", "<=", "!=", ":", "=", ">", "<"} {
		if strings.HasPrefix(rest, o) {
			op = o
			if len(o) > 1 && o[0] == ':' { // field:>=500, Kibana style
				op = o[1:]
			}
			return word[:i], op, rest[len(o):], len(o), true
		}
	}
	return "", "", "", 0, false
}

// Equality is a field that every record a query matches has equal to one
// value.
type Equality struct {
	Field string // as typed, e.g. "attr.user.id"
	Value string
}

// Equalities are the comparisons every match of e satisfies: its
// field:value and field=value terms, or those of its top-level AND, whose
// value is exact (quoted, or without a *). A caller can tell from them
// how rare the matches are before it reads any (the attribute catalogue).
func Equalities(e Expr) []Equality {
	terms := []Expr{e}
	if a, ok := e.(*And); ok {
		terms = a.Terms
	}
	var out []Equality
	for _, t := range terms {
		c, ok := t.(*Compare)
		if !ok || (c.Op != ":" && c.Op != "=") || (!c.Quoted && strings.Contains(c.Value, "*")) {
			continue
		}
		out = append(out, Equality{Field: c.Field, Value: c.Value})
	}
	return out
}
