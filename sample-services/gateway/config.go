package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
)

// Name is the service.name of the gateway.
const Name = "gateway"

// Faults are the gateway's injectable failures.
type Faults struct {
	// Latency is added to every /api request before it is handled.
	Latency faults.Latency `json:"latency"`
}

// Validate implements faults.Settings.
func (f Faults) Validate() error { return f.Latency.Validate("latency") }

// Config is the gateway configuration.
type Config struct {
	service.Common
	// AuthURLs and OrderURLs are the replicas of auth and order.
	AuthURLs  service.URLList
	OrderURLs service.URLList
	// RateLimit requests per RateWindow are allowed per client IP on /api.
	RateLimit  int
	RateWindow time.Duration
	// UpstreamTimeout bounds each call to auth and order.
	UpstreamTimeout time.Duration
	Faults          Faults
}

// DefaultConfig is the gateway on :8000 in front of auth :8001 and order :8002.
func DefaultConfig() Config {
	return Config{
		Common:          service.DefaultCommon("127.0.0.1:8000"),
		AuthURLs:        service.URLList{"http://127.0.0.1:8001"},
		OrderURLs:       service.URLList{"http://127.0.0.1:8002"},
		RateLimit:       200,
		RateWindow:      time.Second,
		UpstreamTimeout: 10 * time.Second,
	}
}

// Validate checks the whole configuration.
func (c Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := service.CheckBaseURLs("auth-url", c.AuthURLs, "http://127.0.0.1:8001"); err != nil {
		return err
	}
	if err := service.CheckBaseURLs("order-url", c.OrderURLs, "http://127.0.0.1:8002,http://127.0.0.1:8012"); err != nil {
		return err
	}
	if c.RateLimit < 1 {
		return errors.New("-rate-limit must be at least 1 request per window")
	}
	// fiber's limiter counts in whole seconds.
	if c.RateWindow < time.Second {
		return fmt.Errorf("-rate-window must be at least 1s, got %s", c.RateWindow)
	}
	if c.UpstreamTimeout <= 0 {
		return fmt.Errorf("-upstream-timeout must be positive, got %s", c.UpstreamTimeout)
	}
	if err := c.Faults.Validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	return nil
}

// ParseFlags reads the configuration from args and the environment
// (GATEWAY_<FLAG>).
func ParseFlags(args []string, env cli.Env) (Config, error) {
	cfg := DefaultConfig()
	err := cfg.Common.ParseFlags(Name, "GATEWAY", args, env, func(fs *cli.FlagSet) {
		fs.Var(&cfg.AuthURLs, "auth-url", "base URLs of the auth replicas, comma-separated")
		fs.Var(&cfg.OrderURLs, "order-url", "base URLs of the order replicas, comma-separated")
		fs.IntVar(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "requests per -rate-window allowed per client IP on /api")
		fs.DurationVar(&cfg.RateWindow, "rate-window", cfg.RateWindow, "rate limit window (whole seconds)")
		fs.DurationVar(&cfg.UpstreamTimeout, "upstream-timeout", cfg.UpstreamTimeout, "timeout of each call to auth and order")
		fs.DurationVar(cfg.Faults.Latency.P50.Ptr(), "latency-p50", cfg.Faults.Latency.P50.D(), "median latency injected into every /api request")
		fs.DurationVar(cfg.Faults.Latency.P99.Ptr(), "latency-p99", cfg.Faults.Latency.P99.D(), "99th percentile latency injected into every /api request")
	})
	if err != nil {
		return cfg, err
	}
	return cfg, cli.Usage(cfg.Validate())
}

// Command is `sample-services gateway`: the gateway until SIGINT/SIGTERM.
var Command = service.Command(Name, "public API on :8000 (login, checkout, order lookup)", ParseFlags, Run)
