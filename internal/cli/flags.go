package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// FlagSet is a flag.FlagSet whose every flag can also be set from the
// environment. Define flags with the flag.FlagSet methods; Parse sets each
// from the first of its variables that is set, then from the command line:
// a flag beats its variable, a variable beats the default.
//
// A flag's variable is PREFIX_NAME (--auth-url under prefix GATEWAY is
// GATEWAY_AUTH_URL) unless SetEnv names others; Alias adds conventional
// names consulted after those, such as OTEL_EXPORTER_OTLP_ENDPOINT. Each
// flag's usage text names its variables, so -h documents them.
type FlagSet struct {
	*flag.FlagSet
	env     Env
	prefix  string
	vars    map[string][]string
	aliases map[string][]string
}

// NewFlagSet makes the flag set of the command name (as typed, e.g.
// "tracehouse migrate"), whose variables are named envPrefix_FLAG and read
// through env.Lookup. -h prints to env.Stdout, usage errors to env.Stderr.
func NewFlagSet(name, envPrefix string, env Env) *FlagSet {
	f := &FlagSet{
		FlagSet: flag.NewFlagSet(name, flag.ContinueOnError),
		env:     env,
		prefix:  envPrefix,
		vars:    map[string][]string{},
		aliases: map[string][]string{},
	}
	f.Usage = func() {
		fmt.Fprintf(f.Output(), "usage: %s [flags]\n\nflags:\n", name)
		f.PrintDefaults()
	}
	return f
}

// SetEnv names the variables that set the flag name, in order of
// precedence, instead of PREFIX_NAME: for a variable shared between
// commands (TRACEHOUSE_CLICKHOUSE) or an established one (CHDB_LIB_PATH).
func (f *FlagSet) SetEnv(name string, vars ...string) { f.vars[name] = vars }

// Alias adds variables that set the flag name when its own are unset:
// conventional names such as OTEL_EXPORTER_OTLP_ENDPOINT.
func (f *FlagSet) Alias(name string, vars ...string) {
	f.aliases[name] = append(f.aliases[name], vars...)
}

// EnvVars lists the variables that set the flag name, in order of
// precedence.
func (f *FlagSet) EnvVars(name string) []string {
	vars, ok := f.vars[name]
	if !ok {
		vars = []string{envName(f.prefix, name)}
	}
	return append(append([]string(nil), vars...), f.aliases[name]...)
}

// envName is the variable of flag name under prefix:
// ("GATEWAY", "auth-url") -> "GATEWAY_AUTH_URL".
func envName(prefix, name string) string {
	v := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if prefix == "" {
		return v
	}
	return prefix + "_" + v
}

// Parse sets the flags from the environment, then from args; call it once.
// A bad value, in a variable or a flag, and any argument that is not a flag
// are UsageErrors; -h prints the flags and returns flag.ErrHelp.
func (f *FlagSet) Parse(args []string) error {
	var envErr error
	f.VisitAll(func(fl *flag.Flag) {
		vars := f.EnvVars(fl.Name)
		fl.Usage += " (env " + strings.Join(vars, ", ") + ")"
		for _, name := range vars {
			value, ok := f.env.lookup(name)
			if !ok {
				continue
			}
			if err := f.Set(fl.Name, value); err != nil && envErr == nil {
				envErr = fmt.Errorf("environment variable %s=%q is not a valid value for --%s: %w", name, value, fl.Name, err)
			}
			return
		}
	})
	// The flag package prints usage on -h and on errors alike: help goes
	// to stdout, the rest with the error to stderr.
	var out bytes.Buffer
	f.SetOutput(&out)
	err := f.FlagSet.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		io.Copy(writer(f.env.Stdout), &out)
		return err
	case err != nil:
		io.Copy(writer(f.env.Stderr), &out)
		return Usage(err)
	case envErr != nil:
		return Usage(envErr)
	case f.NArg() > 0:
		return Usage(fmt.Errorf("unexpected argument %q: every setting is a flag (-h lists them)", f.Arg(0)))
	}
	return nil
}

// Given reports whether the flag name was set, on the command line or by
// its variable, rather than left at its default (even when set to a value
// equal to the default). Call it after Parse.
func (f *FlagSet) Given(name string) bool {
	given := false
	f.Visit(func(fl *flag.Flag) { given = given || fl.Name == name })
	return given
}

func writer(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
