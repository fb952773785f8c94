package flagenv_test

import (
	"bytes"
	"flag"
	"strings"
	"testing"

	"github.com/tracehouse/tracehouse/sample-services/internal/flagenv"
)

func newFlags() (*flag.FlagSet, *string, *int, *string) {
	fs := flag.NewFlagSet("svc", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	listen := fs.String("listen", ":8000", "address")
	limit := fs.Int("rate-limit", 10, "limit")
	endpoint := fs.String("otlp-endpoint", "127.0.0.1:4317", "collector")
	return fs, listen, limit, endpoint
}

func env(vars map[string]string) flagenv.Lookup {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

var aliases = map[string][]string{"otlp-endpoint": {"OTEL_EXPORTER_OTLP_ENDPOINT"}}

func TestFlagBeatsEnvBeatsDefault(t *testing.T) {
	fs, listen, limit, endpoint := newFlags()
	vars := env(map[string]string{
		"SVC_LISTEN":                  ":9000",
		"SVC_RATE_LIMIT":              "20",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317",
	})
	if err := flagenv.Parse(fs, "SVC", []string{"--listen", ":7000"}, vars, aliases); err != nil {
		t.Fatal(err)
	}
	if *listen != ":7000" || *limit != 20 || *endpoint != "collector:4317" {
		t.Errorf("listen %q limit %d endpoint %q; want flag :7000, env 20, alias collector:4317", *listen, *limit, *endpoint)
	}
}

func TestPrefixedVariableBeatsAlias(t *testing.T) {
	fs, _, _, endpoint := newFlags()
	vars := env(map[string]string{"SVC_OTLP_ENDPOINT": "a:1", "OTEL_EXPORTER_OTLP_ENDPOINT": "b:2"})
	if err := flagenv.Parse(fs, "SVC", nil, vars, aliases); err != nil {
		t.Fatal(err)
	}
	if *endpoint != "a:1" {
		t.Errorf("endpoint %q, want the service's own variable a:1", *endpoint)
	}
}

func TestBadEnvValueNamesTheVariable(t *testing.T) {
	fs, _, _, _ := newFlags()
	err := flagenv.Parse(fs, "SVC", nil, env(map[string]string{"SVC_RATE_LIMIT": "lots"}), nil)
	if err == nil || !strings.Contains(err.Error(), "SVC_RATE_LIMIT") || !strings.Contains(err.Error(), "-rate-limit") {
		t.Fatalf("err = %v; want one naming SVC_RATE_LIMIT and -rate-limit", err)
	}
}

func TestUsageListsVariablesAndStrayArgumentsAreRejected(t *testing.T) {
	fs, _, _, _ := newFlags()
	err := flagenv.Parse(fs, "SVC", []string{"extra"}, env(nil), aliases)
	if err == nil || !strings.Contains(err.Error(), `"extra"`) {
		t.Errorf("stray argument: err = %v", err)
	}
	if usage := fs.Lookup("otlp-endpoint").Usage; !strings.Contains(usage, "SVC_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT") {
		t.Errorf("usage %q does not list the variables", usage)
	}
}
