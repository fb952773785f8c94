package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
)

// Request kinds the load generator sends.
const (
	KindCheckout = "checkout" // POST /api/checkout
	KindOrder    = "order"    // GET /api/orders/:id of an order this worker created
	KindLogin    = "login"    // POST /api/login
)

// Kinds lists every request kind, in report order.
var Kinds = []string{KindCheckout, KindOrder, KindLogin}

// Mix is the share of each request kind, as integer weights.
type Mix map[string]int

// ParseMix reads "checkout=70,order=20,login=10". Weights are relative
// (they need not add up to 100); kinds left out get weight 0.
func ParseMix(s string) (Mix, error) {
	mix := Mix{}
	total := 0
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		kind, weightText, ok := strings.Cut(entry, "=")
		kind = strings.TrimSpace(kind)
		if !ok {
			return nil, fmt.Errorf("mix entry %q: want kind=weight, e.g. checkout=70", entry)
		}
		if !slices.Contains(Kinds, kind) {
			return nil, fmt.Errorf("mix entry %q: unknown kind %q; kinds are %s", entry, kind, strings.Join(Kinds, ", "))
		}
		if _, dup := mix[kind]; dup {
			return nil, fmt.Errorf("mix entry %q: kind %q is listed twice", entry, kind)
		}
		weight, err := strconv.Atoi(strings.TrimSpace(weightText))
		if err != nil || weight < 0 {
			return nil, fmt.Errorf("mix entry %q: weight must be a whole number >= 0", entry)
		}
		mix[kind] = weight
		total += weight
	}
	if total == 0 {
		return nil, fmt.Errorf("mix %q: weights add up to 0; give at least one kind a positive weight, e.g. checkout=70,order=20,login=10", s)
	}
	return mix, nil
}

func (m Mix) String() string {
	parts := make([]string, 0, len(m))
	for _, kind := range Kinds {
		if w, ok := m[kind]; ok {
			parts = append(parts, fmt.Sprintf("%s=%d", kind, w))
		}
	}
	return strings.Join(parts, ",")
}

// Config is one load run.
type Config struct {
	// Target is the gateway's base URL.
	Target string
	// RPS is the request rate to aim for across all workers; 0 sends as
	// fast as the workers can.
	RPS         float64
	Concurrency int
	// Duration and Requests bound the run; it stops at whichever comes
	// first. Zero means no bound of that kind.
	Duration time.Duration
	Requests int
	Mix      Mix
	// Timeout bounds each request.
	Timeout time.Duration
	// ProgressInterval is how often the progress line is written.
	ProgressInterval time.Duration
}

// DefaultMix is the mix when --mix is not given.
const DefaultMix = "checkout=70,order=20,login=10"

// DefaultConfig is 50 rps from 8 workers for a minute against a local gateway.
func DefaultConfig() Config {
	mix, _ := ParseMix(DefaultMix)
	return Config{
		Target:           "http://127.0.0.1:8000",
		RPS:              50,
		Concurrency:      8,
		Duration:         time.Minute,
		Mix:              mix,
		Timeout:          10 * time.Second,
		ProgressInterval: time.Second,
	}
}

// Validate checks the run configuration.
func (c Config) Validate() error {
	u, err := url.Parse(c.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--target %q: want the gateway's base URL, e.g. http://localhost:8000", c.Target)
	}
	switch {
	case c.RPS < 0:
		return fmt.Errorf("--rps must be >= 0 (0 = as fast as possible), got %v", c.RPS)
	case c.Concurrency < 1 || c.Concurrency > 1000:
		return fmt.Errorf("--concurrency must be between 1 and 1000, got %d", c.Concurrency)
	case c.Duration < 0:
		return fmt.Errorf("--duration must not be negative, got %s", c.Duration)
	case c.Requests < 0:
		return fmt.Errorf("--requests must not be negative, got %d", c.Requests)
	case c.Duration == 0 && c.Requests == 0:
		return errors.New("the run has no end: set --duration, --requests or both")
	case c.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", c.Timeout)
	case c.ProgressInterval <= 0:
		return fmt.Errorf("progress interval must be positive, got %s", c.ProgressInterval)
	}
	if len(c.Mix) == 0 {
		return errors.New("--mix is empty; e.g. " + DefaultMix)
	}
	return nil
}

// ParseFlags reads a run configuration from args and the environment
// (LOADGEN_<FLAG>). --requests alone lifts the default --duration, so
// "--requests 500" sends 500 requests however long that takes.
func ParseFlags(args []string, env cli.Env) (Config, error) {
	cfg := DefaultConfig()
	mixText := DefaultMix
	fs := cli.NewFlagSet("sample-services loadgen", "LOADGEN", env)
	fs.StringVar(&cfg.Target, "target", cfg.Target, "gateway base URL")
	fs.Float64Var(&cfg.RPS, "rps", cfg.RPS, "target requests per second across all workers; 0 = as fast as possible")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent workers, each logged in as its own user")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to run; 0 = until --requests are sent")
	fs.IntVar(&cfg.Requests, "requests", cfg.Requests, "how many requests to send; 0 = until --duration ends")
	fs.StringVar(&mixText, "mix", mixText, "relative weights of request kinds: checkout, order, login")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "timeout of each request")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.Given("requests") && !fs.Given("duration") {
		cfg.Duration = 0
	}
	mix, err := ParseMix(mixText)
	if err != nil {
		return cfg, cli.Usage(fmt.Errorf("--mix: %w", err))
	}
	cfg.Mix = mix
	return cfg, cli.Usage(cfg.Validate())
}

// Command is `sample-services loadgen`: one load run against the gateway,
// its report on stdout and its progress on stderr.
var Command = cli.Command{Name: "loadgen", Summary: "drive the gateway with a request mix", Run: runCommand}

func runCommand(ctx context.Context, args []string, env cli.Env) error {
	cfg, err := ParseFlags(args, env)
	if err != nil {
		return err
	}
	_, err = Run(ctx, cfg, env.Stdout, env.Stderr)
	return err
}
