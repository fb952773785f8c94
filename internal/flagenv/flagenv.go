// Package flagenv gives command-line flags environment-variable overrides:
// a flag's default comes from its variable when that is set, and an explicit
// flag beats both. The usage text names the variable.
package flagenv

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Set wraps a FlagSet.
type Set struct {
	*flag.FlagSet
	errs []error
}

// New makes a flag set for a subcommand that reports errors instead of exiting.
func New(name string) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &Set{FlagSet: fs}
}

func usage(text, env string) string { return fmt.Sprintf("%s (env %s)", text, env) }

// String defines a string flag with an env override.
func (s *Set) String(name, env, def, text string) *string {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	return s.FlagSet.String(name, def, usage(text, env))
}

// Bool defines a bool flag with an env override.
func (s *Set) Bool(name, env string, def bool, text string) *bool {
	if v, ok := os.LookupEnv(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: want true or false", env, v))
		}
		def = b
	}
	return s.FlagSet.Bool(name, def, usage(text, env))
}

// Int64 defines an int64 flag with an env override.
func (s *Set) Int64(name, env string, def int64, text string) *int64 {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: want an integer", env, v))
		}
		def = n
	}
	return s.FlagSet.Int64(name, def, usage(text, env))
}

// Duration defines a duration flag with an env override.
func (s *Set) Duration(name, env string, def time.Duration, text string) *time.Duration {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: want a duration such as 30s or 168h", env, v))
		}
		def = d
	}
	return s.FlagSet.Duration(name, def, usage(text, env))
}

// Given reports whether the flag was set explicitly, on the command line
// or through its environment variable, rather than left at its default.
// Call it after Parse.
func (s *Set) Given(name, env string) bool {
	if _, ok := os.LookupEnv(env); ok {
		return true
	}
	given := false
	s.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// Parse parses args, reporting bad environment values first.
func (s *Set) Parse(args []string) error {
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	return s.FlagSet.Parse(args)
}
