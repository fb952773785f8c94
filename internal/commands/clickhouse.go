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
	return fs, cfg, allowedHosts
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
