package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/kafkaexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kafkareceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"

	"github.com/tracehouse/tracehouse/collector"
)

// loadCollectorConfig resolves and validates a collector configuration the
// way `tracehouse collector --config A --config B` does: URIs merged in
// order, then every component's Validate.
func loadCollectorConfig(t *testing.T, factories otelcol.Factories, paths ...string) *otelcol.Config {
	t.Helper()
	cfg, err := resolveCollectorConfig(factories, paths...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func resolveCollectorConfig(factories otelcol.Factories, paths ...string) (*otelcol.Config, error) {
	provider, err := otelcol.NewConfigProvider(otelcol.ConfigProviderSettings{
		ResolverSettings: confmap.ResolverSettings{
			URIs:              paths,
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory()},
			DefaultScheme:     "env",
		},
	})
	if err != nil {
		return nil, err
	}
	cfg, err := provider.Get(context.Background(), factories)
	if err != nil {
		return nil, fmt.Errorf("%v do not load: %w", paths, err)
	}
	if err := confmap.Validate(cfg); err != nil {
		return nil, fmt.Errorf("%v do not validate: %w", paths, err)
	}
	return cfg, nil
}

// envReference is a variable a collector config reads: ${env:NAME},
// ${env:NAME:-default} or ${NAME} (the distribution's default scheme is env).
var envReference = regexp.MustCompile(`\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// configEnv returns the variables collector configs read, each with
// whether every use of it has a default. Comment lines do not count.
func configEnv(paths ...string) (map[string]bool, error) {
	vars := map[string]bool{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range envReference.FindAllStringSubmatch(line, -1) {
				hasDefault := m[2] != ""
				if prev, seen := vars[m[1]]; seen {
					hasDefault = hasDefault && prev
				}
				vars[m[1]] = hasDefault
			}
		}
	}
	return vars, nil
}

// checkCollectorRun checks a collector the way a compose service or a pod
// runs it: its --config files (paths on this machine) and the environment
// the deployment gives it. Every variable set is one the configs read (a
// misspelt or leftover name fails), every variable they read without a
// default is set, the configs load and validate with the distribution's
// factories under exactly that environment, and every receiver beyond
// loopback requires a token (checkReceiversRequireAuth). The loaded config
// is nil when it does not load.
func checkCollectorRun(t *testing.T, id string, configs []string, env map[string]string) *otelcol.Config {
	t.Helper()
	reads, err := configEnv(configs...)
	if err != nil {
		t.Errorf("%s: %v", id, err)
		return nil
	}
	var names []string
	for _, c := range configs {
		names = append(names, filepath.Base(c))
	}
	for name := range env {
		if _, ok := reads[name]; !ok {
			t.Errorf("%s: sets %s, which its collector configs %v never read", id, name, names)
		}
	}
	for name, hasDefault := range reads {
		if v, ok := env[name]; ok {
			t.Setenv(name, v)
			continue
		}
		if !hasDefault {
			t.Errorf("%s: its collector configs %v read ${env:%s} without a default, and it is not set", id, names, name)
		}
		t.Setenv(name, "") // restored after the test
		os.Unsetenv(name)
	}
	cfg, err := resolveCollectorConfig(distribution(t), configs...)
	if err != nil {
		t.Errorf("%s: %v", id, err)
		return nil
	}
	checkReceiversRequireAuth(t, id, cfg)
	return cfg
}

// kafkaTopics are the topics a collector config writes (kafka exporter) or
// reads (kafka receiver), per signal.
func kafkaTopics(cfg *otelcol.Config) (written, read map[string][]string) {
	written, read = map[string][]string{}, map[string][]string{}
	for _, c := range cfg.Exporters {
		if e, ok := c.(*kafkaexporter.Config); ok {
			written["traces"] = append(written["traces"], e.Traces.Topic)
			written["logs"] = append(written["logs"], e.Logs.Topic)
		}
	}
	for _, c := range cfg.Receivers {
		if r, ok := c.(*kafkareceiver.Config); ok {
			read["traces"] = append(read["traces"], r.Traces.Topics...)
			read["logs"] = append(read["logs"], r.Logs.Topics...)
		}
	}
	return written, read
}

func distribution(t *testing.T) otelcol.Factories {
	t.Helper()
	f, err := collector.Components()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// The Kubernetes ConfigMaps are generated from copies of the shipped
// configs and of deploy/kafka (kustomize cannot read files above its root):
// they must not drift.
func TestK8sCollectorConfigsAreTheShippedOnes(t *testing.T) {
	for _, name := range []string{collector.Agent, collector.IngestGateway} {
		shipped, err := collector.Config(name)
		if err != nil {
			t.Fatal(err)
		}
		copied, err := os.ReadFile(filepath.Join(deployDir(t), "k8s", "base", "collector", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal([]byte(shipped), copied) {
			t.Errorf("deploy/k8s/base/collector/%s differs from collector/configs/%s: cp collector/configs/%s deploy/k8s/base/collector/", name, name, name)
		}

		original, err := os.ReadFile(filepath.Join(deployDir(t), "kafka", name))
		if err != nil {
			t.Fatal(err)
		}
		copied, err = os.ReadFile(filepath.Join(deployDir(t), "k8s", "overlays", "kafka", "collector", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(original, copied) {
			t.Errorf("deploy/k8s/overlays/kafka/collector/%s differs from deploy/kafka/%s: cp deploy/kafka/%s deploy/k8s/overlays/kafka/collector/", name, name, name)
		}
	}
}

func TestDeployCollectorConfigsValidate(t *testing.T) {
	t.Setenv("TRACEHOUSE_CLICKHOUSE", "clickhouse://default:pw@clickhouse:9000/default")
	t.Setenv("TRACEHOUSE_INGEST_TOKEN", "test-token")
	k8s := filepath.Join(deployDir(t), "k8s", "base", "collector")
	t.Run("k8s agent with listen override", func(t *testing.T) {
		cfg := loadCollectorConfig(t, distribution(t), filepath.Join(k8s, "agent.yaml"), filepath.Join(k8s, "agent-listen.yaml"))
		if len(cfg.Service.Pipelines) != 2 {
			t.Errorf("%d pipelines, want traces and logs", len(cfg.Service.Pipelines))
		}
	})
	t.Run("k8s ingest gateway", func(t *testing.T) {
		loadCollectorConfig(t, distribution(t), filepath.Join(k8s, "ingest-gateway.yaml"))
	})

	// The kafka configs load with the distribution's own kafka receiver
	// and exporter: a field they do not know fails here.
	factories := distribution(t)
	for _, name := range []string{"agent.yaml", "ingest-gateway.yaml"} {
		t.Run("kafka "+name, func(t *testing.T) {
			cfg := loadCollectorConfig(t, factories, filepath.Join(deployDir(t), "kafka", name))
			if len(cfg.Service.Pipelines) != 2 {
				t.Errorf("%d pipelines, want traces and logs", len(cfg.Service.Pipelines))
			}
		})
	}
}

// TestKafkaBrokersList: KAFKA_BROKERS takes several bootstrap brokers,
// comma-separated (the collector's config decoder splits a string into a
// list), and defaults to kafka:9092.
func TestKafkaBrokersList(t *testing.T) {
	t.Setenv("TRACEHOUSE_CLICKHOUSE", "clickhouse://default:pw@clickhouse:9000/default")
	kafka := component.MustNewID("kafka")
	for _, c := range []struct {
		env  string
		want []string
	}{
		{"", []string{"kafka:9092"}},
		{"k1:9092", []string{"k1:9092"}},
		{"k1:9092,k2:9092,k3:9092", []string{"k1:9092", "k2:9092", "k3:9092"}},
	} {
		if c.env == "" {
			os.Unsetenv("KAFKA_BROKERS")
		} else {
			t.Setenv("KAFKA_BROKERS", c.env)
		}
		agent := loadCollectorConfig(t, distribution(t), filepath.Join(deployDir(t), "kafka", "agent.yaml"))
		if got := agent.Exporters[kafka].(*kafkaexporter.Config).ClientConfig.Brokers; !slices.Equal(got, c.want) {
			t.Errorf("KAFKA_BROKERS=%q: agent's kafka exporter brokers %q, want %q", c.env, got, c.want)
		}
		gateway := loadCollectorConfig(t, distribution(t), filepath.Join(deployDir(t), "kafka", "ingest-gateway.yaml"))
		if got := gateway.Receivers[kafka].(*kafkareceiver.Config).ClientConfig.Brokers; !slices.Equal(got, c.want) {
			t.Errorf("KAFKA_BROKERS=%q: gateway's kafka receiver brokers %q, want %q", c.env, got, c.want)
		}
	}
}
