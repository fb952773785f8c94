package commands

import (
	"context"
	"fmt"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

// ClickHouse is `tracehouse clickhouse`: the embedded engine alone, behind
// ClickHouse's HTTP interface.
var ClickHouse = cli.Command{
	Name:    "clickhouse",
	Summary: "the embedded ClickHouse engine behind ClickHouse's HTTP interface",
	Run:     runClickHouse,
}

// clickHouseFlags parses into the engine's Config; finish applies what the
// flags mean beyond their values once they are parsed.
func clickHouseFlags(env cli.Env) (*cli.FlagSet, *embedded.Config) {
	cfg := &embedded.Config{}
	fs := cli.NewFlagSet("tracehouse clickhouse", "TRACEHOUSE_CLICKHOUSE", env)
	fs.StringVar(&cfg.DataDir, "data", "./data", "data folder of the embedded ClickHouse (kept across restarts)")
	fs.SetEnv("data", EnvData)
	fs.StringVar(&cfg.Listen, "listen", embedded.DefaultListen, "address of the HTTP interface (loopback unless --allow-remote)")
	fs.SetEnv("listen", EnvClickHouseListen)
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a non-loopback --listen address (requires --user/--password)")
	fs.StringVar(&cfg.User, "user", "", "user every client must authenticate as (empty: no authentication)")
	fs.StringVar(&cfg.Password, "password", "", "password for --user")
	fs.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", embedded.DefaultMaxRequestBytes, "largest request body accepted")
	fs.StringVar(&cfg.LibPath, "lib", "", "path of libchdb.so (default: .deps/chdb/libchdb.so of the checkout, installed by \"make deps\")")
	fs.SetEnv("lib", "CHDB_LIB_PATH")
	byteSizeVar(fs, &cfg.MemoryLimit, "memory-limit", 0, "memory `size` the engine may use (max_server_memory_usage), e.g. 4GiB; past it statements fail instead of growing the process (0: the engine's default, 90% of the machine's memory)")
	readLimitFlags(fs, cfg)
	return fs, cfg
}

// Variables of the read limits, shared by clickhouse and all-in-one: a
// deployment states them once.
const (
	EnvReadQueue     = "TRACEHOUSE_READ_QUEUE"
	EnvReadQueueWait = "TRACEHOUSE_READ_QUEUE_WAIT"
	EnvReadTimeout   = "TRACEHOUSE_READ_TIMEOUT"
	EnvReadMaxMemory = "TRACEHOUSE_READ_MAX_MEMORY"
)

// readLimitFlags are the flags of the scheduler in front of the embedded
// engine: how many reads may wait for it and for how long, and what bounds
// a read whose client sets none.
func readLimitFlags(fs *cli.FlagSet, cfg *embedded.Config) {
	fs.IntVar(&cfg.ReadQueue, "read-queue", embedded.DefaultReadQueue, "reads that may wait for the embedded engine (which runs one statement at a time, inserts first); more are answered 503 with Retry-After")
	fs.SetEnv("read-queue", EnvReadQueue)
	fs.DurationVar(&cfg.ReadQueueWait, "read-queue-wait", embedded.DefaultReadQueueWait, "how long a read may wait for the embedded engine before it is answered 503 with Retry-After")
	fs.SetEnv("read-queue-wait", EnvReadQueueWait)
	fs.DurationVar(&cfg.ReadTimeout, "read-timeout", embedded.DefaultReadTimeout, "max_execution_time of a read whose client sets none (0: none)")
	fs.SetEnv("read-timeout", EnvReadTimeout)
	byteSizeVar(fs, &cfg.ReadMaxMemory, "read-max-memory", embedded.DefaultReadMaxMemory, "max_memory_usage of a read whose client sets none, a `size` (0: none; default 2GiB, or half of the engine's memory limit when that is less)")
	fs.SetEnv("read-max-memory", EnvReadMaxMemory)
}

// finishReadLimits turns the parsed read limits into the engine's Config:
// 0 given on the command line means no limit, and a read memory limit left
// at its default follows the engine's memory limit.
func finishReadLimits(fs *cli.FlagSet, cfg *embedded.Config) {
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = -1
	}
	switch {
	case !fs.Given("read-max-memory"):
		cfg.ReadMaxMemory = 0 // embedded's default, which follows MemoryLimit
	case cfg.ReadMaxMemory == 0:
		cfg.ReadMaxMemory = -1
	}
}

func runClickHouse(ctx context.Context, args []string, env cli.Env) error {
	fs, cfg := clickHouseFlags(env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	finishReadLimits(fs, cfg)
	cfg.Logger = env.Logger
	srv, err := embedded.Start(*cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "embedded ClickHouse listening on http://%s (DSN %s)\n", srv.Addr(), srv.DSN())
	select {
	case <-ctx.Done():
	case err := <-srv.Done():
		return fmt.Errorf("embedded ClickHouse stopped: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
