// Package allinone runs the whole Tracehouse stack in one process: the
// embedded ClickHouse, the schema, the collector pipeline writing to it, and
// the query API with the web UI.
package allinone

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/collector"
	"github.com/tracehouse/tracehouse/internal/flagenv"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/query/api"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/web"
)

// The variables that set the TTL flags.
const (
	envSpansTTL = "TRACEHOUSE_SPANS_TTL"
	envLogsTTL  = "TRACEHOUSE_LOGS_TTL"
)

// Run is `tracehouse all-in-one` (and `tracehouse` without a command).
func Run(ctx context.Context, args []string, log zerolog.Logger, stdout io.Writer) error {
	fs := flagenv.New("all-in-one")
	data := fs.String("data", "TRACEHOUSE_DATA", "./data", "data folder of the embedded ClickHouse (kept across restarts)")
	chListen := fs.String("clickhouse-listen", "TRACEHOUSE_CLICKHOUSE_LISTEN", embedded.DefaultListen, "address of the embedded ClickHouse HTTP interface")
	httpListen := fs.String("http", "TRACEHOUSE_QUERY_HTTP", "127.0.0.1:8080", "address of the query API and UI")
	spansTTL := fs.Duration("spans-ttl", envSpansTTL, schema.DefaultSpansTTL, "how long spans are kept (0: forever; shortening deletes stored data, so a default never shortens what is stored)")
	logsTTL := fs.Duration("logs-ttl", envLogsTTL, schema.DefaultLogsTTL, "how long logs are kept (0: forever; shortening deletes stored data, so a default never shortens what is stored)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Check the UI's port before the slow start of the engine.
	ln, err := net.Listen("tcp", *httpListen)
	if err != nil {
		return fmt.Errorf("query API and UI cannot listen on %s: %w (choose another address with --http)", *httpListen, err)
	}
	defer ln.Close()

	srv, err := embedded.Start(embedded.Config{DataDir: *data, Listen: *chListen, Logger: log})
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
	opts.SpansTTL, opts.LogsTTL = *spansTTL, *logsTTL
	// Only a TTL the user set may shorten the stored one: restarting
	// without --spans-ttl must not cut a 30-day retention to the default.
	opts.ShortenSpansTTL = fs.Given("spans-ttl", envSpansTTL)
	opts.ShortenLogsTTL = fs.Given("logs-ttl", envLogsTTL)
	opts.KeptTTL = func(d schema.TTLDiff) { log.Warn().Msg(d.Explain("tracehouse all-in-one")) }
	applied, err := schema.Migrate(ctx, conn, opts)
	if err != nil {
		return fmt.Errorf("apply schema: %w", err)
	}
	log.Info().Strs("applied", applied).Msg("schema up to date")

	pipeline, err := collector.StartPipeline(ctx, collector.PipelineSettings{
		// The schema was applied above with this command's TTLs; the
		// exporter must not apply it again with its defaults.
		Overrides: []string{"yaml:exporters::tracehouse::endpoint: " + srv.DSN(), "yaml:exporters::tracehouse::create_schema: false"},
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
	svc := query.New(store, query.Options{})
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	app := api.NewApp(svc, api.Options{Logger: log, Context: appCtx, UI: web.FS,
		UIHeaders: map[string]string{"Content-Security-Policy": web.ContentSecurityPolicy}})
	served := make(chan error, 1)
	go func() { served <- api.ServeListener(appCtx, app, ln, log) }()

	fmt.Fprintf(stdout, `Tracehouse is running.
  UI and query API      http://%s
  OTLP                  gRPC 127.0.0.1:4317, HTTP 127.0.0.1:4318; JSON-lines logs http://127.0.0.1:4319/v1/logs/jsonl
  ClickHouse (embedded) http://%s   DSN %s
  data folder           %s
Press Ctrl-C to stop.
`, ln.Addr(), srv.Addr(), srv.DSN(), *data)

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
