package fulfillment

import (
	"errors"
	"fmt"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/messaging"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
)

// Name is the service.name of the fulfillment worker.
const Name = "fulfillment"

// Faults are the worker's injectable failures, changeable at runtime
// through PUT /admin/faults.
type Faults struct {
	// Latency is added to the handling of every delivery (slow worker:
	// the queue delay grows).
	Latency faults.Latency `json:"latency"`
	// ErrorRate is the share of deliveries that fail as if the warehouse
	// system were down, from 0 to 1; they are retried with back-off.
	ErrorRate float64 `json:"error_rate"`
	// PoisonSKU makes every order with an item of this SKU fail on every
	// delivery, as a message that trips a bug does: it is retried until
	// the delivery limit and then dead-lettered. Empty: none.
	PoisonSKU string `json:"poison_sku"`
}

// Validate implements faults.Settings.
func (f Faults) Validate() error {
	if f.ErrorRate < 0 || f.ErrorRate > 1 {
		return httpx.FieldError("error_rate", "error_rate is a share of deliveries from 0 to 1, got %v", f.ErrorRate)
	}
	if len(f.PoisonSKU) > 64 {
		return httpx.FieldError("poison_sku", "poison_sku is a SKU of at most 64 characters")
	}
	return f.Latency.Validate("latency")
}

// Config is the fulfillment worker configuration.
type Config struct {
	service.Common
	// NATSURL is the broker the order events come from.
	NATSURL string
	// ConsumerName is the durable JetStream consumer: every worker
	// replica with the same name shares the work.
	ConsumerName string
	// MaxDeliveries is how many times a message is tried before it goes
	// to the dead-letter stream.
	MaxDeliveries int
	// RetryBaseDelay and RetryMaxDelay shape the back-off before a failed
	// message is delivered again: base, 2*base, 4*base... capped, with
	// full jitter.
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// BatchSize is the most messages fetched (and handled concurrently)
	// at once; FetchWait how long a fetch waits for the first.
	BatchSize int
	FetchWait time.Duration
	// AckWait is how long the broker waits for an acknowledgement before
	// delivering the message again.
	AckWait time.Duration
	// MaxShipments bounds the shipments kept in memory.
	MaxShipments int
	Faults       Faults
}

// DefaultConfig is the worker with health on :8004, reading the broker on
// :4222.
func DefaultConfig() Config {
	return Config{
		Common:         service.DefaultCommon("127.0.0.1:8004"),
		NATSURL:        messaging.DefaultURL,
		ConsumerName:   "fulfillment",
		MaxDeliveries:  5,
		RetryBaseDelay: 200 * time.Millisecond,
		RetryMaxDelay:  10 * time.Second,
		BatchSize:      16,
		FetchWait:      time.Second,
		AckWait:        30 * time.Second,
		MaxShipments:   100_000,
		Faults: Faults{
			Latency: faults.Latency{P50: faults.Duration(15 * time.Millisecond), P99: faults.Duration(80 * time.Millisecond)},
		},
	}
}

// Validate checks the whole configuration.
func (c Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	if err := messaging.CheckURL("nats-url", c.NATSURL); err != nil {
		return err
	}
	switch {
	case c.ConsumerName == "":
		return errors.New("-consumer is empty: name the durable consumer")
	case c.MaxDeliveries < 1 || c.MaxDeliveries > 100:
		return fmt.Errorf("-max-deliveries must be between 1 and 100, got %d", c.MaxDeliveries)
	case c.RetryBaseDelay <= 0 || c.RetryMaxDelay < c.RetryBaseDelay:
		return fmt.Errorf("-retry-base-delay (%s) must be positive and at most -retry-max-delay (%s)", c.RetryBaseDelay, c.RetryMaxDelay)
	case c.BatchSize < 1 || c.BatchSize > 256:
		return fmt.Errorf("-batch must be between 1 and 256, got %d", c.BatchSize)
	case c.FetchWait < 10*time.Millisecond:
		return fmt.Errorf("-fetch-wait must be at least 10ms, got %s", c.FetchWait)
	case c.AckWait < time.Second:
		return fmt.Errorf("-ack-wait must be at least 1s, got %s", c.AckWait)
	case c.MaxShipments < 1:
		return errors.New("-max-shipments must be at least 1")
	}
	if err := c.Faults.Validate(); err != nil {
		return fmt.Errorf("faults: %w", err)
	}
	return nil
}

// ParseFlags reads the configuration from args and the environment
// (FULFILLMENT_<FLAG>).
func ParseFlags(args []string, env cli.Env) (Config, error) {
	cfg := DefaultConfig()
	err := cfg.Common.ParseFlags(Name, "FULFILLMENT", args, env, func(fs *cli.FlagSet) {
		fs.StringVar(&cfg.NATSURL, "nats-url", cfg.NATSURL, "broker the order events come from, nats://[user:password@]host:port")
		fs.StringVar(&cfg.ConsumerName, "consumer", cfg.ConsumerName, "durable consumer name, shared by the worker's replicas")
		fs.IntVar(&cfg.MaxDeliveries, "max-deliveries", cfg.MaxDeliveries, "deliveries of a message before it is dead-lettered")
		fs.DurationVar(&cfg.RetryBaseDelay, "retry-base-delay", cfg.RetryBaseDelay, "back-off before the second delivery of a failed message")
		fs.DurationVar(&cfg.RetryMaxDelay, "retry-max-delay", cfg.RetryMaxDelay, "cap on the back-off")
		fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "most messages fetched and handled at once")
		fs.DurationVar(&cfg.FetchWait, "fetch-wait", cfg.FetchWait, "how long a fetch waits for messages")
		fs.DurationVar(&cfg.AckWait, "ack-wait", cfg.AckWait, "how long the broker waits for an ack before delivering again")
		fs.IntVar(&cfg.MaxShipments, "max-shipments", cfg.MaxShipments, "shipments kept in memory")
		fs.DurationVar(cfg.Faults.Latency.P50.Ptr(), "latency-p50", cfg.Faults.Latency.P50.D(), "median latency injected into every delivery")
		fs.DurationVar(cfg.Faults.Latency.P99.Ptr(), "latency-p99", cfg.Faults.Latency.P99.D(), "99th percentile latency injected into every delivery")
		fs.Float64Var(&cfg.Faults.ErrorRate, "error-rate", cfg.Faults.ErrorRate, "share of deliveries that fail and are retried, 0..1")
		fs.StringVar(&cfg.Faults.PoisonSKU, "poison-sku", cfg.Faults.PoisonSKU, "orders with this SKU fail on every delivery and end in the dead-letter stream")
	})
	if err != nil {
		return cfg, err
	}
	return cfg, cli.Usage(cfg.Validate())
}

// Command is `sample-services fulfillment`: the worker until SIGINT/SIGTERM.
var Command = service.Command(Name, "worker shipping confirmed orders from the broker (health on :8004)", ParseFlags, Run)
