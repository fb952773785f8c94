package payment

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
)

// Name is the service.name of the payment service.
const Name = "payment"

// Faults are payment's injectable failures, changeable at runtime through
// PUT /admin/faults.
type Faults struct {
	// ErrorRate is the share of charges declined with "card declined",
	// from 0 to 1.
	ErrorRate float64 `json:"error_rate"`
	// Latency is added to every charge request.
	Latency faults.Latency `json:"latency"`
	// Outage makes every charge answer 503, as if the processor were down;
	// this is what trips the order service's circuit breaker.
	Outage bool `json:"outage"`
}

// Validate implements faults.Settings.
func (f Faults) Validate() error {
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		return httpx.FieldError("error_rate", "error_rate is a share of charges from 0 to 1, got %v", f.ErrorRate)
	}
	return f.Latency.Validate("latency")
}

// Config is the payment service configuration.
type Config struct {
	service.Common
	Faults Faults
	// MaxRecords bounds how many charges and idempotency keys are kept in
	// memory; the oldest are forgotten first.
	MaxRecords int
}

// DefaultConfig is payment on :8003 with a little latency and no failures.
func DefaultConfig() Config {
	return Config{
		Common: service.DefaultCommon("127.0.0.1:8003"),
		Faults: Faults{
			Latency: faults.Latency{P50: faults.Duration(20 * time.Millisecond), P99: faults.Duration(120 * time.Millisecond)},
		},
		MaxRecords: 100_000,
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
	if c.MaxRecords < 1 {
		return errors.New("-max-records must be at least 1")
	}
	return nil
}

// ParseFlags reads the configuration from args and the environment
// (PAYMENT_<FLAG>).
func ParseFlags(args []string, env cli.Env) (Config, error) {
	cfg := DefaultConfig()
	err := cfg.Common.ParseFlags(Name, "PAYMENT", args, env, func(fs *cli.FlagSet) {
		fs.Float64Var(&cfg.Faults.ErrorRate, "error-rate", cfg.Faults.ErrorRate, "share of charges declined with \"card declined\", 0..1")
		fs.DurationVar(cfg.Faults.Latency.P50.Ptr(), "latency-p50", cfg.Faults.Latency.P50.D(), "median injected latency per charge")
		fs.DurationVar(cfg.Faults.Latency.P99.Ptr(), "latency-p99", cfg.Faults.Latency.P99.D(), "99th percentile injected latency per charge")
		fs.BoolVar(&cfg.Faults.Outage, "outage", cfg.Faults.Outage, "answer every charge with 503 (simulated processor outage)")
		fs.IntVar(&cfg.MaxRecords, "max-records", cfg.MaxRecords, "charges and idempotency keys kept in memory")
	})
	if err != nil {
		return cfg, err
	}
	return cfg, cli.Usage(cfg.Validate())
}

// Command is `sample-services payment`: the payment service until SIGINT/SIGTERM.
var Command = service.Command(Name, "card charges on :8003", ParseFlags, Run)
