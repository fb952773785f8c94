package collector

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/modfile"

	"github.com/tracehouse/tracehouse/collector/logfieldsprocessor"
	"github.com/tracehouse/tracehouse/ingest/browserguardextension"
	"github.com/tracehouse/tracehouse/ingest/partialsuccessextension"
	"github.com/tracehouse/tracehouse/ingest/tracehouseexporter"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

func TestMain(m *testing.M) {
	if yaml := os.Getenv(childConfigEnv); yaml != "" {
		os.Exit(runChildCollector(yaml))
	}
	chtest.Main(m)
}

func typeNames[F component.Factory](m map[component.Type]F) []string {
	var out []string
	for t := range m {
		out = append(out, t.String())
	}
	sort.Strings(out)
	return out
}

func TestComponents(t *testing.T) {
	f, err := Components()
	if err != nil {
		t.Fatal(err)
	}
	for kind, c := range map[string]struct{ got, want []string }{
		// otlp_grpc and otlp_http are the exporters' names since v0.15x;
		// otlp and otlphttp remain as deprecated aliases.
		// filelog and fluentforward are file_log's and fluent_forward's
		// deprecated aliases.
		"receivers":  {typeNames(f.Receivers), []string{"file_log", "filelog", "fluent_forward", "fluentforward", "jaeger", "jsonl", "kafka", "otlp", "syslog", "zipkin"}},
		"processors": {typeNames(f.Processors), []string{"batch", "logfields", "memory_limiter"}},
		"exporters":  {typeNames(f.Exporters), []string{"debug", "kafka", "otlp", "otlp_grpc", "otlp_http", "otlphttp", "tracehouse"}},
		"extensions": {typeNames(f.Extensions), []string{"bearertokenauth", "browserguard", "file_storage", "health_check", "partialsuccess"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s: %v, want %v", kind, c.got, c.want)
		}
	}
}

// manifest is the part of an ocb manifest this test reads.
type manifest struct {
	Receivers  []manifestEntry `yaml:"receivers"`
	Processors []manifestEntry `yaml:"processors"`
	Exporters  []manifestEntry `yaml:"exporters"`
	Extensions []manifestEntry `yaml:"extensions"`
	Connectors []manifestEntry `yaml:"connectors"`
	Providers  []manifestEntry `yaml:"providers"`
}

type manifestEntry struct {
	GoMod  string `yaml:"gomod"`
	Import string `yaml:"import"`
}

func gomods(entries []manifestEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.GoMod)
	}
	sort.Strings(out)
	return out
}

func moduleValues(m map[component.Type]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// builder-config.yaml, components.go and go.mod describe the same
// components at the same versions.
func TestBuilderManifestMatchesComponents(t *testing.T) {
	raw, err := os.ReadFile("builder-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	f, err := Components()
	if err != nil {
		t.Fatal(err)
	}
	set := settings(nil)
	var providers []string
	for _, v := range set.ProviderModules {
		providers = append(providers, v)
	}
	sort.Strings(providers)
	for kind, c := range map[string]struct{ manifest, components []string }{
		"receivers":  {gomods(m.Receivers), moduleValues(f.ReceiverModules)},
		"processors": {gomods(m.Processors), moduleValues(f.ProcessorModules)},
		"exporters":  {gomods(m.Exporters), moduleValues(f.ExporterModules)},
		"extensions": {gomods(m.Extensions), moduleValues(f.ExtensionModules)},
		"connectors": {gomods(m.Connectors), moduleValues(f.ConnectorModules)},
		"providers":  {gomods(m.Providers), providers},
	} {
		if !slices.Equal(c.manifest, c.components) {
			t.Errorf("%s: builder-config.yaml has %v, components.go %v", kind, c.manifest, c.components)
		}
	}

	// Every component has its module, and no module lacks its component.
	checkTypes := func(kind string, factories []component.Type, modules map[component.Type]string) {
		for _, typ := range factories {
			if _, ok := modules[typ]; !ok {
				t.Errorf("%s %s has no module in components.go", kind, typ)
			}
		}
		if len(modules) != len(factories) {
			t.Errorf("%s: %d modules for %d components", kind, len(modules), len(factories))
		}
	}
	checkTypes("receiver", canonical(f.Receivers), f.ReceiverModules)
	checkTypes("processor", canonical(f.Processors), f.ProcessorModules)
	checkTypes("exporter", canonical(f.Exporters), f.ExporterModules)
	checkTypes("extension", canonical(f.Extensions), f.ExtensionModules)

	// Our own components are imported from the packages the manifest names.
	for _, e := range slices.Concat(m.Receivers, m.Processors, m.Exporters, m.Extensions) {
		if e.Import == "" {
			continue
		}
		found := false
		for _, cfg := range []component.Config{
			f.Receivers[component.MustNewType("jsonl")].CreateDefaultConfig(),
			f.Processors[component.MustNewType(logfieldsprocessor.TypeStr)].CreateDefaultConfig(),
			f.Exporters[component.MustNewType(tracehouseexporter.TypeStr)].CreateDefaultConfig(),
			f.Extensions[component.MustNewType(partialsuccessextension.TypeStr)].CreateDefaultConfig(),
			f.Extensions[component.MustNewType(browserguardextension.TypeStr)].CreateDefaultConfig(),
		} {
			if reflect.TypeOf(cfg).Elem().PkgPath() == e.Import {
				found = true
			}
		}
		if !found {
			t.Errorf("manifest imports %s, which provides none of the Tracehouse components", e.Import)
		}
	}

	// Versions agree with go.mod.
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]string{}
	for _, r := range mf.Require {
		built[r.Mod.Path] = r.Mod.Version
	}
	all := slices.Concat(m.Receivers, m.Processors, m.Exporters, m.Extensions, m.Connectors, m.Providers)
	for _, e := range all {
		path, version, _ := strings.Cut(e.GoMod, " ")
		if path == "github.com/tracehouse/tracehouse" {
			continue
		}
		if built[path] != version {
			t.Errorf("builder-config.yaml pins %s %s, go.mod has %q", path, version, built[path])
		}
	}
}

// canonical lists the factories' own types (the maps also hold deprecated
// aliases under their old names).
func canonical[F component.Factory](m map[component.Type]F) []component.Type {
	var out []component.Type
	for typ, f := range m {
		if f.Type() == typ {
			out = append(out, typ)
		}
	}
	return out
}

// Each shipped config loads and validates through the distribution's own
// components and config resolution.
func TestShippedConfigsValidate(t *testing.T) {
	factories, err := Components()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRACEHOUSE_CLICKHOUSE", "clickhouse://writer:pw@clickhouse:9000/default")
	dir := t.TempDir()
	for _, name := range ConfigNames() {
		t.Run(name, func(t *testing.T) {
			text, err := Config(name)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := otelcoltest.LoadConfigAndValidate(path, factories)
			if err != nil {
				t.Fatalf("%s does not validate: %v", name, err)
			}
			if len(cfg.Service.Pipelines) != 2 {
				t.Errorf("%s has %d pipelines, want traces and logs", name, len(cfg.Service.Pipelines))
			}
		})
	}

	t.Run("gateway without a ClickHouse DSN", func(t *testing.T) {
		t.Setenv("TRACEHOUSE_CLICKHOUSE", "")
		text, _ := Config(IngestGateway)
		path := filepath.Join(dir, "no-dsn.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := otelcoltest.LoadConfigAndValidate(path, factories); err == nil || !strings.Contains(err.Error(), "endpoint is required") {
			t.Errorf("gateway config without TRACEHOUSE_CLICKHOUSE: %v, want an error that names the missing endpoint", err)
		}
	})
}
