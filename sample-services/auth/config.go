package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
)

// Name is the service.name of the auth service.
const Name = "auth"

// Faults are auth's injectable failures.
type Faults struct {
	// Latency models the identity provider behind auth: every token issue
	// and every validation that misses the cache pays it.
	Latency faults.Latency `json:"latency"`
}

// Validate implements faults.Settings.
func (f Faults) Validate() error { return f.Latency.Validate("latency") }

// Config is the auth service configuration.
type Config struct {
	service.Common
	Faults   Faults
	TokenTTL time.Duration
	// CacheSize bounds the validated-token cache.
	CacheSize int
	// TokenSecret signs tokens. Empty picks a random secret at start, so
	// tokens do not survive a restart of auth, which is fine for a demo.
	TokenSecret string
}

// DefaultConfig is auth on :8001.
func DefaultConfig() Config {
	return Config{
		Common: service.DefaultCommon("127.0.0.1:8001"),
		Faults: Faults{
			Latency: faults.Latency{P50: faults.Duration(5 * time.Millisecond), P99: faults.Duration(40 * time.Millisecond)},
		},
		TokenTTL:  time.Hour,
		CacheSize: 10_000,
	}
}

// Validate checks the whole configuration.
func (c Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := c.Faults.Validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	if c.TokenTTL <= 0 {
		return fmt.Errorf("-token-ttl must be positive, got %s", c.TokenTTL)
	}
	if c.CacheSize < 1 {
		return errors.New("-cache-size must be at least 1")
	}
	return nil
}

// ParseFlags reads the configuration from args and the environment
// (AUTH_<FLAG>).
func ParseFlags(args []string, env cli.Env) (Config, error) {
	cfg := DefaultConfig()
	err := cfg.Common.ParseFlags(Name, "AUTH", args, env, func(fs *cli.FlagSet) {
		fs.DurationVar(cfg.Faults.Latency.P50.Ptr(), "latency-p50", cfg.Faults.Latency.P50.D(), "median injected latency of the identity provider")
		fs.DurationVar(cfg.Faults.Latency.P99.Ptr(), "latency-p99", cfg.Faults.Latency.P99.D(), "99th percentile injected latency of the identity provider")
		fs.DurationVar(&cfg.TokenTTL, "token-ttl", cfg.TokenTTL, "lifetime of issued tokens")
		fs.IntVar(&cfg.CacheSize, "cache-size", cfg.CacheSize, "validated tokens kept in memory")
		fs.StringVar(&cfg.TokenSecret, "token-secret", cfg.TokenSecret, "HMAC secret for tokens; empty picks a random one per start")
	})
	if err != nil {
		return cfg, err
	}
	return cfg, cli.Usage(cfg.Validate())
}

// Command is `sample-services auth`: the auth service until SIGINT/SIGTERM.
var Command = service.Command(Name, "token issue and validation on :8001", ParseFlags, Run)
