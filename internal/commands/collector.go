package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tracehouse/tracehouse/collector"
	"github.com/tracehouse/tracehouse/internal/cli"
)

// Collector is `tracehouse collector ARGS…`: the collector distribution's
// own command (otelcol's: --config, validate, components, featuregate,
// print-config), logging through the command's logger.
var Collector = cli.Command{
	Name:    "collector",
	Summary: "the OpenTelemetry Collector distribution (--config FILE; validate, components, featuregate)",
	Run:     runCollector,
}

func runCollector(ctx context.Context, args []string, env cli.Env) error {
	cmd := collector.NewCommand(env.Logger)
	setCollectorEnv(cmd, env.Lookup)
	cmd.SetArgs(args)
	cmd.SetOut(env.Stdout)
	cmd.SetErr(env.Stderr)
	cmd.SilenceErrors = true // the program reports the returned error
	// otelcol handles SIGTERM and SIGINT itself and shuts down with the
	// context it was given. The program's context ends on the same
	// signal, so with it the shutdown often failed ("failed to shutdown
	// logger: context canceled") and a clean stop exited 1.
	return cmd.ExecuteContext(context.WithoutCancel(ctx))
}

// collectorEnvVar is the variable of the collector's flag name:
// TRACEHOUSE_COLLECTOR_CONFIG for --config.
func collectorEnvVar(name string) string {
	return "TRACEHOUSE_COLLECTOR_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// setCollectorEnv gives every flag of cmd and of its subcommands the
// environment override every tracehouse flag has: its usage names
// the variable, and a flag not on the command line takes the variable's
// value. otelcol parses its own flags (cobra), so this cannot be a
// cli.FlagSet. A --config variable holds one location (file path or
// URI); more need the flag.
func setCollectorEnv(cmd *cobra.Command, lookup cli.Lookup) {
	for _, c := range append([]*cobra.Command{cmd}, cmd.Commands()...) {
		c.Flags().VisitAll(func(f *pflag.Flag) { f.Usage += " (env " + collectorEnvVar(f.Name) + ")" })
	}
	// Runs after cobra has parsed the command line of whichever command
	// was chosen (otelcol's commands have no hook of their own).
	cmd.PersistentPreRunE = func(c *cobra.Command, _ []string) error {
		return applyCollectorEnv(c.Flags(), lookup)
	}
}

// applyCollectorEnv sets each flag of flags not given on the command line
// from its variable.
func applyCollectorEnv(flags *pflag.FlagSet, lookup cli.Lookup) error {
	if lookup == nil {
		return nil
	}
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil || f.Name == "help" || f.Name == "version" {
			return
		}
		name := collectorEnvVar(f.Name)
		value, ok := lookup(name)
		if !ok {
			return
		}
		if setErr := flags.Set(f.Name, value); setErr != nil {
			err = cli.Usage(fmt.Errorf("environment variable %s=%q is not a valid value for --%s: %w", name, value, f.Name, setErr))
		}
	})
	return err
}
