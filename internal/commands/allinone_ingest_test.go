package commands

import (
	"errors"
	"strings"
	"testing"

	"github.com/tracehouse/tracehouse/internal/cli"
)

// --ingest-token and TRACEHOUSE_INGEST_TOKEN turn on the collector's
// bearer-token auth; without a token the receivers must stay on loopback.
func TestAllInOneIngestToken(t *testing.T) {
	cfg, err := parseAllInOne([]string{"--ingest-token", "flag-token"}, cli.Env{Lookup: lookup(map[string]string{EnvIngestToken: "env-token"})})
	if err != nil || cfg.ingestToken != "flag-token" {
		t.Errorf("--ingest-token beside %s: %q, %v; want the flag's", EnvIngestToken, cfg.ingestToken, err)
	}
	cfg, err = parseAllInOne(nil, cli.Env{Lookup: lookup(map[string]string{"TRACEHOUSE_INGEST_TOKEN": "env-token"})})
	if err != nil || cfg.ingestToken != "env-token" {
		t.Errorf("TRACEHOUSE_INGEST_TOKEN: %q, %v", cfg.ingestToken, err)
	}

	overrides, err := ingestAuth("env-token", cli.Env{})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(overrides, "\n")
	for _, want := range []string{"receivers::otlp::protocols::grpc::auth", "receivers::otlp::protocols::http::auth", "receivers::jsonl::auth", `"env-token"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("overrides lack %s:\n%s", want, joined)
		}
	}
	for host, refused := range map[string]bool{"": false, "127.0.0.1": false, "localhost": false, "::1": false, "0.0.0.0": true, "192.0.2.7": true, "collector.example": true} {
		overrides, err := ingestAuth("", cli.Env{Lookup: lookup(map[string]string{envListenHost: host})})
		var usage *cli.UsageError
		if refused && (!errors.As(err, &usage) || !strings.Contains(err.Error(), "--ingest-token")) {
			t.Errorf("%s=%q without a token: %v, want a usage error naming --ingest-token", envListenHost, host, err)
		}
		if !refused && (err != nil || overrides != nil) {
			t.Errorf("%s=%q without a token: %v %v, want no auth and no error", envListenHost, host, overrides, err)
		}
	}
	if _, err := ingestAuth("two words", cli.Env{}); err == nil {
		t.Error("a token with a space was accepted")
	}
}
