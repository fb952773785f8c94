// Package cli is how every Tracehouse binary takes its command line: a
// program is a list of Commands, each parses its own flags with a FlagSet,
// and every flag can also be set from the environment, so the same binary
// is driven by flags in a shell and by variables in a container spec.
//
// Both binaries use it: tracehouse (internal/commands) and the demo shop
// (sample-services).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

// Exit codes of a Program.
const (
	ExitOK      = 0 // the command succeeded, or help was asked for
	ExitFailure = 1 // the command ran and failed
	ExitUsage   = 2 // the command line or the environment is wrong: nothing ran
)

// Lookup reads one environment variable: os.LookupEnv in a process, a map
// in tests.
type Lookup func(name string) (string, bool)

// Env is the process as a command sees it. Tests give their own; a command
// writes to Stdout and Stderr, so set both (io.Discard drops).
type Env struct {
	// Stdout gets what the command reports to its user (addresses, help,
	// results).
	Stdout io.Writer
	// Stderr gets usage errors, and the logs of commands that log on their
	// own (the sample services).
	Stderr io.Writer
	// Logger is the command's structured log; the zero Logger discards.
	Logger zerolog.Logger
	// Lookup reads the environment; nil reads nothing.
	Lookup Lookup
}

// lookup reads name from the environment, nil Lookup meaning none.
func (e Env) lookup(name string) (string, bool) {
	if e.Lookup == nil {
		return "", false
	}
	return e.Lookup(name)
}

// Command is one subcommand of a Program.
type Command struct {
	// Name is what selects the command on the command line.
	Name string
	// Summary is the command's line in the program's list of commands.
	Summary string
	// Run parses args (with a FlagSet) and runs the command until it is done
	// or ctx ends. A wrong command line or environment is a UsageError;
	// flag.ErrHelp means the help was printed.
	Run func(ctx context.Context, args []string, env Env) error
}

// UsageError is an error in the command line or the environment: the
// command did not start.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usage marks err (a bad flag, an invalid configuration) as a UsageError;
// nil stays nil.
func Usage(err error) error {
	var usage *UsageError
	if err == nil || errors.As(err, &usage) || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &UsageError{Err: err}
}

// Program is a binary made of commands.
type Program struct {
	// Name is the binary's name, as in its usage text.
	Name string
	// Default is the command run when the first argument is not a command
	// name (no arguments, or flags only); empty means a command is required.
	Default string
	// Commands are listed by -h in this order.
	Commands []Command
}

// Main runs the program on the process's arguments, environment and
// standard streams until the command ends or SIGINT/SIGTERM cancels it, and
// returns the exit code: func main() { os.Exit(cli.Main(program, log)) }.
func Main(p Program, log zerolog.Logger) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return p.Run(ctx, os.Args[1:], Env{Stdout: os.Stdout, Stderr: os.Stderr, Logger: log, Lookup: os.LookupEnv})
}

// Run runs the command args name with the rest of args and returns the exit
// code. "-h", "--help" and "help" print the list of commands; "help
// COMMAND" prints a command's flags. The command's logger gets a cmd field.
func (p Program) Run(ctx context.Context, args []string, env Env) int {
	name := p.Default
	if len(args) > 0 && (args[0] == "" || args[0][0] != '-' || isHelp(args[0])) {
		name, args = args[0], args[1:]
	}
	if isHelp(name) {
		if len(args) == 0 {
			p.PrintUsage(env.Stdout)
			return ExitOK
		}
		name, args = args[0], []string{"-h"}
	}
	if name == "" {
		p.PrintUsage(env.Stderr)
		return ExitUsage
	}
	cmd, ok := p.command(name)
	if !ok {
		fmt.Fprintf(env.Stderr, "%s: unknown command %q\n\n", p.Name, name)
		p.PrintUsage(env.Stderr)
		return ExitUsage
	}
	env.Logger = env.Logger.With().Str("cmd", name).Logger()
	err := cmd.Run(ctx, args, env)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(env.Stderr, "%s %s: %v\n", p.Name, name, err)
	var usage *UsageError
	if errors.As(err, &usage) {
		return ExitUsage
	}
	return ExitFailure
}

// PrintUsage writes the program's usage line and its list of commands.
func (p Program) PrintUsage(w io.Writer) {
	if p.Default != "" {
		fmt.Fprintf(w, "usage: %s [command] [flags]   (no command: %s)\n", p.Name, p.Default)
	} else {
		fmt.Fprintf(w, "usage: %s command [flags]\n", p.Name)
	}
	fmt.Fprintln(w, "\ncommands:")
	width := 0
	for _, c := range p.Commands {
		width = max(width, len(c.Name))
	}
	for _, c := range p.Commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\n`%s COMMAND -h` lists a command's flags and the environment variables that set them.\n", p.Name)
}

func (p Program) command(name string) (Command, bool) {
	for _, c := range p.Commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}
