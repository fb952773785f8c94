package embedded

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/tracehouse/tracehouse/storage/chdb"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "Ok.\n") })
	mux.HandleFunc("/replicas_status", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "Ok.\n") })
	mux.HandleFunc("/", s.serveQuery)
	return mux
}

// ClickHouse error codes the HTTP layer reports itself.
const (
	codeSyntaxError          = 62
	codeBadArguments         = 36
	codeCannotDecompress     = 271
	codeUnknownFormat        = 73
	codeAuthenticationFailed = 516
	codeTooLarge             = 1001
)

// httpError is a failure answered before the engine runs anything.
type httpError struct {
	status int
	code   int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(code int, format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// Parameters of ClickHouse's HTTP interface that are not engine settings.
var httpOnlyParams = map[string]bool{
	"query": true, "database": true, "default_format": true, "compress": true, "decompress": true,
	"enable_http_compression": true, "query_id": true, "session_id": true, "session_timeout": true,
	"session_check": true, "client_protocol_version": true, "user": true, "password": true,
	"quota_key": true, "buffer_size": true, "wait_end_of_query": true, "role": true,
	"network_compression_method": true, "network_zstd_compression_level": true,
	"http_zlib_compression_level": true, "send_progress_in_http_headers": true,
	"http_headers_progress_interval_ms": true, "add_http_cors_header": true, "default_session_timeout": true,
	"http_wait_end_of_query": true, "http_response_buffer_size": true, "cancel_http_readonly_queries_on_client_close": true,
	"max_query_size": false,
}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// request is one parsed HTTP request to the query endpoint.
type request struct {
	sql          string            // the statement, without insert data
	insertTarget string            // for inserts: "INSERT INTO t (cols)"
	insertFormat string            // for inserts: the data's format
	insertData   io.Reader         // for inserts: the data (not yet read)
	inlineData   []byte            // insert data that arrived inside the query text
	format       string            // default output format
	database     string            // database to run in
	settings     map[string]string // per-request settings
	params       []chdb.Param      // {name:Type} values
	compress     compress.Method   // ClickHouse frames around the response (0 = none)
	httpEncoding string            // Content-Encoding of the response
	queryID      string
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := s.authenticate(r); err != nil {
		writeError(w, err)
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)
	defer body.Close()
	req, err := s.parseRequest(r, body)
	if err != nil {
		writeError(w, s.sizeAware(err))
		return
	}
	if req == nil { // GET / without a query: ClickHouse's liveness answer
		io.WriteString(w, "Ok.\n")
		return
	}
	if req.queryID != "" {
		w.Header().Set("X-ClickHouse-Query-Id", req.queryID)
	}
	if isHello(req.sql) {
		s.answerHello(w, req)
		return
	}
	if err := s.run(w, req); err != nil {
		writeError(w, s.sizeAware(err))
	}
}

// sizeAware turns the body limit's error into a ClickHouse-style one.
func (s *Server) sizeAware(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
			msg: fmt.Sprintf("request body is larger than the limit of %d bytes (raise it with --max-request-bytes, or send smaller batches)", s.cfg.MaxRequestBytes)}
	}
	return err
}

func (s *Server) authenticate(r *http.Request) error {
	if s.cfg.User == "" {
		return nil
	}
	user, pass := r.Header.Get("X-ClickHouse-User"), r.Header.Get("X-ClickHouse-Key")
	if u, p, ok := r.BasicAuth(); ok && user == "" {
		user, pass = u, p
	}
	if user == "" {
		user, pass = r.URL.Query().Get("user"), r.URL.Query().Get("password")
	}
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.User)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.Password)) == 1
	if !okUser || !okPass {
		return &httpError{status: http.StatusUnauthorized, code: codeAuthenticationFailed,
			msg: fmt.Sprintf("%s: Authentication failed: password is incorrect, or there is no user with such name.", user)}
	}
	return nil
}

func (s *Server) parseRequest(r *http.Request, body io.Reader) (*request, error) {
	q := r.URL.Query()
	req := &request{
		format:   q.Get("default_format"),
		database: q.Get("database"),
		queryID:  q.Get("query_id"),
		settings: map[string]string{},
	}
	if req.format == "" {
		req.format = "TabSeparated"
	}
	if req.database == "" {
		req.database = r.Header.Get("X-ClickHouse-Database")
	}
	if req.database == "" {
		req.database = "default"
	}
	for key, values := range q {
		value := values[len(values)-1]
		switch {
		case strings.HasPrefix(key, "param_"):
			req.params = append(req.params, chdb.Param{Name: strings.TrimPrefix(key, "param_"), Value: value})
		case httpOnlyParams[key]:
		case strings.HasSuffix(key, "_format") || strings.HasSuffix(key, "_structure") || strings.HasSuffix(key, "_types"):
			// external-table descriptors: not supported, but not settings either
		default:
			if !settingName.MatchString(key) {
				return nil, badRequest(codeBadArguments, "invalid setting name %q in the URL", key)
			}
			req.settings[key] = value
		}
	}
	if q.Get("compress") == "1" {
		method := strings.ToUpper(q.Get("network_compression_method"))
		switch method {
		case "", "LZ4":
			req.compress = compress.LZ4
		case "ZSTD":
			req.compress = compress.ZSTD
		case "NONE":
			req.compress = compress.None
		default:
			return nil, badRequest(codeBadArguments, "unknown network_compression_method %q (use LZ4, ZSTD or NONE)", method)
		}
	}
	if q.Get("enable_http_compression") == "1" {
		req.httpEncoding = pickEncoding(r.Header.Get("Accept-Encoding"))
	}

	data, err := decodeBody(r.Header.Get("Content-Encoding"), body)
	if err != nil {
		return nil, err
	}
	if q.Get("decompress") == "1" {
		data = &frameReader{r: compress.NewReader(data)}
	}

	urlSQL := q.Get("query")
	if target, format, rest, ok := splitInsert(urlSQL); ok && strings.TrimSpace(rest) == "" && r.Method == http.MethodPost {
		// The usual shape of a bulk insert: statement in the URL, data in the body.
		req.sql, req.insertTarget, req.insertFormat, req.insertData = urlSQL, target, format, data
		return req, nil
	}
	var text []byte
	if r.Method == http.MethodPost {
		if urlSQL == "" && (r.ContentLength < 0 || r.ContentLength > insertHeadBytes) {
			// "INSERT INTO t FORMAT X" and its data, both in the body: how
			// clickhouse-go's Exec sends an INSERT (Tracehouse's writer does).
			// Stream the data after the statement instead of reading it all.
			// (Smaller bodies, every query among them, are read whole below,
			// which handles inline insert data too.)
			buffered := bufio.NewReaderSize(data, insertHeadBytes)
			head, _ := buffered.Peek(insertHeadBytes)
			if m := insertHeader.FindSubmatchIndex(head); m != nil && m[4] >= 0 && m[1] < len(head) {
				stmt := string(head[:m[1]])
				if target, format, _, ok := splitInsert(stmt); ok {
					buffered.Discard(m[1])
					req.sql, req.insertTarget, req.insertFormat, req.insertData = strings.TrimSpace(stmt), target, format, buffered
					return req, nil
				}
			}
			data = buffered
		}
		if text, err = io.ReadAll(data); err != nil {
			return nil, err
		}
	}
	sql := urlSQL
	if len(text) > 0 {
		if sql != "" {
			sql += "\n"
		}
		sql += string(text)
	}
	if strings.TrimSpace(sql) == "" {
		if r.Method == http.MethodGet {
			return nil, nil
		}
		return nil, badRequest(codeSyntaxError, "Empty query. (SYNTAX_ERROR)")
	}
	req.sql = sql
	if target, format, rest, ok := splitInsert(sql); ok && rest != "" {
		req.insertTarget, req.insertFormat, req.inlineData = target, format, []byte(rest)
	}
	return req, nil
}

// insertHeadBytes is how much of a body is searched for an INSERT
// statement followed by its data.
const insertHeadBytes = 64 << 10

// insertHeader finds "INSERT INTO <target> FORMAT <name>" or
// "INSERT INTO <target> VALUES" at the start of a statement.
var insertHeader = regexp.MustCompile(`(?is)^\s*(INSERT\s+INTO\s+.+?)\s+(?:FORMAT\s+([A-Za-z0-9_]+)|(VALUES))[ \t]*\r?\n?`)

// splitInsert separates an INSERT statement from the data that follows it.
// The engine cuts inline data at the first blank line, so insert data always
// goes to the engine as a file instead.
func splitInsert(sql string) (target, format, rest string, ok bool) {
	m := insertHeader.FindStringSubmatchIndex(sql)
	if m == nil {
		return "", "", "", false
	}
	target = sql[m[2]:m[3]]
	if m[4] >= 0 {
		format = sql[m[4]:m[5]]
		rest = sql[m[1]:]
	} else {
		format = "Values"
		rest = sql[m[6]+len("VALUES"):]
	}
	if strings.Contains(strings.ToUpper(target), " SELECT ") {
		return "", "", "", false // INSERT … SELECT carries no data
	}
	return target, format, rest, true
}

func pickEncoding(accept string) string {
	for _, enc := range strings.Split(accept, ",") {
		enc = strings.TrimSpace(strings.SplitN(enc, ";", 2)[0])
		switch enc {
		case "gzip", "deflate", "br", "zstd":
			return enc
		}
	}
	return ""
}

func decodeBody(encoding string, body io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity", "none":
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, badRequest(codeCannotDecompress, "cannot read gzip body: %v", err)
		}
		return zr, nil
	case "deflate":
		zr, err := zlib.NewReader(body)
		if err != nil {
			return nil, badRequest(codeCannotDecompress, "cannot read deflate body: %v", err)
		}
		return zr, nil
	case "br":
		return brotli.NewReader(body), nil
	case "zstd":
		zr, err := zstd.NewReader(body)
		if err != nil {
			return nil, badRequest(codeCannotDecompress, "cannot read zstd body: %v", err)
		}
		return zr.IOReadCloser(), nil
	default:
		return nil, badRequest(codeUnknownFormat, "unsupported Content-Encoding %q (use gzip, deflate, br or zstd)", encoding)
	}
}

// frameReader reports a broken ClickHouse compression frame as a
// ClickHouse-style error.
type frameReader struct{ r io.Reader }

func (f *frameReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return n, io.EOF // the body ended cleanly between frames
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return n, err
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, badRequest(codeCannotDecompress, "Cannot decompress: the compressed body ends in the middle of a frame. (CANNOT_DECOMPRESS)")
		}
		return n, badRequest(codeCannotDecompress, "Cannot decompress: %v. (CANNOT_DECOMPRESS)", err)
	}
	return n, err
}

const helloQuery = "SELECT displayName(), version(), revision(), timezone()"

func isHello(sql string) bool { return strings.TrimSpace(sql) == helloQuery }

// run executes a request with its database and settings applied, holding the
// engine's session so that no other request sees them.
func (s *Server) run(w http.ResponseWriter, req *request) error {
	var spooled string
	if req.insertTarget != "" {
		// Spool before taking the session: reading the body may be slow.
		path, err := s.spool(req)
		if err != nil {
			return err
		}
		defer os.Remove(path)
		spooled = path
	}

	s.session.Lock()
	defer s.session.Unlock()
	if err := s.applySession(req); err != nil {
		return err
	}
	if sessionStatement(req.sql) {
		return s.writeResult(w, req, nil)
	}
	if spooled != "" {
		sql := insertFromFile(req.insertTarget, req.insertFormat, spooled)
		if _, err := s.engine.Query(sql, req.format, req.params...); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	req.sql = withoutSync(req.sql)
	if db, ok := dropDatabaseTarget(req.sql); ok {
		if err := s.dropTablesOf(db); err != nil {
			return err
		}
	}
	if !returnsRows(req.sql) {
		out, err := s.engine.Query(req.sql, req.format, req.params...)
		if err != nil {
			return err
		}
		return s.writeResult(w, req, out)
	}
	return s.stream(w, req)
}

// insertFromFile builds the statement that loads spooled data. Native data
// carries its own column types, so it is read with the file() table function
// as an INSERT … SELECT: the engine runs that as one server-side pipeline,
// 2–4× faster than FROM INFILE, which goes through the engine's client-side
// path. Other formats need the target's column types to parse, which FROM
// INFILE supplies.
func insertFromFile(target, format, path string) string {
	if strings.EqualFold(format, "Native") {
		return fmt.Sprintf("%s SELECT * FROM file('%s', 'Native')", target, path)
	}
	return fmt.Sprintf("%s FROM INFILE '%s' FORMAT %s", target, path, format)
}

// spool writes insert data to a file the engine can read with FROM INFILE.
func (s *Server) spool(req *request) (string, error) {
	path := filepath.Join(s.spoolDir, strconv.FormatUint(s.spoolSeq.Add(1), 10)+".data")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("spool insert data: %w", err)
	}
	src := req.insertData
	if src == nil {
		src = bytes.NewReader(req.inlineData)
	}
	_, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// applySession brings the engine's session (current database and settings,
// which are process-wide) to what the request asks for. It changes only what
// differs from the previous request: a client that sends the same settings
// every time (as the query service does) pays for no SET at all, where
// setting and resetting around each request cost a statement apiece.
func (s *Server) applySession(req *request) error {
	if req.database != s.database {
		if _, err := s.engine.Query("USE "+quoteIdent(req.database), "TabSeparated"); err != nil {
			return err
		}
		s.database = req.database
	}
	for name := range s.settings {
		if _, keep := req.settings[name]; keep {
			continue
		}
		if _, err := s.engine.Query("SET "+name+" = DEFAULT", "TabSeparated"); err != nil {
			return err
		}
		delete(s.settings, name)
	}
	for name, value := range req.settings {
		if current, ok := s.settings[name]; ok && current == value {
			continue
		}
		if _, err := s.engine.Query("SET "+name+" = "+quoteString(value), "TabSeparated"); err != nil {
			return err
		}
		s.settings[name] = value
	}
	return nil
}

// sessionStatement tells USE and SET statements. Over ClickHouse's HTTP
// interface without a session they change nothing beyond their own request,
// so they are answered without running: on this engine they would change
// the process-wide session under every other client.
func sessionStatement(sql string) bool {
	switch firstWord(sql) {
	case "USE", "SET":
		return true
	}
	return false
}

// quoteString makes a ClickHouse string literal; setting names are checked
// against settingName and values go in as literals, since SET takes no
// query parameters.
func quoteString(value string) string {
	return "'" + strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(value) + "'"
}

func quoteIdent(name string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(name) + "`"
}

var dropDatabase = regexp.MustCompile("(?is)^\\s*DROP\\s+DATABASE\\s+(?:IF\\s+EXISTS\\s+)?`?([A-Za-z0-9_]+)`?")

var trailingSync = regexp.MustCompile(`(?is)^(\s*(?:DROP|DETACH)\s.*?)\s+SYNC\s*;?\s*$`)

// withoutSync drops the SYNC modifier of DROP/DETACH: on chDB 26.5 a
// synchronous drop waits forever for a background step the engine never
// runs, and the engine would hang for every client. Without it the table is
// gone from the catalog at once and its files are removed later.
func withoutSync(sql string) string {
	if m := trailingSync.FindStringSubmatch(sql); m != nil {
		return m[1]
	}
	return sql
}

func dropDatabaseTarget(sql string) (string, bool) {
	m := dropDatabase.FindStringSubmatch(sql)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// dropTablesOf drops every table of a database one by one. The engine (chDB
// 26.5) hangs on DROP DATABASE while the database still holds MergeTree
// tables, but drops them fine one at a time and the empty database after.
func (s *Server) dropTablesOf(db string) error {
	out, err := s.engine.Query("SELECT name FROM system.tables WHERE database = {db:String} ORDER BY engine LIKE '%View' DESC",
		"TabSeparatedRaw", chdb.Param{Name: "db", Value: db})
	if err != nil {
		return err
	}
	for _, table := range strings.Fields(string(out)) {
		if _, err := s.engine.Query("DROP TABLE IF EXISTS "+quoteIdent(db)+"."+quoteIdent(table), "TabSeparated"); err != nil {
			return err
		}
	}
	return nil
}

// returnsRows tells statements whose output may be large (and is streamed)
// from the ones that answer with little or nothing.
func returnsRows(sql string) bool {
	word := firstWord(sql)
	switch word {
	case "SELECT", "WITH", "(": // the engine streams only queries
		return true
	}
	return false
}

func firstWord(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n")
	for strings.HasPrefix(sql, "--") || strings.HasPrefix(sql, "/*") {
		if strings.HasPrefix(sql, "--") {
			if i := strings.IndexByte(sql, '\n'); i >= 0 {
				sql = strings.TrimLeft(sql[i+1:], " \t\r\n")
				continue
			}
			return ""
		}
		if i := strings.Index(sql, "*/"); i >= 0 {
			sql = strings.TrimLeft(sql[i+2:], " \t\r\n")
			continue
		}
		return ""
	}
	if strings.HasPrefix(sql, "(") {
		return "("
	}
	end := strings.IndexAny(sql, " \t\r\n(")
	if end < 0 {
		end = len(sql)
	}
	return strings.ToUpper(sql[:end])
}

// stream sends a result as the engine produces it. The first chunk is read
// before the status line, so an error at the start is still a clean 500.
func (s *Server) stream(w http.ResponseWriter, req *request) error {
	var out *responseWriter
	err := s.engine.Stream(req.sql, req.format, req.params, func(chunk []byte) error {
		if out == nil {
			out = s.newResponseWriter(w, req, -1)
		}
		return out.write(chunk)
	})
	if out == nil {
		if err != nil {
			return err
		}
		return s.writeResult(w, req, nil)
	}
	if err != nil {
		out.exception(err)
	}
	return out.close()
}

func (s *Server) writeResult(w http.ResponseWriter, req *request, data []byte) error {
	out := s.newResponseWriter(w, req, len(data))
	if err := out.write(data); err != nil {
		return err
	}
	return out.close()
}

// responseWriter applies ClickHouse frames and HTTP compression to a result.
type responseWriter struct {
	w        http.ResponseWriter
	buf      *bufio.Writer
	enc      io.WriteCloser
	frames   *compress.Writer
	sink     io.Writer
	wroteAny bool
}

const maxFrame = 1 << 20

func (s *Server) newResponseWriter(w http.ResponseWriter, req *request, size int) *responseWriter {
	h := w.Header()
	h.Set("Content-Type", contentType(req.format))
	h.Set("X-ClickHouse-Format", req.format)
	h.Set("X-ClickHouse-Server-Display-Name", s.hello.displayName)
	h.Set("X-ClickHouse-Timezone", s.hello.timezone)
	out := &responseWriter{w: w}
	out.buf = bufio.NewWriterSize(w, 64<<10)
	out.sink = out.buf
	if req.httpEncoding != "" && size != 0 {
		h.Set("Content-Encoding", req.httpEncoding)
		switch req.httpEncoding {
		case "gzip":
			out.enc = gzip.NewWriter(out.buf)
		case "deflate":
			out.enc, _ = flate.NewWriter(out.buf, flate.DefaultCompression)
		case "br":
			out.enc = brotli.NewWriter(out.buf)
		case "zstd":
			out.enc, _ = zstd.NewWriter(out.buf)
		}
		out.sink = out.enc
	} else if size >= 0 && req.compress == 0 {
		h.Set("Content-Length", strconv.Itoa(size))
	}
	if req.compress != 0 && size != 0 {
		out.frames = compress.NewWriter(compress.LevelZero, req.compress)
	}
	if size == 0 {
		h.Set("Content-Length", "0")
	}
	w.WriteHeader(http.StatusOK)
	return out
}

func (o *responseWriter) write(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), maxFrame)
		chunk := p[:n]
		p = p[n:]
		if o.frames != nil {
			if err := o.frames.Compress(chunk); err != nil {
				return err
			}
			chunk = o.frames.Data
		}
		if _, err := o.sink.Write(chunk); err != nil {
			return err
		}
		o.wroteAny = true
	}
	return nil
}

// exception appends a failure that happened after the status line was sent,
// in the framing ClickHouse uses so clients can tell it from data.
func (o *responseWriter) exception(err error) {
	msg := err.Error()
	fmt.Fprintf(o.sink, "\r\n__exception__\r\n%s\r\n%d tracehouse\r\n__exception__\r\n", msg, len(msg))
}

func (o *responseWriter) close() error {
	if o.enc != nil {
		if err := o.enc.Close(); err != nil {
			return err
		}
	}
	return o.buf.Flush()
}

func contentType(format string) string {
	switch f := strings.ToLower(format); {
	case strings.HasPrefix(f, "json"):
		return "application/json; charset=UTF-8"
	case f == "native" || strings.HasPrefix(f, "rowbinary") || f == "parquet" || f == "arrow":
		return "application/octet-stream"
	default:
		return "text/plain; charset=UTF-8"
	}
}

// writeError answers like ClickHouse: the status, the exception code in a
// header, and "Code: N. DB::Exception: …" as the body.
func writeError(w http.ResponseWriter, err error) {
	status, code, msg := http.StatusInternalServerError, 1000, err.Error()
	var he *httpError
	var ex *chdb.Exception
	switch {
	case errors.As(err, &he):
		status, code = he.status, he.code
		msg = fmt.Sprintf("Code: %d. DB::Exception: %s", he.code, he.msg)
	case errors.As(err, &ex):
		code, msg = ex.Code, ex.Message
	default:
		msg = fmt.Sprintf("Code: %d. DB::Exception: %s", code, msg)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("X-ClickHouse-Exception-Code", strconv.Itoa(code))
	h.Del("Content-Encoding")
	h.Del("Content-Length")
	w.WriteHeader(status)
	io.WriteString(w, strings.TrimRight(msg, "\n")+"\n")
}

// answerHello serves clickhouse-go's handshake query itself: the driver reads
// the revision from it and decodes later blocks with that layout, and the
// engine writes plain Native blocks, i.e. revision 0.
func (s *Server) answerHello(w http.ResponseWriter, req *request) {
	data, err := encodeHello(s.hello)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.writeResult(w, req, data); err != nil {
		s.log.Debug().Err(err).Msg("hello answer not delivered")
	}
}
