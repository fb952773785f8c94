package deploy

import (
	"context"
	"encoding/base64"
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

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/internal/commands"
	"github.com/tracehouse/tracehouse/sample-services/auth"
	"github.com/tracehouse/tracehouse/sample-services/broker"
	"github.com/tracehouse/tracehouse/sample-services/fulfillment"
	"github.com/tracehouse/tracehouse/sample-services/gateway"
	"github.com/tracehouse/tracehouse/sample-services/loadgen"
	"github.com/tracehouse/tracehouse/sample-services/order"
	"github.com/tracehouse/tracehouse/sample-services/payment"
	"github.com/tracehouse/tracehouse/storage"
)

// parseShopFlags parses a sample service's command line and environment
// exactly as the binary does, and returns the variables it consulted: one
// it never looked up is a name no flag answers to.
func parseShopFlags(command string, args []string, env types.MappingWithEquals) (consulted map[string]bool, err error) {
	consulted = map[string]bool{}
	lookup := func(name string) (string, bool) {
		consulted[name] = true
		if v, ok := env[name]; ok && v != nil {
			return *v, true
		}
		return "", false
	}
	switch command {
	case gateway.Name:
		_, err = gateway.ParseFlags(args, cli.Env{Lookup: lookup})
	case auth.Name:
		_, err = auth.ParseFlags(args, cli.Env{Lookup: lookup})
	case order.Name:
		_, err = order.ParseFlags(args, cli.Env{Lookup: lookup})
	case payment.Name:
		_, err = payment.ParseFlags(args, cli.Env{Lookup: lookup})
	case fulfillment.Name:
		_, err = fulfillment.ParseFlags(args, cli.Env{Lookup: lookup})
	case broker.Name:
		_, err = broker.ParseFlags(args, cli.Env{Lookup: lookup})
	case "loadgen":
		_, err = loadgen.ParseFlags(args, cli.Env{Lookup: lookup})
	}
	return consulted, err
}

// composeProjects are the ways the compose files are used: each alone, or
// an override (docker-compose.kafka.yml) on top of docker-compose.yml, as
// `docker compose -f A -f B` merges them.
var composeProjects = [][]string{
	{"docker-compose.yml"},
	{"docker-compose.cluster.yml"},
	{"docker-compose.yml", "docker-compose.kafka.yml"},
}

// loadCompose loads and validates compose files merged in order, with the
// project name docker compose gives them (the first file's `name`).
func loadCompose(t *testing.T, files ...string) *types.Project {
	t.Helper()
	dir := filepath.Join(deployDir(t), "compose")
	details := types.ConfigDetails{
		WorkingDir:  dir,
		Environment: composeEnvironment(),
	}
	for _, f := range files {
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: filepath.Join(dir, f)})
	}
	project, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName(strings.TrimSuffix(files[0], ".yml"), false)
		o.ResolvePaths = true
	})
	if err != nil {
		t.Fatalf("%v do not load: %v", files, err)
	}
	return project
}

// knownPorts are the ports ClickHouse images listen on without saying so in
// the compose file.
var knownPorts = map[string][]int{
	"clickhouse/clickhouse-server": {8123, 9000, 9009},
	"clickhouse/clickhouse-keeper": {9181, 9234},
	"nats":                         {4222},
}

// listenPorts are the container ports a service listens on: published
// ports, --listen/--http flags, a Kafka broker's KAFKA_LISTENERS and its
// image's well-known ports.
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
	if name == "apache/kafka" {
		for _, l := range kafkaListeners(envValue(s, "KAFKA_LISTENERS")) {
			ports = append(ports, l.port)
		}
	}
	if name == "nats" {
		if i := slices.Index(s.Command, "--http_port"); i >= 0 && i+1 < len(s.Command) {
			n, _ := strconv.Atoi(s.Command[i+1])
			ports = append(ports, n)
		}
	}
	return ports
}

func envValue(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

// kafkaListener is one entry of KAFKA_LISTENERS or
// KAFKA_ADVERTISED_LISTENERS: NAME://host:port.
type kafkaListener struct {
	name, host string
	port       int
}

func kafkaListeners(list string) []kafkaListener {
	var out []kafkaListener
	for _, l := range strings.Split(list, ",") {
		name, hostport, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok {
			continue
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			continue
		}
		n, _ := strconv.Atoi(port)
		out = append(out, kafkaListener{name, host, n})
	}
	return out
}

// oneShots are the services others wait for to finish
// (service_completed_successfully): they need no health check.
func oneShots(p *types.Project) map[string]bool {
	out := map[string]bool{}
	for _, s := range p.Services {
		for name, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionCompletedSuccessfully {
				out[name] = true
			}
		}
	}
	return out
}

// dependencies is every service name starts after, directly or not.
func dependencies(p *types.Project, name string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		for dep := range p.Services[n].DependsOn {
			if !seen[dep] {
				seen[dep] = true
				walk(dep)
			}
		}
	}
	walk(name)
	return seen
}

// commandWords splits a command into words, including the words of a
// `sh -c` script.
func commandWords(command []string) []string {
	var words []string
	for _, a := range command {
		words = append(words, strings.Fields(a)...)
	}
	return words
}

func TestComposeFilesAreAllTested(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(deployDir(t), "compose", "*.yml"))
	for _, path := range files {
		var used bool
		for _, p := range composeProjects {
			used = used || slices.Contains(p, filepath.Base(path))
		}
		if !used {
			t.Errorf("%s is in no composeProjects entry: add how it is used (alone, or as an override of which file)", path)
		}
	}
}

func TestComposeFiles(t *testing.T) {
	thCommands, shop := tracehouseCommands(t), shopCommands(t)
	for _, files := range composeProjects {
		file := strings.Join(files, "+")
		t.Run(file, func(t *testing.T) {
			p := loadCompose(t, files...)
			oneShot := oneShots(p)
			published := map[string]string{} // host port/protocol → service
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
			var checkValue func(svc, what, v string)
			checkValue = func(svc, what, v string) {
				switch {
				case strings.HasPrefix(v, "http://") && strings.Contains(v, ","):
					// A list of replicas (--order-url a,b): each one.
					for _, one := range strings.Split(v, ",") {
						checkValue(svc, what, one)
					}
				case strings.HasPrefix(v, "clickhouse://"):
					opts, err := storage.ParseDSN(v)
					if err != nil {
						t.Errorf("%s: %s: %v", svc, what, err)
						return
					}
					for _, addr := range opts.Addr {
						checkTarget(svc, what, addr)
					}
				case strings.HasPrefix(v, "nats://"):
					// nats://user:password@host:port: a NATS server of
					// this project, with the credentials it requires.
					u, err := url.Parse(v)
					if err != nil {
						t.Errorf("%s: %s %q: %v", svc, what, v, err)
						return
					}
					checkTarget(svc, what, u.Host)
					if target, ok := p.Services[u.Hostname()]; ok {
						want := natsCredentials(target)
						if pw, _ := u.User.Password(); want != [2]string{u.User.Username(), pw} {
							t.Errorf("%s: %s %q: %s requires user %q with its password", svc, what, v, u.Hostname(), want[0])
						}
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

			// checkBootstrap: every --bootstrap-server of a command is a
			// Kafka listener (the service's own when it names localhost).
			checkBootstrap := func(name string, s types.ServiceConfig, what string, command []string) {
				words := commandWords(command)
				for i, w := range words {
					if w != "--bootstrap-server" || i+1 >= len(words) {
						continue
					}
					host, port, err := net.SplitHostPort(words[i+1])
					n, _ := strconv.Atoi(port)
					switch {
					case err != nil:
						t.Errorf("%s: %s --bootstrap-server %q: %v", name, what, words[i+1], err)
					case host == "localhost" || host == "127.0.0.1":
						if !slices.Contains(listenPorts(s), n) {
							t.Errorf("%s: %s --bootstrap-server %s: the service does not listen on %d", name, what, words[i+1], n)
						}
					default:
						checkTarget(name, what+" --bootstrap-server", words[i+1])
					}
				}
			}

			for name, s := range p.Services {
				image, tag, _ := strings.Cut(s.Image, ":")
				if tag == "" || tag == "latest" {
					t.Errorf("%s: image %q is not pinned", name, s.Image)
				}
				for _, port := range s.Ports {
					if port.Published == "" {
						continue
					}
					key := port.Published + "/" + port.Protocol
					if other, ok := published[key]; ok {
						t.Errorf("%s and %s both publish host port %s", other, name, key)
					}
					published[key] = name
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
						if err := commands.Migrate.Run(context.Background(), append(slices.Clone(s.Command[1:]), "--dry-run"), cli.Env{Stdout: io.Discard, Lookup: os.LookupEnv}); err != nil {
							t.Errorf("%s: %q: %v", name, s.Command, err)
						}
					}
				case "tracehouse/sample-services":
					if len(s.Command) == 0 || !slices.Contains(shop, s.Command[0]) {
						t.Errorf("%s: command %q is not a sample-services subcommand %v", name, s.Command, shop)
					} else if consulted, err := parseShopFlags(s.Command[0], s.Command[1:], s.Environment); err != nil {
						t.Errorf("%s: %q: %v", name, s.Command, err)
					} else {
						for k := range s.Environment {
							if !consulted[k] && !sdkVariables[k] {
								t.Errorf("%s: sets %s, which %s does not read", name, k, s.Command[0])
							}
						}
					}
				case "apache/kafka":
					if len(s.Command) == 0 { // the image's own command runs the broker; others run its tools
						checkKafkaBroker(t, name, s)
					}
				case "nats":
					checkNATS(t, name, s)
				case "clickhouse/clickhouse-server", "clickhouse/clickhouse-keeper":
				default:
					t.Errorf("%s: unexpected image %q", name, s.Image)
				}

				mounted := map[string]string{} // container path → file in the repository
				for _, v := range s.Volumes {
					if v.Type == types.VolumeTypeBind {
						mustExist(t, v.Source, name+": bind mount source")
						mounted[v.Target] = v.Source
					}
				}
				var configs []string
				for i, a := range s.Command {
					if a == "--config" && i+1 < len(s.Command) {
						if src, ok := mounted[s.Command[i+1]]; !ok {
							t.Errorf("%s: --config %s is not a file mounted from the repository", name, s.Command[i+1])
						} else {
							configs = append(configs, src)
						}
					}
					checkValue(name, "argument", a)
				}
				checkBootstrap(name, s, "command", s.Command)
				env := map[string]string{}
				for k, v := range s.Environment {
					if v == nil {
						continue
					}
					env[k] = *v
					checkValue(name, k, *v)
					if strings.HasSuffix(k, "OTLP_ENDPOINT") {
						checkTarget(name, k, *v)
					}
					if strings.HasSuffix(k, "_BROKERS") {
						// Comma-separated bootstrap brokers: each one a Kafka
						// listener.
						for _, b := range strings.Split(*v, ",") {
							checkTarget(name, k, b)
						}
					}
				}
				if image == "tracehouse/tracehouse" && len(s.Command) > 0 && s.Command[0] == "collector" && len(configs) > 0 {
					if cfg := checkCollectorRun(t, name, configs, env); cfg != nil {
						checkComposeTokenSource(t, p, name, s, cfg)
					}
				}
				if image == "tracehouse/sample-services" {
					checkShopSendsToken(t, p, name, s)
				}
				if s.HealthCheck != nil && len(s.HealthCheck.Test) > 1 && strings.HasPrefix(image, "tracehouse/") && s.HealthCheck.Test[1] != "/usr/local/bin/healthcheck" {
					// Distroless images: no shell, no wget.
					t.Errorf("%s: health check %q: the image has only /usr/local/bin/healthcheck", name, s.HealthCheck.Test)
				}
				if s.HealthCheck != nil && len(s.HealthCheck.Test) > 0 {
					checkBootstrap(name, s, "health check", s.HealthCheck.Test)
					for _, a := range s.HealthCheck.Test {
						if u, err := url.Parse(a); err == nil && u.Scheme == "http" {
							n, _ := strconv.Atoi(u.Port())
							if !slices.Contains(listenPorts(s), n) {
								t.Errorf("%s: health check %s: the service does not listen on %d", name, a, n)
							}
						}
					}
				} else if !oneShot[name] && name != "loadgen" && name != "keeper" {
					t.Errorf("%s: no health check", name)
				}
			}
			for _, want := range []string{"migrate", "collector", "query", "gateway", "auth", "order-1", "order-2", "payment-1", "payment-2", "nats", "fulfillment", "loadgen"} {
				if _, ok := p.Services[want]; !ok {
					t.Errorf("no %s service", want)
				}
			}
		})
	}
}

// natsCredentials are the --user and --pass a NATS service requires.
func natsCredentials(s types.ServiceConfig) [2]string {
	var cred [2]string
	for i, a := range s.Command {
		if i+1 < len(s.Command) {
			switch a {
			case "--user":
				cred[0] = s.Command[i+1]
			case "--pass":
				cred[1] = s.Command[i+1]
			}
		}
	}
	return cred
}

// checkNATS: the broker runs JetStream with its store on a named volume
// (a recreated container keeps the streams) and requires credentials,
// since its port is open to the compose network.
func checkNATS(t *testing.T, name string, s types.ServiceConfig) {
	if len(s.Command) == 0 || s.Command[0] != "nats-server" || !slices.Contains(s.Command, "--jetstream") {
		t.Errorf("%s: command %q does not run nats-server with --jetstream", name, s.Command)
	}
	storeDir := ""
	if i := slices.Index(s.Command, "--store_dir"); i >= 0 && i+1 < len(s.Command) {
		storeDir = s.Command[i+1]
	}
	var onVolume bool
	for _, v := range s.Volumes {
		onVolume = onVolume || (v.Type == types.VolumeTypeVolume && v.Target == storeDir)
	}
	if storeDir == "" || !onVolume {
		t.Errorf("%s: the JetStream store (--store_dir %q) is not a named volume: streams would go with the container", name, storeDir)
	}
	if cred := natsCredentials(s); cred[0] == "" || cred[1] == "" {
		t.Errorf("%s: no --user and --pass: the broker is reachable beyond loopback, so it must require credentials", name)
	}
}

// The shop in compose: order and payment as two replicas each, every shop
// process with its own instance id, the gateway and order listing every
// replica of their peer, and the events on the broker.
func TestComposeShopReplicas(t *testing.T) {
	p := loadCompose(t, "docker-compose.yml")
	instances := map[string]string{}
	flag := func(s types.ServiceConfig, name string) string {
		if i := slices.Index(s.Command, name); i >= 0 && i+1 < len(s.Command) {
			return s.Command[i+1]
		}
		return ""
	}
	for name, s := range p.Services {
		if !strings.HasPrefix(s.Image, "tracehouse/sample-services:") || s.Command[0] == "loadgen" {
			continue
		}
		id := flag(s, "--instance-id")
		if id == "" {
			t.Errorf("%s: no --instance-id", name)
		} else if other, dup := instances[id]; dup {
			t.Errorf("%s and %s share --instance-id %s", name, other, id)
		}
		instances[id] = name
	}
	if got := flag(p.Services["gateway"], "--order-url"); got != "http://order-1:8002,http://order-2:8002" {
		t.Errorf("gateway --order-url %q, want both order replicas", got)
	}
	for _, o := range []string{"order-1", "order-2"} {
		if got := flag(p.Services[o], "--payment-url"); got != "http://payment-1:8003,http://payment-2:8003" {
			t.Errorf("%s --payment-url %q, want both payment replicas", o, got)
		}
	}
	if flag(p.Services["order-1"], "--nats-url") == "" || flag(p.Services["order-1"], "--nats-url") != flag(p.Services["fulfillment"], "--nats-url") {
		t.Error("order and fulfillment do not name the same broker")
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

// checkKafkaBroker: a KRaft broker the other containers can reach. Every
// advertised listener is a listener of the broker under the service's own
// name (or localhost on a host port published as the same number, for
// tools on the host); the controller quorum names the broker itself; the
// cluster id is one `kafka-storage format` accepts; the log is on a volume.
func checkKafkaBroker(t *testing.T, name string, s types.ServiceConfig) {
	t.Helper()
	for k := range s.Environment {
		if k != "CLUSTER_ID" && !strings.HasPrefix(k, "KAFKA_") {
			t.Errorf("%s: %s is no setting of the apache/kafka image (CLUSTER_ID, or KAFKA_ and a broker property)", name, k)
		}
	}
	listeners := map[string]int{}
	for _, l := range kafkaListeners(envValue(s, "KAFKA_LISTENERS")) {
		listeners[l.name] = l.port
	}
	if len(listeners) == 0 {
		t.Errorf("%s: KAFKA_LISTENERS %q lists no NAME://host:port", name, envValue(s, "KAFKA_LISTENERS"))
	}
	protocols := map[string]bool{}
	for _, pair := range strings.Split(envValue(s, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"), ",") {
		listener, _, _ := strings.Cut(pair, ":")
		protocols[listener] = true
	}
	for l := range listeners {
		if !protocols[l] {
			t.Errorf("%s: listener %s has no KAFKA_LISTENER_SECURITY_PROTOCOL_MAP entry", name, l)
		}
	}
	itself := func(host string) bool { return host == name || (s.Hostname != "" && host == s.Hostname) }
	hostPorts := map[string]bool{}
	for _, port := range s.Ports {
		if port.Published == strconv.Itoa(int(port.Target)) {
			hostPorts[port.Published] = true
		}
	}
	var reachable bool
	for _, a := range kafkaListeners(envValue(s, "KAFKA_ADVERTISED_LISTENERS")) {
		if port, ok := listeners[a.name]; !ok || port != a.port {
			t.Errorf("%s: advertised %s://%s:%d: the broker has no listener %s on port %d", name, a.name, a.host, a.port, a.name, a.port)
		}
		switch {
		case itself(a.host):
			reachable = true
		case a.host == "localhost" || a.host == "127.0.0.1":
			if !hostPorts[strconv.Itoa(a.port)] {
				t.Errorf("%s: advertised %s://%s:%d: port %d is not published on the host as %d", name, a.name, a.host, a.port, a.port, a.port)
			}
		default:
			t.Errorf("%s: advertised %s://%s:%d: clients reach the broker as %s (or localhost from the host)", name, a.name, a.host, a.port, name)
		}
	}
	if !reachable {
		t.Errorf("%s: no advertised listener names %s: other containers cannot reach the broker", name, name)
	}
	if ib := envValue(s, "KAFKA_INTER_BROKER_LISTENER_NAME"); ib != "" {
		if _, ok := listeners[ib]; !ok {
			t.Errorf("%s: KAFKA_INTER_BROKER_LISTENER_NAME %s is not a listener", name, ib)
		}
	}
	if strings.Contains(envValue(s, "KAFKA_PROCESS_ROLES"), "controller") {
		controllerPort, ok := listeners[envValue(s, "KAFKA_CONTROLLER_LISTENER_NAMES")]
		if !ok {
			t.Errorf("%s: KAFKA_CONTROLLER_LISTENER_NAMES %q is not a listener", name, envValue(s, "KAFKA_CONTROLLER_LISTENER_NAMES"))
		}
		var voter bool
		for _, v := range strings.Split(envValue(s, "KAFKA_CONTROLLER_QUORUM_VOTERS"), ",") {
			id, hostport, _ := strings.Cut(v, "@")
			host, port, _ := net.SplitHostPort(hostport)
			if id == envValue(s, "KAFKA_NODE_ID") {
				voter = itself(host) && port == strconv.Itoa(controllerPort)
			}
		}
		if !voter {
			t.Errorf("%s: KAFKA_CONTROLLER_QUORUM_VOTERS %q does not name node %s at %s:%d", name, envValue(s, "KAFKA_CONTROLLER_QUORUM_VOTERS"), envValue(s, "KAFKA_NODE_ID"), name, controllerPort)
		}
	}
	if id, err := base64.RawURLEncoding.DecodeString(envValue(s, "CLUSTER_ID")); err != nil || len(id) != 16 {
		t.Errorf("%s: CLUSTER_ID %q is not 16 bytes in unpadded base64url (kafka-storage.sh random-uuid)", name, envValue(s, "CLUSTER_ID"))
	}
	var onVolume bool
	for _, v := range s.Volumes {
		onVolume = onVolume || (v.Type == types.VolumeTypeVolume && v.Target == envValue(s, "KAFKA_LOG_DIRS"))
	}
	if !onVolume {
		t.Errorf("%s: KAFKA_LOG_DIRS %q is not a named volume: the buffered data would go with the container", name, envValue(s, "KAFKA_LOG_DIRS"))
	}
}

// The Kafka override: the shop sends to the agent, the agent writes the
// topics kafka-topics creates, the gateway reads those same topics, and
// nothing on the shop's path waits for ClickHouse.
func TestComposeKafka(t *testing.T) {
	p := loadCompose(t, "docker-compose.yml", "docker-compose.kafka.yml")
	kafkaDir := filepath.Join(deployDir(t), "kafka")

	for svc, want := range map[string]string{"agent": "agent.yaml", "collector": "ingest-gateway.yaml"} {
		s := p.Services[svc]
		var configs []string
		for i, a := range s.Command {
			if a != "--config" || i+1 >= len(s.Command) {
				continue
			}
			for _, v := range s.Volumes {
				if v.Target == s.Command[i+1] {
					configs = append(configs, v.Source)
				}
			}
		}
		if !slices.Equal(configs, []string{filepath.Join(kafkaDir, want)}) {
			t.Errorf("%s runs the collector with %v, want deploy/kafka/%s", svc, configs, want)
		}
		if d := s.DependsOn["kafka-topics"]; d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s does not wait for kafka-topics to create the topics", svc)
		}
	}
	// Other containers and the host send to it: not on loopback.
	if v := envValue(p.Services["agent"], "TRACEHOUSE_LISTEN_HOST"); v != "0.0.0.0" {
		t.Errorf("agent: TRACEHOUSE_LISTEN_HOST %q, want 0.0.0.0 (the config binds loopback otherwise)", v)
	}
	if d := p.Services["kafka-topics"].DependsOn["kafka"]; d.Condition != types.ServiceConditionHealthy {
		t.Error("kafka-topics does not wait for a healthy broker")
	}

	// The topics kafka-topics creates, one kafka-topics.sh call per line.
	created := map[string]int{}
	for _, line := range strings.Split(strings.Join(p.Services["kafka-topics"].Command, "\n"), "\n") {
		words := strings.Fields(line)
		if !slices.Contains(words, "--create") {
			continue
		}
		var topic string
		partitions := 1
		for i := 0; i+1 < len(words); i++ {
			switch words[i] {
			case "--topic":
				topic = words[i+1]
			case "--partitions":
				n, err := strconv.Atoi(words[i+1])
				if err != nil {
					t.Errorf("kafka-topics: --partitions %q: %v", words[i+1], err)
				}
				partitions = n
			}
		}
		created[topic] = partitions
	}

	t.Setenv("TRACEHOUSE_CLICKHOUSE", "clickhouse://default:pw@clickhouse:9000/default")
	factories := distribution(t)
	written, _ := kafkaTopics(loadCollectorConfig(t, factories, filepath.Join(kafkaDir, "agent.yaml")))
	_, read := kafkaTopics(loadCollectorConfig(t, factories, filepath.Join(kafkaDir, "ingest-gateway.yaml")))
	used := map[string]bool{}
	for _, signal := range []string{"traces", "logs"} {
		if len(written[signal]) != 1 || !slices.Equal(written[signal], read[signal]) {
			t.Errorf("%s: the agent writes %v, the gateway reads %v", signal, written[signal], read[signal])
		}
		for _, topic := range written[signal] {
			used[topic] = true
			if n, ok := created[topic]; !ok {
				t.Errorf("%s: kafka-topics does not create %s (it creates %v; auto-creation is off)", signal, topic, created)
			} else if n < 2 {
				t.Errorf("%s: %s has %d partition(s): one gateway at most could consume it", signal, topic, n)
			}
		}
	}
	for topic := range created {
		if !used[topic] {
			t.Errorf("kafka-topics creates %s, which no collector config uses", topic)
		}
	}

	for name, s := range p.Services {
		if !strings.HasPrefix(s.Image, "tracehouse/sample-services:") {
			continue
		}
		deps := dependencies(p, name)
		for _, d := range []string{"clickhouse", "migrate", "collector"} {
			if deps[d] {
				t.Errorf("%s waits for %s: with Kafka in between, the shop must not depend on ClickHouse", name, d)
			}
		}
		if !deps["agent"] {
			t.Errorf("%s does not wait for the agent", name)
		}
		if v, ok := s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]; ok && (v == nil || *v != "agent:4317") {
			t.Errorf("%s sends OTLP to %v, want the agent (agent:4317)", name, v)
		}
	}

	gw := p.Services["collector"]
	for _, port := range gw.Ports {
		if port.Target == 4317 || port.Target == 4318 || port.Target == 4319 {
			t.Errorf("collector (gateway) still publishes %d: it reads Kafka, the agent takes OTLP", port.Target)
		}
	}
	for _, v := range gw.Volumes {
		if v.Type == types.VolumeTypeVolume {
			t.Errorf("collector (gateway) keeps volume %s at %s: Kafka is its buffer", v.Source, v.Target)
		}
	}
}
