// Package flagenv lets every flag of a command also be set from the
// environment, so the same binary is driven by flags in a shell and by
// variables in a container spec. Precedence: flag, then environment, then
// the flag's default.
package flagenv

import (
	"flag"
	"fmt"
	"strings"
)

// Lookup reads one environment variable; os.LookupEnv in production, a map
// in tests.
type Lookup func(name string) (string, bool)

// EnvName is the variable that sets flag name under prefix:
// ("GATEWAY", "auth-url") -> "GATEWAY_AUTH_URL".
func EnvName(prefix, flagName string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Parse fills fs from the environment and then from args. aliases lists,
// per flag, further variables consulted when the prefixed one is unset:
// conventional names such as OTEL_EXPORTER_OTLP_ENDPOINT. Each flag's usage
// text gains the variables that set it, so -h documents them.
func Parse(fs *flag.FlagSet, prefix string, args []string, lookup Lookup, aliases map[string][]string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		names := append([]string{EnvName(prefix, f.Name)}, aliases[f.Name]...)
		f.Usage += " (env " + strings.Join(names, ", ") + ")"
		if envErr != nil {
			return
		}
		for _, name := range names {
			value, ok := lookup(name)
			if !ok {
				continue
			}
			if err := fs.Set(f.Name, value); err != nil {
				envErr = fmt.Errorf("environment variable %s=%q is not a valid value for -%s: %w", name, value, f.Name, err)
			}
			return
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every setting is a flag (-h lists them)", fs.Arg(0))
	}
	return nil
}
