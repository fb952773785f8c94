package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

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
	provider, err := otelcol.NewConfigProvider(otelcol.ConfigProviderSettings{
		ResolverSettings: confmap.ResolverSettings{
			URIs:              paths,
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory()},
			DefaultScheme:     "env",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := provider.Get(context.Background(), factories)
	if err != nil {
		t.Fatalf("%v do not load: %v", paths, err)
	}
	if err := confmap.Validate(cfg); err != nil {
		t.Fatalf("%v do not validate: %v", paths, err)
	}
	return cfg
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
// configs (kustomize cannot read files above its root): they must not drift.
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
	}
}

func TestDeployCollectorConfigsValidate(t *testing.T) {
	t.Setenv("TRACEHOUSE_CLICKHOUSE", "clickhouse://default:pw@clickhouse:9000/default")
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
