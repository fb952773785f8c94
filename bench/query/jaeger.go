package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// jaegerVersion is the Jaeger release whose ClickHouse storage is compared:
// the approved one (v1.76.0 is served but not approved here). Its module is
// pinned in bench/query/jaeger/go.mod (a tool dependency of a module of its
// own: `go install …@version` refuses a module with replace directives, and
// inside this module Jaeger's dependencies would be raised to ours).
const jaegerVersion = "v1.75.0"

// buildJaeger builds Jaeger v2 (cmd/jaeger) from bench/query/jaeger into dir.
func buildJaeger(root, dir string) (string, error) {
	bin := filepath.Join(dir, "jaeger")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/jaegertracing/jaeger/cmd/jaeger")
	cmd.Dir = filepath.Join(root, "bench/query/jaeger")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build jaeger %s (in %s): %w", jaegerVersion, cmd.Dir, err)
	}
	return bin, nil
}

// jaegerConfig is Jaeger v2 as a collector: OTLP in, its ClickHouse
// storage out (over the HTTP interface, its schema created at start), the
// batch processor of its example configuration and a queue that blocks
// when full, like the other two exporters'.
func jaegerConfig(e *engine, otlpPort int) string {
	return fmt.Sprintf(`extensions:
  jaeger_storage:
    backends:
      ch:
        clickhouse:
          protocol: http
          addresses: [%q]
          database: %s
          auth:
            basic:
              username: %s
              password: %s
          create_schema: true
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    send_batch_size: 10000
    timeout: 1s
exporters:
  jaeger_storage_exporter:
    trace_storage: ch
    queue:
      block_on_overflow: true
service:
  extensions: [jaeger_storage]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
`, e.addr(), dbJaeger, e.user, e.password, otlpPort)
}
