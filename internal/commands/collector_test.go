package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tracehouse/tracehouse/collector"
	"github.com/tracehouse/tracehouse/internal/cli"
)

func runCollectorCmd(out *bytes.Buffer, vars map[string]string, args ...string) error {
	return Collector.Run(context.Background(), args, cli.Env{Stdout: out, Stderr: out, Lookup: lookup(vars)})
}

func TestCollector(t *testing.T) {
	if use := collector.NewCommand(zerolog.Nop()).Use; use != "collector" {
		t.Errorf("command is %q, want collector", use)
	}
	t.Setenv("TRACEHOUSE_CLICKHOUSE", "http://127.0.0.1:8123/default")
	path := filepath.Join(t.TempDir(), "gw.yaml")
	text, _ := collector.Config(collector.IngestGateway)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := runCollectorCmd(&out, nil, "validate", "--config", path); err != nil {
		t.Errorf("collector validate --config %s: %v", path, err)
	}
	const unknownReceiver = "yaml:receivers: {nope: {}}"
	if err := runCollectorCmd(&out, nil, "validate", "--config", unknownReceiver); err == nil {
		t.Error("validate accepted an unknown receiver type")
	}
	out.Reset()
	if err := runCollectorCmd(&out, nil, "components"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: tracehouse", "name: jsonl", "name: kafka", "name: file_storage", "name: bearertokenauth", "version: dev"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("collector components output lacks %q:\n%s", want, out.String())
		}
	}

	// The variable sets --config, and the flag beats it.
	if err := runCollectorCmd(&out, map[string]string{"TRACEHOUSE_COLLECTOR_CONFIG": unknownReceiver}, "validate"); err == nil {
		t.Error("TRACEHOUSE_COLLECTOR_CONFIG is not read: validate accepted the default config")
	}
	if err := runCollectorCmd(&out, map[string]string{"TRACEHOUSE_COLLECTOR_CONFIG": path}, "validate"); err != nil {
		t.Errorf("TRACEHOUSE_COLLECTOR_CONFIG=%s validate: %v", path, err)
	}
	if err := runCollectorCmd(&out, map[string]string{"TRACEHOUSE_COLLECTOR_CONFIG": unknownReceiver}, "validate", "--config", path); err != nil {
		t.Errorf("--config does not beat TRACEHOUSE_COLLECTOR_CONFIG: %v", err)
	}
	out.Reset()
	if err := runCollectorCmd(&out, nil, "-h"); err != nil || !strings.Contains(out.String(), "(env TRACEHOUSE_COLLECTOR_CONFIG)") {
		t.Errorf("collector -h does not name TRACEHOUSE_COLLECTOR_CONFIG (%v):\n%s", err, out.String())
	}
}

// collectorFlagValues are valid values of the collector's flags whose
// default is not one.
var collectorFlagValues = map[string]string{"set": "exporters.debug.verbosity=basic", "feature-gates": ""}

// The collector's flags are otelcol's, parsed by cobra; they get the same
// environment overrides as every other flag.
func TestCollectorFlagsHaveEnvironmentVariables(t *testing.T) {
	cmd := collector.NewCommand(zerolog.Nop())
	setCollectorEnv(cmd, nil)
	n := 0
	for _, c := range append([]*cobra.Command{cmd}, cmd.Commands()...) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			n++
			name := collectorEnvVar(f.Name)
			if !strings.HasPrefix(name, "TRACEHOUSE_COLLECTOR_") || !strings.Contains(f.Usage, "(env "+name+")") {
				t.Errorf("%s --%s: usage %q does not name %s", c.Name(), f.Name, f.Usage, name)
			}
			// A fresh command, so that setting this flag leaves the others
			// unchanged.
			fresh := collector.NewCommand(zerolog.Nop())
			flags := fresh.Flags()
			if c != cmd {
				sub, _, err := fresh.Find([]string{c.Name()})
				if err != nil {
					t.Fatal(err)
				}
				flags = sub.Flags()
			}
			value, ok := collectorFlagValues[f.Name]
			if !ok {
				value = f.DefValue
			}
			if err := applyCollectorEnv(flags, lookup(map[string]string{name: value})); err != nil {
				t.Errorf("%s=%q: %v", name, value, err)
			} else if !flags.Lookup(f.Name).Changed {
				t.Errorf("%s does not set %s --%s", name, c.Name(), f.Name)
			}
		})
	}
	if n < 3 {
		t.Errorf("found %d collector flags; want at least --config, --set and --feature-gates", n)
	}
}
