package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
)

// NewApp returns a fiber app configured the same way for every service.
func NewApp(name string) *fiber.App {
	return fiber.New(fiber.Config{
		AppName:               name,
		DisableStartupMessage: true,
		ErrorHandler:          ErrorHandler,
		JSONEncoder:           marshalJSON,
		// fasthttp reuses request buffers; without Immutable, strings taken
		// from a request (ids, route values, attributes on spans that
		// outlive the request) would change under our feet.
		Immutable:    true,
		BodyLimit:    1 << 20,
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		IdleTimeout:  60 * time.Second,
	})
}

// Serve runs app on ln until ctx ends, then stops taking requests, lets
// in-flight ones finish within drainTimeout, and returns. health (may be
// nil) turns unready first so load balancers stop routing here.
func Serve(ctx context.Context, app *fiber.App, ln net.Listener, health *Health, drainTimeout time.Duration) error {
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	if health != nil {
		health.StartDraining()
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	shutdownErr := app.ShutdownWithContext(shutdownCtx)
	// A shutdown that lands while the server is still starting finds no
	// listener to close and returns at once, and the server then serves
	// forever. Closing the listener ourselves ends it either way.
	_ = ln.Close()
	serveErr := <-served
	if shutdownErr != nil {
		return fmt.Errorf("drain %s within %s: %w", ln.Addr(), drainTimeout, shutdownErr)
	}
	if serveErr != nil && !errors.Is(serveErr, net.ErrClosed) {
		return fmt.Errorf("serve on %s: %w", ln.Addr(), serveErr)
	}
	return nil
}

// marshalJSON is json.Marshal without HTML escaping: error messages quote
// things like "<token>", and \u003c helps nobody reading them.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
