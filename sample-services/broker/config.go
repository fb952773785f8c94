package broker

import (
	"errors"
	"fmt"
	"net"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
)

// Name is the service.name of the broker.
const Name = "broker"

// Faults: the broker has none to inject; /admin/faults serves {} so every
// service answers the same admin API. Stop it (or SIGSTOP it) to see the
// order service's outbox and the worker's reconnects at work.
type Faults struct{}

// Validate implements faults.Settings.
func (Faults) Validate() error { return nil }

// Config is the broker configuration.
type Config struct {
	service.Common
	// NATSListen is where NATS clients connect.
	NATSListen string
	// Data is the JetStream store folder.
	Data string
	// MaxStore bounds the JetStream file store, in bytes.
	MaxStore int64
	// User and Password are required of clients; they must be set when
	// NATSListen is not a loopback address.
	User, Password string
}

// DefaultConfig is the broker of `make run`: NATS on 127.0.0.1:4222, health
// on :8005, JetStream in ./data/broker.
func DefaultConfig() Config {
	return Config{
		Common:     service.DefaultCommon("127.0.0.1:8005"),
		NATSListen: "127.0.0.1:4222",
		Data:       "./data/broker",
		MaxStore:   1 << 30,
	}
}

// Validate checks the whole configuration.
func (c Config) Validate() error {
	if err := c.Common.Validate(); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(c.NATSListen)
	if err != nil {
		return fmt.Errorf("-nats-listen %q: want host:port such as 127.0.0.1:4222: %w", c.NATSListen, err)
	}
	if (c.User == "") != (c.Password == "") {
		return errors.New("-user and -password go together: set both or neither")
	}
	// Beyond this machine, credentials are required, never optional.
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && c.User == "" {
		return fmt.Errorf("-nats-listen %s is reachable from other machines: set -user and -password (clients then connect to nats://USER:PASSWORD@host:port), or listen on 127.0.0.1", c.NATSListen)
	}
	if c.Data == "" {
		return errors.New("-data is empty: name the folder JetStream keeps its streams in")
	}
	if c.MaxStore < 1<<20 {
		return fmt.Errorf("-max-store must be at least 1 MiB, got %d bytes", c.MaxStore)
	}
	return nil
}

// ParseFlags reads the configuration from args and the environment
// (BROKER_<FLAG>).
func ParseFlags(args []string, env cli.Env) (Config, error) {
	cfg := DefaultConfig()
	err := cfg.Common.ParseFlags(Name, "BROKER", args, env, func(fs *cli.FlagSet) {
		fs.StringVar(&cfg.NATSListen, "nats-listen", cfg.NATSListen, "address NATS clients connect to, host:port")
		fs.StringVar(&cfg.Data, "data", cfg.Data, "folder of the JetStream store (kept across restarts)")
		fs.Int64Var(&cfg.MaxStore, "max-store", cfg.MaxStore, "most bytes the JetStream store may use")
		fs.StringVar(&cfg.User, "user", cfg.User, "user clients must authenticate as (required beyond loopback)")
		fs.StringVar(&cfg.Password, "password", cfg.Password, "password of -user")
	})
	if err != nil {
		return cfg, err
	}
	return cfg, cli.Usage(cfg.Validate())
}

// Command is `sample-services broker`: NATS with JetStream until
// SIGINT/SIGTERM.
var Command = service.Command(Name, "NATS + JetStream message broker on :4222 (health on :8005)", ParseFlags, Run)
