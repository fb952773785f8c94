package order

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/messaging"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
)

// Name is the service.name of the order service.
const Name = "order"

// Faults are how the order service calls payment: circuit breaker, per-call
// timeout and retries. They sit with the fault settings because changing
// them at runtime is how a demo shows the breaker tripping sooner or later.
// Changing a breaker_* field replaces the breaker, which starts closed.
type Faults struct {
	// BreakerFailureThreshold is how many consecutive failed payment calls
	// open the breaker.
	BreakerFailureThreshold uint32 `json:"breaker_failure_threshold"`
	// BreakerOpenTimeout is how long the breaker stays open before letting
	// trial calls through (half-open).
	BreakerOpenTimeout faults.Duration `json:"breaker_open_timeout"`
	// BreakerHalfOpenRequests is how many trial calls half-open allows.
	BreakerHalfOpenRequests uint32 `json:"breaker_half_open_requests"`
	// PaymentTimeout bounds each call to payment.
	PaymentTimeout faults.Duration `json:"payment_timeout"`
	// PaymentAttempts is the most calls per charge, first try included.
	PaymentAttempts int `json:"payment_attempts"`
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff
	// between attempts: base, 2*base, 4*base... capped, with full jitter.
	RetryBaseDelay faults.Duration `json:"retry_base_delay"`
	RetryMaxDelay  faults.Duration `json:"retry_max_delay"`
}

// Validate implements faults.Settings.
func (f Faults) Validate() error {
	switch {
	case f.BreakerFailureThreshold < 1:
		return httpx.FieldError("breaker_failure_threshold", "breaker_failure_threshold must be at least 1, got %d", f.BreakerFailureThreshold)
	case f.BreakerOpenTimeout <= 0:
		return httpx.FieldError("breaker_open_timeout", "breaker_open_timeout must be positive, got %s", f.BreakerOpenTimeout.D())
	case f.BreakerHalfOpenRequests < 1:
		return httpx.FieldError("breaker_half_open_requests", "breaker_half_open_requests must be at least 1, got %d", f.BreakerHalfOpenRequests)
	case f.PaymentTimeout <= 0:
		return httpx.FieldError("payment_timeout", "payment_timeout must be positive, got %s", f.PaymentTimeout.D())
	case f.PaymentAttempts < 1 || f.PaymentAttempts > 10:
		return httpx.FieldError("payment_attempts", "payment_attempts must be between 1 and 10, got %d", f.PaymentAttempts)
	case f.RetryBaseDelay < 0:
		return httpx.FieldError("retry_base_delay", "retry_base_delay must not be negative, got %s", f.RetryBaseDelay.D())
	case f.RetryMaxDelay < f.RetryBaseDelay:
		return httpx.FieldError("retry_max_delay", "retry_max_delay (%s) must be at least retry_base_delay (%s)", f.RetryMaxDelay.D(), f.RetryBaseDelay.D())
	}
	return nil
}

func (f Faults) breakerSettingsEqual(other Faults) bool {
	return f.BreakerFailureThreshold == other.BreakerFailureThreshold &&
		f.BreakerOpenTimeout == other.BreakerOpenTimeout &&
		f.BreakerHalfOpenRequests == other.BreakerHalfOpenRequests
}

// Config is the order service configuration.
type Config struct {
	service.Common
	// PaymentURLs are the payment replicas, balanced by idempotency key.
	PaymentURLs service.URLList
	// NATSURL is the broker order events go to; empty publishes none.
	NATSURL string
	// PublishTimeout bounds one attempt to publish an event; after it the
	// event waits in the outbox and the checkout goes on.
	PublishTimeout time.Duration
	// OutboxSize bounds the events kept while the broker is away.
	OutboxSize int
	Faults     Faults
	// InitialStock is the stock every SKU starts with; SKUs are stocked on
	// first sight, so any SKU a client sends exists.
	InitialStock int
	// MaxOrders bounds the in-memory order store; the oldest go first.
	MaxOrders int
	// MaxSKUs bounds the inventory, which otherwise grows with every new
	// SKU a client invents.
	MaxSKUs int
}

// DefaultConfig is order on :8002 calling payment on :8003 and publishing
// to the broker on :4222.
func DefaultConfig() Config {
	return Config{
		Common:         service.DefaultCommon("127.0.0.1:8002"),
		PaymentURLs:    service.URLList{"http://127.0.0.1:8003"},
		NATSURL:        messaging.DefaultURL,
		PublishTimeout: 2 * time.Second,
		OutboxSize:     10_000,
		Faults: Faults{
			BreakerFailureThreshold: 5,
			BreakerOpenTimeout:      faults.Duration(10 * time.Second),
			BreakerHalfOpenRequests: 1,
			PaymentTimeout:          faults.Duration(2 * time.Second),
			PaymentAttempts:         3,
			RetryBaseDelay:          faults.Duration(50 * time.Millisecond),
			RetryMaxDelay:           faults.Duration(time.Second),
		},
		InitialStock: 1_000_000,
		MaxOrders:    100_000,
		MaxSKUs:      10_000,
	}
}

// Validate checks the whole configuration.
func (c Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := service.CheckBaseURLs("payment-url", c.PaymentURLs, "http://127.0.0.1:8003"); err != nil {
		return err
	}
	if c.NATSURL != "" {
		if err := messaging.CheckURL("nats-url", c.NATSURL); err != nil {
			return err
		}
	}
	if c.PublishTimeout <= 0 {
		return fmt.Errorf("-publish-timeout must be positive, got %s", c.PublishTimeout)
	}
	if c.OutboxSize < 1 {
		return errors.New("-outbox-size must be at least 1")
	}
	if err := c.Faults.Validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	if c.InitialStock < 0 {
		return errors.New("-initial-stock must not be negative")
	}
	if c.MaxOrders < 1 || c.MaxSKUs < 1 {
		return errors.New("-max-orders and -max-skus must be at least 1")
	}
	return nil
}

// ParseFlags reads the configuration from args and the environment
// (ORDER_<FLAG>).
func ParseFlags(args []string, env cli.Env) (Config, error) {
	cfg := DefaultConfig()
	err := cfg.Common.ParseFlags(Name, "ORDER", args, env, func(fs *cli.FlagSet) {
		f := &cfg.Faults
		fs.Var(&cfg.PaymentURLs, "payment-url", "base URLs of the payment replicas, comma-separated")
		fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "broker that order events are published to, nats://[user:password@]host:port; empty publishes none")
		fs.DurationVar(&cfg.PublishTimeout, "publish-timeout", cfg.PublishTimeout, "how long one publish may wait for the broker before the event waits in the outbox")
		fs.IntVar(&cfg.OutboxSize, "outbox-size", cfg.OutboxSize, "events kept for retry while the broker is away")
		fs.Func("breaker-failures", fmt.Sprintf("consecutive payment failures that open the circuit breaker (default %d)", f.BreakerFailureThreshold), uintSetter(&f.BreakerFailureThreshold))
		fs.DurationVar(f.BreakerOpenTimeout.Ptr(), "breaker-open-timeout", f.BreakerOpenTimeout.D(), "how long the breaker stays open before trial calls")
		fs.Func("breaker-half-open-requests", fmt.Sprintf("trial calls allowed while half-open (default %d)", f.BreakerHalfOpenRequests), uintSetter(&f.BreakerHalfOpenRequests))
		fs.DurationVar(f.PaymentTimeout.Ptr(), "payment-timeout", f.PaymentTimeout.D(), "timeout of each call to payment")
		fs.IntVar(&f.PaymentAttempts, "payment-attempts", f.PaymentAttempts, "most calls per charge, first try included")
		fs.DurationVar(f.RetryBaseDelay.Ptr(), "retry-base-delay", f.RetryBaseDelay.D(), "first backoff delay between payment attempts")
		fs.DurationVar(f.RetryMaxDelay.Ptr(), "retry-max-delay", f.RetryMaxDelay.D(), "cap on the backoff delay")
		fs.IntVar(&cfg.InitialStock, "initial-stock", cfg.InitialStock, "stock each SKU starts with")
		fs.IntVar(&cfg.MaxOrders, "max-orders", cfg.MaxOrders, "orders kept in memory")
		fs.IntVar(&cfg.MaxSKUs, "max-skus", cfg.MaxSKUs, "distinct SKUs the inventory tracks")
	})
	if err != nil {
		return cfg, err
	}
	return cfg, cli.Usage(cfg.Validate())
}

// Command is `sample-services order`: the order service until SIGINT/SIGTERM.
var Command = service.Command(Name, "order saga on :8002, publishing order events to the broker", ParseFlags, Run)

func uintSetter(dst *uint32) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		*dst = uint32(v)
		return nil
	}
}
