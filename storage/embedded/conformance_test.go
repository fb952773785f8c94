package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage/chtest"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childDataEnv); dir != "" {
		os.Exit(runChildServer(dir))
	}
	chtest.Main(m)
}

// auth is the engine's credentials for database db.
func auth(t *testing.T, db string) clickhouse.Auth {
	user, password := chtest.Credentials(t)
	return clickhouse.Auth{Database: db, Username: user, Password: password}
}

// open connects through clickhouse-go's HTTP protocol with a compression mode.
func open(t *testing.T, db string, method clickhouse.CompressionMethod) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{chtest.Server(t).Addr()},
		Protocol:    clickhouse.HTTP,
		Auth:        auth(t, db),
		Compression: &clickhouse.Compression{Method: method},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Ping(context.Background()); err != nil {
		t.Fatalf("ping with %v: %v", method, err)
	}
	return conn
}

const spanShapedTable = `CREATE TABLE spans (
	Timestamp DateTime64(9),
	TraceId FixedString(16),
	ServiceName LowCardinality(String),
	Kind Enum8('unspecified' = 0, 'server' = 2, 'client' = 3),
	Duration UInt64,
	Ratio Float64,
	Ok Bool,
	Attrs Map(LowCardinality(String), String),
	IntAttrs Map(LowCardinality(String), Int64),
	Tags Array(String),
	Events Nested(Time DateTime64(9), Name LowCardinality(String)),
	Note Nullable(String)
) ENGINE = MergeTree ORDER BY (ServiceName, Timestamp)`

type spanRow struct {
	Timestamp   time.Time
	TraceID     string
	ServiceName string
	Kind        string
	Duration    uint64
	Ratio       float64
	Ok          bool
	Attrs       map[string]string
	IntAttrs    map[string]int64
	Tags        []string
	EventTimes  []time.Time
	EventNames  []string
	Note        *string
}

func sampleRows(n int, base time.Time) []spanRow {
	rows := make([]spanRow, n)
	for i := range rows {
		note := fmt.Sprintf("note %d", i)
		rows[i] = spanRow{
			Timestamp:   base.Add(time.Duration(i) * time.Nanosecond * 1001),
			TraceID:     fmt.Sprintf("%016d", i),
			ServiceName: []string{"gateway", "auth", "order"}[i%3],
			Kind:        []string{"server", "client"}[i%2],
			Duration:    uint64(i) * 1000,
			Ratio:       float64(i) / 3,
			Ok:          i%2 == 0,
			Attrs:       map[string]string{"http.route": "/api/x", "blank\n\nline": "a\n\nb"},
			IntAttrs:    map[string]int64{"http.status_code": 200 + int64(i%3)},
			Tags:        []string{"t1", fmt.Sprint(i)},
			EventTimes:  []time.Time{base, base.Add(time.Microsecond)},
			EventNames:  []string{"start", "end"},
			Note:        &note,
		}
		if i%5 == 0 {
			rows[i].Note = nil
		}
	}
	return rows
}

func insertRows(t *testing.T, conn driver.Conn, rows []spanRow) {
	t.Helper()
	ctx := context.Background()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO spans")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := batch.Append(r.Timestamp, r.TraceID, r.ServiceName, r.Kind, r.Duration, r.Ratio, r.Ok,
			r.Attrs, r.IntAttrs, r.Tags, r.EventTimes, r.EventNames, r.Note); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

func readRows(t *testing.T, conn driver.Conn) []spanRow {
	t.Helper()
	rs, err := conn.Query(context.Background(), `SELECT Timestamp, TraceId, ServiceName, Kind, Duration, Ratio, Ok,
		Attrs, IntAttrs, Tags, Events.Time, Events.Name, Note FROM spans ORDER BY Duration`)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []spanRow
	for rs.Next() {
		var r spanRow
		if err := rs.Scan(&r.Timestamp, &r.TraceID, &r.ServiceName, &r.Kind, &r.Duration, &r.Ratio, &r.Ok,
			&r.Attrs, &r.IntAttrs, &r.Tags, &r.EventTimes, &r.EventNames, &r.Note); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestColumnTypesRoundTripInEveryCompressionMode(t *testing.T) {
	modes := []clickhouse.CompressionMethod{clickhouse.CompressionNone, clickhouse.CompressionLZ4,
		clickhouse.CompressionZSTD, clickhouse.CompressionGZIP, clickhouse.CompressionDeflate, clickhouse.CompressionBrotli}
	base := time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			db := chtest.NewDatabase(t)
			conn := open(t, db, mode)
			if err := conn.Exec(context.Background(), spanShapedTable); err != nil {
				t.Fatal(err)
			}
			want := sampleRows(300, base)
			insertRows(t, conn, want)
			got := readRows(t, conn)
			if len(got) != len(want) {
				t.Fatalf("read %d rows, wrote %d", len(got), len(want))
			}
			for i := range want {
				w, g := want[i], got[i]
				if !w.Timestamp.Equal(g.Timestamp) || w.TraceID != g.TraceID || w.ServiceName != g.ServiceName ||
					w.Kind != g.Kind || w.Duration != g.Duration || w.Ratio != g.Ratio || w.Ok != g.Ok ||
					fmt.Sprint(w.Attrs) != fmt.Sprint(g.Attrs) || fmt.Sprint(w.IntAttrs) != fmt.Sprint(g.IntAttrs) ||
					fmt.Sprint(w.Tags) != fmt.Sprint(g.Tags) || len(g.EventTimes) != 2 || !g.EventTimes[1].Equal(w.EventTimes[1]) ||
					fmt.Sprint(w.EventNames) != fmt.Sprint(g.EventNames) || (w.Note == nil) != (g.Note == nil) ||
					(w.Note != nil && *w.Note != *g.Note) {
					t.Fatalf("row %d differs:\nwant %+v\ngot  %+v", i, w, g)
				}
			}
		})
	}
}

func TestQueryParametersAreBoundNotSpliced(t *testing.T) {
	conn := chtest.Conn(t)
	ctx := clickhouse.Context(context.Background(), clickhouse.WithParameters(clickhouse.Parameters{
		"name": "x'; DROP DATABASE default; --",
		"n":    "41",
	}))
	var s string
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT {name:String}, {n:UInt64} + 1").Scan(&s, &n); err != nil {
		t.Fatal(err)
	}
	if s != "x'; DROP DATABASE default; --" || n != 42 {
		t.Fatalf("got %q %d", s, n)
	}
	// Positional binding done by the driver also works.
	var echoed string
	if err := conn.QueryRow(context.Background(), "SELECT ?", "it's").Scan(&echoed); err != nil || echoed != "it's" {
		t.Fatalf("positional bind: %q %v", echoed, err)
	}
}

func TestPerQuerySettingsApplyAndReset(t *testing.T) {
	conn := chtest.Conn(t)
	ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{"max_threads": 3}))
	var v string
	if err := conn.QueryRow(ctx, "SELECT toString(getSetting('max_threads'))").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "3" {
		t.Fatalf("setting not applied: max_threads=%s", v)
	}
	if err := conn.QueryRow(context.Background(), "SELECT toString(getSetting('max_threads'))").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v == "3" {
		t.Fatal("setting leaked into the next query")
	}
	// A setting that stops a query comes back as the engine's error.
	ctx = clickhouse.Context(context.Background(), clickhouse.WithSettings(clickhouse.Settings{"max_result_rows": 10, "result_overflow_mode": "throw"}))
	err := conn.QueryRow(ctx, "SELECT number FROM numbers(1000)").Scan(new(uint64))
	assertException(t, err, 396)
}

// Requests whose settings differ switch the engine's one session in one
// statement (session.go); nothing of one request's settings may reach the
// next, also after a request whose settings the engine refuses.
func TestSessionSwitchesSettings(t *testing.T) {
	conn := chtest.Conn(t)
	read := func(settings clickhouse.Settings) (string, error) {
		ctx := clickhouse.Context(context.Background(), clickhouse.WithSettings(settings))
		var v string
		err := conn.QueryRow(ctx, "SELECT concat(toString(getSetting('max_threads')), ' ', toString(getSetting('max_result_rows')), ' ', toString(getSetting('max_block_size')))").Scan(&v)
		return v, err
	}
	defaults, err := read(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		settings clickhouse.Settings
		want     func() string
	}{
		{clickhouse.Settings{"max_threads": 3, "max_result_rows": 1000}, func() string { return "3 1000 " + strings.Fields(defaults)[2] }},
		{clickhouse.Settings{"max_block_size": 777}, func() string { f := strings.Fields(defaults); return f[0] + " " + f[1] + " 777" }},
		{clickhouse.Settings{"max_threads": 2, "max_result_rows": 5000, "max_block_size": 777}, func() string { return "2 5000 777" }},
		{nil, func() string { return defaults }},
	} {
		got, err := read(step.settings)
		if err != nil {
			t.Fatalf("%v: %v", step.settings, err)
		}
		if got != step.want() {
			t.Errorf("with %v the engine ran with %q (max_threads, max_result_rows, max_block_size), want %q", step.settings, got, step.want())
		}
	}
	if _, err := read(clickhouse.Settings{"max_threads": "bogus", "max_block_size": 5, "max_result_rows": 7}); err == nil {
		t.Error("max_threads = bogus was accepted")
	}
	if got, err := read(nil); err != nil || got != defaults {
		t.Errorf("after a refused setting the next request ran with %q (%v), want the defaults %q", got, err, defaults)
	}
}

func assertException(t *testing.T, err error, code int32) {
	t.Helper()
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		t.Fatalf("want *clickhouse.Exception with code %d, got %T %v", code, err, err)
	}
	if ex.Code != code {
		t.Fatalf("want code %d, got %d: %s", code, ex.Code, ex.Message)
	}
}

func TestErrorsAreClickHouseExceptions(t *testing.T) {
	conn := chtest.Conn(t)
	ctx := context.Background()
	assertException(t, conn.Exec(ctx, "SELEC 1"), 62)
	_, err := conn.Query(ctx, "SELECT * FROM no_such_table_anywhere")
	assertException(t, err, 60)
	_, err = conn.Query(ctx, "SELECT throwIf(number = 3, 'boom') FROM numbers(10)")
	assertException(t, err, 395)
}

func TestDatabaseSQLThroughOpenDB(t *testing.T) {
	db := clickhouse.OpenDB(&clickhouse.Options{Addr: []string{chtest.Server(t).Addr()}, Protocol: clickhouse.HTTP, Auth: auth(t, "default")})
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count() FROM numbers(?)", 12345).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 12345 {
		t.Fatalf("count %d", n)
	}
	name := chtest.NewDatabase(t)
	if _, err := db.Exec("CREATE TABLE " + name + ".kv (k String, v Int64) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	stmt, err := tx.Prepare("INSERT INTO " + name + ".kv")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := stmt.Exec(fmt.Sprint("k", i), i); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var sum int64
	if err := db.QueryRow("SELECT sum(v) FROM " + name + ".kv").Scan(&sum); err != nil || sum != 45 {
		t.Fatalf("sum %d %v", sum, err)
	}
}

func TestConcurrentClientsInsertAndQuery(t *testing.T) {
	db := chtest.NewDatabase(t)
	setup := open(t, db, clickhouse.CompressionLZ4)
	if err := setup.Exec(context.Background(), spanShapedTable); err != nil {
		t.Fatal(err)
	}
	const writers, batches, perBatch = 4, 5, 200
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := 0; w < writers; w++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			conn := open(t, db, clickhouse.CompressionLZ4)
			for b := 0; b < batches; b++ {
				batch, err := conn.PrepareBatch(context.Background(), "INSERT INTO spans")
				if err != nil {
					errs <- err
					return
				}
				for _, r := range sampleRows(perBatch, base) {
					batch.Append(r.Timestamp, r.TraceID, r.ServiceName, r.Kind, r.Duration, r.Ratio, r.Ok,
						r.Attrs, r.IntAttrs, r.Tags, r.EventTimes, r.EventNames, r.Note)
				}
				if err := batch.Send(); err != nil {
					errs <- err
				}
			}
		}()
		go func() {
			defer wg.Done()
			conn := open(t, db, clickhouse.CompressionNone)
			for q := 0; q < 10; q++ {
				var n uint64
				if err := conn.QueryRow(context.Background(), "SELECT count() FROM spans WHERE ServiceName = {s:String}",
					clickhouse.Named("s", "auth")).Scan(&n); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n uint64
	if err := setup.QueryRow(context.Background(), "SELECT count() FROM spans").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != writers*batches*perBatch {
		t.Fatalf("stored %d rows, want %d", n, writers*batches*perBatch)
	}
}

// curlish sends a raw HTTP request to the server the way curl would, with
// the engine's credentials as basic auth unless header gives an
// Authorization or X-ClickHouse-User of its own.
func curlish(t *testing.T, method, rawQuery string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+chtest.Server(t).Addr()+"/?"+rawQuery, body)
	if err != nil {
		t.Fatal(err)
	}
	if header.Get("Authorization") == "" && header.Get("X-ClickHouse-User") == "" && header.Get("X-No-Auth") == "" {
		req.SetBasicAuth(chtest.Credentials(t))
	}
	for k, v := range header {
		if k != "X-No-Auth" {
			req.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestPlainHTTPUse(t *testing.T) {
	resp, body := curlish(t, http.MethodGet, "", nil, nil)
	if resp.StatusCode != 200 || body != "Ok.\n" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, body)
	}
	r, err := http.Get("http://" + chtest.Server(t).Addr() + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if string(b) != "Ok.\n" {
		t.Fatalf("/ping: %q", b)
	}
	_, body = curlish(t, http.MethodGet, "query="+url.QueryEscape("SELECT number, toString(number) AS s FROM numbers(2) FORMAT JSONEachRow"), nil, nil)
	if body != "{\"number\":0,\"s\":\"0\"}\n{\"number\":1,\"s\":\"1\"}\n" {
		t.Fatalf("JSONEachRow: %q", body)
	}
	_, body = curlish(t, http.MethodPost, "param_x=5", strings.NewReader("SELECT {x:UInt8} * 2"), nil)
	if body != "10\n" {
		t.Fatalf("POST body query with param: %q", body)
	}
	// An insert with JSON data in the body, blank lines included.
	db := chtest.NewDatabase(t)
	_, body = curlish(t, http.MethodPost, "database="+db, strings.NewReader("CREATE TABLE t (s String) ENGINE = MergeTree ORDER BY s"), nil)
	resp, body = curlish(t, http.MethodPost, "database="+db+"&query="+url.QueryEscape("INSERT INTO t FORMAT JSONEachRow"),
		strings.NewReader("{\"s\":\"a\"}\n\n{\"s\":\"b\\n\\nc\"}\n"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("insert: %d %s", resp.StatusCode, body)
	}
	resp, body = curlish(t, http.MethodPost, "database="+db, strings.NewReader("INSERT INTO t VALUES ('c'), ('d')"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("insert values: %d %s", resp.StatusCode, body)
	}
	_, body = curlish(t, http.MethodGet, "database="+db+"&query="+url.QueryEscape("SELECT count() FROM t"), nil, nil)
	if body != "4\n" {
		t.Fatalf("count after inserts: %q", body)
	}
	resp, body = curlish(t, http.MethodGet, "query="+url.QueryEscape("SELECT * FROM nope"), nil, nil)
	if resp.StatusCode != 500 || resp.Header.Get("X-ClickHouse-Exception-Code") != "60" || !strings.HasPrefix(body, "Code: 60. DB::Exception:") {
		t.Fatalf("error answer: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}

func TestLargeResultIsStreamed(t *testing.T) {
	conn := chtest.Conn(t)
	rows, err := conn.Query(context.Background(), "SELECT number, toString(number) FROM numbers(3000000)")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var count, sum uint64
	for rows.Next() {
		var n uint64
		var s string
		if err := rows.Scan(&n, &s); err != nil {
			t.Fatal(err)
		}
		count++
		sum += n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if count != 3000000 || sum != 3000000*2999999/2 {
		t.Fatalf("count %d sum %d", count, sum)
	}
	// The HTTP answer has no Content-Length: it is sent as it is produced.
	req, err := http.NewRequest(http.MethodGet, "http://"+chtest.Server(t).Addr()+"/?query="+url.QueryEscape("SELECT number FROM numbers(3000000)"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(chtest.Credentials(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
		t.Fatalf("large result was buffered: Content-Length %d", resp.ContentLength)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	if n < 3000000 {
		t.Fatalf("body of %d bytes", n)
	}
}

func TestEmptyResult(t *testing.T) {
	conn := chtest.Conn(t)
	rows, err := conn.Query(context.Background(), "SELECT number FROM numbers(10) WHERE number > 100")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Fatal("expected no rows")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// SET and USE over HTTP are request-scoped in ClickHouse; on the embedded
// engine they must not change the session other clients run in.
func TestSetAndUseDoNotLeakIntoOtherRequests(t *testing.T) {
	db := chtest.NewDatabase(t)
	for _, stmt := range []string{"SET max_threads = 1", "USE " + db} {
		resp, body := curlish(t, http.MethodPost, "", strings.NewReader(stmt), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", stmt, resp.StatusCode, body)
		}
	}
	_, body := curlish(t, http.MethodPost, "", strings.NewReader("SELECT getSetting('max_threads') = 1, currentDatabase()"), nil)
	if body != "0\tdefault\n" {
		t.Fatalf("session leaked: %q", body)
	}
}

// TestCompressedResponsesDecode asks for compressed responses
// (enable_http_compression) in every HTTP encoding clickhouse-go reads:
// its "deflate" is zlib-wrapped, as ClickHouse sends it.
func TestCompressedResponsesDecode(t *testing.T) {
	for _, mode := range []clickhouse.CompressionMethod{clickhouse.CompressionGZIP, clickhouse.CompressionDeflate, clickhouse.CompressionBrotli} {
		t.Run(mode.String(), func(t *testing.T) {
			conn, err := clickhouse.Open(&clickhouse.Options{
				Addr:        []string{chtest.Server(t).Addr()},
				Protocol:    clickhouse.HTTP,
				Auth:        auth(t, "default"),
				Compression: &clickhouse.Compression{Method: mode},
				Settings:    clickhouse.Settings{"enable_http_compression": 1},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var n uint64
			if err := conn.QueryRow(context.Background(), "SELECT sum(number) FROM numbers(100000)").Scan(&n); err != nil {
				t.Fatalf("compressed response: %v", err)
			}
			if n != 4999950000 {
				t.Fatalf("sum = %d", n)
			}
		})
	}
}
