package cli_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tracehouse/tracehouse/internal/cli"
)

// echo is a command with one flag that prints what it was given.
func echo(name string, ran *[]string) cli.Command {
	return cli.Command{Name: name, Summary: "the " + name + " command", Run: func(_ context.Context, args []string, env cli.Env) error {
		fs := cli.NewFlagSet("prog "+name, "PROG", env)
		fail := fs.String("fail", "", "fail with this error")
		bad := fs.Bool("bad", false, "fail with a usage error")
		if err := fs.Parse(args); err != nil {
			return err
		}
		*ran = append(*ran, name)
		switch {
		case *bad:
			return cli.Usage(errors.New("bad configuration"))
		case *fail != "":
			return errors.New(*fail)
		}
		return nil
	}}
}

func TestProgram(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dflt     string
		args     []string
		code     int
		ran      string // the command that ran, if any
		stdout   string // a substring of stdout
		stderr   string // a substring of stderr
		noStdout bool
	}{
		{name: "no args runs the default", dflt: "one", code: cli.ExitOK, ran: "one"},
		{name: "flags only run the default", dflt: "one", args: []string{"--fail", "boom"}, code: cli.ExitFailure, ran: "one", stderr: "prog one: boom"},
		{name: "no args without a default", args: nil, code: cli.ExitUsage, stderr: "usage: prog command"},
		{name: "-h lists the commands", dflt: "one", args: []string{"-h"}, code: cli.ExitOK, stdout: "  two    the two command"},
		{name: "--help lists the commands", dflt: "one", args: []string{"--help"}, code: cli.ExitOK, stdout: "no command: one"},
		{name: "help lists the commands", args: []string{"help"}, code: cli.ExitOK, stdout: "  three  the three command"},
		{name: "help COMMAND prints its flags", args: []string{"help", "two"}, code: cli.ExitOK, stdout: "PROG_FAIL"},
		{name: "COMMAND -h prints its flags", args: []string{"two", "-h"}, code: cli.ExitOK, stdout: "usage: prog two [flags]"},
		{name: "a command", args: []string{"two"}, code: cli.ExitOK, ran: "two"},
		{name: "unknown command", args: []string{"four"}, code: cli.ExitUsage, stderr: `prog: unknown command "four"`, noStdout: true},
		{name: "unknown flag", args: []string{"two", "--nope"}, code: cli.ExitUsage, stderr: "prog two: flag provided but not defined: -nope", noStdout: true},
		{name: "stray argument", args: []string{"two", "extra"}, code: cli.ExitUsage, ran: "", stderr: `unexpected argument "extra"`},
		{name: "usage error", args: []string{"two", "--bad"}, code: cli.ExitUsage, ran: "two", stderr: "prog two: bad configuration"},
		{name: "failure", args: []string{"two", "--fail", "boom"}, code: cli.ExitFailure, ran: "two", stderr: "prog two: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			p := cli.Program{Name: "prog", Default: tc.dflt, Commands: []cli.Command{echo("one", &ran), echo("two", &ran), echo("three", &ran)}}
			var stdout, stderr bytes.Buffer
			code := p.Run(context.Background(), tc.args, cli.Env{Stdout: &stdout, Stderr: &stderr})
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if got := strings.Join(ran, ","); got != tc.ran {
				t.Errorf("ran %q, want %q", got, tc.ran)
			}
			if !strings.Contains(stdout.String(), tc.stdout) || (tc.noStdout && stdout.Len() > 0) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tc.stderr)
			}
		})
	}
}
