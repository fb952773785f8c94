// Package allinone runs the whole Tracehouse stack in one process: the
// embedded ClickHouse, the schema, and (as they land) the collector pipeline
// and the query API with the UI.
package allinone

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/internal/flagenv"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Run is `tracehouse all-in-one`.
func Run(ctx context.Context, args []string, log zerolog.Logger, stdout io.Writer) error {
	fs := flagenv.New("all-in-one")
	data := fs.String("data", "TRACEHOUSE_DATA", "./data", "data folder of the embedded ClickHouse (kept across restarts)")
	listen := fs.String("clickhouse-listen", "TRACEHOUSE_CLICKHOUSE_LISTEN", embedded.DefaultListen, "address of the embedded ClickHouse HTTP interface")
	spansTTL := fs.Duration("spans-ttl", "TRACEHOUSE_SPANS_TTL", 7*24*time.Hour, "how long spans are kept (0: forever)")
	logsTTL := fs.Duration("logs-ttl", "TRACEHOUSE_LOGS_TTL", 7*24*time.Hour, "how long logs are kept (0: forever)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := embedded.Start(embedded.Config{DataDir: *data, Listen: *listen, Logger: log})
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
	applied, err := schema.Migrate(ctx, conn, opts)
	if err != nil {
		return fmt.Errorf("apply schema: %w", err)
	}
	log.Info().Strs("applied", applied).Msg("schema up to date")

	fmt.Fprintf(stdout, "Tracehouse is running.\n  ClickHouse (embedded): http://%s   DSN %s\n  data folder:           %s\nPress Ctrl-C to stop.\n",
		srv.Addr(), srv.DSN(), *data)
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err := <-srv.Done():
		return fmt.Errorf("embedded ClickHouse stopped: %w", err)
	}
	return nil
}
