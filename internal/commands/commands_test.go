package commands

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

func TestMain(m *testing.M) {
	if code, ok := runChildCommand(); ok {
		os.Exit(code)
	}
	// A child process the end-to-end tests started as `tracehouse`.
	if code, ok := runAsTracehouse(); ok {
		os.Exit(code)
	}
	chtest.Main(m)
}

func lookup(vars map[string]string) cli.Lookup {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

// flagSets builds the flag set of each command that parses with
// cli.FlagSet (all but collector, whose flags are otelcol's).
var flagSets = map[string]func(cli.Env) *cli.FlagSet{
	AllInOne.Name:   func(env cli.Env) *cli.FlagSet { fs, _ := allInOneFlags(env); return fs },
	Query.Name:      func(env cli.Env) *cli.FlagSet { fs, _ := queryFlags(env); return fs },
	ClickHouse.Name: func(env cli.Env) *cli.FlagSet { fs, _, _ := clickHouseFlags(env); return fs },
	Migrate.Name:    func(env cli.Env) *cli.FlagSet { fs, _ := migrateFlags(env); return fs },
}

// valueFor is a value flag name accepts that differs from its default.
func valueFor(t *testing.T, fs *cli.FlagSet, name string) string {
	t.Helper()
	f := fs.Lookup(name)
	for _, v := range []string{"3d", "3s", "7", "true", "false"} {
		if f.Value.Set(v) == nil && f.Value.String() != f.DefValue {
			return v
		}
	}
	t.Fatalf("--%s: found no valid value other than its default %q", name, f.DefValue)
	return ""
}

// Every flag of every command names its variable in -h, and the variable
// sets it.
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	for _, cmd := range Tracehouse.Commands {
		if cmd.Name == Collector.Name {
			continue // TestCollectorFlagsHaveEnvironmentVariables
		}
		newFlags, ok := flagSets[cmd.Name]
		if !ok {
			t.Errorf("command %s is missing from flagSets", cmd.Name)
			continue
		}
		var help bytes.Buffer
		if err := cmd.Run(context.Background(), []string{"-h"}, cli.Env{Stdout: &help}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s -h: %v", cmd.Name, err)
		}
		var names []string
		newFlags(cli.Env{}).VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if len(names) == 0 {
			t.Errorf("%s has no flags", cmd.Name)
		}
		for _, name := range names {
			t.Run(cmd.Name+"/"+name, func(t *testing.T) {
				vars := newFlags(cli.Env{}).EnvVars(name)
				if len(vars) == 0 || !strings.HasPrefix(vars[0], "TRACEHOUSE_") && vars[0] != "CHDB_LIB_PATH" {
					t.Fatalf("variables %q: want one, named TRACEHOUSE_…", vars)
				}
				if !strings.Contains(help.String(), "-"+name+" ") && !strings.Contains(help.String(), "-"+name+"\n") {
					t.Errorf("-h does not list --%s:\n%s", name, help.String())
				}
				if !strings.Contains(help.String(), "(env "+strings.Join(vars, ", ")+")") {
					t.Errorf("-h does not name %s:\n%s", vars[0], help.String())
				}
				probe := newFlags(cli.Env{})
				value := valueFor(t, probe, name)
				want := probe.Lookup(name).Value.String()
				fs := newFlags(cli.Env{Lookup: lookup(map[string]string{vars[0]: value})})
				if err := fs.Parse(nil); err != nil {
					t.Fatalf("%s=%s: %v", vars[0], value, err)
				}
				if got := fs.Lookup(name).Value.String(); !fs.Given(name) || got != want {
					t.Errorf("%s=%s: --%s is %q (given %v), want %q", vars[0], value, name, got, fs.Given(name), want)
				}
			})
		}
	}
}

func TestHelpListsTheCommands(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		var stdout, stderr bytes.Buffer
		code := Tracehouse.Run(context.Background(), args, cli.Env{Stdout: &stdout, Stderr: &stderr})
		if code != cli.ExitOK {
			t.Errorf("tracehouse %s: exit %d, stderr %q", args[0], code, stderr.String())
		}
		for _, cmd := range Tracehouse.Commands {
			if !strings.Contains(stdout.String(), cmd.Name+" ") || !strings.Contains(stdout.String(), cmd.Summary) {
				t.Errorf("tracehouse %s does not list %s:\n%s", args[0], cmd.Name, stdout.String())
			}
		}
		if strings.Contains(stdout.String(), "spans-ttl") {
			t.Errorf("tracehouse %s prints all-in-one's flags instead of the commands:\n%s", args[0], stdout.String())
		}
	}
}

func TestCommandHelpNamesTheVariables(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Tracehouse.Run(context.Background(), []string{"migrate", "-h"}, cli.Env{Stdout: &stdout, Stderr: &stderr})
	if code != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	for _, want := range []string{"usage: tracehouse migrate", "-dry-run", "TRACEHOUSE_MIGRATE_DRY_RUN", "TRACEHOUSE_SPANS_TTL", "(default 7d)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("tracehouse migrate -h lacks %q:\n%s", want, stdout.String())
		}
	}
}

// Without a command, flags go to all-in-one (a bad one stops it before
// anything starts).
func TestNoCommandIsAllInOne(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Tracehouse.Run(context.Background(), []string{"--spans-ttl", "soon"}, cli.Env{Stdout: &stdout, Stderr: &stderr})
	if code != cli.ExitUsage || !strings.Contains(stderr.String(), "tracehouse all-in-one: ") || !strings.Contains(stderr.String(), `invalid TTL "soon"`) {
		t.Errorf("exit %d, stderr %q; want all-in-one's usage error", code, stderr.String())
	}
}

// all-in-one and migrate read a retention the same way, from a flag or
// from the same variable.
func TestTTLSyntax(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		args  []string
		vars  map[string]string
		spans time.Duration
		given bool
	}{
		{args: nil, spans: 7 * day, given: false},
		{args: []string{"--spans-ttl", "7d"}, spans: 7 * day, given: true},
		{args: []string{"--spans-ttl", "36h"}, spans: 36 * time.Hour, given: true},
		{args: []string{"--spans-ttl", "1d12h"}, spans: 36 * time.Hour, given: true},
		{args: []string{"--spans-ttl", "0"}, spans: 0, given: true},
		{vars: map[string]string{"TRACEHOUSE_SPANS_TTL": "30d"}, spans: 30 * day, given: true},
		{args: []string{"--spans-ttl", "2d"}, vars: map[string]string{"TRACEHOUSE_SPANS_TTL": "30d"}, spans: 2 * day, given: true},
	} {
		env := cli.Env{Lookup: lookup(tc.vars)}
		a, err := parseAllInOne(tc.args, env)
		if err != nil {
			t.Errorf("all-in-one %q %v: %v", tc.args, tc.vars, err)
		} else if a.spansTTL != tc.spans || a.shortenSpansTTL != tc.given {
			t.Errorf("all-in-one %q %v: spans TTL %v (given %v), want %v (%v)", tc.args, tc.vars, a.spansTTL, a.shortenSpansTTL, tc.spans, tc.given)
		}
		m, err := parseMigrate(tc.args, env)
		if err != nil {
			t.Errorf("migrate %q %v: %v", tc.args, tc.vars, err)
		} else if m.opts.SpansTTL != tc.spans || m.opts.ShortenSpansTTL != tc.given {
			t.Errorf("migrate %q %v: spans TTL %v (given %v), want %v (%v)", tc.args, tc.vars, m.opts.SpansTTL, m.opts.ShortenSpansTTL, tc.spans, tc.given)
		}
	}
	for _, bad := range []string{"soon", "7x", "-1h", ""} {
		if _, err := parseAllInOne([]string{"--logs-ttl", bad}, cli.Env{}); err == nil {
			t.Errorf("all-in-one --logs-ttl %q accepted", bad)
		}
		if _, err := parseMigrate([]string{"--logs-ttl", bad}, cli.Env{}); err == nil {
			t.Errorf("migrate --logs-ttl %q accepted", bad)
		}
	}
	var usage *cli.UsageError
	if _, err := parseAllInOne(nil, cli.Env{Lookup: lookup(map[string]string{"TRACEHOUSE_LOGS_TTL": "soon"})}); !errors.As(err, &usage) || !strings.Contains(err.Error(), "TRACEHOUSE_LOGS_TTL") {
		t.Errorf("TRACEHOUSE_LOGS_TTL=soon: %v; want a usage error naming the variable", err)
	}
}

// The variables deployments already set keep their names.
func TestVariableNames(t *testing.T) {
	for cmd, flags := range map[string]map[string]string{
		AllInOne.Name: {"data": "TRACEHOUSE_DATA", "clickhouse-listen": "TRACEHOUSE_CLICKHOUSE_LISTEN", "http": "TRACEHOUSE_QUERY_HTTP",
			"spans-ttl": "TRACEHOUSE_SPANS_TTL", "logs-ttl": "TRACEHOUSE_LOGS_TTL",
			"auth-token": "TRACEHOUSE_QUERY_AUTH_TOKEN", "allowed-hosts": "TRACEHOUSE_QUERY_ALLOWED_HOSTS"},
		Query.Name: {"clickhouse": "TRACEHOUSE_CLICKHOUSE", "http": "TRACEHOUSE_QUERY_HTTP", "auth-token": "TRACEHOUSE_QUERY_AUTH_TOKEN",
			"ui-dir": "TRACEHOUSE_QUERY_UI_DIR", "max-concurrent-queries": "TRACEHOUSE_QUERY_MAX_CONCURRENT",
			"queue-timeout": "TRACEHOUSE_QUERY_QUEUE_TIMEOUT", "max-execution-time": "TRACEHOUSE_QUERY_MAX_EXECUTION_TIME",
			"max-time-range": "TRACEHOUSE_QUERY_MAX_TIME_RANGE", "max-result-bytes": "TRACEHOUSE_QUERY_MAX_RESULT_BYTES",
			"max-spans": "TRACEHOUSE_QUERY_MAX_SPANS", "allowed-hosts": "TRACEHOUSE_QUERY_ALLOWED_HOSTS",
			"max-memory-usage": "TRACEHOUSE_QUERY_MAX_MEMORY_USAGE", "max-tails": "TRACEHOUSE_QUERY_MAX_TAILS"},
		ClickHouse.Name: {"data": "TRACEHOUSE_DATA", "listen": "TRACEHOUSE_CLICKHOUSE_LISTEN", "allow-remote": "TRACEHOUSE_CLICKHOUSE_ALLOW_REMOTE",
			"user": "TRACEHOUSE_CLICKHOUSE_USER", "password": "TRACEHOUSE_CLICKHOUSE_PASSWORD", "allowed-hosts": "TRACEHOUSE_CLICKHOUSE_ALLOWED_HOSTS",
			"max-request-bytes": "TRACEHOUSE_CLICKHOUSE_MAX_REQUEST_BYTES", "lib": "CHDB_LIB_PATH"},
		Migrate.Name: {"clickhouse": "TRACEHOUSE_CLICKHOUSE", "spans-ttl": "TRACEHOUSE_SPANS_TTL", "logs-ttl": "TRACEHOUSE_LOGS_TTL"},
	} {
		fs := flagSets[cmd](cli.Env{})
		for name, want := range flags {
			if got := fs.EnvVars(name); len(got) != 1 || got[0] != want {
				t.Errorf("%s --%s: variables %q, want %s", cmd, name, got, want)
			}
		}
	}
}
