package embedded_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

// canary is a file the engine must never be made to read, and a folder
// it must never be made to write in.
func canary(t *testing.T) (dir, path, secret string) {
	t.Helper()
	var b [16]byte
	rand.Read(b[:])
	secret = "canary-" + hex.EncodeToString(b[:])
	dir = t.TempDir()
	path = filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path, secret
}

func rawRequest(t *testing.T, method, rawQuery string, body io.Reader, header http.Header, withAuth bool) (*http.Response, string) {
	t.Helper()
	if !withAuth {
		if header == nil {
			header = http.Header{}
		}
		header.Set("X-No-Auth", "1")
	}
	return curlish(t, method, rawQuery, body, header)
}

func TestCredentialsAreRequired(t *testing.T) {
	user, password := chtest.Credentials(t)
	if user != embedded.DefaultUser || len(password) < 32 {
		t.Fatalf("credentials: user %q, a password of %d characters", user, len(password))
	}
	cases := []struct {
		name     string
		rawQuery string
		header   http.Header
		status   int
		code     string
	}{
		{"no credentials", "", nil, http.StatusUnauthorized, "194"},
		{"wrong password in basic auth", "", http.Header{"Authorization": {"Basic " + basic(user, "guess")}}, http.StatusForbidden, "516"},
		{"wrong user", "", http.Header{"Authorization": {"Basic " + basic("default", password)}}, http.StatusForbidden, "516"},
		{"user without password", "user=" + user, nil, http.StatusForbidden, "516"},
		{"basic auth", "", http.Header{"Authorization": {"Basic " + basic(user, password)}}, http.StatusOK, ""},
		{"X-ClickHouse headers", "", http.Header{"X-Clickhouse-User": {user}, "X-Clickhouse-Key": {password}}, http.StatusOK, ""},
		{"URL parameters", "user=" + user + "&password=" + url.QueryEscape(password), nil, http.StatusOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				q := c.rawQuery
				var body io.Reader
				if method == http.MethodGet {
					q = strings.TrimPrefix(q+"&query=SELECT+1", "&")
				} else {
					body = strings.NewReader("SELECT 1")
				}
				resp, text := rawRequest(t, method, q, body, c.header.Clone(), false)
				if resp.StatusCode != c.status || resp.Header.Get("X-ClickHouse-Exception-Code") != c.code {
					t.Fatalf("%s: %d code %q: %s", method, resp.StatusCode, resp.Header.Get("X-ClickHouse-Exception-Code"), text)
				}
				if strings.Contains(text, password) {
					t.Fatalf("the answer shows the password: %s", text)
				}
			}
		})
	}
	// clickhouse-go without the password gets a typed error.
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chtest.Server(t).Addr()}, Protocol: clickhouse.HTTP})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Ping(context.Background()); err == nil {
		t.Fatal("a client without the password was let in")
	}
}

func basic(user, password string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, password)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// The DSN that names the password file works for a client that is not in
// the server's process (here: one that only knows the DSN).
func TestShareableDSNReadsThePasswordFile(t *testing.T) {
	srv := chtest.Server(t)
	dsn := srv.ShareableDSN()
	if !strings.Contains(dsn, "password_file=") || srv.PasswordFile() == "" {
		t.Fatalf("ShareableDSN %q does not name the password file", dsn)
	}
	_, password := chtest.Credentials(t)
	if strings.Contains(dsn, password) {
		t.Fatal("ShareableDSN holds the password")
	}
	if st, err := os.Stat(srv.PasswordFile()); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v, want mode 0600", st, err)
	}
	conn, err := storage.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint8
	if err := conn.QueryRow(context.Background(), "SELECT 7").Scan(&n); err != nil || n != 7 {
		t.Fatalf("query through the password_file DSN: %v", err)
	}
}

// A data folder whose password file is empty is refused with a message
// saying what to do, before the engine opens.
func TestEmptyPasswordFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, embedded.PasswordFileName), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := embedded.Start(embedded.Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), "is empty") || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("Start with an empty password file: %v", err)
	}
	cfg := embedded.Config{DataDir: dir, Listen: "0.0.0.0:0"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--allow-remote") {
		t.Fatalf("a non-loopback address without --allow-remote: %v", err)
	}
}

// GET runs read-only statements only, as ClickHouse's HTTP interface does;
// the statements it refuses change nothing.
func TestGetIsReadOnly(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE kv (k String) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO kv VALUES ('a'), ('b')"); err != nil {
		t.Fatal(err)
	}
	get := func(sql string) (*http.Response, string) {
		return curlish(t, http.MethodGet, "database="+db+"&query="+url.QueryEscape(sql), nil, nil)
	}
	for _, sql := range []string{
		"INSERT INTO kv VALUES ('c')",
		"INSERT INTO kv SELECT 'd'",
		"DROP TABLE kv",
		"TRUNCATE TABLE kv",
		"ALTER TABLE kv DELETE WHERE 1",
		"ALTER TABLE kv UPDATE k = 'x' WHERE 1",
		"DELETE FROM kv WHERE 1",
		"RENAME TABLE kv TO kv2",
		"CREATE TABLE other (k String) ENGINE = Memory",
		"OPTIMIZE TABLE kv FINAL",
		"SYSTEM STOP MERGES",
		"KILL QUERY WHERE 1",
		"  -- a comment first\n/* and another */ DROP TABLE kv",
		"(((DROP TABLE kv)))",
	} {
		resp, body := get(sql)
		if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-ClickHouse-Exception-Code") != "164" || !strings.Contains(body, "readonly") {
			t.Errorf("GET %q: %d %s", sql, resp.StatusCode, body)
		}
	}
	// Other methods that carry the statement in the URL are read-only too.
	for _, method := range []string{http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		resp, body := curlish(t, method, "database="+db+"&query="+url.QueryEscape("DROP TABLE kv"), nil, nil)
		if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-ClickHouse-Exception-Code") != "164" {
			t.Errorf("%s with DROP TABLE: %d %s", method, resp.StatusCode, body)
		}
	}
	// A second statement after a read is refused too (one statement per
	// request, as in ClickHouse).
	if resp, body := get("SELECT 1; DROP TABLE kv"); resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-ClickHouse-Exception-Code") != "62" {
		t.Errorf("GET with a second statement: %d %s", resp.StatusCode, body)
	}
	for sql, want := range map[string]string{
		"SELECT count() FROM kv":  "2\n",
		"WITH 1 AS x SELECT x":    "1\n",
		"(SELECT 2)":              "2\n",
		"SHOW TABLES":             "kv\n",
		"EXISTS TABLE kv":         "1\n",
		"DESCRIBE TABLE kv":       "k\tString\t\t\t\t\t\n",
		"SET max_threads = 1":     "",
		"EXPLAIN SYNTAX SELECT 1": "SELECT 1\nFROM system.one\n",
		"select /* lower case, comments */ count() from kv": "2\n",
	} {
		if resp, body := get(sql); resp.StatusCode != http.StatusOK || body != want {
			t.Errorf("GET %q: %d %q, want %q", sql, resp.StatusCode, body, want)
		}
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM kv").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after refused GETs: %d rows, %v", n, err)
	}
	if err := conn.Exec(ctx, "INSERT INTO kv VALUES ('c')"); err != nil {
		t.Fatalf("POST still writes: %v", err)
	}
}

// Requests a browser makes on behalf of a web page are refused before
// anything runs, even with the right credentials; so is a Host that is not
// this machine (DNS rebinding).
func TestCrossSiteRequestsAreRefused(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE kv (k String) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO kv VALUES ('a')"); err != nil {
		t.Fatal(err)
	}
	port := chtest.Server(t).Addr()[strings.LastIndex(chtest.Server(t).Addr(), ":"):]
	drop := strings.NewReader("DROP TABLE " + db + ".kv")
	for name, header := range map[string]http.Header{
		"a form post from another site":   {"Origin": {"https://evil.example"}, "Content-Type": {"text/plain"}},
		"a fetch with Origin: null":       {"Origin": {"null"}},
		"an image from another site":      {"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}},
		"a request from a sibling site":   {"Sec-Fetch-Site": {"same-site"}},
		"a DNS-rebinding page":            {"Host": {"evil.example" + port}},
		"a rebinding page without a port": {"Host": {"rebind.evil.example"}},
		"localhost with a trailing dot":   {"Host": {"localhost." + port}},
	} {
		for _, path := range []string{"", "ping"} {
			req, err := http.NewRequest(http.MethodPost, "http://"+chtest.Server(t).Addr()+"/"+path, drop)
			if err != nil {
				t.Fatal(err)
			}
			req.SetBasicAuth(chtest.Credentials(t))
			for k, v := range header {
				if k == "Host" {
					req.Host = v[0]
					continue
				}
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-ClickHouse-Exception-Code") != "497" {
				t.Errorf("%s to /%s: %d %s", name, path, resp.StatusCode, body)
			}
		}
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM kv").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after the refused requests: %d rows, %v", n, err)
	}
	// What clients and the user's own browser tab send is served.
	for name, header := range map[string]http.Header{
		"curl":                         nil,
		"a tab the user typed the URL": {"Sec-Fetch-Site": {"none"}},
		"same origin":                  {"Sec-Fetch-Site": {"same-origin"}},
		"localhost":                    {"Host": {"localhost" + port}},
		"LOCALHOST without a port":     {"Host": {"LOCALHOST"}},
		"IPv6 loopback":                {"Host": {"[::1]" + port}},
		"another port (a tunnel)":      {"Host": {"127.0.0.1:9999"}},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+chtest.Server(t).Addr()+"/", strings.NewReader("SELECT 1"))
		req.SetBasicAuth(chtest.Credentials(t))
		for k, v := range header {
			if k == "Host" {
				req.Host = v[0]
				continue
			}
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "1\n" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
}

// guardCases are client statements that would read or write files, run
// programs or reach the network; {c} is the canary file, {dir} its folder.
// Each is refused, whatever its spelling.
var guardCases = []string{
	"SELECT * FROM file('{c}', 'LineAsString')",
	"SELECT * FROM FILE ('{c}', 'LineAsString')",
	"SELECT * FROM `file`('{c}', 'LineAsString')",
	`SELECT * FROM "file"('{c}', 'LineAsString')`,
	"SELECT * FROM \u201cfile\u201d('{c}', 'LineAsString')",
	"SELECT * FROM `fi\\x6ce`('{c}', 'LineAsString')",
	"SELECT * FROM `fil\\e`('{c}', 'LineAsString')",
	"SELECT * FROM file/**/('{c}', 'LineAsString')",
	"SELECT * FROM file /* a /* nested */ comment */ ('{c}', 'LineAsString')",
	"SELECT * FROM file -- a comment\n('{c}', 'LineAsString')",
	"SELECT * FROM file // a comment\n('{c}', 'LineAsString')",
	"SELECT * FROM file # a comment\n('{c}', 'LineAsString')",
	"SELECT * FROM file\u00a0('{c}', 'LineAsString')",
	"SELECT * FROM file\t\r\n('{c}', 'LineAsString')",
	"SELECT file('{c}')",
	"SELECT lower(file('{c}'))",
	"SELECT * FROM (SELECT * FROM file('{c}', 'LineAsString'))",
	"SELECT $x$ $x$, file('{c}')",
	"SELECT 1$a$ '$a$, file('{c}') -- '",
	"SELECT ‘not a string’, file('{c}')",
	"DESCRIBE TABLE file('{c}', 'LineAsString')",
	"EXPLAIN SELECT * FROM file('{c}', 'LineAsString')",
	"SELECT * FROM format(Values, 's String', '(file(''{c}''))')",
	"SELECT * FROM format(Values, 's String', '(fi\\x6ce(''{c}''))')",
	"SELECT * FROM format(Values, 's String', '(format(Values, ''s String'', ''(file(''''{c}''''))''))')",
	"SELECT * FROM format(CSV, 's String DEFAULT file(''{c}''), t String', ',x') SETTINGS input_format_csv_empty_as_default = 1",
	"SELECT * FROM values('s String DEFAULT file(''{c}'')', ('x'))",
	"SELECT * FROM numbers(1) SETTINGS additional_result_filter = 'file(''{c}'') != '''''",
	"SELECT * FROM numbers(1) SETTINGS additional_table_filters = {'numbers': 'file(''{c}'') != '''''}",
	"SELECT 1 FORMAT Template SETTINGS format_template_resultset = '{c}'",
	"SELECT 1 SETTINGS dialect = 'prql'",
	"SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')",
	"SELECT * FROM s3('http://127.0.0.1:1/bucket/key', 'CSV')",
	"SELECT * FROM remote('127.0.0.1:1', system.one)",
	"SELECT * FROM remoteSecure('127.0.0.1:1', system.one)",
	"SELECT * FROM cluster('default', system.one)",
	"SELECT * FROM executable('cat', 'LineAsString', 's String')",
	"SELECT * FROM filesystem('{dir}')",
	"SELECT * FROM icebergLocal('{dir}')",
	"SELECT * FROM deltaLakeLocal('{dir}')",
	"SELECT * FROM mysql('127.0.0.1:1', 'db', 't', 'u', 'p')",
	"SELECT * FROM postgresql('127.0.0.1:1', 'db', 't', 'u', 'p')",
	"SELECT * FROM sqlite('{dir}/x.db', 't')",
	"SELECT * FROM hdfs('hdfs://127.0.0.1:1/x', 'CSV')",
	"SELECT catboostEvaluate('{c}', 1)",
	"SELECT 1 INTO OUTFILE '{dir}/out.txt'",
	"SELECT 1 INTO /* sneaky */ OUTFILE '{dir}/out.txt' FORMAT CSV",
	"INSERT INTO FUNCTION file('{dir}/written.txt', 'LineAsString') VALUES ('x')",
	"INSERT INTO TABLE FUNCTION file('{dir}/written.txt', 'LineAsString') VALUES ('x')",
	"INSERT INTO lines FROM INFILE '{c}' FORMAT LineAsString",
	"INSERT INTO lines VALUES (file('{c}'))",
	"INSERT INTO lines SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')",
	"CREATE TABLE leak (s String) ENGINE = File(LineAsString, '{c}')",
	"CREATE TABLE leak (s String) ENGINE = URL('http://127.0.0.1:1/', LineAsString)",
	"CREATE TABLE leak (s String) ENGINE = `URL`('http://127.0.0.1:1/', LineAsString)",
	"CREATE TABLE leak (s String) ENGINE = Kafka SETTINGS kafka_broker_list = '127.0.0.1:1', kafka_topic_list = 't', kafka_group_name = 'g', kafka_format = 'CSV'",
	"CREATE TABLE leak (s String) ENGINE = EmbeddedRocksDB(0, '{dir}/rocks') PRIMARY KEY s",
	"CREATE TABLE leak (s String DEFAULT file('{c}')) ENGINE = Memory",
	"CREATE TABLE leak ENGINE = Memory AS SELECT * FROM file('{c}', 'LineAsString')",
	"CREATE TABLE leak AS file('{c}', 'LineAsString')",
	"CREATE TABLE leak (s String) ENGINE = MergeTree ORDER BY s SETTINGS disk = disk(type = 'local', path = '{dir}/disk/')",
	"CREATE TABLE leak (s String) SETTINGS default_table_engine = 'File'",
	"CREATE DATABASE leak ENGINE = Filesystem('{dir}')",
	"CREATE DATABASE leak ENGINE = SQLite('{dir}/x.db')",
	"CREATE VIEW leak AS SELECT * FROM file('{c}', 'LineAsString')",
	"CREATE FUNCTION leak AS () -> file('{c}')",
	"CREATE DICTIONARY leak (line String) PRIMARY KEY line SOURCE(FILE(path '{c}' format 'LineAsString')) LAYOUT(FLAT()) LIFETIME(0)",
	"CREATE DICTIONARY leak (line String) PRIMARY KEY line SOURCE(EXECUTABLE(command 'cat' format 'LineAsString')) LAYOUT(FLAT()) LIFETIME(0)",
	"CREATE DICTIONARY leak (line String) PRIMARY KEY line SOURCE(HTTP(url 'http://127.0.0.1:1/' format 'LineAsString')) LAYOUT(FLAT()) LIFETIME(0)",
	"CREATE DICTIONARY leak (line String) PRIMARY KEY line SOURCE(CLICKHOUSE(HOST '127.0.0.1' PORT 1 TABLE 'lines')) LAYOUT(FLAT()) LIFETIME(0)",
	"CREATE DICTIONARY leak (line String) PRIMARY KEY line SOURCE(CLICKHOUSE(QUERY 'SELECT * FROM file(''{c}'', ''LineAsString'')')) LAYOUT(FLAT()) LIFETIME(0)",
	"ATTACH TABLE leak FROM '{dir}' (s String) ENGINE = MergeTree ORDER BY s",
	"BACKUP TABLE lines TO File('{dir}/backup')",
	"RESTORE TABLE lines FROM File('{dir}/backup')",
	"SYSTEM ENABLE FAILPOINT dummy_failpoint",
	"SYSTEM SHUTDOWN",
	"SELECT 1; SELECT * FROM file('{c}', 'LineAsString')",
	"SELECT 1 /* ; */; DROP TABLE lines",
}

// TestGuardRefusesFileNetworkAndProgramAccess sends each guard case
// through the server: each is refused with ACCESS_DENIED (or, for a second
// statement, SYNTAX_ERROR), the canary is never read and nothing is
// written or created.
func TestGuardRefusesFileNetworkAndProgramAccess(t *testing.T) {
	dir, path, secret := canary(t)
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE lines (s String) ENGINE = MergeTree ORDER BY s"); err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range guardCases {
		sql := strings.NewReplacer("{c}", path, "{dir}", dir).Replace(tmpl)
		resp, body := curlish(t, http.MethodPost, "database="+db, strings.NewReader(sql), nil)
		code := resp.Header.Get("X-ClickHouse-Exception-Code")
		refused := resp.StatusCode == http.StatusForbidden && code == "497" ||
			resp.StatusCode == http.StatusBadRequest && code == "62" && strings.Contains(body, "Multi-statements")
		if !refused || strings.Contains(body, secret) {
			t.Errorf("not refused: %q\n  -> %d %s", sql, resp.StatusCode, body)
		}
	}
	// A parameter may not carry SQL into format(), nor a URL setting a
	// file name or a filter.
	for _, q := range []string{
		"param_d=" + url.QueryEscape("(file('"+path+"'))") + "&query=" + url.QueryEscape("SELECT * FROM format(Values, 's String', {d:String})"),
		"default_format=Template&format_template_resultset=" + url.QueryEscape(path) + "&query=SELECT+1",
		"additional_result_filter=" + url.QueryEscape("file('"+path+"') != ''") + "&query=SELECT+1",
		"additional_table_filters=" + url.QueryEscape("{'numbers': 'file(''"+path+"'') != '''''}") + "&query=" + url.QueryEscape("SELECT * FROM numbers(1)"),
		"dialect=prql&query=" + url.QueryEscape("from numbers"),
	} {
		resp, body := curlish(t, http.MethodPost, "database="+db+"&"+q, nil, nil)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-ClickHouse-Exception-Code") != "497" || strings.Contains(body, secret) {
			t.Errorf("not refused: ?%s\n  -> %d %s", q, resp.StatusCode, body)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the refused statements wrote into %s: %v", dir, entries)
	}
	tables := chtest.Strings(t, conn, "SELECT name FROM system.tables WHERE database = {db:String}", clickhouse.Named("db", db))
	if len(tables) != 1 || tables[0] != "lines" {
		t.Errorf("the refused statements changed the tables: %v", tables)
	}
	var databases uint64
	conn.QueryRow(ctx, "SELECT count() FROM system.databases WHERE name = 'leak'").Scan(&databases)
	if databases != 0 {
		t.Error("a refused statement created a database")
	}
}

// Without the guard the engine would do it: the canary is readable by the
// engine itself, so the refusals above are the guard's doing.
func TestEngineWouldReadTheCanary(t *testing.T) {
	_, path, secret := canary(t)
	out, err := chtest.Server(t).Engine().Query("SELECT * FROM file('"+path+"', 'LineAsString')", "TabSeparated")
	if err != nil || !strings.Contains(string(out), secret) {
		t.Fatalf("the engine did not read the canary (%v): the guard test would prove nothing", err)
	}
}

// Statements that only mention the refused names (in strings, comments,
// as column or table names) run.
func TestGuardLetsMentionsThrough(t *testing.T) {
	db := chtest.NewDatabase(t)
	for _, sql := range []string{
		"SELECT 'file(''/etc/passwd'')', 'url(x)', 'INTO OUTFILE'",
		"SELECT 'SELECT * FROM file(''/etc/passwd'')' AS q",
		"SELECT 1 -- file('/etc/passwd')",
		"SELECT 1 /* url('http://127.0.0.1:1/') */",
		"SELECT $$ file('/etc/passwd') $$",
		"SELECT count() FROM system.functions WHERE name IN ('file', 'url', 's3')",
		"SELECT URLHash('http://x'), icebergHash(1), filesystemAvailable() > 0",
		"SELECT 1 AS file",
		"WITH 1 AS url SELECT url",
		"CREATE TABLE url (file String, s3 String, engine String) ENGINE = Memory",
		"INSERT INTO url (file, s3, engine) VALUES ('file(x)', 'url(y)', 'File')",
		"INSERT INTO TABLE url (file) SELECT 'z'",
		"SELECT file, s3 FROM url WHERE engine = 'File' OR file LIKE '%file(%'",
		"CREATE TABLE IF NOT EXISTS remote (x UInt8) ENGINE = MergeTree ORDER BY x SETTINGS index_granularity = 8192",
		"CREATE MATERIALIZED VIEW mv TO remote (x UInt8) AS SELECT toUInt8(length(file)) AS x FROM url",
		"CREATE DICTIONARY d (file String) PRIMARY KEY file SOURCE(CLICKHOUSE(TABLE 'url' DB '" + db + "')) LAYOUT(HASHED()) LIFETIME(0)",
		"SELECT * FROM format(Values, 's String', '(''file(x)'')')",
		"SELECT * FROM numbers(3) SETTINGS max_threads = 1, additional_result_filter = 'number > 0'",
		"SYSTEM FLUSH LOGS",
		"SYSTEM DROP MARK CACHE",
		"SELECT 1;",
	} {
		resp, body := curlish(t, http.MethodPost, "database="+db, strings.NewReader(sql), nil)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("refused: %q\n  -> %d %s", sql, resp.StatusCode, body)
		}
	}
}

// Values data is SQL the engine evaluates: data streamed in the body is
// checked like a statement; strings in it are data.
func TestValuesDataIsGuarded(t *testing.T) {
	_, path, secret := canary(t)
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE lines (s String) ENGINE = MergeTree ORDER BY s"); err != nil {
		t.Fatal(err)
	}
	insert := "database=" + db + "&query=" + url.QueryEscape("INSERT INTO lines FORMAT Values")
	for _, data := range []string{
		"(file('" + path + "'))",
		"('a'), (lower(file('" + path + "')))",
		// Past the 64 KiB the server reads whole: spooled, then checked.
		strings.Repeat("('padding'), ", 10000) + "(file('" + path + "'))",
	} {
		resp, body := curlish(t, http.MethodPost, insert, strings.NewReader(data), nil)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(body, secret) {
			t.Errorf("Values data with file(): %d %s", resp.StatusCode, truncate(body))
		}
		// The same with the statement at the head of the body.
		resp, body = curlish(t, http.MethodPost, "database="+db, strings.NewReader("INSERT INTO lines FORMAT Values\n"+data), nil)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(body, secret) {
			t.Errorf("Values data after the statement with file(): %d %s", resp.StatusCode, truncate(body))
		}
	}
	resp, body := curlish(t, http.MethodPost, insert, strings.NewReader("('file(x)'), ('url(y)')"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Values data mentioning file(): %d %s", resp.StatusCode, body)
	}
	// CSV data is never parsed as SQL: it may hold anything.
	resp, body = curlish(t, http.MethodPost, "database="+db, strings.NewReader("INSERT INTO lines FORMAT CSV\n\"file('"+path+"')\"\n"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("CSV data mentioning file(): %d %s", resp.StatusCode, body)
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT countIf(s LIKE '%canary%'), count() FROM lines").Scan(&n, new(uint64)); err != nil || n != 0 {
		t.Fatalf("the canary reached the table: %d rows, %v", n, err)
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// TestDecompressedSizeIsCapped sends bodies that are small compressed and
// larger than the limit decompressed, in every encoding the server reads:
// each is answered 413 and stores nothing.
func TestDecompressedSizeIsCapped(t *testing.T) {
	limit := chtest.Server(t).MaxRequestBytes()
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE blobs (b String) ENGINE = MergeTree ORDER BY tuple()"); err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte{'a'}, int(limit)+1<<20)
	insert := "database=" + db + "&query=" + url.QueryEscape("INSERT INTO blobs FORMAT RawBLOB")

	var gz, zl, br bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	gw.Write(plain)
	gw.Close()
	zw, _ := zlib.NewWriterLevel(&zl, zlib.BestCompression)
	zw.Write(plain)
	zw.Close()
	bw := brotli.NewWriterLevel(&br, brotli.BestSpeed)
	bw.Write(plain)
	bw.Close()
	ze, _ := zstd.NewWriter(nil)
	zs := ze.EncodeAll(plain, nil)
	cases := []struct {
		name, query string
		body        []byte
		encoding    string
	}{
		{"gzip", insert, gz.Bytes(), "gzip"},
		{"deflate", insert, zl.Bytes(), "deflate"},
		{"br", insert, br.Bytes(), "br"},
		{"zstd", insert, zs, "zstd"},
		{"LZ4 frames", insert + "&decompress=1", frames(t, compress.LZ4, plain), ""},
		{"ZSTD frames", insert + "&decompress=1", frames(t, compress.ZSTD, plain), ""},
		{"ZSTD frames in gzip", insert + "&decompress=1", gzipped(frames(t, compress.ZSTD, plain)), "gzip"},
		{"one frame claiming more than the limit", insert + "&decompress=1", lyingFrame(uint32(limit) + 1), ""},
		// The writer's shape: the statement in the first frame.
		{"ZSTD frames holding the statement", "database=" + db + "&decompress=1",
			frames(t, compress.ZSTD, append([]byte("INSERT INTO blobs FORMAT RawBLOB\n"), plain...)), ""},
		// SQL text is read whole, so it has a cap of its own, far lower.
		{"a query body", "", gz.Bytes(), "gzip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if int64(len(c.body)) >= limit {
				t.Fatalf("the compressed body (%d bytes) is not under the limit", len(c.body))
			}
			header := http.Header{}
			if c.encoding != "" {
				header.Set("Content-Encoding", c.encoding)
			}
			resp, body := curlish(t, http.MethodPost, c.query, bytes.NewReader(c.body), header)
			want := "decompresses to more than the limit"
			if c.query == "" {
				want = "statement longer than"
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, want) {
				t.Fatalf("%d bytes that decompress past the limit: %d %s", len(c.body), resp.StatusCode, truncate(body))
			}
		})
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM blobs").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused body stored %d rows (%v)", n, err)
	}
	// Under the limit, every encoding still works.
	small := plain[:1<<20]
	var sg bytes.Buffer
	w := gzip.NewWriter(&sg)
	w.Write(small)
	w.Close()
	for name, c := range map[string]struct {
		query, encoding string
		body            []byte
	}{
		"gzip": {insert, "gzip", sg.Bytes()}, "LZ4 frames": {insert + "&decompress=1", "", frames(t, compress.LZ4, small)},
		"ZSTD frames": {insert + "&decompress=1", "", frames(t, compress.ZSTD, small)},
	} {
		header := http.Header{}
		if c.encoding != "" {
			header.Set("Content-Encoding", c.encoding)
		}
		if resp, body := curlish(t, http.MethodPost, c.query, bytes.NewReader(c.body), header); resp.StatusCode != http.StatusOK {
			t.Errorf("%s under the limit: %d %s", name, resp.StatusCode, body)
		}
	}
	if err := conn.QueryRow(ctx, "SELECT count() FROM blobs WHERE length(b) = 1048576").Scan(&n); err != nil || n != 3 {
		t.Fatalf("under the limit: %d blobs stored, want 3 (%v)", n, err)
	}
}

// frames cuts data into ClickHouse compression frames of 1 MiB.
func frames(t *testing.T, method compress.Method, data []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := compress.NewWriter(compress.LevelZero, method)
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		if err := w.Compress(data[:n]); err != nil {
			t.Fatal(err)
		}
		out.Write(w.Data)
		data = data[n:]
	}
	return out.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// lyingFrame is a frame header claiming dataSize decompressed bytes and
// carrying almost nothing: the server must refuse it before allocating.
func lyingFrame(dataSize uint32) []byte {
	h := make([]byte, 25+4)
	h[16] = 0x90 // ZSTD
	h[17], h[18], h[19], h[20] = 9+4, 0, 0, 0
	h[21], h[22], h[23], h[24] = byte(dataSize), byte(dataSize>>8), byte(dataSize>>16), byte(dataSize>>24)
	return h
}

// TestEveryEngineTableFunctionIsClassified lists the engine's table
// functions, table engines and database engines: each one is either
// refused by the guard or in the allowed lists below, which name the ones
// that reach neither files nor the network. A new engine version that adds
// one fails here until it is classified.
func TestEveryEngineTableFunctionIsClassified(t *testing.T) {
	allowedFunctions := setOf("SQLStandardValues", "arrowstream", "dictionary", "format", "fuzzJSON", "fuzzQuery",
		"generateRandom", "generateSeries", "generate_series", "input", "loop", "merge", "mergeTreeAnalyzeIndexes",
		"mergeTreeAnalyzeIndexesUUID", "mergeTreeIndex", "mergeTreeProjection", "mergeTreeTextIndex", "null", "numbers",
		"numbers_mt", "primes", "prometheusQuery", "prometheusQueryRange", "timeSeriesData", "timeSeriesMetrics",
		"timeSeriesSelector", "timeSeriesTags", "values", "view", "viewExplain", "viewIfPermitted", "zeros", "zeros_mt")
	allowedEngines := setOf("AggregatingMergeTree", "Alias", "ArrowStream", "Buffer", "CoalescingMergeTree",
		"CollapsingMergeTree", "Dictionary", "Distributed", "FuzzJSON", "FuzzQuery", "GenerateRandom", "GraphiteMergeTree",
		"Join", "KeeperMap", "Log", "Loop", "MaterializedView", "Memory", "Merge", "MergeTree", "Null",
		"ReplacingMergeTree", "ReplicatedAggregatingMergeTree", "ReplicatedCoalescingMergeTree",
		"ReplicatedCollapsingMergeTree", "ReplicatedGraphiteMergeTree", "ReplicatedMergeTree",
		"ReplicatedReplacingMergeTree", "ReplicatedSummingMergeTree", "ReplicatedVersionedCollapsingMergeTree", "Set",
		"StripeLog", "SummingMergeTree", "TimeSeries", "TinyLog", "VersionedCollapsingMergeTree", "View", "WindowView",
		// database engines
		"Atomic", "Ordinary", "Memory", "Dictionary", "Replicated", "Lazy", "Overlay")
	conn := chtest.Conn(t)
	names := func(sql string) []string { return chtest.Strings(t, conn, sql) }
	functions := names("SELECT name FROM system.table_functions")
	if len(functions) < 50 {
		t.Fatalf("only %d table functions listed", len(functions))
	}
	for _, name := range functions {
		err := embedded.CheckStatement(fmt.Sprintf("SELECT * FROM %s('x')", name), false)
		if allowedFunctions[strings.ToLower(name)] != (err == nil) {
			t.Errorf("table function %s: allowed list says %v, guard says %v", name, allowedFunctions[strings.ToLower(name)], err)
		}
	}
	for _, name := range append(names("SELECT name FROM system.table_engines"), names("SELECT name FROM system.database_engines")...) {
		err := embedded.CheckStatement(fmt.Sprintf("CREATE TABLE t (x String) ENGINE = %s", name), false)
		if allowedEngines[strings.ToLower(name)] != (err == nil) {
			t.Errorf("engine %s: allowed list says %v, guard says %v", name, allowedEngines[strings.ToLower(name)], err)
		}
	}
}

func setOf(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[strings.ToLower(n)] = true
	}
	return m
}

// TestStatementSizeIsCapped: SQL text, which is read whole, is capped far
// below the body limit, while insert data after "INSERT … FORMAT" in a
// compressed body is still streamed past that cap.
func TestStatementSizeIsCapped(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE blobs (b String) ENGINE = MergeTree ORDER BY tuple()"); err != nil {
		t.Fatal(err)
	}
	long := "SELECT 1 -- " + strings.Repeat("x", 16<<20)
	resp, body := curlish(t, http.MethodPost, "", strings.NewReader(long), http.Header{})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "statement longer than") {
		t.Errorf("a statement of %d bytes: %d %s", len(long), resp.StatusCode, truncate(body))
	}
	// (The engine's own max_query_size, 256 KiB, bounds what it parses.)
	resp, body = curlish(t, http.MethodPost, "", strings.NewReader("SELECT length('"+strings.Repeat("a", 200<<10)+"')"), http.Header{})
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != "204800" {
		t.Errorf("a statement of 200 KiB: %d %s", resp.StatusCode, truncate(body))
	}
	// 20 MiB of insert data in 20 KB of gzip, statement at the head of the body.
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte("INSERT INTO " + db + ".blobs FORMAT RawBLOB\n"))
	w.Write(bytes.Repeat([]byte{'a'}, 20<<20))
	w.Close()
	resp, body = curlish(t, http.MethodPost, "", &gz, http.Header{"Content-Encoding": {"gzip"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a compressed insert of 20 MiB: %d %s", resp.StatusCode, truncate(body))
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT length(b) FROM blobs").Scan(&n); err != nil || n != 20<<20 {
		t.Errorf("the compressed insert stored %d bytes (%v), want %d", n, err, 20<<20)
	}
}
