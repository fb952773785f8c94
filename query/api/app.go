// Package api serves the query service over HTTP with fiber: Jaeger's query
// API (/api/services, /api/traces, …) for the Jaeger UI and Grafana's
// Jaeger data source, Tracehouse's own /api/v1 (request path, trace
// comparison, logs, live tail, service map, RED metrics), health checks,
// Prometheus metrics and, when given, the web UI.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/url"
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
	// which cannot send headers). It never reaches a log line.
	AuthToken string
	// Users are tokens that name their users, accepted besides AuthToken
	// (either is enough): a request with one is that user's, and the views
	// it saves record who saved them. AuthToken names no user.
	Users []NamedToken
	// AllowedHosts are the host names (Host header, port aside) the service
	// answers to besides IP addresses and localhost, e.g. the name a
	// reverse proxy or an ingress serves it under; "*" allows any name.
	// Refusing other names stops DNS rebinding: a page whose own name
	// resolves to this machine would otherwise read the API as its origin.
	AllowedHosts []string
	// ReadTimeout bounds reading a request, WriteTimeout writing a
	// response, IdleTimeout a kept-alive connection between requests.
	// StreamWriteTimeout bounds each write of a stream (the live tail)
	// instead of the whole response, so a tail runs for as long as it may
	// while a client that stops reading is let go. Zero takes the
	// Default… value.
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
	IdleTimeout        time.Duration
	StreamWriteTimeout time.Duration
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

// Defaults of the Options timeouts. WriteTimeout leaves time for the
// largest response (a trace of reader.Limits.MaxTraceSpans spans is tens
// of MB) on a slow link.
const (
	DefaultReadTimeout        = 30 * time.Second
	DefaultWriteTimeout       = 2 * time.Minute
	DefaultIdleTimeout        = 2 * time.Minute
	DefaultStreamWriteTimeout = 30 * time.Second
)

type server struct {
	svc     *query.Service
	opts    Options
	log     zerolog.Logger
	metrics *metrics
	ctx     context.Context
	// tokenSum is the SHA-256 of AuthToken: comparing digests takes the
	// same time whatever the length of the token sent.
	tokenSum [sha256.Size]byte
	// users maps the SHA-256 of each named token to its user: a lookup
	// by digest tells nothing of the token from its timing.
	users        map[[sha256.Size]byte]string
	allowedHosts map[string]bool
}

// NewApp builds the fiber app serving svc.
func NewApp(svc *query.Service, opts Options) *fiber.App {
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 64 << 10
	}
	// A token read from a file or a secret often ends in a newline, which
	// no client sends (and the sent token is trimmed too).
	opts.AuthToken = strings.TrimSpace(opts.AuthToken)
	orDefault(&opts.ReadTimeout, DefaultReadTimeout)
	orDefault(&opts.WriteTimeout, DefaultWriteTimeout)
	orDefault(&opts.IdleTimeout, DefaultIdleTimeout)
	orDefault(&opts.StreamWriteTimeout, DefaultStreamWriteTimeout)
	s := &server{svc: svc, opts: opts, log: opts.Logger, metrics: newMetrics(svc), ctx: opts.Context,
		tokenSum: sha256.Sum256([]byte(opts.AuthToken)), users: map[[sha256.Size]byte]string{}, allowedHosts: map[string]bool{}}
	for _, u := range opts.Users {
		if t := strings.TrimSpace(u.Token); t != "" {
			s.users[sha256.Sum256([]byte(t))] = u.User
		}
	}
	for _, h := range opts.AllowedHosts {
		if h = normalizeHost(h); h != "" {
			s.allowedHosts[h] = true
		}
	}
	app := fiber.New(fiber.Config{
		AppName:               "tracehouse-query",
		DisableStartupMessage: true,
		Immutable:             true, // values outlive handlers in streams
		ErrorHandler:          s.handleError,
		BodyLimit:             opts.BodyLimit,
		// The request line and headers must fit: a log query of
		// logquery.MaxLength bytes is up to three times as long
		// percent-encoded (the default, 4 KiB, refused such queries).
		ReadBufferSize: 16 << 10,
		ReadTimeout:    opts.ReadTimeout,
		WriteTimeout:   opts.WriteTimeout,
		IdleTimeout:    opts.IdleTimeout,
	})
	app.Use(requestid.New())
	app.Use(s.observe)
	app.Use(recover.New())

	// Probes and scrapers reach a service under names of their own (pod
	// IPs, service names) and these routes hold no user data, so they are
	// not bound to AllowedHosts.
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok\n") })
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})))
	app.Use(s.checkHost)

	// Every /api route is a GET that changes nothing, but saving and
	// deleting a view: POSTs that require a JSON content type, which a page
	// of another origin cannot send without a CORS preflight this service
	// never grants (readOnly).
	apiGroup := app.Group("/api", s.readOnly, s.sameOrigin, s.auth)
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
	v1.Get("/logs/patterns", s.logPatterns)
	v1.Get("/servicemap", s.serviceMap)
	v1.Get("/metrics/red", s.red)
	v1.Get("/metrics/instances", s.instances)
	v1.Get("/operations", s.operations)
	v1.Get("/views", s.listViews)
	v1.Post("/views", s.saveView)
	v1.Get("/views/:id", s.getView)
	v1.Post("/views/:id/delete", s.deleteView)
	v1.Get("/attributes", s.attributeKeys)
	v1.Get("/attributes/values", s.attributeValues)
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

func orDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

var errUnauthorized = errors.New("unauthorized")

// tokenParam is the query parameter that carries the token for
// EventSource; logged query strings show it as redacted.
const tokenParam = "access_token"

func (s *server) auth(c *fiber.Ctx) error {
	if s.opts.AuthToken == "" && len(s.users) == 0 {
		return c.Next()
	}
	token := c.Query(tokenParam)
	if h := c.Get(fiber.HeaderAuthorization); len(h) > len("Bearer ") && strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		token = h[len("Bearer "):]
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if s.opts.AuthToken != "" && subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1 {
		return c.Next()
	}
	if user, ok := s.users[sum]; ok {
		c.Locals(userKey, user)
		return c.Next()
	}
	return errUnauthorized
}

// user is the user the request's token names; "" for the shared token or
// none.
func user(c *fiber.Ctx) string {
	u, _ := c.Locals(userKey).(string)
	return u
}

// redactedQuery is the request's query string for a log line, with the
// token's value replaced.
func redactedQuery(c *fiber.Ctx) string {
	v := url.Values{}
	c.Context().QueryArgs().VisitAll(func(key, value []byte) {
		if strings.EqualFold(string(key), tokenParam) {
			v.Add(string(key), "REDACTED")
			return
		}
		v.Add(string(key), string(value))
	})
	return v.Encode()
}

// normalizeHost is the host part of a Host header or an AllowedHosts
// entry, lower case, without port, brackets or a trailing dot.
func normalizeHost(hostport string) string {
	h := strings.TrimSpace(hostport)
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	return strings.ToLower(h)
}

// hostAllowed tells a Host header that cannot come from DNS rebinding: an
// IP address (a rebinding page has a name of its own), localhost (browsers
// resolve it to loopback themselves), or a name in AllowedHosts.
func (s *server) hostAllowed(hostport string) bool {
	h := normalizeHost(hostport)
	switch {
	case net.ParseIP(h) != nil, h == "localhost", strings.HasSuffix(h, ".localhost"):
		return true
	}
	return s.allowedHosts[h] || s.allowedHosts["*"]
}

// checkHost refuses requests for a host name the service does not answer
// to (DNS rebinding). A request without Host (HTTP/1.0) comes from no
// browser.
func (s *server) checkHost(c *fiber.Ctx) error {
	host := string(c.Request().Header.Host())
	if host == "" || s.hostAllowed(host) {
		return c.Next()
	}
	return fiber.NewError(fiber.StatusForbidden, "this service does not answer to the host name "+strconv.Quote(host)+
		" (a DNS rebinding guard); if that is its name, start it with --allowed-hosts "+strconv.Quote(normalizeHost(host)))
}

// sameOrigin refuses /api requests a page of another origin makes: with
// an Origin that is not this service's, or with Sec-Fetch-Site saying
// another site (or another port of this one) sent it. The UI is served
// from the same origin; a link followed to an API URL (a navigation) is
// let through, since its answer goes to the user's own tab.
func (s *server) sameOrigin(c *fiber.Ctx) error {
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && !sameHost(origin, string(c.Request().Header.Host())) {
		return fiber.NewError(fiber.StatusForbidden, "cross-origin request refused: Origin "+strconv.Quote(origin)+
			" is not this service; the API answers its own UI and clients that send no Origin")
	}
	switch c.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		if c.Get("Sec-Fetch-Mode") != "navigate" {
			return fiber.NewError(fiber.StatusForbidden, "cross-site request refused (Sec-Fetch-Site: "+c.Get("Sec-Fetch-Site")+"); the API answers its own UI")
		}
	}
	return c.Next()
}

// sameHost tells whether an Origin ("http://host:port") names host, a Host
// header, with default ports filled in.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // also "null": a sandboxed or file page
	}
	defaultPort := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	withPort := func(hp string) string {
		if _, _, err := net.SplitHostPort(hp); err != nil {
			hp = net.JoinHostPort(strings.Trim(hp, "[]"), defaultPort)
		}
		return strings.ToLower(hp)
	}
	return withPort(u.Host) == withPort(host)
}

// readOnly answers every /api method but GET (and HEAD) with 405: GET
// changes nothing, so a request a browser can forge does nothing. The
// routes that change state (isWriteRoute: saved views) take POST with a
// JSON body and nothing else: a page of another origin cannot send that
// content type without a CORS preflight, which this service never grants.
func (s *server) readOnly(c *fiber.Ctx) error {
	m := c.Method()
	if m == fiber.MethodGet || m == fiber.MethodHead {
		return c.Next()
	}
	if isWriteRoute(c.Path()) {
		if m != fiber.MethodPost {
			c.Set(fiber.HeaderAllow, "GET, HEAD, POST")
			return fiber.NewError(fiber.StatusMethodNotAllowed, m+" is not allowed here, only GET and POST")
		}
		ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
		if ct != fiber.MIMEApplicationJSON {
			return fiber.NewError(fiber.StatusUnsupportedMediaType, "send the body as Content-Type: application/json")
		}
		return c.Next()
	}
	c.Set(fiber.HeaderAllow, "GET, HEAD")
	return fiber.NewError(fiber.StatusMethodNotAllowed, "the API is read-only: "+m+" is not allowed, only GET")
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
		down    *query.UnavailableError
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
	case errors.As(err, &down):
		status = fiber.StatusServiceUnavailable
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(down.RetryAfter/time.Second)))
		s.log.Warn().Str("path", c.Path()).Str("cause", down.Cause).Msg("ClickHouse unreachable; answered 503")
	case errors.As(err, &timeout):
		status = fiber.StatusGatewayTimeout
		s.log.Warn().Str("path", c.Path()).Str("query", redactedQuery(c)).Msg("ClickHouse query stopped at max_execution_time")
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
