// Package benchenv starts what every Tracehouse benchmark measures against:
// the embedded engine on a data folder (a temporary one unless given), the
// schema applied, and a clickhouse-go connection opened the way the product
// opens it (HTTP, LZ4).
package benchenv

import (
	"context"
	"os"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Env is a running engine with the schema and a connection to it.
type Env struct {
	Server *embedded.Server
	Conn   driver.Conn

	dataDir   string
	removeDir bool // the folder was made here: Close removes it
}

// Start starts the engine on dataDir, or on a new temporary folder when
// dataDir is empty, and applies the schema.
func Start(ctx context.Context, dataDir string) (*Env, error) {
	env := &Env{dataDir: dataDir}
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "tracehouse-bench-")
		if err != nil {
			return nil, err
		}
		env.dataDir, env.removeDir = tmp, true
	}
	if err := env.open(ctx); err != nil {
		env.Close()
		return nil, err
	}
	return env, nil
}

// Restart stops the engine and the connection and starts them again on the
// same data, as a server restart would. Benchmarks use it between loading
// and timing: right after a bulk load in the same process this engine
// answers point reads several times slower, a state a store written at a
// live rate does not get into, so timing it would measure the bench rather
// than the product (internal/bench/README.md has the numbers).
func (e *Env) Restart(ctx context.Context) error {
	e.stop()
	return e.open(ctx)
}

// open starts the engine on the folder, connects the way the product does
// and applies the schema.
func (e *Env) open(ctx context.Context) (err error) {
	if e.Server, err = embedded.Start(embedded.Config{DataDir: e.dataDir, Listen: "127.0.0.1:0", Logger: zerolog.Nop()}); err != nil {
		return err
	}
	// The server's DSN carries its generated password.
	opts, err := storage.ParseDSN(e.Server.DSN())
	if err != nil {
		return err
	}
	opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	if e.Conn, err = clickhouse.Open(opts); err != nil {
		return err
	}
	_, err = schema.Migrate(ctx, e.Conn, schema.DefaultOptions())
	return err
}

// stop closes the connection and stops the engine, keeping the folder.
func (e *Env) stop() {
	if e.Conn != nil {
		e.Conn.Close()
		e.Conn = nil
	}
	if e.Server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		e.Server.Shutdown(ctx)
		cancel()
		e.Server = nil
	}
}

// Close closes the connection, stops the engine and removes a temporary
// data folder.
func (e *Env) Close() {
	e.stop()
	if e.removeDir {
		os.RemoveAll(e.dataDir)
	}
}
