package commands

import (
	"context"
	"fmt"
	"io"
	"strings"
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
func clickHouseFlags(env cli.Env) (*cli.FlagSet, *embedded.Config, *string) {
	cfg := &embedded.Config{}
	allowedHosts := new(string)
	fs := cli.NewFlagSet("tracehouse clickhouse", "TRACEHOUSE_CLICKHOUSE", env)
	fs.StringVar(&cfg.DataDir, "data", "./data", "data folder of the embedded ClickHouse (kept across restarts)")
	fs.SetEnv("data", EnvData)
	fs.StringVar(&cfg.Listen, "listen", embedded.DefaultListen, "address of the HTTP interface (loopback unless --allow-remote)")
	fs.SetEnv("listen", EnvClickHouseListen)
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow a non-loopback --listen address")
	fs.StringVar(&cfg.User, "user", embedded.DefaultUser, "user every client must authenticate as")
	fs.StringVar(&cfg.Password, "password", "", "password every client must send (empty: a random one, generated into DATA/"+embedded.PasswordFileName+" on the first start and kept)")
	fs.StringVar(allowedHosts, "allowed-hosts", "", "comma-separated host names clients may use to reach the server besides its IP addresses and localhost (requests naming another host are refused: DNS rebinding)")
	fs.Int64Var(&cfg.MaxRequestBytes, "max-request-bytes", embedded.DefaultMaxRequestBytes, "largest request body accepted, compressed and decompressed")
	fs.StringVar(&cfg.LibPath, "lib", "", "path of libchdb.so (default: .deps/chdb/libchdb.so of the checkout, installed by \"make deps\")")
	fs.SetEnv("lib", "CHDB_LIB_PATH")
	byteSizeVar(fs, &cfg.MemoryLimit, "memory-limit", 0, "memory `size` the engine may use (max_server_memory_usage), e.g. 4GiB; past it statements fail instead of growing the process (0: the engine's default, 90% of the machine's memory)")
	readLimitFlags(fs, cfg)
	return fs, cfg, allowedHosts
}

// Variables of the read limits, shared by clickhouse and all-in-one: a
// deployment states them once.
const (
	EnvReadQueue     = "TRACEHOUSE_READ_QUEUE"
	EnvReadQueueWait = "TRACEHOUSE_READ_QUEUE_WAIT"
	EnvReadTimeout   = "TRACEHOUSE_READ_TIMEOUT"
	EnvReadMaxMemory = "TRACEHOUSE_READ_MAX_MEMORY"
	EnvIndexCache    = "TRACEHOUSE_INDEX_CACHE"
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
	byteSizeVar(fs, &cfg.IndexCacheSize, "index-cache", embedded.DefaultIndexCacheSize, "memory `size` of the engine's cache of skip indexes (the attribute searches' bloom filters), decompressed (0: none; default 128MiB, or a sixteenth of the engine's memory limit when that is less)")
	fs.SetEnv("index-cache", EnvIndexCache)
}

// finishReadLimits turns the parsed read limits and the index cache into
// the engine's Config: 0 given on the command line means none, and a read
// memory limit or an index cache left at its default follows the engine's
// memory limit.
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
	switch {
	case !fs.Given("index-cache"):
		cfg.IndexCacheSize = 0 // embedded's default, which follows MemoryLimit
	case cfg.IndexCacheSize == 0:
		cfg.IndexCacheSize = -1
	}
}

func runClickHouse(ctx context.Context, args []string, env cli.Env) error {
	fs, cfg, allowedHosts := clickHouseFlags(env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, host := range strings.Split(*allowedHosts, ",") {
		if host = strings.TrimSpace(host); host != "" {
			cfg.AllowedHosts = append(cfg.AllowedHosts, host)
		}
	}
	finishReadLimits(fs, cfg)
	cfg.Logger = env.Logger
	srv, err := embedded.Start(*cfg)
	if err != nil {
		return err
	}
	describeClickHouse(env.Stdout, srv)
	select {
	case <-ctx.Done():
	case err := <-srv.Done():
		return fmt.Errorf("embedded ClickHouse stopped: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// describeClickHouse says how to reach the server: where the password is
// kept, never the password itself.
func describeClickHouse(w io.Writer, srv *embedded.Server) {
	fmt.Fprintf(w, "embedded ClickHouse listening on http://%s\n", srv.Addr())
	fmt.Fprintf(w, "  user      %s\n", srv.User())
	if file := srv.PasswordFile(); file != "" {
		fmt.Fprintf(w, "  password  in %s (readable by its owner only)\n", file)
		fmt.Fprintf(w, "  DSN       %s\n", srv.ShareableDSN())
		fmt.Fprintf(w, "  curl      curl -u \"%s:$(cat '%s')\" http://%s/ --data-binary 'SELECT 1'\n", srv.User(), file, srv.Addr())
		return
	}
	fmt.Fprintf(w, "  password  the one given with --password (or TRACEHOUSE_CLICKHOUSE_PASSWORD)\n")
	fmt.Fprintf(w, "  DSN       %s (add the password, or point %s= at a file holding it)\n", srv.ShareableDSN(), "password_file")
}
