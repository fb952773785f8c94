package api

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"
)

// ShutdownTimeout is how long ServeListener waits for requests in progress.
const ShutdownTimeout = 10 * time.Second

// ServeListener serves app on ln until ctx is done, then shuts down
// gracefully.
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
