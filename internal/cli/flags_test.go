package cli_test

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
)

func lookup(vars map[string]string) cli.Lookup {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

type svcFlags struct {
	fs       *cli.FlagSet
	listen   *string
	limit    *int
	endpoint *string
}

func newFlags(vars map[string]string, stdout, stderr *bytes.Buffer) svcFlags {
	env := cli.Env{Stdout: stdout, Stderr: stderr, Lookup: lookup(vars)}
	if stdout == nil {
		env.Stdout = &bytes.Buffer{}
	}
	if stderr == nil {
		env.Stderr = &bytes.Buffer{}
	}
	fs := cli.NewFlagSet("svc", "SVC", env)
	s := svcFlags{
		fs:       fs,
		listen:   fs.String("listen", ":8000", "address"),
		limit:    fs.Int("rate-limit", 10, "limit"),
		endpoint: fs.String("otlp-endpoint", "127.0.0.1:4317", "collector"),
	}
	fs.Alias("otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT")
	return s
}

func TestFlagBeatsEnvBeatsDefault(t *testing.T) {
	s := newFlags(map[string]string{
		"SVC_LISTEN":                  ":9000",
		"SVC_RATE_LIMIT":              "20",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
	}, nil, nil)
	if err := s.fs.Parse([]string{"--listen", ":7000"}); err != nil {
		t.Fatal(err)
	}
	if *s.listen != ":7000" || *s.limit != 20 || *s.endpoint != "collector:4317" {
		t.Errorf("listen %q limit %d endpoint %q; want flag :7000, env 20, alias collector:4317", *s.listen, *s.limit, *s.endpoint)
	}
}

func TestPrefixedVariableBeatsAlias(t *testing.T) {
	s := newFlags(map[string]string{"SVC_OTLP_ENDPOINT": "a:1", "OTEL_EXPORTER_OTLP_ENDPOINT": "b:2"}, nil, nil)
	if err := s.fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if *s.endpoint != "a:1" {
		t.Errorf("endpoint %q, want the service's own variable a:1", *s.endpoint)
	}
}

func TestSetEnvReplacesThePrefixedName(t *testing.T) {
	s := newFlags(map[string]string{"SVC_LISTEN": ":1", "SHARED_LISTEN": ":2"}, nil, nil)
	s.fs.SetEnv("listen", "SHARED_LISTEN")
	if err := s.fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if *s.listen != ":2" {
		t.Errorf("listen %q, want :2 from SHARED_LISTEN", *s.listen)
	}
	if got := s.fs.EnvVars("listen"); len(got) != 1 || got[0] != "SHARED_LISTEN" {
		t.Errorf("EnvVars(listen) = %q", got)
	}
}

func TestBadEnvValueNamesTheVariable(t *testing.T) {
	s := newFlags(map[string]string{"SVC_RATE_LIMIT": "lots"}, nil, nil)
	err := s.fs.Parse(nil)
	var usage *cli.UsageError
	if err == nil || !strings.Contains(err.Error(), "SVC_RATE_LIMIT") || !strings.Contains(err.Error(), "--rate-limit") || !errors.As(err, &usage) {
		t.Fatalf("err = %v; want a usage error naming SVC_RATE_LIMIT and --rate-limit", err)
	}
}

func TestUsageListsVariablesAndStrayArgumentsAreRejected(t *testing.T) {
	s := newFlags(nil, nil, nil)
	err := s.fs.Parse([]string{"extra"})
	var usage *cli.UsageError
	if err == nil || !strings.Contains(err.Error(), `"extra"`) || !errors.As(err, &usage) {
		t.Errorf("stray argument: err = %v", err)
	}
	if text := s.fs.Lookup("otlp-endpoint").Usage; !strings.Contains(text, "SVC_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Errorf("usage %q does not list the variables", text)
	}
}

func TestHelpGoesToStdoutAndErrorsToStderr(t *testing.T) {
	var stdout, stderr bytes.Buffer
	s := newFlags(nil, &stdout, &stderr)
	if err := s.fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(stdout.String(), "SVC_RATE_LIMIT") || stderr.Len() != 0 {
		t.Errorf("-h printed stdout %q, stderr %q; want the flags with their variables on stdout", stdout.String(), stderr.String())
	}

	stdout.Reset()
	s = newFlags(nil, &stdout, &stderr)
	err := s.fs.Parse([]string{"--nope"})
	var usage *cli.UsageError
	if !errors.As(err, &usage) || !strings.Contains(stderr.String(), "-nope") || stdout.Len() != 0 {
		t.Errorf("--nope: err %v, stdout %q, stderr %q; want a usage error explained on stderr", err, stdout.String(), stderr.String())
	}
}

// A bad variable does not hide the help that would explain it.
func TestHelpDespiteABadVariable(t *testing.T) {
	var stdout bytes.Buffer
	s := newFlags(map[string]string{"SVC_RATE_LIMIT": "lots"}, &stdout, nil)
	if err := s.fs.Parse([]string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(stdout.String(), "-rate-limit") {
		t.Errorf("no help printed: %q", stdout.String())
	}
}

func TestGiven(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   string // value of SVC_TTL; "" leaves it unset
		args  []string
		given bool
		value time.Duration
	}{
		{name: "default", given: false, value: time.Hour},
		{name: "flag", args: []string{"--ttl", "2h"}, given: true, value: 2 * time.Hour},
		{name: "flag equal to the default", args: []string{"--ttl", "1h"}, given: true, value: time.Hour},
		{name: "env", env: "3h", given: true, value: 3 * time.Hour},
		{name: "flag beats env", env: "3h", args: []string{"--ttl", "4h"}, given: true, value: 4 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{}
			if tc.env != "" {
				vars["SVC_TTL"] = tc.env
			}
			fs := cli.NewFlagSet("svc", "SVC", cli.Env{Lookup: lookup(vars)})
			ttl := fs.Duration("ttl", time.Hour, "retention")
			fs.Bool("other", false, "another flag")
			if err := fs.Parse(append(tc.args, "--other")); err != nil {
				t.Fatal(err)
			}
			if got := fs.Given("ttl"); got != tc.given {
				t.Errorf("Given = %v, want %v", got, tc.given)
			}
			if *ttl != tc.value {
				t.Errorf("value %v, want %v", *ttl, tc.value)
			}
		})
	}
}
