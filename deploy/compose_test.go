package deploy

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/tracehouse/tracehouse/sample-services/auth"
	"github.com/tracehouse/tracehouse/sample-services/gateway"
	"github.com/tracehouse/tracehouse/sample-services/loadgen"
	"github.com/tracehouse/tracehouse/sample-services/order"
	"github.com/tracehouse/tracehouse/sample-services/payment"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// parseShopFlags parses a sample service's command line and environment
// exactly as the binary does.
func parseShopFlags(command string, args []string, env types.MappingWithEquals) error {
	lookup := func(name string) (string, bool) {
		if v, ok := env[name]; ok && v != nil {
			return *v, true
		}
		return "", false
	}
	var err error
	switch command {
	case gateway.Name:
		_, err = gateway.ParseFlags(args, lookup, io.Discard)
	case auth.Name:
		_, err = auth.ParseFlags(args, lookup, io.Discard)
	case order.Name:
		_, err = order.ParseFlags(args, lookup, io.Discard)
	case payment.Name:
		_, err = payment.ParseFlags(args, lookup, io.Discard)
	case "loadgen":
		_, err = loadgen.ParseFlags(args, lookup, io.Discard)
	}
	return err
}

func loadCompose(t *testing.T, file string) *types.Project {
	t.Helper()
	dir := filepath.Join(deployDir(t), "compose")
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, file)}},
		Environment: types.NewMapping(os.Environ()),
	}
	project, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName(strings.TrimSuffix(file, ".yml"), false)
		o.ResolvePaths = true
	})
	if err != nil {
		t.Fatalf("%s does not load: %v", file, err)
	}
	return project
}

// knownPorts are the ports ClickHouse images listen on without saying so in
// the compose file.
var knownPorts = map[string][]int{
	"clickhouse/clickhouse-server": {8123, 9000, 9009},
	"clickhouse/clickhouse-keeper": {9181, 9234},
}

// listenPorts are the container ports a service listens on: published
// ports, --listen/--http flags and its image's well-known ports.
func listenPorts(s types.ServiceConfig) []int {
	var ports []int
	for _, p := range s.Ports {
		ports = append(ports, int(p.Target))
	}
	for i, a := range s.Command {
		if (a == "--listen" || a == "--http") && i+1 < len(s.Command) {
			if _, port, err := net.SplitHostPort(s.Command[i+1]); err == nil {
				n, _ := strconv.Atoi(port)
				ports = append(ports, n)
			}
		}
	}
	name, _, _ := strings.Cut(s.Image, ":")
	ports = append(ports, knownPorts[name]...)
	if name == "tracehouse/tracehouse" && len(s.Command) > 0 && s.Command[0] == "collector" {
		ports = append(ports, 13133) // the configs' health_check extension
	}
	return ports
}

func TestComposeFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(deployDir(t), "compose", "*.yml"))
	if len(files) < 2 {
		t.Fatalf("want docker-compose.yml and docker-compose.cluster.yml, found %v", files)
	}
	thCommands, shop := tracehouseCommands(t), shopCommands(t)
	for _, path := range files {
		file := filepath.Base(path)
		t.Run(file, func(t *testing.T) {
			p := loadCompose(t, file)
			// checkTarget: host:port must be a service of this project
			// listening on that port.
			checkTarget := func(svc, what, hostport string) {
				host, port, err := net.SplitHostPort(hostport)
				if err != nil {
					t.Errorf("%s: %s %q: %v", svc, what, hostport, err)
					return
				}
				target, ok := p.Services[host]
				if !ok {
					t.Errorf("%s: %s %q names no service of %s", svc, what, hostport, file)
					return
				}
				n, _ := strconv.Atoi(port)
				if !slices.Contains(listenPorts(target), n) {
					t.Errorf("%s: %s %q: %s does not listen on %d (listens on %v)", svc, what, hostport, host, n, listenPorts(target))
				}
			}
			checkValue := func(svc, what, v string) {
				switch {
				case strings.HasPrefix(v, "clickhouse://"):
					opts, err := storage.ParseDSN(v)
					if err != nil {
						t.Errorf("%s: %s: %v", svc, what, err)
						return
					}
					for _, addr := range opts.Addr {
						checkTarget(svc, what, addr)
					}
				case strings.HasPrefix(v, "http://"):
					u, err := url.Parse(v)
					if err != nil {
						t.Errorf("%s: %s %q: %v", svc, what, v, err)
						return
					}
					if u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" {
						checkTarget(svc, what, u.Host)
					}
				}
			}

			for name, s := range p.Services {
				image, tag, _ := strings.Cut(s.Image, ":")
				if tag == "" || tag == "latest" {
					t.Errorf("%s: image %q is not pinned", name, s.Image)
				}
				if s.Build != nil {
					mustExist(t, filepath.Join(s.Build.Context, s.Build.Dockerfile), name+": dockerfile")
				}
				switch image {
				case "tracehouse/tracehouse":
					if len(s.Command) == 0 || !slices.Contains(thCommands, s.Command[0]) {
						t.Errorf("%s: command %q is not a tracehouse subcommand %v", name, s.Command, thCommands)
					}
					if len(s.Command) > 0 && s.Command[0] == "migrate" {
						// --dry-run renders the SQL without connecting: the flags parse.
						if err := schema.RunMigrateCommand(context.Background(), append(slices.Clone(s.Command[1:]), "--dry-run"), io.Discard); err != nil {
							t.Errorf("%s: %q: %v", name, s.Command, err)
						}
					}
				case "tracehouse/sample-services":
					if len(s.Command) == 0 || !slices.Contains(shop, s.Command[0]) {
						t.Errorf("%s: command %q is not a sample-services subcommand %v", name, s.Command, shop)
					} else if err := parseShopFlags(s.Command[0], s.Command[1:], s.Environment); err != nil {
						t.Errorf("%s: %q: %v", name, s.Command, err)
					}
				case "clickhouse/clickhouse-server", "clickhouse/clickhouse-keeper":
				default:
					t.Errorf("%s: unexpected image %q", name, s.Image)
				}

				mounted := map[string]bool{}
				for _, v := range s.Volumes {
					if v.Type == types.VolumeTypeBind {
						mustExist(t, v.Source, name+": bind mount source")
						mounted[v.Target] = true
					}
				}
				for i, a := range s.Command {
					if a == "--config" && i+1 < len(s.Command) {
						if !mounted[s.Command[i+1]] {
							t.Errorf("%s: --config %s is not a file mounted from the repository", name, s.Command[i+1])
						}
					}
					checkValue(name, "argument", a)
				}
				for k, v := range s.Environment {
					if v == nil {
						continue
					}
					checkValue(name, k, *v)
					if strings.HasSuffix(k, "OTLP_ENDPOINT") {
						checkTarget(name, k, *v)
					}
				}
				if s.HealthCheck != nil && len(s.HealthCheck.Test) > 1 && strings.HasPrefix(image, "tracehouse/") && s.HealthCheck.Test[1] != "/usr/local/bin/healthcheck" {
					// Distroless images: no shell, no wget.
					t.Errorf("%s: health check %q: the image has only /usr/local/bin/healthcheck", name, s.HealthCheck.Test)
				}
				if s.HealthCheck != nil && len(s.HealthCheck.Test) > 0 {
					for _, a := range s.HealthCheck.Test {
						if u, err := url.Parse(a); err == nil && u.Scheme == "http" {
							n, _ := strconv.Atoi(u.Port())
							if !slices.Contains(listenPorts(s), n) {
								t.Errorf("%s: health check %s: the service does not listen on %d", name, a, n)
							}
						}
					}
				} else if name != "migrate" && name != "loadgen" && name != "keeper" {
					t.Errorf("%s: no health check", name)
				}
			}
			for _, want := range []string{"migrate", "collector", "query", "gateway", "auth", "order", "payment", "loadgen"} {
				if _, ok := p.Services[want]; !ok {
					t.Errorf("no %s service", want)
				}
			}
		})
	}
}

// The cluster compose file runs migrate with --cluster tracehouse and mounts
// a macros file into every ClickHouse server.
func TestComposeCluster(t *testing.T) {
	p := loadCompose(t, "docker-compose.cluster.yml")
	if !slices.Equal(p.Services["migrate"].Command[:5], []string{"migrate", "--clickhouse", p.Services["migrate"].Command[2], "--cluster", clusterName}) {
		t.Errorf("migrate command %q, want --cluster %s", p.Services["migrate"].Command, clusterName)
	}
	servers := 0
	for name, s := range p.Services {
		if !strings.HasPrefix(s.Image, "clickhouse/clickhouse-server:") {
			continue
		}
		servers++
		var macros string
		for _, v := range s.Volumes {
			if v.Target == "/etc/clickhouse-server/config.d/macros.xml" {
				macros = v.Source
			}
		}
		if macros == "" {
			t.Errorf("%s: no macros.xml mounted", name)
			continue
		}
		m := readMacros(t, macros)
		if m.Replica != name || m.Cluster != clusterName {
			t.Errorf("%s: macros %+v, want replica %s and cluster %s", name, m, name, clusterName)
		}
	}
	if servers != 4 {
		t.Errorf("%d ClickHouse servers, want 2 shards x 2 replicas", servers)
	}
}
