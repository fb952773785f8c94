package commands

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/tracehouse/tracehouse/collector"
	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/query/api"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/writer"
	"github.com/tracehouse/tracehouse/web"
)

// AllInOne is `tracehouse all-in-one` (and `tracehouse` without a command):
// the whole stack in one process: the embedded ClickHouse, the schema, the
// collector pipeline writing to it, and the query API with the web UI.
var AllInOne = cli.Command{
	Name:    "all-in-one",
	Summary: "embedded ClickHouse + schema + collector + query API and UI in one process (the default)",
	Run:     runAllInOne,
}

type allInOneConfig struct {
	data, clickhouseListen, httpListen string
	api                                apiConfig
	spansTTL, logsTTL                  time.Duration
	// shortenSpansTTL and shortenLogsTTL: the TTL was given, so it may
	// shorten the stored one.
	shortenSpansTTL, shortenLogsTTL bool
	ingestToken                     string // see ingestAuth
}

func allInOneFlags(env cli.Env) (*cli.FlagSet, *allInOneConfig) {
	cfg := &allInOneConfig{}
	fs := cli.NewFlagSet("tracehouse all-in-one", "TRACEHOUSE", env)
	fs.StringVar(&cfg.data, "data", "./data", "data folder of the embedded ClickHouse (kept across restarts)")
	fs.SetEnv("data", EnvData)
	fs.StringVar(&cfg.clickhouseListen, "clickhouse-listen", embedded.DefaultListen, "address of the embedded ClickHouse HTTP interface")
	fs.SetEnv("clickhouse-listen", EnvClickHouseListen)
	fs.StringVar(&cfg.httpListen, "http", "127.0.0.1:8080", "address of the query API and UI")
	fs.SetEnv("http", EnvQueryHTTP)
	apiFlags(fs, &cfg.api)
	ttlVar(fs, &cfg.spansTTL, "spans-ttl", schema.DefaultSpansTTL, "how long spans are kept, a `duration` such as 7d, 36h or 1d12h (0: forever; shortening deletes stored data, so a default never shortens what is stored)")
	fs.SetEnv("spans-ttl", EnvSpansTTL)
	ttlVar(fs, &cfg.logsTTL, "logs-ttl", schema.DefaultLogsTTL, "how long logs are kept, a `duration` such as 7d (0: forever; shortening deletes stored data, so a default never shortens what is stored)")
	fs.SetEnv("logs-ttl", EnvLogsTTL)
	fs.StringVar(&cfg.ingestToken, "ingest-token", "", "token every collector receiver (OTLP gRPC and HTTP, JSON-lines) then requires as `Authorization: Bearer TOKEN` (default: none; receivers on loopback accept any local sender)")
	fs.SetEnv("ingest-token", EnvIngestToken)
	return fs, cfg
}

func parseAllInOne(args []string, env cli.Env) (*allInOneConfig, error) {
	fs, cfg := allInOneFlags(env)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// Only a TTL the user set may shorten the stored one: restarting
	// without --spans-ttl must not cut a 30-day retention to the default.
	cfg.shortenSpansTTL, cfg.shortenLogsTTL = fs.Given("spans-ttl"), fs.Given("logs-ttl")
	return cfg, nil
}

func runAllInOne(ctx context.Context, args []string, env cli.Env) error {
	cfg, err := parseAllInOne(args, env)
	if err != nil {
		return err
	}
	log := env.Logger
	// Check the UI's port before the slow start of the engine.
	ln, err := net.Listen("tcp", cfg.httpListen)
	if err != nil {
		return fmt.Errorf("query API and UI cannot listen on %s: %w (choose another address with --http)", cfg.httpListen, err)
	}
	defer ln.Close()
	cfg.api.warnIfOpen(ln, env)

	srv, err := embedded.Start(embedded.Config{DataDir: cfg.data, Listen: cfg.clickhouseListen, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()

	conn, err := storage.Open(ctx, srv.DSN())
	if err != nil {
		return err
	}
	defer conn.Close()
	opts := schema.DefaultOptions()
	opts.SpansTTL, opts.LogsTTL = cfg.spansTTL, cfg.logsTTL
	opts.ShortenSpansTTL, opts.ShortenLogsTTL = cfg.shortenSpansTTL, cfg.shortenLogsTTL
	opts.KeptTTL = func(d schema.TTLDiff) { log.Warn().Msg(d.Explain("tracehouse all-in-one")) }
	applied, err := schema.Migrate(ctx, conn, opts)
	if err != nil {
		return fmt.Errorf("apply schema: %w", err)
	}
	log.Info().Strs("applied", applied).Msg("schema up to date")

	overrides := []string{"yaml:exporters::tracehouse::endpoint: " + srv.DSN(), "yaml:exporters::tracehouse::create_schema: false"}
	auth, err := ingestAuth(cfg.ingestToken, env)
	if err != nil {
		return err
	}
	pipeline, err := collector.StartPipeline(ctx, collector.PipelineSettings{
		// The schema was applied above with this command's TTLs; the
		// exporter must not apply it again with its defaults.
		Overrides: append(overrides, auth...),
		Logger:    log.With().Str("component", "collector").Logger(),
	})
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pipeline.Shutdown(shutdownCtx); err != nil {
			log.Error().Err(err).Msg("collector shutdown")
		}
	}()

	store, err := reader.New(conn, reader.Options{})
	if err != nil {
		return err
	}
	views, err := writer.NewViews(conn, "")
	if err != nil {
		return err
	}
	svc := query.New(store, query.Options{Views: views})
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	app := api.NewApp(svc, cfg.api.options(api.Options{Logger: log, Context: appCtx, UI: web.FS}))
	served := make(chan error, 1)
	go func() { served <- api.ServeListener(appCtx, app, ln, log) }()

	fmt.Fprintf(env.Stdout, `Tracehouse is running.
  UI and query API      http://%s
  OTLP                  gRPC 127.0.0.1:4317, HTTP 127.0.0.1:4318; JSON-lines logs http://127.0.0.1:4319/v1/logs/jsonl
  ClickHouse (embedded) http://%s   DSN %s
  data folder           %s
Press Ctrl-C to stop.
`, ln.Addr(), srv.Addr(), srv.DSN(), cfg.data)

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err := <-srv.Done():
		return fmt.Errorf("embedded ClickHouse stopped: %w", err)
	case err := <-pipeline.Done():
		return fmt.Errorf("collector stopped: %w", err)
	case err := <-served:
		return fmt.Errorf("query API stopped: %w", err)
	}
	// Stop in order: the UI and API, then the collector (drains its queue
	// into ClickHouse), then the engine.
	stopApp()
	<-served
	return nil
}

// --- Ingest authentication -------------------------------------------------

// EnvIngestToken sets --ingest-token.
const EnvIngestToken = collector.IngestTokenEnv

// envListenHost is the address all-in-one.yaml binds its receivers to.
const envListenHost = "TRACEHOUSE_LISTEN_HOST"

// ingestAuth returns the collector overrides for an ingest token: with
// one, OTLP gRPC, OTLP HTTP and JSON-lines require it. Without one the
// receivers take any sender, which is safe only on loopback: a listen
// host beyond it without a token is refused.
func ingestAuth(token string, env cli.Env) ([]string, error) {
	if token == "" {
		var host string
		if env.Lookup != nil {
			host, _ = env.Lookup(envListenHost)
		}
		if !collector.IsLoopbackHost(host) {
			return nil, cli.Usage(fmt.Errorf("%s=%s puts the collector's receivers beyond loopback: set --ingest-token (%s) so they require a token", envListenHost, host, EnvIngestToken))
		}
		return nil, nil
	}
	overrides, err := collector.AllInOneIngestAuth(token)
	if err != nil {
		return nil, cli.Usage(fmt.Errorf("--ingest-token (%s): %w", EnvIngestToken, err))
	}
	return overrides, nil
}
