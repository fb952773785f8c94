package demo

import (
	"context"
	"os"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
)

// Config says which binaries to run and where.
type Config struct {
	// Tracehouse is the path of the tracehouse binary.
	Tracehouse string
	// Self is the sample-services binary (for the services and loadgen).
	Self string
	// Data is the all-in-one data folder; service logs go to Data/logs.
	Data string
	// RPS is the load generator's rate; 0 starts no load.
	RPS float64
	// ReadyTimeout bounds the wait for each process to become ready.
	ReadyTimeout time.Duration
}

// ParseFlags reads the demo's configuration from args and the environment
// (DEMO_<FLAG>); the services and the load generator are this binary.
func ParseFlags(args []string, env cli.Env) (Config, error) {
	self, _ := os.Executable()
	cfg := Config{Self: self}
	fs := cli.NewFlagSet("sample-services demo", "DEMO", env)
	fs.StringVar(&cfg.Tracehouse, "tracehouse", "bin/tracehouse", "path of the tracehouse binary")
	fs.StringVar(&cfg.Data, "data", "./data", "data folder of the all-in-one (service logs go to DATA/logs)")
	fs.Float64Var(&cfg.RPS, "rps", 5, "load generator rate (0: no load)")
	fs.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 2*time.Minute, "how long each process may take to become ready")
	err := fs.Parse(args)
	return cfg, err
}

// Command is `sample-services demo`: the whole stack until SIGINT/SIGTERM.
var Command = cli.Command{
	Name:    "demo",
	Summary: "the whole stack: tracehouse all-in-one, the broker, the services (order and payment twice), fulfillment and a gentle load",
	Run:     runCommand,
}

func runCommand(ctx context.Context, args []string, env cli.Env) error {
	cfg, err := ParseFlags(args, env)
	if err != nil {
		return err
	}
	return Run(ctx, cfg, env.Stdout)
}
