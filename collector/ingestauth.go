package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"go.yaml.in/yaml/v3"
)

// IngestAuthExtension is the bearertokenauth extension the shipped
// configurations put in front of their receivers.
const IngestAuthExtension = "bearertokenauth/ingest"

// IngestTokenEnv is the variable that carries the ingest token: the
// all-in-one token, and the token agents send to a gateway.
const IngestTokenEnv = "TRACEHOUSE_INGEST_TOKEN"

// CheckIngestToken reports a token that cannot travel as
// "Authorization: Bearer <token>": empty, or holding spaces, control
// characters or non-ASCII bytes (RFC 6750 b64token is printable ASCII).
func CheckIngestToken(token string) error {
	if token == "" {
		return errors.New("the ingest token is empty")
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("the ingest token has a space, control or non-ASCII character at byte %d: use printable ASCII, e.g. `openssl rand -hex 32`", i)
		}
	}
	return nil
}

// AllInOneIngestAuth returns configuration overrides (for
// PipelineSettings.Overrides) that make every receiver of the all-in-one
// configuration — OTLP gRPC, OTLP HTTP and JSON-lines — require
// "Authorization: Bearer <token>": OTLP gRPC then answers UNAUTHENTICATED
// and HTTP 401 to any other request.
func AllInOneIngestAuth(token string) ([]string, error) {
	if err := CheckIngestToken(token); err != nil {
		return nil, err
	}
	// The service's extension list is replaced, not merged: keep the
	// configuration's own.
	var cfg struct {
		Service struct {
			Extensions []string `yaml:"extensions"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal([]byte(AllInOneConfig()), &cfg); err != nil {
		return nil, fmt.Errorf("read %s: %w", AllInOne, err)
	}
	extensions := append(cfg.Service.Extensions, IngestAuthExtension)
	// JSON quoting is valid YAML; "$" is doubled so the collector's
	// ${…} expansion leaves the token as it is.
	quoted, _ := json.Marshal(strings.ReplaceAll(token, "$", "$$"))
	list, _ := json.Marshal(extensions)
	const auth = "::auth::authenticator: " + IngestAuthExtension
	return []string{
		"yaml:extensions::" + IngestAuthExtension + "::token: " + string(quoted),
		"yaml:receivers::otlp::protocols::grpc" + auth,
		"yaml:receivers::otlp::protocols::http" + auth,
		"yaml:receivers::jsonl" + auth,
		"yaml:service::extensions: " + string(list),
	}, nil
}

// IsLoopbackHost reports whether a listen host (an IP or a name, as
// TRACEHOUSE_LISTEN_HOST is written; empty is the configuration's
// loopback default) reaches this machine only.
func IsLoopbackHost(host string) bool {
	host = strings.Trim(host, "[]")
	if host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
