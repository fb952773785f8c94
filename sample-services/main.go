// Command sample-services runs one of the demo shop's services, or the load
// generator that exercises them:
//
//	go run ./sample-services gateway|auth|order|payment [flags]
//	go run ./sample-services loadgen --target http://localhost:8000 --rps 50 --duration 2m
//
// Each service is its own process and port and sends traces and logs to an
// OTLP collector (--otlp-endpoint, default 127.0.0.1:4317). `<command> -h`
// lists a command's flags and the environment variables that set them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/auth"
	"github.com/tracehouse/tracehouse/sample-services/demo"
	"github.com/tracehouse/tracehouse/sample-services/gateway"
	"github.com/tracehouse/tracehouse/sample-services/internal/flagenv"
	"github.com/tracehouse/tracehouse/sample-services/loadgen"
	"github.com/tracehouse/tracehouse/sample-services/order"
	"github.com/tracehouse/tracehouse/sample-services/payment"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `usage: sample-services <command> [flags]

commands:
  gateway   public API on :8000 (login, checkout, order lookup)
  auth      token issue and validation on :8001
  order     order saga on :8002
  payment   card charges on :8003
  loadgen   drive the gateway with a request mix
  demo      the whole stack: tracehouse all-in-one, the four services and a gentle load

"sample-services <command> -h" lists the command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup flagenv.Lookup) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name, flags := args[0], args[1:]
	if name == "-h" || name == "-help" || name == "--help" || name == "help" {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	parse, ok := commands(stdout, stderr, lookup)[name]
	if !ok {
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", name, usage)
		return exitUsage
	}

	start, err := parse(flags)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	if err := start(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFailure
	}
	return exitOK
}

// commands maps each command to its flag parser, which returns the function
// that runs it with the parsed configuration.
func commands(stdout, stderr io.Writer, lookup flagenv.Lookup) map[string]func(args []string) (func(context.Context) error, error) {
	return map[string]func([]string) (func(context.Context) error, error){
		gateway.Name: func(args []string) (func(context.Context) error, error) {
			cfg, err := gateway.ParseFlags(args, lookup, stderr)
			return func(ctx context.Context) error { return gateway.Run(ctx, cfg) }, err
		},
		auth.Name: func(args []string) (func(context.Context) error, error) {
			cfg, err := auth.ParseFlags(args, lookup, stderr)
			return func(ctx context.Context) error { return auth.Run(ctx, cfg) }, err
		},
		order.Name: func(args []string) (func(context.Context) error, error) {
			cfg, err := order.ParseFlags(args, lookup, stderr)
			return func(ctx context.Context) error { return order.Run(ctx, cfg) }, err
		},
		payment.Name: func(args []string) (func(context.Context) error, error) {
			cfg, err := payment.ParseFlags(args, lookup, stderr)
			return func(ctx context.Context) error { return payment.Run(ctx, cfg) }, err
		},
		"demo": func(args []string) (func(context.Context) error, error) {
			cfg, err := parseDemoFlags(args, lookup, stderr)
			return func(ctx context.Context) error { return demo.Run(ctx, cfg, stdout) }, err
		},
		"loadgen": func(args []string) (func(context.Context) error, error) {
			cfg, err := loadgen.ParseFlags(args, lookup, stderr)
			return func(ctx context.Context) error {
				_, err := loadgen.Run(ctx, cfg, stdout, stderr)
				return err
			}, err
		},
	}
}

func parseDemoFlags(args []string, lookup flagenv.Lookup, stderr io.Writer) (demo.Config, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	self, _ := os.Executable()
	cfg := demo.Config{Self: self}
	fs.StringVar(&cfg.Tracehouse, "tracehouse", "bin/tracehouse", "path of the tracehouse binary")
	fs.StringVar(&cfg.Data, "data", "./data", "data folder of the all-in-one (service logs go to DATA/logs)")
	fs.Float64Var(&cfg.RPS, "rps", 5, "load generator rate (0: no load)")
	fs.DurationVar(&cfg.ReadyTimeout, "ready-timeout", 2*time.Minute, "how long each process may take to become ready")
	if err := flagenv.Parse(fs, "DEMO", args, lookup, nil); err != nil {
		return cfg, err
	}
	return cfg, nil
}
