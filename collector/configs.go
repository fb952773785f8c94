package collector

import (
	"embed"
	"fmt"
)

// Shipped configurations. They use ${env:…} for what differs per
// deployment; see the comment at the top of each file.
//
//	all-in-one.yaml      inside `tracehouse all-in-one`, next to the embedded ClickHouse
//	ingest-gateway.yaml  a gateway writing to a ClickHouse server, persistent queue on disk
//	agent.yaml           next to applications, forwarding to a gateway
//
//go:embed configs/*.yaml
var configFiles embed.FS

// Names of the shipped configurations.
const (
	AllInOne      = "all-in-one.yaml"
	IngestGateway = "ingest-gateway.yaml"
	Agent         = "agent.yaml"
)

// ConfigNames lists the shipped configurations.
func ConfigNames() []string { return []string{AllInOne, IngestGateway, Agent} }

// Config returns a shipped configuration by name.
func Config(name string) (string, error) {
	b, err := configFiles.ReadFile("configs/" + name)
	if err != nil {
		return "", fmt.Errorf("no shipped collector config %q (have %v)", name, ConfigNames())
	}
	return string(b), nil
}

// AllInOneConfig is the configuration `tracehouse all-in-one` runs.
func AllInOneConfig() string {
	s, err := Config(AllInOne)
	if err != nil {
		panic(err) // embedded at build time
	}
	return s
}
