package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/internal/flagenv"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/web"
)

// ShutdownTimeout is how long Serve waits for requests in progress.
const ShutdownTimeout = 10 * time.Second

// Serve listens on addr and serves app until ctx is done, then shuts down
// gracefully.
func Serve(ctx context.Context, app *fiber.App, addr string, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("query API: listen on %s: %w (is the port taken? choose another with --http)", addr, err)
	}
	return ServeListener(ctx, app, ln, log)
}

// ServeListener serves app on ln until ctx is done.
func ServeListener(ctx context.Context, app *fiber.App, ln net.Listener, log zerolog.Logger) error {
	log.Info().Str("addr", ln.Addr().String()).Msg("query API listening")
	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info().Msg("query API shutting down")
	if err := app.ShutdownWithTimeout(ShutdownTimeout); err != nil {
		log.Warn().Err(err).Msg("query API shutdown")
	}
	if err := <-errc; err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// RunCommand is `tracehouse query`: the query API and the web UI against a
// ClickHouse server or the embedded engine.
func RunCommand(ctx context.Context, args []string, log zerolog.Logger, stdout io.Writer) error {
	d := query.DefaultLimits()
	rd := reader.DefaultLimits()
	fs := flagenv.New("query")
	fs.SetOutput(stdout)
	dsn := fs.String("clickhouse", "TRACEHOUSE_CLICKHOUSE", storage.DefaultDSN, "ClickHouse DSN, e.g. http://127.0.0.1:8123/default or clickhouse://user:pass@host:9000/db")
	addr := fs.String("http", "TRACEHOUSE_QUERY_HTTP", ":8080", "address of the HTTP API and UI")
	token := fs.String("auth-token", "TRACEHOUSE_QUERY_AUTH_TOKEN", "", "bearer token required on /api (empty: no authentication)")
	uiDir := fs.String("ui-dir", "TRACEHOUSE_QUERY_UI_DIR", "", "serve the web UI from this folder instead of the one built in (for UI work: web/static)")
	maxConcurrent := fs.Int64("max-concurrent-queries", "TRACEHOUSE_QUERY_MAX_CONCURRENT", int64(d.MaxConcurrentQueries), "ClickHouse queries run at once; more wait")
	queueTimeout := fs.Duration("queue-timeout", "TRACEHOUSE_QUERY_QUEUE_TIMEOUT", d.QueueTimeout, "how long a query waits for a slot before the API answers 429")
	maxExec := fs.Duration("max-execution-time", "TRACEHOUSE_QUERY_MAX_EXECUTION_TIME", rd.MaxExecutionTime, "time limit of one ClickHouse query")
	maxRange := fs.Duration("max-time-range", "TRACEHOUSE_QUERY_MAX_TIME_RANGE", d.MaxTimeRange, "widest time range of a trace or log search")
	maxBytes := fs.Int64("max-result-bytes", "TRACEHOUSE_QUERY_MAX_RESULT_BYTES", rd.MaxResultBytes, "largest result of one ClickHouse query")
	maxSpans := fs.Int64("max-spans", "TRACEHOUSE_QUERY_MAX_SPANS", int64(rd.MaxTraceSpans), "most spans in one response")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("query: unexpected argument %q (flags only; see -h)", fs.Arg(0))
	}
	chOpts, err := storage.ParseDSN(*dsn)
	if err != nil {
		return err
	}
	conn, err := storage.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	limits := d
	limits.MaxConcurrentQueries = int(*maxConcurrent)
	limits.QueueTimeout = *queueTimeout
	limits.MaxTimeRange = *maxRange
	readLimits := rd
	readLimits.MaxExecutionTime = *maxExec
	readLimits.MaxResultBytes = *maxBytes
	readLimits.MaxTraceSpans = int(*maxSpans)
	store, err := reader.New(conn, reader.Options{Database: chOpts.Auth.Database, Limits: readLimits})
	if err != nil {
		return err
	}
	svc := query.New(store, query.Options{Limits: limits})
	if err := svc.Ping(ctx); err != nil {
		log.Warn().Err(err).Msg("ClickHouse is not ready yet; /readyz says so until it is")
	}
	opts := Options{Logger: log, AuthToken: *token, Context: ctx, UI: web.FS,
		UIHeaders: map[string]string{"Content-Security-Policy": web.ContentSecurityPolicy}}
	if *uiDir != "" {
		if st, err := os.Stat(*uiDir); err != nil || !st.IsDir() {
			return fmt.Errorf("query: --ui-dir %s is not a folder", *uiDir)
		}
		opts.UI = os.DirFS(*uiDir)
	}
	if *token == "" {
		log.Info().Msg("no --auth-token: /api is open to anyone who can reach " + *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("query API: listen on %s: %w (is the port taken? choose another with --http)", *addr, err)
	}
	fmt.Fprintf(stdout, "Tracehouse query API on http://%s (Jaeger API /api, Tracehouse API /api/v1, metrics /metrics)\n", ln.Addr())
	return ServeListener(ctx, NewApp(svc, opts), ln, log)
}
