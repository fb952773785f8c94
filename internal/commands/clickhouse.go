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
	return fs, cfg
}

func runClickHouse(ctx context.Context, args []string, env cli.Env) error {
	fs, cfg := clickHouseFlags(env)
	if err := fs.Parse(args); err != nil {
		return err
	}
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
