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

	"github.com/tracehouse/tracehouse/storage/embedded"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Env is a running engine with the schema and a connection to it.
type Env struct {
	Server *embedded.Server
	Conn   driver.Conn
	tmp    string // removed by Close when the folder was made here

	dataDir string // the folder in use, for Restart
}

// Start starts the engine on dataDir, or on a new temporary folder when
// dataDir is empty, and applies the schema.
func Start(ctx context.Context, dataDir string) (_ *Env, err error) {
	env, err := start(ctx, dataDir)
	if env != nil {
		env.dataDir = dataDir
		if dataDir == "" {
			env.dataDir = env.tmp
		}
	}
	return env, err
}

// Restart stops the engine and the connection and starts them again on the
// same data, as a server restart would. Benchmarks use it between loading
// and timing: right after a bulk load in the same process this engine
// answers point reads 2–3× slower (trace by id, p50: 50 ms against 21 ms
// after a restart at 2M spans, 98 against 33 at 10M; still 37 ms at 2M
// nine minutes later), a state a store written at a live rate does not get
// into (10M spans, 2,000 spans/s written in the same process while timing:
// trace by id p50 26.3 and 26.4 ms against 27.2 and 25.8 without).
func (e *Env) Restart(ctx context.Context) error {
	tmp := e.tmp
	e.tmp = "" // keep the folder
	e.Close()
	next, err := start(ctx, e.dataDir)
	if err != nil {
		return err
	}
	e.Server, e.Conn, e.tmp = next.Server, next.Conn, tmp
	return nil
}

func start(ctx context.Context, dataDir string) (_ *Env, err error) {
	// Close what was started when a later step fails (the named result is
	// nil by then, so the deferred call needs its own reference).
	env := &Env{}
	defer func() {
		if err != nil {
			env.Close()
		}
	}()
	if dataDir == "" {
		if env.tmp, err = os.MkdirTemp("", "tracehouse-bench-"); err != nil {
			return nil, err
		}
		dataDir = env.tmp
	}
	if env.Server, err = embedded.Start(embedded.Config{DataDir: dataDir, Listen: "127.0.0.1:0", Logger: zerolog.Nop()}); err != nil {
		return nil, err
	}
	if env.Conn, err = clickhouse.Open(&clickhouse.Options{
		Addr: []string{env.Server.Addr()}, Protocol: clickhouse.HTTP,
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	}); err != nil {
		return nil, err
	}
	if _, err = schema.Migrate(ctx, env.Conn, schema.DefaultOptions()); err != nil {
		return nil, err
	}
	return env, nil
}

// Close closes the connection, stops the engine and removes a temporary
// data folder.
func (e *Env) Close() {
	if e.Conn != nil {
		e.Conn.Close()
	}
	if e.Server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		e.Server.Shutdown(ctx)
		cancel()
	}
	if e.tmp != "" {
		os.RemoveAll(e.tmp)
	}
}
