package embedded

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/internal/flagenv"
)

// RunCommand is `tracehouse clickhouse`: the embedded engine alone.
func RunCommand(ctx context.Context, args []string, log zerolog.Logger, stdout io.Writer) error {
	fs := flagenv.New("clickhouse")
	data := fs.String("data", "TRACEHOUSE_DATA", "./data", "data folder of the embedded ClickHouse (kept across restarts)")
	listen := fs.String("listen", "TRACEHOUSE_CLICKHOUSE_LISTEN", DefaultListen, "address of the HTTP interface (loopback unless --allow-remote)")
	allowRemote := fs.Bool("allow-remote", "TRACEHOUSE_CLICKHOUSE_ALLOW_REMOTE", false, "allow a non-loopback --listen address (requires --user/--password)")
	user := fs.String("user", "TRACEHOUSE_CLICKHOUSE_USER", "", "user every client must authenticate as (empty: no authentication)")
	password := fs.String("password", "TRACEHOUSE_CLICKHOUSE_PASSWORD", "", "password for --user")
	maxBody := fs.Int64("max-request-bytes", "TRACEHOUSE_CLICKHOUSE_MAX_REQUEST_BYTES", DefaultMaxRequestBytes, "largest request body accepted")
	lib := fs.String("lib", "CHDB_LIB_PATH", "", "path of libchdb.so (default: .deps/chdb/libchdb.so of the checkout, installed by `make deps`)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := Start(Config{
		DataDir: *data, Listen: *listen, AllowRemote: *allowRemote, User: *user, Password: *password,
		MaxRequestBytes: *maxBody, LibPath: *lib, Logger: log,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "embedded ClickHouse listening on http://%s (DSN %s)\n", srv.Addr(), srv.DSN())
	select {
	case <-ctx.Done():
	case err := <-srv.Done():
		return fmt.Errorf("embedded ClickHouse stopped: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
