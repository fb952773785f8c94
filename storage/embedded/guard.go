package embedded

import (
	"fmt"
	"net/http"
	"strings"
)

// The statement guard: what a client may run on the embedded engine.
//
// The engine is ClickHouse in-process, with Tracehouse's rights on this
// machine: left alone, file('/etc/passwd'), url('http://…'), INTO OUTFILE or
// a dictionary with an EXECUTABLE source would let anyone who can send a
// statement read and write files, run programs and reach other hosts. The
// guard walks each client statement with a lexer that splits it as the
// engine does (lexer.go) and refuses, with ClickHouse's ACCESS_DENIED, the
// calls, engines, clauses and settings listed in deny.go. It reads names,
// never raw text: a string literal or comment that merely contains "file("
// passes, and `file` in back quotes, odd case or a comment between the name
// and "(" is still a call. Where the engine parses a string as SQL (the
// structure and data of format(), a SETTINGS value, a dictionary's source
// query) the string is checked as SQL too.
//
// The check applies to the client's statement only: the server's own
// statements (the spooled-insert loader, which uses file(), and the
// session's USE and SET) are built by the server and never pass here.

const (
	codeReadonly     = 164
	codeAccessDenied = 497

	// maxNesting bounds SQL nested in strings (a format() inside a
	// format()'s data…): deeper than any real statement, and it keeps the
	// check linear.
	maxNesting = 4
)

func accessDenied(format string, args ...any) *httpError {
	return &httpError{status: http.StatusForbidden, code: codeAccessDenied,
		msg: fmt.Sprintf(format, args...) + ". (ACCESS_DENIED)"}
}

// readOnlyStatements are what a GET may run, as ClickHouse's HTTP
// interface runs GET requests with readonly=2. SET and USE change nothing
// beyond the request (session.go), as in ClickHouse.
var readOnlyStatements = setOf("SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "SET", "USE")

// checkStatement checks a client statement; readOnly is set for GET
// requests. It returns nil or an *httpError to answer with.
func checkStatement(sql string, readOnly bool) error {
	w := &walker{lx: newLexer(sql), statement: true, readOnly: readOnly, settingsAt: -1}
	return w.run()
}

// checkInsertData checks insert data the engine parses as SQL: the Values
// format evaluates expressions (VALUES (file('…')) would read the file).
// Strings in it are data.
func checkInsertData(data string) error {
	w := &walker{lx: newLexer(data), settingsAt: -1}
	return w.run()
}

// checkSettings checks the settings a request gives in its URL. Their
// values become string literals the engine may parse as SQL
// (additional_table_filters holds filter expressions).
func checkSettings(settings map[string]string) error {
	for name, value := range settings {
		if err := checkSetting(name, value, false); err != nil {
			return err
		}
		w := &walker{lx: newLexer(value), allStrings: true, nesting: 1, settingsAt: -1}
		if err := w.run(); err != nil {
			return err
		}
	}
	return nil
}

func checkSetting(name, value string, quoted bool) error {
	if refusedSettings[strings.ToLower(name)] {
		return accessDenied("setting %s names a file on the server or changes the query language; the embedded ClickHouse refuses it", name)
	}
	if engineSettings[strings.ToLower(name)] && refusedEngine(strings.Trim(value, "'\" ")) {
		return accessDenied("setting %s = %s names an engine that reaches the file system or the network; the embedded ClickHouse refuses it", name, value)
	}
	return nil
}

// frame is one open bracket.
type frame struct {
	call       string // lower-case name of the function whose arguments these are, or ""
	sqlStrings bool   // the function parses string arguments as SQL (deny.go sqlInStrings)
	source     bool   // a dictionary's SOURCE(…)
	brace      bool   // "{": a map literal or a {name:Type} query parameter
	param      bool   // the brace holds a {name:Type} query parameter
}

// pendingName is a name that becomes a call if "(" follows.
type pendingName struct {
	name       string
	escaped    bool // written with backslash escapes
	definition bool // the name a CREATE or INSERT defines or fills: "(" after it opens a column list
	param      bool // the "}" closing a {name:Type} query parameter
}

// Where a definition name is expected: CREATE TABLE [IF NOT EXISTS] db.name (…)
// and INSERT INTO [TABLE] db.name (…).
const (
	defNone = iota
	defExpect
	defAfterName
)

type walker struct {
	lx         *lexer
	statement  bool // a whole statement (else SQL from inside a string, or insert data)
	readOnly   bool
	allStrings bool // every string is SQL (a setting's value)
	nesting    int

	frames     []frame
	words      []string // the statement's first bare words outside brackets, upper case
	first      string   // its first word at any depth (the statement kind)
	prev       token
	prev2      token
	pending    pendingName // valid when hasPending
	hasPending bool
	defState   int
	engineNext bool // the next name is an engine: after ENGINE [=]
	settingsAt int  // len(frames) where a SETTINGS clause began; -1 outside one
	engineSet  string
	dictionary bool
	ended      bool // a ";" ended the statement
}

func (w *walker) run() error {
	for {
		t, ok := w.lx.next()
		if !ok {
			break
		}
		if err := w.token(t); err != nil {
			return err
		}
		w.prev2, w.prev = w.prev, t
	}
	return w.finish()
}

func (w *walker) ddl() bool {
	return w.first == "CREATE" || w.first == "ATTACH" || w.first == "REPLACE"
}

func (w *walker) inSettings() bool { return w.settingsAt >= 0 && len(w.frames) >= w.settingsAt }

// stringsAreSQL tells whether a string at this point is parsed by the
// engine as SQL.
func (w *walker) stringsAreSQL() bool {
	if w.allStrings || w.inSettings() {
		return true
	}
	for _, f := range w.frames {
		if f.sqlStrings || f.source {
			return true
		}
	}
	return false
}

func (w *walker) token(t token) error {
	if w.ended && w.statement {
		return &httpError{status: http.StatusBadRequest, code: codeSyntaxError,
			msg: fmt.Sprintf("Syntax error (Multi-statements are not allowed): failed at position %d (%s): the embedded ClickHouse runs one statement per request, as ClickHouse's HTTP interface does. (SYNTAX_ERROR)",
				t.start+1, truncate(t.text, 40))}
	}
	var pending *pendingName
	if w.hasPending {
		p := w.pending
		pending, w.hasPending = &p, false
	}
	if pending != nil && t.text == "(" && t.kind == tokPunct {
		if err := w.call(pending); err != nil {
			return err
		}
	}
	switch t.kind {
	case tokWord:
		return w.word(t)
	case tokQuotedName:
		name, escaped := unquote(t)
		return w.name(name, escaped, t)
	case tokString, tokHeredoc:
		return w.literal(t)
	case tokPunct:
		return w.punct(t, pending)
	}
	return nil
}

func (w *walker) word(t token) error {
	text := t.text
	var upper string // the word in upper case, for the statement's own words
	if w.statement && (w.first == "" || len(w.frames) == 0) {
		upper = strings.ToUpper(text)
	}
	if w.first == "" && w.statement {
		w.first = upper
		if w.readOnly && !readOnlyStatements[strings.ToLower(upper)] {
			return &httpError{status: http.StatusInternalServerError, code: codeReadonly,
				msg: "Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries. (READONLY)"}
		}
		if upper == "BACKUP" || upper == "RESTORE" {
			return accessDenied("%s reads and writes files on the server; the embedded ClickHouse refuses it (to copy the data, stop Tracehouse and copy its data folder)", upper)
		}
	}
	if w.statement && len(w.frames) == 0 && len(w.words) < 16 {
		w.words = append(w.words, upper)
	}
	prevWord := func(word string) bool { return w.prev.kind == tokWord && strings.EqualFold(w.prev.text, word) }
	switch {
	case strings.EqualFold(text, "OUTFILE") && prevWord("INTO"):
		return accessDenied("INTO OUTFILE writes a file on the server; the embedded ClickHouse refuses it (the result comes back in the response)")
	case strings.EqualFold(text, "INFILE") && prevWord("FROM"):
		return accessDenied("FROM INFILE reads a file on the server; the embedded ClickHouse refuses it (send the data in the request body)")
	case strings.EqualFold(text, "SETTINGS"):
		w.settingsAt = len(w.frames)
		return nil
	case strings.EqualFold(text, "FORMAT") && w.settingsAt == len(w.frames):
		w.settingsAt = -1
	case strings.EqualFold(text, "ENGINE") && w.statement && w.ddl():
		w.engineNext = true
		return nil
	case strings.EqualFold(text, "DICTIONARY") && w.statement && w.ddl():
		w.dictionary = true
	case strings.EqualFold(text, "VALUES") && w.insertValuesKeyword():
		w.defState = defNone
		return nil
	}
	if w.statement && len(w.frames) == 0 && w.definitions(upper) {
		return nil
	}
	if n := len(w.frames); n > 0 && w.frames[n-1].source && !dictionarySourceWords[strings.ToLower(text)] {
		return accessDenied("dictionary source %s reaches another server, a file or a program; the embedded ClickHouse allows only its own tables: SOURCE(CLICKHOUSE(TABLE 'name')) or SOURCE(CLICKHOUSE(QUERY '…'))", text)
	}
	return w.name(text, false, t)
}

// insertValuesKeyword tells INSERT … VALUES (…) from the values() table
// function, which comes where a table does: after FROM, JOIN, "," or "(".
func (w *walker) insertValuesKeyword() bool {
	if !w.statement || w.first != "INSERT" || len(w.frames) > 0 {
		return false
	}
	switch w.prev.kind {
	case tokWord:
		return !strings.EqualFold(w.prev.text, "FROM") && !strings.EqualFold(w.prev.text, "JOIN")
	case tokQuotedName, tokNumber, tokString:
		return true
	}
	return w.prev.text == ")"
}

// definitions follows CREATE TABLE/VIEW/DICTIONARY and INSERT INTO up to
// the name they define or fill, so that the column list after it is not
// taken for a call (a table may be called url). It reports whether the
// word is one of the keywords on the way.
func (w *walker) definitions(upper string) bool {
	preambleOnly := true
	for _, word := range w.words[:len(w.words)-1] {
		preambleOnly = preambleOnly && definitionPreamble[strings.ToLower(word)]
	}
	switch {
	case w.ddl() && preambleOnly && definitionPreamble[strings.ToLower(upper)]:
		return true
	case w.ddl() && preambleOnly && (upper == "TABLE" || upper == "VIEW" || upper == "DICTIONARY"):
		w.defState = defExpect
		return true
	case w.first == "INSERT" && upper == "INTO" && len(w.words) == 2:
		w.defState = defExpect
		return true
	case w.defState == defExpect && upper == "TABLE" && w.first == "INSERT":
		return true
	case w.defState == defExpect && (upper == "IF" || upper == "NOT" || upper == "EXISTS"):
		return true
	case w.defState == defAfterName && upper == "TO" && containsWord(w.words, "VIEW"):
		// CREATE MATERIALIZED VIEW mv TO target (columns)
		w.defState = defExpect
		return true
	case w.defState == defExpect && upper == "FUNCTION":
		w.defState = defNone // INSERT INTO FUNCTION file(…): a call after all
		return true
	}
	return false
}

// definitionPreamble are the words that may come before TABLE, VIEW or
// DICTIONARY in a statement that defines one.
var definitionPreamble = setOf("CREATE", "ATTACH", "REPLACE", "OR", "TEMPORARY", "MATERIALIZED", "WINDOW", "LIVE")

func containsWord(words []string, word string) bool {
	for _, w := range words {
		if w == word {
			return true
		}
	}
	return false
}

// name handles a bare or quoted name: an engine after ENGINE, or a call if
// "(" follows.
func (w *walker) name(name string, escaped bool, t token) error {
	if w.engineNext {
		w.engineNext = false
		if escaped || refusedEngine(name) {
			return accessDenied("engine %s reaches the file system, the network or other programs; the embedded ClickHouse refuses it", name)
		}
	}
	if w.engineSet != "" {
		setting := w.engineSet
		w.engineSet = ""
		if err := checkSetting(setting, name, true); err != nil {
			return err
		}
	}
	w.pending, w.hasPending = pendingName{name: name, escaped: escaped}, true
	switch w.defState {
	case defExpect:
		w.pending.definition = true
		w.defState = defAfterName
	case defAfterName:
		w.defState = defNone
	}
	return nil
}

// call checks a name followed by "(".
func (w *walker) call(p *pendingName) error {
	if p.param {
		return accessDenied("a query parameter cannot name a function; the embedded ClickHouse refuses it")
	}
	if p.definition {
		return nil
	}
	if n := len(w.frames); n > 0 && w.frames[n-1].source {
		return nil // CLICKHOUSE( or NULL(, checked as words
	}
	if p.escaped {
		return accessDenied("function name %q is written with backslash escapes; the embedded ClickHouse refuses such names", p.name)
	}
	if refusedFunction(p.name) {
		return accessDenied("%s() reaches the file system, the network or other programs; the embedded ClickHouse refuses it in client statements", p.name)
	}
	return nil
}

func (w *walker) literal(t token) error {
	if w.statement && w.first == "ATTACH" && w.prev.kind == tokWord && strings.EqualFold(w.prev.text, "FROM") {
		return accessDenied("ATTACH … FROM 'path' reads files on the server; the embedded ClickHouse refuses it")
	}
	text, _ := unquote(t)
	if w.engineSet != "" {
		setting := w.engineSet
		w.engineSet = ""
		if err := checkSetting(setting, text, true); err != nil {
			return err
		}
	}
	if !w.stringsAreSQL() {
		return nil
	}
	if w.nesting >= maxNesting {
		return accessDenied("SQL nested in strings more than %d levels deep; the embedded ClickHouse refuses it", maxNesting)
	}
	if badHexEscape(t.text) {
		return accessDenied("a \\x escape without two hex digits in a string the engine parses as SQL; the embedded ClickHouse refuses it")
	}
	inner := &walker{lx: newLexer(text), nesting: w.nesting + 1, settingsAt: -1}
	return inner.run()
}

func (w *walker) punct(t token, pending *pendingName) error {
	top := frame{}
	if n := len(w.frames); n > 0 {
		top = w.frames[n-1]
	}
	switch t.text {
	case "(":
		// Inside a dictionary's SOURCE(…) everything is a source.
		f := frame{source: top.source}
		if pending != nil && !pending.definition {
			f.call = strings.ToLower(pending.name)
			f.sqlStrings = sqlInStrings[f.call]
			f.source = f.source || w.dictionary && f.call == "source"
		}
		w.frames = append(w.frames, f)
	case "{":
		if w.engineNext {
			return accessDenied("a query parameter cannot name an engine; the embedded ClickHouse refuses it")
		}
		w.frames = append(w.frames, frame{brace: true, source: top.source})
	case "[":
		w.frames = append(w.frames, frame{source: top.source})
	case ")", "]", "}":
		if n := len(w.frames); n > 0 {
			w.frames = w.frames[:n-1]
		}
		if w.settingsAt > len(w.frames) {
			w.settingsAt = -1
		}
		if top.param {
			// "{name:Type}(": the parameter would name a function.
			w.pending, w.hasPending = pendingName{param: true}, true
		}
	case ":":
		if top.brace && w.prev2.text == "{" && (w.prev.kind == tokWord || w.prev.kind == tokQuotedName) {
			// {name:Type}: a query parameter. Where the engine parses
			// strings as SQL, a parameter could bring SQL the guard never
			// sees.
			w.frames[len(w.frames)-1].param = true
			if w.stringsAreSQL() {
				return accessDenied("query parameters cannot supply values the engine parses as SQL (arguments of format(), values(), input(), settings, dictionary sources); write them into the statement")
			}
		}
	case "=":
		if w.inSettings() && (w.prev.kind == tokWord || w.prev.kind == tokQuotedName) {
			name, _ := unquote(w.prev)
			if err := checkSetting(name, "", false); err != nil {
				return err
			}
			if engineSettings[strings.ToLower(name)] {
				w.engineSet = name
			}
		}
	case ";":
		w.ended = true
	}
	switch {
	case t.text == "." && w.defState == defAfterName:
		w.defState = defExpect
	case t.text == "(":
		w.defState = defNone
	case w.defState == defAfterName || w.defState == defExpect:
		w.defState = defNone
	}
	if t.text != "=" {
		w.engineNext = false
	}
	return nil
}

func (w *walker) finish() error {
	if !w.statement || len(w.words) < 2 || w.words[0] != "SYSTEM" {
		return nil
	}
	what := w.words[1]
	if systemAllowed[strings.ToLower(what)] {
		return nil
	}
	if what == "DROP" {
		for _, word := range w.words[2:] {
			if word == "CACHE" || word == "CACHES" {
				return nil
			}
		}
	}
	return accessDenied("SYSTEM %s is refused by the embedded ClickHouse (it allows SYSTEM FLUSH, START, STOP, SYNC, WAIT, RELOAD, REFRESH, CANCEL and DROP … CACHE)", strings.Join(w.words[1:], " "))
}

// badHexEscape reports a \x escape not followed by two hex digits, which
// the engine decodes in its own way.
func badHexEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			continue
		}
		if (s[i+1] == 'x' || s[i+1] == 'X') && !(i+3 < len(s) && isHexDigit(s[i+2]) && isHexDigit(s[i+3])) {
			return true
		}
		i++
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// check runs the guard over what a request asks the engine to run: its
// settings, its statement and, when the engine parses it as SQL, its inline
// insert data. readOnly is set for GET.
func (req *request) check(readOnly bool) error {
	if err := checkSettings(req.settings); err != nil {
		return err
	}
	text := req.sql
	if req.inlineData != nil && !valuesFormat(req.insertFormat) {
		// Data in another format is never parsed as SQL, and may hold
		// anything.
		text = req.sql[:len(req.sql)-len(req.inlineData)]
	}
	return checkStatement(text, readOnly)
}

func valuesFormat(format string) bool { return strings.EqualFold(format, "Values") }

// checkSpooledValues checks Values data that was streamed to the spool
// file: the engine evaluates the expressions in it.
func checkSpooledValues(path string) error {
	data, err := mapFile(path)
	if err != nil {
		return err
	}
	defer data.unmap()
	return checkInsertData(data.text)
}
