package embedded_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chdb"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// BenchmarkOverhead splits the cost of a small read into the engine's, the
// HTTP server's and clickhouse-go's: the same statement, in the same run,
//
//   - engine/query: straight through the engine (chdb.Engine.Query), no HTTP;
//   - engine/stream: through chdb.Engine.Stream, the call the server makes
//     for a SELECT;
//   - http/handler: the server's handler called directly, without a
//     connection (httptest), so that what remains of http/raw is net/http's
//     and the loopback's;
//   - http/raw: through the embedded server with a plain net/http client on
//     one kept-alive connection, sending what clickhouse-go sends (Native
//     output, the database, the query service's four read limits);
//   - http/clickhouse-go-tcp: through clickhouse-go over HTTP on loopback
//     TCP, as a client in another process reaches the server, with the
//     query service's settings;
//   - http/clickhouse-go: the same opened the way the product opens it
//     (storage.Open on the server's DSN), which in the server's own process
//     (all-in-one) skips the socket (inprocess.go).
//
// http/handler minus engine/stream is the server's own code; http/raw minus
// http/handler is net/http's and the loopback's; http/clickhouse-go-tcp
// minus http/raw is the driver's. The shapes: SELECT 1, and a point read of
// one row by primary key from a 1000-row MergeTree table with a {id:UInt64}
// parameter. The machine is shared, so compare sub-benchmarks of one run
// (internal/bench/README.md gives the command that interleaves runs).
func BenchmarkOverhead(b *testing.B) {
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
	// The query service's per-statement limits (storage/reader settings):
	// sent with every read, so the server sees the same settings each time.
	settings := clickhouse.Settings{
		"max_execution_time": 30,
		"max_memory_usage":   int64(1 << 30),
		"max_result_bytes":   int64(64 << 20),
		"max_result_rows":    int64(1_000_000),
	}
	shapes := []struct {
		name, sql string
		params    []chdb.Param
		scan      func(row interface{ Scan(...any) error }) error
	}{
		{"select1", "SELECT 1", nil, func(row interface{ Scan(...any) error }) error {
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
			func(row interface{ Scan(...any) error }) error {
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

	for _, shape := range shapes {
		// In-process, the table is named with its database: the engine's
		// current database belongs to the server's session.
		engineSQL := strings.Replace(shape.sql, "FROM point", "FROM "+db+".point", 1)
		b.Run(shape.name+"/engine/query", func(b *testing.B) {
			for b.Loop() {
				out, err := engine.Query(engineSQL, "Native", shape.params...)
				if err != nil || len(out) == 0 {
					b.Fatalf("engine query: %v (%d bytes)", err, len(out))
				}
			}
		})
		b.Run(shape.name+"/engine/stream", func(b *testing.B) {
			for b.Loop() {
				n := 0
				err := engine.Stream(ctx, engineSQL, "Native", shape.params, func(chunk []byte) error {
					n += len(chunk)
					return nil
				})
				if err != nil || n == 0 {
					b.Fatalf("engine stream: %v (%d bytes)", err, n)
				}
			}
		})
		q := url.Values{"database": {db}, "default_format": {"Native"}}
		for k, v := range settings {
			q.Set(k, fmt.Sprint(v))
		}
		for _, p := range shape.params {
			q.Set("param_"+p.Name, p.Value)
		}
		target := "http://" + srv.Addr() + "/?" + q.Encode()
		b.Run(shape.name+"/http/handler", func(b *testing.B) {
			handler := srv.HandlerForTest()
			for b.Loop() {
				req := httptest.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(shape.sql))
				req.SetBasicAuth(user, password)
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
					b.Fatalf("HTTP %d: %q", rec.Code, rec.Body)
				}
			}
		})
		b.Run(shape.name+"/http/raw", func(b *testing.B) {
			for b.Loop() {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(shape.sql))
				if err != nil {
					b.Fatal(err)
				}
				req.SetBasicAuth(user, password)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || len(body) == 0 {
					b.Fatalf("HTTP %d: %v %q", resp.StatusCode, err, body)
				}
			}
		})
		params := clickhouse.Parameters{}
		for _, p := range shape.params {
			params[p.Name] = p.Value
		}
		qctx := clickhouse.Context(ctx, clickhouse.WithSettings(settings), clickhouse.WithParameters(params))
		b.Run(shape.name+"/http/clickhouse-go-tcp", func(b *testing.B) {
			for b.Loop() {
				if err := shape.scan(tcpConn.QueryRow(qctx, shape.sql)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(shape.name+"/http/clickhouse-go", func(b *testing.B) {
			for b.Loop() {
				if err := shape.scan(conn.QueryRow(qctx, shape.sql)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
