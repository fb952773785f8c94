package deploy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	corev1 "k8s.io/api/core/v1"

	"github.com/tracehouse/tracehouse/ingest/jsonlreceiver"
)

// composeTestToken stands in for the TRACEHOUSE_INGEST_TOKEN an operator
// exports before `docker compose up` (the compose files refuse to load
// without one).
const composeTestToken = "compose-test-token"

// composeEnvironment is the environment compose files are loaded with:
// this process's, plus the ingest and query tokens when it has none.
func composeEnvironment() types.Mapping {
	env := types.NewMapping(os.Environ())
	if _, ok := env["TRACEHOUSE_INGEST_TOKEN"]; !ok {
		env["TRACEHOUSE_INGEST_TOKEN"] = composeTestToken
	}
	if _, ok := env["TRACEHOUSE_QUERY_TOKEN"]; !ok {
		env["TRACEHOUSE_QUERY_TOKEN"] = composeTestToken + "-query"
	}
	return env
}

// sdkVariables are read by the OpenTelemetry SDK the sample services
// export with (otlptracegrpc, otlploggrpc), not by their flags.
var sdkVariables = map[string]bool{"OTEL_EXPORTER_OTLP_HEADERS": true}

// receiverAuth is one network receiver of a collector config: where it
// listens and the authenticator it requires (zero: none).
type receiverAuth struct {
	name, endpoint string
	auth           configoptional.Optional[configauth.Config]
}

func receiversOf(cfg *otelcol.Config) []receiverAuth {
	var out []receiverAuth
	for id, c := range cfg.Receivers {
		switch r := c.(type) {
		case *otlpreceiver.Config:
			if g := r.Protocols.GRPC.Get(); g != nil {
				out = append(out, receiverAuth{id.String() + " grpc", g.NetAddr.Endpoint, g.Auth})
			}
			if h := r.Protocols.HTTP.Get(); h != nil {
				var auth configoptional.Optional[configauth.Config]
				if a := h.ServerConfig.Auth.Get(); a != nil {
					auth = configoptional.Some(a.Config)
				}
				out = append(out, receiverAuth{id.String() + " http", h.ServerConfig.NetAddr.Endpoint, auth})
			}
		case *jsonlreceiver.Config:
			var auth configoptional.Optional[configauth.Config]
			if a := r.ServerConfig.Auth.Get(); a != nil {
				auth = configoptional.Some(a.Config)
			}
			out = append(out, receiverAuth{id.String(), r.ServerConfig.NetAddr.Endpoint, auth})
		}
	}
	return out
}

// bearerExtension is the enabled bearertokenauth extension id names, or nil.
func bearerExtension(cfg *otelcol.Config, id component.ID) *bearertokenauthextension.Config {
	if !slices.Contains(cfg.Service.Extensions, id) {
		return nil
	}
	b, _ := cfg.Extensions[id].(*bearertokenauthextension.Config)
	return b
}

// checkReceiversRequireAuth: every OTLP and JSON-lines receiver that
// listens beyond loopback requires a bearer token through an enabled
// bearertokenauth extension that has one (inline or from a file).
// Listening on loopback, a receiver may take any sender.
func checkReceiversRequireAuth(t *testing.T, id string, cfg *otelcol.Config) {
	t.Helper()
	for _, problem := range receiverAuthProblems(cfg) {
		t.Errorf("%s: %s", id, problem)
	}
}

func receiverAuthProblems(cfg *otelcol.Config) []string {
	var problems []string
	for _, r := range receiversOf(cfg) {
		host, _, err := net.SplitHostPort(r.endpoint)
		if err != nil {
			problems = append(problems, fmt.Sprintf("receiver %s: endpoint %q: %v", r.name, r.endpoint, err))
			continue
		}
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			continue
		}
		a := r.auth.Get()
		if a == nil {
			problems = append(problems, fmt.Sprintf("receiver %s listens on %s without auth: anyone who reaches it can write", r.name, r.endpoint))
			continue
		}
		b := bearerExtension(cfg, a.AuthenticatorID)
		if b == nil {
			problems = append(problems, fmt.Sprintf("receiver %s: authenticator %s is no enabled bearertokenauth extension", r.name, a.AuthenticatorID))
			continue
		}
		if b.BearerToken == "" && b.Filename == "" && len(b.Tokens) == 0 {
			problems = append(problems, fmt.Sprintf("receiver %s: %s has no token", r.name, a.AuthenticatorID))
		}
	}
	return problems
}

// tokenFiles are the files the collector's bearertokenauth extensions
// read their tokens from.
func tokenFiles(cfg *otelcol.Config) []string {
	var files []string
	for _, id := range cfg.Service.Extensions {
		if b := bearerExtension(cfg, id); b != nil && b.Filename != "" {
			files = append(files, b.Filename)
		}
	}
	return files
}

// sentAuthorizations are the authorization headers the collector's OTLP
// gRPC exporters send.
func sentAuthorizations(cfg *otelcol.Config) map[string]string {
	out := map[string]string{}
	for id, c := range cfg.Exporters {
		if e, ok := c.(*otlpexporter.Config); ok {
			v, _ := e.ClientConfig.Headers.Get("authorization")
			out[id.String()] = string(v)
		}
	}
	return out
}

// checkComposeTokenSource: a collector's token files are compose secrets
// mounted where the config reads them, from TRACEHOUSE_INGEST_TOKEN; the
// token it sends to a gateway is that token.
func checkComposeTokenSource(t *testing.T, p *types.Project, name string, s types.ServiceConfig, cfg *otelcol.Config) {
	t.Helper()
	for _, file := range tokenFiles(cfg) {
		var found bool
		for _, ref := range s.Secrets {
			target := ref.Target
			if target == "" {
				target = ref.Source
			}
			if !path.IsAbs(target) {
				target = path.Join("/run/secrets", target)
			}
			if target != file {
				continue
			}
			found = true
			if secret, ok := p.Secrets[ref.Source]; !ok || secret.Environment != "TRACEHOUSE_INGEST_TOKEN" {
				t.Errorf("%s: secret %s does not come from TRACEHOUSE_INGEST_TOKEN (%+v)", name, ref.Source, secret)
			}
		}
		if !found {
			t.Errorf("%s: its collector reads the ingest token from %s, which no secret of the service mounts (secrets: %v)", name, file, s.Secrets)
		}
	}
	for id, auth := range sentAuthorizations(cfg) {
		if auth != "Bearer "+composeEnvironment()["TRACEHOUSE_INGEST_TOKEN"] {
			t.Errorf("%s: exporter %s sends authorization %q, not the ingest token", name, id, auth)
		}
	}
}

// checkShopSendsToken: a sample service that exports OTLP sends the
// ingest token (OTEL_EXPORTER_OTLP_HEADERS, as the SDK reads it).
func checkShopSendsToken(t *testing.T, p *types.Project, name string, s types.ServiceConfig) {
	t.Helper()
	if envValue(s, "OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return
	}
	headers := map[string]string{}
	for _, pair := range strings.Split(envValue(s, "OTEL_EXPORTER_OTLP_HEADERS"), ",") {
		k, v, _ := strings.Cut(pair, "=")
		decoded, err := url.PathUnescape(v)
		if err != nil {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_HEADERS %q: %v", name, pair, err)
		}
		headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(decoded)
	}
	if want := "Bearer " + composeEnvironment()["TRACEHOUSE_INGEST_TOKEN"]; headers["authorization"] != want {
		t.Errorf("%s: sends OTLP with authorization %q, want %q (OTEL_EXPORTER_OTLP_HEADERS)", name, headers["authorization"], want)
	}
}

// checkK8sTokenSource: a collector's token files lie in a mounted Secret
// that has them; an inline token and a sent one come from a Secret too.
func checkK8sTokenSource(t *testing.T, b *built, id string, pod *corev1.PodTemplateSpec, c corev1.Container, cfg *otelcol.Config) {
	t.Helper()
	for _, file := range tokenFiles(cfg) {
		if _, ok := secretFile(b, pod, c, file); !ok {
			t.Errorf("%s: its collector reads the ingest token from %s, which is no key of a Secret mounted in the container", id, file)
		}
	}
	// Tokens the container gets from Secrets through its environment.
	fromSecrets := map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			if s, ok := b.secrets[e.ValueFrom.SecretKeyRef.Name]; ok {
				fromSecrets[string(s.Data[e.ValueFrom.SecretKeyRef.Key])] = true
			}
		}
	}
	for _, ext := range cfg.Service.Extensions {
		if bt := bearerExtension(cfg, ext); bt != nil && bt.Filename == "" && !fromSecrets[string(bt.BearerToken)] {
			t.Errorf("%s: %s's token does not come from a Secret", id, ext)
		}
	}
	for exp, auth := range sentAuthorizations(cfg) {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !fromSecrets[token] {
			t.Errorf("%s: exporter %s sends authorization %q, not a token from a Secret", id, exp, auth)
		}
	}
}

// secretFile is the content of the file at p in container c when a Secret
// volume provides it.
func secretFile(b *built, pod *corev1.PodTemplateSpec, c corev1.Container, p string) (string, bool) {
	for _, m := range c.VolumeMounts {
		rel, err := filepath.Rel(m.MountPath, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			s, ok := b.secrets[v.Secret.SecretName]
			if !ok {
				return "", false
			}
			key := rel
			if len(v.Secret.Items) > 0 {
				key = ""
				for _, item := range v.Secret.Items {
					if item.Path == rel {
						key = item.Key
					}
				}
			}
			data, ok := s.Data[key]
			return string(data), ok
		}
	}
	return "", false
}

// checkCollectorRun runs checkReceiversRequireAuth on every collector of
// every compose file and kustomization, so each gateway and node agent
// that binds beyond loopback is found requiring a token. This test makes
// sure the check fails where it must: the configs that enter data, with
// their auth removed and bound beyond loopback, have three open receivers.
func TestReceiverAuthCheckCatchesOpenReceivers(t *testing.T) {
	t.Setenv("TRACEHOUSE_CLICKHOUSE", "clickhouse://default:pw@clickhouse:9000/default")
	t.Setenv("TRACEHOUSE_LISTEN_HOST", "0.0.0.0")
	dir := t.TempDir()
	for _, c := range []struct{ name, file string }{
		{"gateway", filepath.Join(repoRoot(t), "collector", "configs", "ingest-gateway.yaml")},
		{"kafka agent", filepath.Join(deployDir(t), "kafka", "agent.yaml")},
	} {
		if problems := receiverAuthProblems(loadCollectorConfig(t, distribution(t), c.file)); len(problems) != 0 {
			t.Errorf("%s: %v", c.name, problems)
		}
		text, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		open := strings.NewReplacer(
			"        auth:\n          authenticator: bearertokenauth/ingest\n", "",
			"    auth:\n      authenticator: bearertokenauth/ingest\n", "",
		).Replace(string(text))
		openFile := filepath.Join(dir, filepath.Base(c.file))
		if err := os.WriteFile(openFile, []byte(open), 0o600); err != nil {
			t.Fatal(err)
		}
		problems := receiverAuthProblems(loadCollectorConfig(t, distribution(t), openFile))
		if len(problems) != 3 {
			t.Errorf("%s without auth: %d problems %v, want 3 (OTLP gRPC, OTLP HTTP, JSON-lines)", c.name, len(problems), problems)
		}
	}
}

// The compose files refuse to load without TRACEHOUSE_INGEST_TOKEN: no
// deployment runs with an open or empty-token collector by accident.
func TestComposeRequiresIngestToken(t *testing.T) {
	env := composeEnvironment()
	delete(env, "TRACEHOUSE_INGEST_TOKEN")
	for _, files := range composeProjects {
		details := types.ConfigDetails{WorkingDir: filepath.Join(deployDir(t), "compose"), Environment: env}
		for _, f := range files {
			details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: filepath.Join(details.WorkingDir, f)})
		}
		_, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
			o.SetProjectName("token-check", false)
		})
		if err == nil || !strings.Contains(err.Error(), "TRACEHOUSE_INGEST_TOKEN") {
			t.Errorf("%v without TRACEHOUSE_INGEST_TOKEN: %v, want an error naming it", files, err)
		}
	}
}

// TestQueryAPIRequiresToken: the query API listens beyond loopback in every
// deployment, so it takes its token from the operator (compose refuses to
// load without TRACEHOUSE_QUERY_TOKEN) or from a Secret (k8s).
func TestQueryAPIRequiresToken(t *testing.T) {
	env := composeEnvironment()
	delete(env, "TRACEHOUSE_QUERY_TOKEN")
	for _, files := range composeProjects {
		details := types.ConfigDetails{WorkingDir: filepath.Join(deployDir(t), "compose"), Environment: env}
		for _, f := range files {
			details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: filepath.Join(details.WorkingDir, f)})
		}
		_, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
			o.SetProjectName("query-token-check", false)
		})
		if err == nil || !strings.Contains(err.Error(), "TRACEHOUSE_QUERY_TOKEN") {
			t.Errorf("%v without TRACEHOUSE_QUERY_TOKEN: %v, want an error naming it", files, err)
		}
	}
	for _, dir := range kustomizationDirs(t) {
		b := kustomize(t, dir)
		for _, w := range b.workloads() {
			for _, c := range w.pod.Spec.Containers {
				if len(c.Args) == 0 || c.Args[0] != "query" {
					continue
				}
				found := false
				for _, e := range c.Env {
					if e.Name == "TRACEHOUSE_QUERY_AUTH_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: %s %s runs the query API without TRACEHOUSE_QUERY_AUTH_TOKEN from a Secret", dir, w.kind, w.name)
				}
			}
		}
	}
}
