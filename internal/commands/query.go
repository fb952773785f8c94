package commands

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/query/api"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/writer"
	"github.com/tracehouse/tracehouse/web"
)

// Query is `tracehouse query`: the query API and the web UI against a
// ClickHouse server or the embedded engine.
var Query = cli.Command{
	Name:    "query",
	Summary: "the query API (Jaeger-compatible + Tracehouse) and the web UI",
	Run:     runQuery,
}

// Variables of the query API shared by query and all-in-one.
const (
	// EnvQueryAuthToken is the bearer token the query API requires.
	EnvQueryAuthToken = "TRACEHOUSE_QUERY_AUTH_TOKEN"
	// EnvQueryAuthTokensFile names a file of tokens that name their users.
	EnvQueryAuthTokensFile = "TRACEHOUSE_QUERY_AUTH_TOKENS_FILE"
	// EnvQueryAllowedHosts are the host names the query API answers to.
	EnvQueryAllowedHosts = "TRACEHOUSE_QUERY_ALLOWED_HOSTS"
)

// apiConfig is the query API's access control, the same in query and
// all-in-one.
type apiConfig struct {
	authToken, tokensFile, allowedHosts string
}

// apiFlags defines --auth-token and --allowed-hosts.
func apiFlags(fs *cli.FlagSet, cfg *apiConfig) {
	fs.StringVar(&cfg.authToken, "auth-token", "", "bearer token required on /api (empty: no authentication; required in practice beyond loopback — prefer the variable, which ps does not show)")
	fs.SetEnv("auth-token", EnvQueryAuthToken)
	fs.StringVar(&cfg.tokensFile, "auth-tokens-file", "", "file of tokens that name their users, one \"user token\" per line (# comments): each is accepted besides --auth-token, and saved views record who saved them")
	fs.SetEnv("auth-tokens-file", EnvQueryAuthTokensFile)
	fs.StringVar(&cfg.allowedHosts, "allowed-hosts", "", "comma-separated host names the UI and API answer to besides IP addresses and localhost, e.g. the name of a reverse proxy or ingress (* any: turns off the DNS rebinding guard)")
	fs.SetEnv("allowed-hosts", EnvQueryAllowedHosts)
}

// options are the api.Options of cfg; an error is a tokens file that
// cannot be read or parsed.
func (cfg *apiConfig) options(opts api.Options) (api.Options, error) {
	opts.AuthToken = strings.TrimSpace(cfg.authToken)
	for _, h := range strings.Split(cfg.allowedHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			opts.AllowedHosts = append(opts.AllowedHosts, h)
		}
	}
	if cfg.tokensFile != "" {
		f, err := os.Open(cfg.tokensFile)
		if err != nil {
			return opts, fmt.Errorf("--auth-tokens-file: %w", err)
		}
		defer f.Close()
		if opts.Users, err = api.ParseNamedTokens(f); err != nil {
			return opts, fmt.Errorf("--auth-tokens-file %s: %w", cfg.tokensFile, err)
		}
		if len(opts.Users) == 0 {
			return opts, fmt.Errorf("--auth-tokens-file %s names no user: give \"user token\" lines, or leave the flag out", cfg.tokensFile)
		}
	}
	return opts, nil
}

// authenticated tells whether the API requires a token.
func (cfg *apiConfig) authenticated() bool {
	return strings.TrimSpace(cfg.authToken) != "" || cfg.tokensFile != ""
}

// warnIfOpen says, in the log and on stderr, that the API listens beyond
// loopback without a token: anyone who reaches the port reads everything.
func (cfg *apiConfig) warnIfOpen(ln net.Listener, env cli.Env) {
	if cfg.authenticated() {
		return
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
		return
	}
	msg := fmt.Sprintf("the query API listens on %s, beyond this machine, WITHOUT A TOKEN: whoever reaches the port reads every trace and log. "+
		"Set --auth-token (or %s), or listen on 127.0.0.1", ln.Addr(), EnvQueryAuthToken)
	env.Logger.Warn().Str("addr", ln.Addr().String()).Msg(msg)
	fmt.Fprintln(writerOr(env.Stderr), "WARNING: "+msg)
}

func writerOr(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

type queryConfig struct {
	dsn, addr, uiDir string
	api              apiConfig
	limits           query.Limits
	readLimits       reader.Limits
}

func queryFlags(env cli.Env) (*cli.FlagSet, *queryConfig) {
	cfg := &queryConfig{limits: query.DefaultLimits(), readLimits: reader.DefaultLimits()}
	l, rl := &cfg.limits, &cfg.readLimits
	fs := cli.NewFlagSet("tracehouse query", "TRACEHOUSE_QUERY", env)
	fs.StringVar(&cfg.dsn, "clickhouse", storage.DefaultDSN, "ClickHouse DSN, e.g. http://127.0.0.1:8123/default or clickhouse://user:pass@host:9000/db")
	fs.SetEnv("clickhouse", EnvClickHouse)
	fs.StringVar(&cfg.addr, "http", "127.0.0.1:8080", "address of the HTTP API and UI (:8080 for every interface: then set --auth-token)")
	apiFlags(fs, &cfg.api)
	fs.StringVar(&cfg.uiDir, "ui-dir", "", "serve the web UI from this folder instead of the one built in (for UI work: web/static)")
	fs.IntVar(&l.MaxConcurrentQueries, "max-concurrent-queries", l.MaxConcurrentQueries, "ClickHouse queries run at once; more wait")
	fs.SetEnv("max-concurrent-queries", "TRACEHOUSE_QUERY_MAX_CONCURRENT")
	fs.DurationVar(&l.QueueTimeout, "queue-timeout", l.QueueTimeout, "how long a query waits for a slot before the API answers 429")
	fs.DurationVar(&rl.MaxExecutionTime, "max-execution-time", rl.MaxExecutionTime, "time limit of one ClickHouse query")
	fs.DurationVar(&l.MaxTimeRange, "max-time-range", l.MaxTimeRange, "widest time range of a trace or log search")
	fs.Int64Var(&rl.MaxResultBytes, "max-result-bytes", rl.MaxResultBytes, "largest result of one ClickHouse query")
	fs.IntVar(&rl.MaxTraceSpans, "max-spans", rl.MaxTraceSpans, "most spans in one response")
	fs.Int64Var(&rl.MaxMemoryUsage, "max-memory-usage", rl.MaxMemoryUsage, "memory one ClickHouse query may use, in bytes (max_memory_usage)")
	fs.IntVar(&l.MaxTails, "max-tails", l.MaxTails, "live tails running at once; more are answered 429")
	return fs, cfg
}

func runQuery(ctx context.Context, args []string, env cli.Env) error {
	fs, cfg := queryFlags(env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := env.Logger
	opts, err := cfg.api.options(api.Options{Logger: log, Context: ctx, UI: web.FS})
	if err != nil {
		return cli.Usage(err)
	}
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
	views, err := writer.NewViews(conn, chOpts.Auth.Database)
	if err != nil {
		return cli.Usage(err)
	}
	svc := query.New(store, query.Options{Limits: cfg.limits, Views: views})
	if err := svc.Ping(ctx); err != nil {
		log.Warn().Err(err).Msg("ClickHouse is not ready yet; /readyz says so until it is")
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("query API: listen on %s: %w (is the port taken? choose another with --http)", cfg.addr, err)
	}
	cfg.api.warnIfOpen(ln, env)
	fmt.Fprintf(env.Stdout, "Tracehouse query API on http://%s (Jaeger API /api, Tracehouse API /api/v1, metrics /metrics)\n", ln.Addr())
	return api.ServeListener(ctx, api.NewApp(svc, opts), ln, log)
}
