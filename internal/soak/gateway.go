package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/tracehouse/tracehouse/storage/embedded"
)

// Gateway mode runs the production shape on one machine: the embedded
// engine alone (`tracehouse clickhouse`, standing in for a ClickHouse
// server), the collector on the shipped gateway config
// (collector/configs/ingest-gateway.yaml: persistent queue, bearer-token
// ingest) and the query API, each its own process. The config is used as
// shipped; only what must differ on a shared machine is overridden on the
// command line (`--config yaml:…`): the receivers, health check and
// metrics move to free loopback ports. The queue lives in the run's
// folder (TRACEHOUSE_QUEUE_DIR), the ingest token in a file of it
// (TRACEHOUSE_INGEST_TOKEN_FILE), which the senders send.

// gatewayProcesses are the engine, the collector and the query API of a
// gateway run, in start order.
func gatewayProcesses(cfg config, data, run string, a addrs) (engine, collector, query *process) {
	dsn := engineDSN(data, a.clickhouse)
	engine = &process{name: "clickhouse", bin: cfg.bin,
		args:    []string{"clickhouse", "--data", data, "--listen", a.clickhouse},
		ready:   []string{"http://" + a.clickhouse + "/ping"},
		logPath: filepath.Join(run, "soak-clickhouse.log")}
	collector = &process{name: "collector", bin: cfg.bin,
		args: []string{"collector", "--config", "file:" + cfg.gateway,
			"--config", "yaml:receivers::otlp::protocols::grpc::endpoint: " + a.otlpGRPC,
			"--config", "yaml:receivers::otlp::protocols::http::endpoint: " + a.otlpHTTP,
			"--config", "yaml:receivers::jsonl::endpoint: " + a.jsonl,
			"--config", "yaml:extensions::health_check::endpoint: " + a.health,
			"--config", fmt.Sprintf("yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: %q, port: %s}}}}]", "127.0.0.1", port(a.metrics)),
		},
		env: []string{
			"TRACEHOUSE_CLICKHOUSE=" + dsn,
			"TRACEHOUSE_QUEUE_DIR=" + filepath.Join(run, "queue"),
			"TRACEHOUSE_INGEST_TOKEN_FILE=" + filepath.Join(run, "ingest-token"),
		},
		ready:   []string{"http://" + a.health + "/"},
		logPath: filepath.Join(run, "soak-collector.log")}
	collector.args = append(collector.args, cfg.colExtra...)
	query = &process{name: "query", bin: cfg.bin,
		args:    []string{"query", "--clickhouse", dsn, "--http", a.query},
		ready:   []string{"http://" + a.query + "/readyz"},
		logPath: filepath.Join(run, "soak-query.log")}
	return engine, collector, query
}

// engineDSN is the DSN of the embedded engine on addr with its data in
// data: its generated password is read from the data folder
// (password_file), as any client on this machine does.
func engineDSN(data, addr string) string {
	dsn := url.URL{Scheme: "http", User: url.User(embedded.DefaultUser), Host: addr, Path: "/default",
		RawQuery: "password_file=" + url.QueryEscape(filepath.Join(data, embedded.PasswordFileName))}
	return dsn.String()
}

// writeToken writes a new random ingest token to path and returns it.
func writeToken(path string) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return token, os.WriteFile(path, []byte(token+"\n"), 0o600)
}

func port(hostPort string) string {
	for i := len(hostPort) - 1; i >= 0; i-- {
		if hostPort[i] == ':' {
			return hostPort[i+1:]
		}
	}
	return hostPort
}
