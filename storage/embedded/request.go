package embedded

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/ClickHouse/ch-go/compress"

	"github.com/tracehouse/tracehouse/storage/chdb"
)

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
	closers      []io.Closer // decoders of the body, released by close
}

// close releases the body's decoders.
func (req *request) close() {
	for _, c := range req.closers {
		c.Close()
	}
}

// Parameters of ClickHouse's HTTP interface that are not engine settings.
// Every other URL parameter (but param_* and external-table descriptors) is
// a setting for the request.
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

// settingName is what a setting name may look like. Names go into SET
// statements as they are (values go in as literals), so anything else is
// refused.
var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseRequest reads what a request asks for: the options in its URL and
// headers, and the statement from the URL, the body or both. It returns nil
// and no error for a GET without a query, ClickHouse's liveness probe.
// limit caps the body after each decompression layer (decompress.go); the
// caller closes the request once done with its data.
func parseRequest(r *http.Request, body io.Reader, limit int64) (*request, error) {
	q := r.URL.Query()
	req, err := parseOptions(r, q)
	if err != nil {
		return nil, err
	}
	data, closer, err := decodeBody(r.Header.Get("Content-Encoding"), body)
	if err != nil {
		return nil, err
	}
	req.closers = append(req.closers, closer)
	data = newCapReader(data, limit)
	if q.Get("decompress") == "1" {
		frames := newFrameReader(data, limit)
		req.closers = append(req.closers, frames)
		data = newCapReader(frames, limit)
	}
	parsed, err := readStatement(req, r, q.Get("query"), data)
	if parsed == nil {
		req.close()
	}
	return parsed, err
}

// parseOptions reads everything but the statement: output format, database,
// query id, settings, {name:Type} parameters and response compression.
func parseOptions(r *http.Request, q url.Values) (*request, error) {
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
		method, err := frameMethod(q.Get("network_compression_method"))
		if err != nil {
			return nil, err
		}
		req.compress = method
	}
	if q.Get("enable_http_compression") == "1" {
		req.httpEncoding = pickEncoding(r.Header.Get("Accept-Encoding"))
	}
	return req, nil
}

// maxStatementBytes bounds the SQL text of a request (ClickHouse's own
// max_query_size is 256 KiB; inline VALUES data counts here too).
const maxStatementBytes = 16 << 20

// readStatement fills in the statement. ClickHouse takes it from the query
// URL parameter (urlSQL), the body, or both joined by a newline; insert data follows
// the statement in whichever place it ends. Insert data is left unread in
// data where it can be, so that a large batch is streamed to the spool file
// rather than held in memory.
func readStatement(req *request, r *http.Request, urlSQL string, data io.Reader) (*request, error) {
	if target, format, rest, ok := splitInsert(urlSQL); ok && strings.TrimSpace(rest) == "" && r.Method == http.MethodPost {
		// The usual shape of a bulk insert: statement in the URL, data in the body.
		req.sql, req.insertTarget, req.insertFormat, req.insertData = urlSQL, target, format, data
		return req, nil
	}
	var text []byte
	if r.Method == http.MethodPost {
		// A compressed body's length says nothing of what it unpacks to.
		encoded := r.Header.Get("Content-Encoding") != "" || r.URL.Query().Get("decompress") == "1"
		if urlSQL == "" && (r.ContentLength < 0 || r.ContentLength > insertHeadBytes || encoded) {
			// "INSERT INTO t FORMAT X" and its data, both in the body: how
			// clickhouse-go's Exec sends an INSERT (Tracehouse's writer does).
			// Stream the data after the statement instead of reading it all.
			// (Smaller bodies, every query among them, are read whole below,
			// which handles inline insert data too.)
			stmt, target, format, rest, ok := insertAtHead(data)
			if ok {
				req.sql, req.insertTarget, req.insertFormat, req.insertData = stmt, target, format, rest
				return req, nil
			}
			data = rest
		}
		// What is left is SQL text, read whole: a statement, or an INSERT
		// with its data inline. It is capped far below the body limit,
		// which is sized for streamed insert data: a few kilobytes of zstd
		// would otherwise unpack into a gigabyte held (and copied) in
		// memory.
		var err error
		if text, err = io.ReadAll(io.LimitReader(data, maxStatementBytes+1)); err != nil {
			return nil, err
		}
		if len(text) > maxStatementBytes {
			return nil, &httpError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge,
				msg: fmt.Sprintf("statement longer than %d bytes: send insert data after \"INSERT INTO t FORMAT name\" (in the URL's query parameter or at the start of the body), which is streamed, not inline", maxStatementBytes)}
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
