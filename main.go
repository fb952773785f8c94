// Command tracehouse is the Tracehouse product binary: the embedded
// ClickHouse, schema migrations, the collector and the query service, each a
// subcommand, and all of them together in one process with `all-in-one`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/collector"
	"github.com/tracehouse/tracehouse/internal/allinone"
	"github.com/tracehouse/tracehouse/internal/logging"
	"github.com/tracehouse/tracehouse/query/api"
	"github.com/tracehouse/tracehouse/storage/embedded"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// command is one subcommand of the binary.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, log zerolog.Logger, stdout io.Writer) error
}

var commands = map[string]command{
	"all-in-one": {"embedded ClickHouse + schema + collector + query API and UI in one process (the default)", allinone.Run},
	"collector":  {"the OpenTelemetry Collector distribution (--config FILE; validate, components, featuregate)", collector.Run},
	"query":      {"the query API (Jaeger-compatible + Tracehouse) and the web UI", api.RunCommand},
	"clickhouse": {"the embedded ClickHouse engine behind ClickHouse's HTTP interface", embedded.RunCommand},
	"migrate": {"apply the schema migrations to a ClickHouse server or cluster", func(ctx context.Context, args []string, _ zerolog.Logger, stdout io.Writer) error {
		return schema.RunMigrateCommand(ctx, args, stdout)
	}},
}

func main() {
	args := os.Args[1:]
	name := "all-in-one"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		usage(os.Stdout)
		return
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "tracehouse: unknown command %q\n\n", name)
		usage(os.Stderr)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, args, logging.New(name), os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tracehouse %s: %v\n", name, err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: tracehouse [command] [flags]   (no command: all-in-one)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\n`tracehouse COMMAND -h` lists a command's flags; every flag has an environment override.")
}
