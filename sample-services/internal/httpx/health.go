package httpx

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Health serves /healthz (the process is up) and /readyz (it should get
// traffic). Readiness fails while draining, so a load balancer stops sending
// new requests before in-flight ones are cut, and when a dependency the
// service cannot work without is unreachable.
type Health struct {
	draining atomic.Bool
	checks   []Check
}

// Check is one readiness dependency.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// NewHealth returns a Health that is ready while every check passes.
func NewHealth(checks ...Check) *Health { return &Health{checks: checks} }

// StartDraining makes /readyz fail from now on.
func (h *Health) StartDraining() { h.draining.Store(true) }

// Paths are the health endpoints; tracing and rate limiting skip them so
// probes neither flood traces nor use up a client's quota.
var Paths = []string{"/healthz", "/readyz"}

// IsHealthPath reports whether c is a health probe.
func IsHealthPath(c *fiber.Ctx) bool {
	p := c.Path()
	return p == Paths[0] || p == Paths[1]
}

// Mount adds the health endpoints to app.
func (h *Health) Mount(app fiber.Router) {
	app.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok"})
	})
	app.Get("/readyz", func(c *fiber.Ctx) error {
		if h.draining.Load() {
			return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"status": "draining"})
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
		defer cancel()
		failed := map[string]string{}
		for _, check := range h.checks {
			if err := check.Probe(ctx); err != nil {
				failed[check.Name] = err.Error()
			}
		}
		if len(failed) > 0 {
			return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"status": "unready", "failed": failed})
		}
		return c.JSON(fiber.Map{"status": "ready"})
	})
}
