package embedded

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"

	"github.com/tracehouse/tracehouse/storage/chdb"
)

// parsed is what a test compares of a request: the parsed fields, with the
// insert data read out.
type parsed struct {
	SQL, InsertTarget, InsertFormat, Data string
	StreamedData                          bool // the data came as a reader, not inline
	Format, Database, QueryID, Encoding   string
	Settings                              map[string]string
	Params                                []chdb.Param
	Compress                              compress.Method
}

func parse(t *testing.T, r *http.Request) (*parsed, error) {
	t.Helper()
	req, err := parseRequest(r, r.Body, 1<<20)
	if err != nil || req == nil {
		return nil, err
	}
	defer req.close()
	p := &parsed{SQL: req.sql, InsertTarget: req.insertTarget, InsertFormat: req.insertFormat,
		Format: req.format, Database: req.database, QueryID: req.queryID, Encoding: req.httpEncoding,
		Settings: req.settings, Params: req.params, Compress: req.compress, Data: string(req.inlineData)}
	sort.Slice(p.Params, func(i, j int) bool { return p.Params[i].Name < p.Params[j].Name })
	if req.insertData != nil {
		data, err := io.ReadAll(req.insertData)
		if err != nil {
			return nil, err
		}
		p.Data, p.StreamedData = string(data), true
	}
	return p, nil
}

func TestParseRequestShapes(t *testing.T) {
	bigRow := strings.Repeat("x", insertHeadBytes) + "\n\n" + "end"
	tests := []struct {
		name   string
		method string
		target string
		body   string
		header map[string]string
		want   parsed
	}{
		{
			name: "query in the URL with settings, params and output options", method: http.MethodGet,
			target: "/?query=SELECT+%7Bx%3AUInt8%7D&param_x=5&max_threads=2&default_format=JSONEachRow&database=db1&query_id=q1&client_protocol_version=54460&input_format_structure=x",
			want: parsed{SQL: "SELECT {x:UInt8}", Format: "JSONEachRow", Database: "db1", QueryID: "q1",
				Settings: map[string]string{"max_threads": "2"}, Params: []chdb.Param{{Name: "x", Value: "5"}}},
		},
		{
			name: "URL and body query are joined by a newline", method: http.MethodPost,
			target: "/?query=SELECT", body: "1",
			header: map[string]string{"X-ClickHouse-Database": "fromheader"},
			want:   parsed{SQL: "SELECT\n1", Format: "TabSeparated", Database: "fromheader", Settings: map[string]string{}},
		},
		{
			name: "insert statement in the URL, data in the body", method: http.MethodPost,
			target: "/?query=INSERT+INTO+t+%28a%29+FORMAT+Native", body: "\x00\n\nbinary",
			want: parsed{SQL: "INSERT INTO t (a) FORMAT Native", InsertTarget: "INSERT INTO t (a)", InsertFormat: "Native",
				Data: "\x00\n\nbinary", StreamedData: true, Format: "TabSeparated", Database: "default", Settings: map[string]string{}},
		},
		{
			name: "small body insert with inline VALUES", method: http.MethodPost,
			target: "/", body: "INSERT INTO t VALUES ('c'), ('d')",
			want: parsed{SQL: "INSERT INTO t VALUES ('c'), ('d')", InsertTarget: "INSERT INTO t", InsertFormat: "Values",
				Data: " ('c'), ('d')", Format: "TabSeparated", Database: "default", Settings: map[string]string{}},
		},
		{
			name: "large body insert: statement cut off the head, data streamed", method: http.MethodPost,
			target: "/", body: "INSERT INTO t FORMAT JSONEachRow\n" + bigRow,
			want: parsed{SQL: "INSERT INTO t FORMAT JSONEachRow", InsertTarget: "INSERT INTO t", InsertFormat: "JSONEachRow",
				Data: bigRow, StreamedData: true, Format: "TabSeparated", Database: "default", Settings: map[string]string{}},
		},
		{
			name: "INSERT … SELECT carries no data", method: http.MethodPost,
			target: "/", body: "INSERT INTO t SELECT * FROM u",
			want: parsed{SQL: "INSERT INTO t SELECT * FROM u", Format: "TabSeparated", Database: "default", Settings: map[string]string{}},
		},
		{
			name: "ClickHouse frames asked for, HTTP compression picked from Accept-Encoding", method: http.MethodGet,
			target: "/?query=SELECT+1&compress=1&network_compression_method=zstd&enable_http_compression=1",
			header: map[string]string{"Accept-Encoding": "identity, br;q=0.5, gzip"},
			want: parsed{SQL: "SELECT 1", Format: "TabSeparated", Database: "default", Settings: map[string]string{},
				Compress: compress.ZSTD, Encoding: "br"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.method == http.MethodPost && len(tt.body) > insertHeadBytes {
				r.ContentLength = -1 // a streamed upload
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			got, err := parse(t, r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseRequestRefusals(t *testing.T) {
	tests := []struct {
		name, method, target, body, encoding string
		code                                 int
	}{
		{"bad setting name", http.MethodGet, "/?query=SELECT+1&max-threads=1", "", "", codeBadArguments},
		{"unknown frame method", http.MethodGet, "/?query=SELECT+1&compress=1&network_compression_method=xz", "", "", codeBadArguments},
		{"unknown Content-Encoding", http.MethodPost, "/", "SELECT 1", "xz", codeUnknownFormat},
		{"broken gzip", http.MethodPost, "/", "SELECT 1", "gzip", codeCannotDecompress},
		{"empty POST", http.MethodPost, "/", " ", "", codeSyntaxError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.encoding != "" {
				r.Header.Set("Content-Encoding", tt.encoding)
			}
			_, err := parse(t, r)
			var he *httpError
			if !errors.As(err, &he) || he.code != tt.code {
				t.Fatalf("got %v, want ClickHouse code %d", err, tt.code)
			}
		})
	}
	// GET without a query is the liveness probe: no request, no error.
	if req, err := parseRequest(httptest.NewRequest(http.MethodGet, "/", nil), http.NoBody, 1<<20); req != nil || err != nil {
		t.Fatalf("GET /: %v %v", req, err)
	}
}

func TestRequestBodyEncodings(t *testing.T) {
	const text = "SELECT 42"
	var gz, zl, br bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write([]byte(text))
	gw.Close()
	zw := zlib.NewWriter(&zl)
	zw.Write([]byte(text))
	zw.Close()
	bw := brotli.NewWriter(&br)
	bw.Write([]byte(text))
	bw.Close()
	ze, _ := zstd.NewWriter(nil)
	zs := ze.EncodeAll([]byte(text), nil)
	for encoding, body := range map[string][]byte{"": []byte(text), "identity": []byte(text), " GZIP ": gz.Bytes(),
		"deflate": zl.Bytes(), "br": br.Bytes(), "zstd": zs} {
		r, closer, err := decodeBody(encoding, bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%q: %v", encoding, err)
		}
		if got, err := io.ReadAll(r); err != nil || string(got) != text {
			t.Fatalf("%q: %q %v", encoding, got, err)
		}
		closer.Close()
	}
}

func TestStatementKinds(t *testing.T) {
	for sql, want := range map[string]string{
		"  select 1":              "SELECT",
		"-- note\nWITH x AS (1)":  "WITH",
		"/* a */ (SELECT 1)":      "(",
		"SET max_threads = 1":     "SET",
		"-- only a comment":       "",
		"INSERT INTO t(a) VALUES": "INSERT",
	} {
		if got := firstWord(sql); got != want {
			t.Errorf("firstWord(%q) = %q, want %q", sql, got, want)
		}
	}
	if !returnsRows("with x as (select 1) select * from x") || returnsRows("CREATE TABLE t (a UInt8) ENGINE = Memory") {
		t.Error("returnsRows tells queries from other statements")
	}
	if !sessionStatement("use db") || sessionStatement("SELECT 1") {
		t.Error("sessionStatement tells USE and SET")
	}
	if got := withoutSync("DROP TABLE db.t SYNC;"); got != "DROP TABLE db.t" {
		t.Errorf("withoutSync: %q", got)
	}
	if got := withoutSync("SELECT 'SYNC'"); got != "SELECT 'SYNC'" {
		t.Errorf("withoutSync touched a query: %q", got)
	}
	if db, ok := dropDatabaseTarget("DROP DATABASE IF EXISTS `x_1` SYNC"); !ok || db != "x_1" {
		t.Errorf("dropDatabaseTarget: %q %v", db, ok)
	}
	if got := insertFromFile("INSERT INTO t", "native", "/s/1.data"); got != "INSERT INTO t SELECT * FROM file('/s/1.data', 'Native')" {
		t.Errorf("Native insert: %q", got)
	}
	if got := insertFromFile("INSERT INTO t", "CSV", "/s/1.data"); got != "INSERT INTO t FROM INFILE '/s/1.data' FORMAT CSV" {
		t.Errorf("CSV insert: %q", got)
	}
	if got := quoteString(`a'b\c`); got != `'a\'b\\c'` {
		t.Errorf("quoteString: %s", got)
	}
	if got := quoteIdent("a`b"); got != "`a\\`b`" {
		t.Errorf("quoteIdent: %s", got)
	}
}
