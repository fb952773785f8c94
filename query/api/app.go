// Package api serves the query service over HTTP with fiber: Jaeger's query
// API (/api/services, /api/traces, …) for the Jaeger UI and Grafana's
// Jaeger data source, Tracehouse's own /api/v1 (request path, trace
// comparison, logs, live tail, service map, RED metrics), health checks,
// Prometheus metrics and, when given, the web UI.
package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/web"
)

// Options configure the HTTP API.
type Options struct {
	// Logger receives one line per failed request (5xx) and lifecycle
	// events.
	Logger zerolog.Logger
	// AuthToken, when set, is required on every /api request as
	// "Authorization: Bearer <token>" (or ?access_token=, for EventSource,
	// which cannot send headers).
	AuthToken string
	// UI is served at / when set (web.FS: the web UI's files, index.html
	// at the root), with the headers the UI is written for (web.Headers).
	UI fs.FS
	// Context ends the streams (NDJSON, live tail) when it is done; give the
	// same context as to ServeListener so that shutdown does not wait for them.
	// Nil means context.Background().
	Context context.Context
	// BodyLimit caps request bodies; the API only reads query strings.
	BodyLimit int
}

type server struct {
	svc     *query.Service
	opts    Options
	log     zerolog.Logger
	metrics *metrics
	ctx     context.Context
}

// NewApp builds the fiber app serving svc.
func NewApp(svc *query.Service, opts Options) *fiber.App {
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 64 << 10
	}
	s := &server{svc: svc, opts: opts, log: opts.Logger, metrics: newMetrics(svc), ctx: opts.Context}
	app := fiber.New(fiber.Config{
		AppName:               "tracehouse-query",
		DisableStartupMessage: true,
		Immutable:             true, // values outlive handlers in streams
		ErrorHandler:          s.handleError,
		BodyLimit:             opts.BodyLimit,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
	})
	app.Use(requestid.New())
	app.Use(s.observe)
	app.Use(recover.New())

	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok\n") })
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})))

	apiGroup := app.Group("/api", s.auth)
	// Jaeger's query API.
	apiGroup.Get("/services", s.jaegerServices)
	apiGroup.Get("/services/:service/operations", s.jaegerServiceOperations)
	apiGroup.Get("/operations", s.jaegerOperations)
	apiGroup.Get("/traces", s.jaegerSearch)
	apiGroup.Get("/traces/:traceID", s.jaegerTrace)
	apiGroup.Get("/dependencies", s.jaegerDependencies)
	// Tracehouse's own.
	v1 := apiGroup.Group("/v1")
	v1.Get("/traces/compare", s.compareTraces)
	v1.Get("/traces/:traceID", s.requestPath)
	v1.Get("/logs", s.searchLogs)
	v1.Get("/logs/tail", s.tailLogs)
	v1.Get("/servicemap", s.serviceMap)
	v1.Get("/metrics/red", s.red)
	apiGroup.All("/*", func(c *fiber.Ctx) error {
		return fiber.NewError(fiber.StatusNotFound, "no API endpoint "+c.Method()+" "+c.Path())
	})

	if opts.UI != nil {
		headers := web.Headers()
		app.Use("/", func(c *fiber.Ctx) error {
			for k, v := range headers {
				c.Set(k, v)
			}
			return c.Next()
		}, filesystem.New(filesystem.Config{Root: http.FS(opts.UI), Index: "index.html"}))
	} else {
		app.Get("/", func(c *fiber.Ctx) error {
			return c.SendString("Tracehouse query API: /api/services, /api/traces, /api/v1/logs, /api/v1/servicemap, /metrics (the web UI is not bundled in this build)\n")
		})
	}
	return app
}

// observe counts every request by route after the error handler has set
// its status.
func (s *server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.handleError(c, err); herr != nil {
			c.Status(fiber.StatusInternalServerError)
		}
	}
	route := c.Route().Path
	if c.Response().StatusCode() == fiber.StatusNotFound && route == "/" {
		route = "unmatched"
	}
	s.metrics.observe(route, c.Method(), c.Response().StatusCode(), time.Since(start))
	return nil
}

func (s *server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	if err := s.svc.Ping(ctx); err != nil {
		return c.Status(fiber.StatusServiceUnavailable).SendString("not ready: " + err.Error() + "\n")
	}
	return c.SendString("ready\n")
}

var errUnauthorized = errors.New("unauthorized")

func (s *server) auth(c *fiber.Ctx) error {
	if s.opts.AuthToken == "" {
		return c.Next()
	}
	token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !ok {
		token = c.Query("access_token")
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(s.opts.AuthToken)) != 1 {
		return errUnauthorized
	}
	return c.Next()
}

// envelope is the response shape of Jaeger's query API, used for every
// JSON answer: data on success, errors on failure.
type envelope struct {
	Data   any        `json:"data"`
	Total  int        `json:"total"`
	Limit  int        `json:"limit"`
	Offset int        `json:"offset"`
	Errors []apiError `json:"errors"`
}

type apiError struct {
	Code    int    `json:"code,omitempty"`
	Msg     string `json:"msg"`
	TraceID string `json:"traceID,omitempty"`
	// Param and Position locate invalid input (Tracehouse's addition).
	Param    string `json:"param,omitempty"`
	Position *int   `json:"position,omitempty"`
}

// handleError is the one place errors become HTTP statuses.
func (s *server) handleError(c *fiber.Ctx, err error) error {
	status := fiber.StatusInternalServerError
	e := apiError{Msg: err.Error()}
	var (
		input   *query.InputError
		missing *query.NotFoundError
		busy    *query.BusyError
		timeout *query.TimeoutError
		fe      *fiber.Error
	)
	switch {
	case errors.As(err, &input):
		status = fiber.StatusBadRequest
		e.Param = input.Param
		if input.Position >= 0 {
			pos := input.Position
			e.Position = &pos
		}
	case errors.As(err, &missing):
		status = fiber.StatusNotFound
	case errors.As(err, &busy):
		status = fiber.StatusTooManyRequests
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(busy.RetryAfter/time.Second)))
		s.log.Warn().Str("path", c.Path()).Msg("query slots busy; answered 429")
	case errors.As(err, &timeout):
		status = fiber.StatusGatewayTimeout
		s.log.Warn().Str("path", c.Path()).Str("query", c.Context().QueryArgs().String()).Msg("ClickHouse query stopped at max_execution_time")
	case errors.Is(err, errUnauthorized):
		status = fiber.StatusUnauthorized
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="tracehouse"`)
		e.Msg = "missing or wrong bearer token (send Authorization: Bearer <token>)"
	case errors.As(err, &fe):
		status = fe.Code
		e.Msg = fe.Message
	default:
		id, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
		s.log.Error().Err(err).Str("request_id", id).Str("method", c.Method()).Str("path", c.Path()).Msg("request failed")
		e.Msg = "internal error (request " + id + "); the query service's log has the details"
	}
	e.Code = status
	return c.Status(status).JSON(envelope{Errors: []apiError{e}})
}

// respond writes a successful envelope.
func respond(c *fiber.Ctx, data any, total int) error {
	return c.JSON(envelope{Data: data, Total: total})
}
