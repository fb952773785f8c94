// Package service is the process lifecycle every sample service shares:
// common flags, telemetry start-up, listening, graceful shutdown on context
// cancellation (SIGINT/SIGTERM in main) and the final telemetry flush.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Version is reported as service.version; release builds set it with
// -ldflags "-X github.com/tracehouse/tracehouse/sample-services/internal/service.Version=1.2.3".
var Version = "0.1.0-dev"

// DefaultOTLPEndpoint is where a collector listens on a developer machine.
const DefaultOTLPEndpoint = "127.0.0.1:4317"

// Common is the configuration every service has.
type Common struct {
	Listen string
	// InstanceID is service.instance.id and what X-Served-By names; empty
	// means "<host name>:<listen port>", distinct for replicas on one
	// machine (different ports) and across machines (different hosts).
	InstanceID      string
	OTLPEndpoint    string
	Environment     string
	LogLevel        string
	ShutdownTimeout time.Duration
	// LogOutput gets the JSON copy of every log line; nil means stderr.
	LogOutput io.Writer
}

// EnvAliases are the conventional variables the common flags also answer to.
var EnvAliases = map[string][]string{
	"otlp-endpoint": {"OTEL_EXPORTER_OTLP_ENDPOINT"},
	"environment":   {"DEPLOYMENT_ENVIRONMENT"},
}

// DefaultCommon is the configuration of a service listening on listen.
func DefaultCommon(listen string) Common {
	return Common{
		Listen:          listen,
		OTLPEndpoint:    DefaultOTLPEndpoint,
		Environment:     "dev",
		LogLevel:        "info",
		ShutdownTimeout: 10 * time.Second,
	}
}

// RegisterFlags binds the common flags to c; c's values are the defaults.
func (c *Common) RegisterFlags(fs *cli.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on, host:port")
	fs.StringVar(&c.InstanceID, "instance-id", c.InstanceID, "service.instance.id of this process, unique among the service's replicas (default: <host name>:<listen port>)")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", c.OTLPEndpoint, "OTLP gRPC collector for traces and logs, host:port (insecure) or http(s)://host:port; empty disables export")
	fs.StringVar(&c.Environment, "environment", c.Environment, "deployment.environment resource attribute")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "minimum log level: trace, debug, info, warn, error")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long in-flight requests and the telemetry flush may take on SIGTERM")
	for name, vars := range EnvAliases {
		fs.Alias(name, vars...)
	}
}

// Command is a service's `sample-services NAME` command: parse the
// configuration from flags and the environment, then run until ctx ends.
func Command[C any](name, summary string, parse func([]string, cli.Env) (C, error), run func(context.Context, C) error) cli.Command {
	return cli.Command{Name: name, Summary: summary, Run: func(ctx context.Context, args []string, env cli.Env) error {
		cfg, err := parse(args, env)
		if err != nil {
			return err
		}
		return run(ctx, cfg)
	}}
}

// ParseFlags builds the flag set of the service name with the common flags
// and those register adds, and parses args and the environment
// (<envPrefix>_<FLAG>, plus EnvAliases) into them. Logs go to env.Stderr.
func (c *Common) ParseFlags(name, envPrefix string, args []string, env cli.Env, register func(fs *cli.FlagSet)) error {
	fs := cli.NewFlagSet("sample-services "+name, envPrefix, env)
	c.LogOutput = env.Stderr
	c.RegisterFlags(fs)
	register(fs)
	return fs.Parse(args)
}

// Validate checks the common settings.
func (c Common) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("-listen %q: want host:port such as 127.0.0.1:8000: %w", c.Listen, err)
	}
	if c.OTLPEndpoint != "" {
		if _, _, err := telemetry.ParseEndpoint(c.OTLPEndpoint); err != nil {
			return fmt.Errorf("-otlp-endpoint: %w", err)
		}
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		return fmt.Errorf("-log-level %q: use trace, debug, info, warn or error", c.LogLevel)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("-shutdown-timeout must be positive, got %s", c.ShutdownTimeout)
	}
	if len(c.InstanceID) > 128 || strings.ContainsAny(c.InstanceID, ", \t\r\n") {
		return fmt.Errorf("-instance-id %q: at most 128 characters, without commas or spaces (it is listed in the X-Served-By header)", c.InstanceID)
	}
	return nil
}

// Instance is the service.instance.id: InstanceID, or the host name and
// listen port when none was given.
func (c Common) Instance() string {
	if c.InstanceID != "" {
		return c.InstanceID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	_, port, _ := net.SplitHostPort(c.Listen)
	return host + ":" + port
}

// CheckBaseURL checks that the flag flagName holds an http(s) base URL of a
// peer; example is one to suggest, such as http://127.0.0.1:8003.
func CheckBaseURL(flagName, raw, example string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-%s %q: want a base URL such as %s", flagName, raw, example)
	}
	return nil
}

// URLList is a flag value holding the base URLs of a peer's replicas,
// written comma-separated: "http://127.0.0.1:8002,http://127.0.0.1:8012".
type URLList []string

// String is the comma-separated list.
func (l *URLList) String() string { return strings.Join(*l, ",") }

// Set replaces the list with the comma-separated URLs in s.
func (l *URLList) Set(s string) error {
	var urls []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	*l = urls
	return nil
}

// CheckBaseURLs checks a list of replica base URLs: at least one, each an
// http(s) base URL, none twice.
func CheckBaseURLs(flagName string, urls []string, example string) error {
	if len(urls) == 0 {
		return fmt.Errorf("-%s is empty: give the base URL of at least one replica, such as %s", flagName, example)
	}
	seen := map[string]bool{}
	for _, u := range urls {
		if err := CheckBaseURL(flagName, u, example); err != nil {
			return err
		}
		if seen[u] {
			return fmt.Errorf("-%s lists %s twice; each replica once", flagName, u)
		}
		seen[u] = true
	}
	return nil
}

// TelemetryConfig is the telemetry configuration of the service name.
func (c Common) TelemetryConfig(name string) telemetry.Config {
	level, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil {
		level = zerolog.InfoLevel
	}
	return telemetry.Config{
		ServiceName:    name,
		ServiceVersion: Version,
		InstanceID:     c.Instance(),
		Environment:    c.Environment,
		OTLPEndpoint:   c.OTLPEndpoint,
		LogLevel:       level,
		LogOutput:      c.LogOutput,
	}
}

// Server is a built service: its app, the health state Run flips to
// draining on shutdown, and Close for what outlives the app (connections to
// peers).
type Server interface {
	App() *fiber.App
	Health() *httpx.Health
	Close()
}

// Base is the part of a Server every sample service has in common: the app
// with tracing, the health endpoints and the live fault settings F at
// /admin/faults. Embed it in the service and add routes to App().
type Base[F faults.Settings] struct {
	app    *fiber.App
	health *httpx.Health
	faults *faults.Store[F]
}

// NewBase builds the app of the service name: traced except for health
// probes, serving /healthz and /readyz (ready while every check passes) and
// GET/PUT /admin/faults starting from initial, logging each change.
func NewBase[F faults.Settings](name string, tel *telemetry.Telemetry, initial F, checks ...httpx.Check) (Base[F], error) {
	store, err := faults.NewStore(initial)
	if err != nil {
		return Base[F]{}, err
	}
	b := Base[F]{app: httpx.NewApp(name), health: httpx.NewHealth(checks...), faults: store}
	b.app.Use(httpx.Tracing(tel, httpx.IsHealthPath))
	b.health.Mount(b.app)
	faults.Mount(b.app, store, func(c *fiber.Ctx, f F) {
		tel.Log(c.UserContext()).Warn().Interface("faults", f).Msg("faults changed")
	})
	return b, nil
}

// App is the fiber app, for serving and tests.
func (b *Base[F]) App() *fiber.App { return b.app }

// Health is the readiness state.
func (b *Base[F]) Health() *httpx.Health { return b.health }

// Faults is the live fault settings.
func (b *Base[F]) Faults() *faults.Store[F] { return b.faults }

// Close releases nothing; a service that calls peers replaces it to drop
// kept-alive connections after the app has stopped.
func (b *Base[F]) Close() {}

// Run starts telemetry, builds the service, serves it on c.Listen until ctx
// ends, then drains requests and flushes telemetry. Shutdown work gets its
// own deadline (c.ShutdownTimeout), since ctx is already done by then.
func Run(ctx context.Context, name string, c Common, build func(*telemetry.Telemetry) (Server, error)) (err error) {
	tel, err := telemetry.New(ctx, c.TelemetryConfig(name))
	if err != nil {
		return err
	}
	tel.ReportSDKErrors()
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), c.ShutdownTimeout)
		defer cancel()
		if flushErr := tel.Shutdown(flushCtx); flushErr != nil {
			err = errors.Join(err, fmt.Errorf("flush telemetry to %s: %w", c.OTLPEndpoint, flushErr))
		}
	}()

	srv, err := build(tel)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("%s: listen on %s: %w (is another process using the port? pick another with -listen)", name, c.Listen, err)
	}
	log := tel.Logger
	log.Info().Str("listen", ln.Addr().String()).Str("otlp_endpoint", c.OTLPEndpoint).
		Str("service.version", Version).Msg(name + " started")

	err = httpx.Serve(ctx, srv.App(), ln, srv.Health(), c.ShutdownTimeout)
	srv.Close()
	log.Info().Err(err).Msg(name + " stopped")
	return err
}
