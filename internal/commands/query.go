package commands

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/query/api"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/web"
)

// Query is `tracehouse query`: the query API and the web UI against a
// ClickHouse server or the embedded engine.
var Query = cli.Command{
	Name:    "query",
	Summary: "the query API (Jaeger-compatible + Tracehouse) and the web UI",
	Run:     runQuery,
}

type queryConfig struct {
	dsn, addr, authToken, uiDir string
	limits                      query.Limits
	readLimits                  reader.Limits
}

func queryFlags(env cli.Env) (*cli.FlagSet, *queryConfig) {
	cfg := &queryConfig{limits: query.DefaultLimits(), readLimits: reader.DefaultLimits()}
	l, rl := &cfg.limits, &cfg.readLimits
	fs := cli.NewFlagSet("tracehouse query", "TRACEHOUSE_QUERY", env)
	fs.StringVar(&cfg.dsn, "clickhouse", storage.DefaultDSN, "ClickHouse DSN, e.g. http://127.0.0.1:8123/default or clickhouse://user:pass@host:9000/db")
	fs.SetEnv("clickhouse", EnvClickHouse)
	fs.StringVar(&cfg.addr, "http", ":8080", "address of the HTTP API and UI")
	fs.StringVar(&cfg.authToken, "auth-token", "", "bearer token required on /api (empty: no authentication)")
	fs.StringVar(&cfg.uiDir, "ui-dir", "", "serve the web UI from this folder instead of the one built in (for UI work: web/static)")
	fs.IntVar(&l.MaxConcurrentQueries, "max-concurrent-queries", l.MaxConcurrentQueries, "ClickHouse queries run at once; more wait")
	fs.SetEnv("max-concurrent-queries", "TRACEHOUSE_QUERY_MAX_CONCURRENT")
	fs.DurationVar(&l.QueueTimeout, "queue-timeout", l.QueueTimeout, "how long a query waits for a slot before the API answers 429")
	fs.DurationVar(&rl.MaxExecutionTime, "max-execution-time", rl.MaxExecutionTime, "time limit of one ClickHouse query")
	fs.DurationVar(&l.MaxTimeRange, "max-time-range", l.MaxTimeRange, "widest time range of a trace or log search")
	fs.Int64Var(&rl.MaxResultBytes, "max-result-bytes", rl.MaxResultBytes, "largest result of one ClickHouse query")
	fs.IntVar(&rl.MaxTraceSpans, "max-spans", rl.MaxTraceSpans, "most spans in one response")
	return fs, cfg
}

func runQuery(ctx context.Context, args []string, env cli.Env) error {
	fs, cfg := queryFlags(env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := env.Logger
	opts := api.Options{Logger: log, AuthToken: cfg.authToken, Context: ctx, UI: web.FS}
	if cfg.uiDir != "" {
		if st, err := os.Stat(cfg.uiDir); err != nil || !st.IsDir() {
			return cli.Usage(fmt.Errorf("--ui-dir %s is not a folder", cfg.uiDir))
		}
		opts.UI = os.DirFS(cfg.uiDir)
	}
	chOpts, err := storage.ParseDSN(cfg.dsn)
	if err != nil {
		return cli.Usage(err)
	}
	conn, err := storage.Open(ctx, cfg.dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	store, err := reader.New(conn, reader.Options{Database: chOpts.Auth.Database, Limits: cfg.readLimits})
	if err != nil {
		return cli.Usage(err)
	}
	svc := query.New(store, query.Options{Limits: cfg.limits})
	if err := svc.Ping(ctx); err != nil {
		log.Warn().Err(err).Msg("ClickHouse is not ready yet; /readyz says so until it is")
	}
	if cfg.authToken == "" {
		log.Info().Msg("no --auth-token: /api is open to anyone who can reach " + cfg.addr)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("query API: listen on %s: %w (is the port taken? choose another with --http)", cfg.addr, err)
	}
	fmt.Fprintf(env.Stdout, "Tracehouse query API on http://%s (Jaeger API /api, Tracehouse API /api/v1, metrics /metrics)\n", ln.Addr())
	return api.ServeListener(ctx, api.NewApp(svc, opts), ln, log)
}
