package embedded

import "strings"

// A small SQL lexer for the statement guard (guard.go). It splits text the
// way ClickHouse's own lexer (src/Parsers/Lexer.cpp, as of 26.5) does where
// it matters for the guard: where strings, quoted names, heredocs and
// comments begin and end. A guard that disagreed with the engine about
// that could be fooled, e.g. into taking a call for the inside of a
// string, so every such rule here mirrors the engine's, and the tests check
// them against the engine itself.

type tokenKind uint8

const (
	tokWord       tokenKind = iota // bare word: keyword or name ([A-Za-z0-9_$], not starting with a digit)
	tokQuotedName                  // "name", `name` or “name”
	tokString                      // 'text', x'hex', b'bits' or ‘text’
	tokHeredoc                     // $tag$text$tag$
	tokNumber                      // 1, 0x1f, 1.5e3, .5
	tokPunct                       // ( ) [ ] { } , ; . = : and the operators
	tokBad                         // what the engine's lexer reports as an error (unclosed quote or comment, stray byte)
)

type token struct {
	kind       tokenKind
	text       string // the token as written
	start, end int    // its byte offsets in the lexed text
}

// lexer yields the significant tokens of a text: whitespace and comments
// are skipped.
type lexer struct {
	s        string
	pos      int
	prevKind tokenKind // of the last significant token, for "." after a name
	prevText string
}

func newLexer(s string) *lexer { return &lexer{s: s, prevKind: tokBad} }

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// next returns the next significant token; ok is false at the end.
func (l *lexer) next() (t token, ok bool) {
	for l.pos < len(l.s) {
		start := l.pos
		kind, skip := l.scan()
		if skip {
			continue
		}
		t = token{kind: kind, text: l.s[start:l.pos], start: start, end: l.pos}
		l.prevKind, l.prevText = kind, t.text
		return t, true
	}
	return token{}, false
}

// scan consumes one token at l.pos; skip is true for whitespace and
// comments.
func (l *lexer) scan() (kind tokenKind, skip bool) {
	s, i := l.s, l.pos
	c := s[i]
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		l.pos++
		return 0, true
	case isDigit(c):
		return l.number(), false
	case c == '\'':
		return l.quoted('\'', tokString), false
	case c == '"':
		return l.quoted('"', tokQuotedName), false
	case c == '`':
		return l.quoted('`', tokQuotedName), false
	case c == '-':
		if strings.HasPrefix(s[i:], "--") {
			l.lineComment()
			return 0, true
		}
		if strings.HasPrefix(s[i:], "->") {
			l.pos += 2
			return tokPunct, false
		}
	case c == '/':
		if strings.HasPrefix(s[i:], "//") {
			l.lineComment()
			return 0, true
		}
		if strings.HasPrefix(s[i:], "/*") {
			return l.blockComment()
		}
	case c == '#':
		// MySQL-style comment, only when followed by a space or "!" (a
		// shebang); "#" otherwise is an error token.
		if i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '!') {
			l.lineComment()
			return 0, true
		}
		l.pos++
		return tokBad, false
	case c == '.':
		// A number such as .5 unless it follows something that can be
		// qualified (a name, a closing bracket, a number: x.1 is tuple
		// access).
		if i+1 < len(s) && isDigit(s[i+1]) && !(i > 0 && (l.prevKind == tokWord || l.prevKind == tokQuotedName ||
			l.prevKind == tokNumber || l.prevText == ")" || l.prevText == "]")) {
			l.pos++
			l.digits(false)
			l.exponent(false)
			return tokNumber, false
		}
		l.pos++
		return tokPunct, false
	case c == '$':
		if kind, ok := l.heredoc(); ok {
			return kind, false
		}
		if i+1 == len(s) || !isWordByte(s[i+1]) {
			l.pos++
			return tokPunct, false
		}
		l.word()
		return tokWord, false
	case c == 0xE2:
		// U+2212 MINUS SIGN is a minus; ‘…’ is a string and “…” a
		// quoted name, closed by the matching right quote, without escapes.
		if strings.HasPrefix(s[i:], "\u2212") {
			l.pos += 3
			return tokPunct, false
		}
		if i+5 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0x98 || s[i+2] == 0x9C) {
			return l.unicodeQuoted(), false
		}
	}
	if (c == 'x' || c == 'X' || c == 'b' || c == 'B') && i+2 < len(s) && s[i+1] == '\'' {
		return l.hexOrBinString(), false
	}
	if isWordByte(c) {
		l.word()
		return tokWord, false
	}
	if c >= 0x80 {
		// The engine skips Unicode spaces and reports any other
		// non-ASCII byte as an error token. Skipping them all is the
		// cautious reading: a name and a "(" separated by one still read
		// as a call.
		l.pos++
		return 0, true
	}
	l.pos += punctLen(s[i:])
	return tokPunct, false
}

func punctLen(s string) int {
	if len(s) >= 3 && s[:3] == "<=>" {
		return 3
	}
	if len(s) >= 2 {
		switch s[:2] {
		case "::", "||", "<=", ">=", "<>", "!=", "==", "@@":
			return 2
		}
	}
	return 1
}

func (l *lexer) word() {
	for l.pos < len(l.s) && (isWordByte(l.s[l.pos]) || l.s[l.pos] == '$') {
		l.pos++
	}
}

// number consumes a number that starts with a digit, as the engine does:
// 0x/0b prefixes, a decimal point, an exponent. Letters right after the
// digits make the whole a bare word (1abc is a name), but never a "$": the
// engine starts a new token there, which may be a heredoc.
func (l *lexer) number() tokenKind {
	s, start := l.s, l.pos
	if l.prevText == "." {
		l.pos++
		l.digits(false) // x.1.1 is tuple access, not x . 1.1
	} else {
		hex := false
		if s[l.pos] == '0' && l.pos+2 < len(s) && (s[l.pos+1] == 'x' || s[l.pos+1] == 'X') && isHexDigit(s[l.pos+2]) {
			hex = true
			l.pos += 2
		} else if s[l.pos] == '0' && l.pos+2 < len(s) && (s[l.pos+1] == 'b' || s[l.pos+1] == 'B') && (s[l.pos+2] == '0' || s[l.pos+2] == '1') {
			l.pos += 2
		} else {
			l.pos++
		}
		l.digits(hex)
		if l.pos < len(s) && s[l.pos] == '.' {
			l.pos++
			l.digits(hex)
		}
		l.exponent(hex)
	}
	if l.pos < len(s) && isWordByte(s[l.pos]) {
		for l.pos < len(s) && isWordByte(s[l.pos]) {
			l.pos++
		}
		if strings.ContainsAny(s[start:l.pos], ".+-") {
			return tokBad
		}
		return tokWord
	}
	return tokNumber
}

func (l *lexer) digits(hex bool) {
	for l.pos < len(l.s) && (isDigit(l.s[l.pos]) || hex && isHexDigit(l.s[l.pos]) || l.s[l.pos] == '_') {
		l.pos++
	}
}

// exponent consumes e±N (p±N after hex digits).
func (l *lexer) exponent(hex bool) {
	s := l.s
	if l.pos+1 < len(s) && (hex && (s[l.pos] == 'p' || s[l.pos] == 'P') || !hex && (s[l.pos] == 'e' || s[l.pos] == 'E')) {
		l.pos++
		if l.pos+1 < len(s) && (s[l.pos] == '-' || s[l.pos] == '+') {
			l.pos++
		}
		l.digits(false)
	}
}

// quoted consumes a string or quoted name: a doubled quote stands for
// itself and a backslash escapes the next byte. Unclosed, it runs to the
// end of the text and is an error.
func (l *lexer) quoted(q byte, kind tokenKind) tokenKind {
	s := l.s
	l.pos++
	for l.pos < len(s) {
		switch s[l.pos] {
		case q:
			l.pos++
			if l.pos < len(s) && s[l.pos] == q {
				l.pos++
				continue
			}
			return kind
		case '\\':
			l.pos += 2
			continue
		}
		l.pos++
	}
	l.pos = len(s)
	return tokBad
}

func (l *lexer) unicodeQuoted() tokenKind {
	s := l.s
	closing := s[l.pos+2] + 1 // ’ after ‘, ” after “
	kind := tokString
	if s[l.pos+2] == 0x9C {
		kind = tokQuotedName
	}
	l.pos += 3
	for l.pos+2 < len(s) {
		if s[l.pos] == 0xE2 && s[l.pos+1] == 0x80 && s[l.pos+2] == closing {
			l.pos += 3
			return kind
		}
		l.pos++
	}
	l.pos = len(s)
	return tokBad
}

func (l *lexer) hexOrBinString() tokenKind {
	s := l.s
	hex := s[l.pos] == 'x' || s[l.pos] == 'X'
	l.pos += 2
	for l.pos < len(s) && (hex && isHexDigit(s[l.pos]) || !hex && (s[l.pos] == '0' || s[l.pos] == '1')) {
		l.pos++
	}
	if l.pos >= len(s) || s[l.pos] != '\'' {
		l.pos = len(s)
		return tokBad
	}
	l.pos++
	return tokString
}

// heredoc consumes $tag$…$tag$, where tag is made of [A-Za-z0-9_] (maybe
// empty) and the text runs to the next occurrence of the same $tag$.
func (l *lexer) heredoc() (tokenKind, bool) {
	s := l.s
	j := l.pos + 1
	for j < len(s) && isWordByte(s[j]) {
		j++
	}
	if j >= len(s) || s[j] != '$' {
		return 0, false
	}
	tag := s[l.pos : j+1]
	end := strings.Index(s[j+1:], tag)
	if end < 0 {
		return 0, false
	}
	l.pos = j + 1 + end + len(tag)
	return tokHeredoc, true
}

func (l *lexer) lineComment() {
	if i := strings.IndexByte(l.s[l.pos:], '\n'); i >= 0 {
		l.pos += i
	} else {
		l.pos = len(l.s)
	}
}

// blockComment consumes a /* */ comment; they nest, as in the engine. An
// unclosed one runs to the end and is an error.
func (l *lexer) blockComment() (tokenKind, bool) {
	s := l.s
	l.pos += 2
	for nesting := 1; l.pos+2 <= len(s); {
		switch {
		case s[l.pos] == '/' && s[l.pos+1] == '*':
			nesting++
			l.pos += 2
		case s[l.pos] == '*' && s[l.pos+1] == '/':
			nesting--
			l.pos += 2
			if nesting == 0 {
				return 0, true
			}
		default:
			l.pos++
		}
	}
	l.pos = len(s)
	return tokBad, false
}

// unquote is the text a string or quoted name stands for. escaped reports
// a backslash escape in it: the guard refuses names written with escapes
// rather than decode them exactly as the engine would.
func unquote(t token) (text string, escaped bool) {
	s := t.text
	switch t.kind {
	case tokHeredoc:
		open := strings.IndexByte(s[1:], '$') + 2
		return s[open : len(s)-open], false
	case tokString, tokQuotedName:
	default:
		return s, false
	}
	if strings.HasPrefix(s, "\u2018") || strings.HasPrefix(s, "\u201C") {
		return s[3 : len(s)-3], false
	}
	if s[0] != '\'' && s[0] != '"' && s[0] != '`' { // x'…' or b'…': bytes, never SQL
		return "", false
	}
	q := s[0]
	body := s[1 : len(s)-1]
	if !strings.ContainsAny(body, "\\"+string(q)) {
		return body, false
	}
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == q && i+1 < len(body) && body[i+1] == q:
			b.WriteByte(q)
			i++
		case c == '\\' && i+1 < len(body):
			escaped = true
			i++
			b.WriteByte(unescape(body, &i))
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), escaped
}

// unescape decodes the escape whose letter is at body[*i] as the engine's
// string reader does (\n, \t, …, \xHH; any other byte stands for itself).
func unescape(body string, i *int) byte {
	c := body[*i]
	switch c {
	case 'a':
		return '\a'
	case 'b':
		return '\b'
	case 'e':
		return 0x1B
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'v':
		return '\v'
	case '0':
		return 0
	case 'x', 'X':
		if *i+2 < len(body) && isHexDigit(body[*i+1]) && isHexDigit(body[*i+2]) {
			v := hexVal(body[*i+1])<<4 | hexVal(body[*i+2])
			*i += 2
			return v
		}
	}
	return c
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
