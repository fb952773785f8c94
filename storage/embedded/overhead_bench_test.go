package embedded_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chdb"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// The embedded server's own cost: the same small read, in the same run,
//
//   - engine/query: straight through the engine (chdb.Engine.Query), no HTTP;
//   - engine/stream: through chdb.Engine.Stream, the call the server makes
//     for a SELECT;
//   - http/handler: the server's handler called directly, without a
//     connection (httptest), so that what http/raw adds is net/http's and
//     the loopback's;
//   - http/raw: through the embedded server with a plain net/http client on
//     one kept-alive loopback connection, sending what clickhouse-go sends
//     (Native output, the database, the query service's four read limits);
//   - http/clickhouse-go-tcp: through clickhouse-go over HTTP on loopback
//     TCP, as a client in another process reaches the server;
//   - http/clickhouse-go: the same opened the way the product opens it
//     (storage.Open on the server's DSN), which in the server's own process
//     (all-in-one, these tests) skips the socket (inprocess.go).
//
// The shapes: SELECT 1, and a point read of one row by primary key from a
// 1000-row MergeTree table with a {id:UInt64} parameter.
//
// BenchmarkOverhead runs each path on its own (for -cpuprofile of one
// path); BenchmarkOverheadInterleaved calls every path once per iteration
// and reports each one's median, which is what to compare on a shared
// machine whose load changes from one second to the next
// (internal/bench/README.md has the command and the numbers).

// overheadPath is one way to run a shape; it fails on a wrong answer.
type overheadPath struct {
	name string
	call func() error
}

// overheadPaths sets up the shapes and the paths that run them.
func overheadPaths(b *testing.B) (shapes []string, paths map[string][]overheadPath) {
	srv := chtest.Server(b)
	db := chtest.NewDatabase(b)
	conn := chtest.ConnTo(b, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE point (id UInt64, name String) ENGINE = MergeTree ORDER BY id"); err != nil {
		b.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO point SELECT number, concat('row ', toString(number)) FROM numbers(1000)"); err != nil {
		b.Fatal(err)
	}
	// clickhouse-go over loopback TCP, as a client in another process
	// reaches the server: without the in-process transport storage.ParseDSN
	// gives connections to this process's own server.
	opts, err := storage.ParseDSN(chtest.DSN(b, db))
	if err != nil {
		b.Fatal(err)
	}
	opts.TransportFunc = nil
	tcpConn, err := clickhouse.Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tcpConn.Close() })
	user, password := chtest.Credentials(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	b.Cleanup(client.CloseIdleConnections)
	engine := srv.Engine()
	handler := srv.HandlerForTest()

	// The query service's per-statement limits (storage/reader settings):
	// sent with every read, so the server sees the same settings each time.
	settings := clickhouse.Settings{
		"max_execution_time": 30,
		"max_memory_usage":   int64(1 << 30),
		"max_result_bytes":   int64(64 << 20),
		"max_result_rows":    int64(1_000_000),
	}
	type scanner interface{ Scan(...any) error }
	for _, shape := range []struct {
		name, sql string
		params    []chdb.Param
		scan      func(row scanner) error
	}{
		{"select1", "SELECT 1", nil, func(row scanner) error {
			var one uint8
			if err := row.Scan(&one); err != nil {
				return err
			}
			if one != 1 {
				return fmt.Errorf("SELECT 1 gave %d", one)
			}
			return nil
		}},
		{"point", "SELECT id, name FROM point WHERE id = {id:UInt64}", []chdb.Param{{Name: "id", Value: "421"}},
			func(row scanner) error {
				var id uint64
				var name string
				if err := row.Scan(&id, &name); err != nil {
					return err
				}
				if id != 421 || name != "row 421" {
					return fmt.Errorf("point read gave %d %q", id, name)
				}
				return nil
			}},
	} {
		// In-process, the table is named with its database: the engine's
		// current database belongs to the server's session.
		engineSQL := strings.Replace(shape.sql, "FROM point", "FROM "+db+".point", 1)
		q := url.Values{"database": {db}, "default_format": {"Native"}}
		for k, v := range settings {
			q.Set(k, fmt.Sprint(v))
		}
		params := clickhouse.Parameters{}
		for _, p := range shape.params {
			q.Set("param_"+p.Name, p.Value)
			params[p.Name] = p.Value
		}
		target := "http://" + srv.Addr() + "/?" + q.Encode()
		qctx := clickhouse.Context(ctx, clickhouse.WithSettings(settings), clickhouse.WithParameters(params))
		shapes = append(shapes, shape.name)
		if paths == nil {
			paths = map[string][]overheadPath{}
		}
		paths[shape.name] = []overheadPath{
			{"engine/query", func() error {
				out, err := engine.Query(engineSQL, "Native", shape.params...)
				if err == nil && len(out) == 0 {
					err = fmt.Errorf("no output")
				}
				return err
			}},
			{"engine/stream", func() error {
				n := 0
				err := engine.Stream(ctx, engineSQL, "Native", shape.params, func(chunk []byte) error {
					n += len(chunk)
					return nil
				})
				if err == nil && n == 0 {
					err = fmt.Errorf("no output")
				}
				return err
			}},
			{"http/handler", func() error {
				req := httptest.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(shape.sql))
				req.SetBasicAuth(user, password)
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
					return fmt.Errorf("HTTP %d: %q", rec.Code, rec.Body)
				}
				return nil
			}},
			{"http/raw", func() error {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(shape.sql))
				if err != nil {
					return err
				}
				req.SetBasicAuth(user, password)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && (resp.StatusCode != http.StatusOK || len(body) == 0) {
					err = fmt.Errorf("HTTP %d: %q", resp.StatusCode, body)
				}
				return err
			}},
			{"http/clickhouse-go-tcp", func() error { return shape.scan(tcpConn.QueryRow(qctx, shape.sql)) }},
			{"http/clickhouse-go", func() error { return shape.scan(conn.QueryRow(qctx, shape.sql)) }},
		}
	}
	return shapes, paths
}

func BenchmarkOverhead(b *testing.B) {
	shapes, paths := overheadPaths(b)
	for _, shape := range shapes {
		for _, path := range paths[shape] {
			b.Run(shape+"/"+path.name, func(b *testing.B) {
				for b.Loop() {
					if err := path.call(); err != nil {
						b.Fatalf("%s: %v", path.name, err)
					}
				}
			})
		}
	}
}

// BenchmarkOverheadInterleaved calls every path once per iteration, in an
// order that rotates so that none always follows the same one, and reports
// each path's median latency (µs) as a metric of its own: a change in the
// machine's load hits all of them alike.
func BenchmarkOverheadInterleaved(b *testing.B) {
	shapes, paths := overheadPaths(b)
	for _, shape := range shapes {
		b.Run(shape, func(b *testing.B) {
			ps := paths[shape]
			took := make([][]time.Duration, len(ps))
			i := 0
			for b.Loop() {
				for k := range ps {
					p := (i + k) % len(ps)
					start := time.Now()
					if err := ps[p].call(); err != nil {
						b.Fatalf("%s: %v", ps[p].name, err)
					}
					took[p] = append(took[p], time.Since(start))
				}
				i++
			}
			for p, path := range ps {
				slices.Sort(took[p])
				b.ReportMetric(float64(took[p][len(took[p])/2].Nanoseconds())/1e3, strings.ReplaceAll(path.name, "/", "-")+"-p50-µs")
			}
		})
	}
}

// BenchmarkSessionSwitch alternates two requests whose settings differ, as
// all-in-one alternates the query service's reads (four limits) with the
// writer's inserts (three deduplication settings): the engine's one
// session is switched on every request (session.go). Each iteration is one
// read and one insert-like request through the server's handler; the
// statement is SELECT 1 for both, so what is measured is the switch.
func BenchmarkSessionSwitch(b *testing.B) {
	srv := chtest.Server(b)
	user, password := chtest.Credentials(b)
	handler := srv.HandlerForTest()
	base := "http://" + srv.Addr() + "/?default_format=Native&database=default&"
	read := base + "max_execution_time=30&max_memory_usage=1073741824&max_result_bytes=67108864&max_result_rows=1000000"
	write := base + "insert_deduplicate=1&deduplicate_blocks_in_dependent_materialized_views=1&insert_deduplication_token="
	call := func(target string) {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader("SELECT 1"))
		req.SetBasicAuth(user, password)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %q", rec.Code, rec.Body)
		}
	}
	i := 0
	for b.Loop() {
		call(read)
		call(write + fmt.Sprint(i)) // a token of its own, as every insert has
		i++
	}
}
