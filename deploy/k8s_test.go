package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tracehouse/tracehouse/internal/cli"
	thcommands "github.com/tracehouse/tracehouse/internal/commands"
	"github.com/tracehouse/tracehouse/storage"
)

// strictDecode decodes one object's JSON into v and fails on any field v
// does not have: a misspelt or misplaced field in a manifest is an error
// here rather than something the API server drops silently.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// The Altinity operator's resources are not in k8s.io/api: these structs
// hold exactly the fields the manifests use, decoded as strictly.
type chiSpec struct {
	Configuration struct {
		Zookeeper struct {
			Nodes []struct {
				Host string `json:"host"`
				Port int    `json:"port"`
			} `json:"nodes"`
		} `json:"zookeeper"`
		Users    map[string]string `json:"users"`
		Clusters []struct {
			Name   string `json:"name"`
			Secret *struct {
				Auto string `json:"auto"`
			} `json:"secret"`
			Layout struct {
				ShardsCount   int `json:"shardsCount"`
				ReplicasCount int `json:"replicasCount"`
			} `json:"layout"`
		} `json:"clusters"`
	} `json:"configuration"`
	Defaults struct {
		Templates struct {
			PodTemplate             string `json:"podTemplate"`
			DataVolumeClaimTemplate string `json:"dataVolumeClaimTemplate,omitempty"`
			VolumeClaimTemplate     string `json:"volumeClaimTemplate,omitempty"`
		} `json:"templates"`
	} `json:"defaults"`
	Templates struct {
		PodTemplates []struct {
			Name string         `json:"name"`
			Spec corev1.PodSpec `json:"spec"`
		} `json:"podTemplates"`
		VolumeClaimTemplates []struct {
			Name string                           `json:"name"`
			Spec corev1.PersistentVolumeClaimSpec `json:"spec"`
		} `json:"volumeClaimTemplates"`
	} `json:"templates"`
}

type operatorResource struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec chiSpec `json:"spec"`
}

// built is one kustomization's output, decoded into typed objects.
type built struct {
	deployments  []*appsv1.Deployment
	daemonSets   []*appsv1.DaemonSet
	statefulSets []*appsv1.StatefulSet
	jobs         []*batchv1.Job
	services     []*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	secrets      map[string]*corev1.Secret
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	chis, chks   []*operatorResource
	namespaces   []*corev1.Namespace
}

// workload is a pod template with the name of what owns it.
type workload struct {
	kind, name string
	pod        *corev1.PodTemplateSpec
	claims     []string // a StatefulSet's volumeClaimTemplates
}

func (b *built) workloads() []workload {
	var out []workload
	for _, d := range b.deployments {
		out = append(out, workload{"Deployment", d.Name, &d.Spec.Template, nil})
	}
	for _, d := range b.daemonSets {
		out = append(out, workload{"DaemonSet", d.Name, &d.Spec.Template, nil})
	}
	for _, s := range b.statefulSets {
		var claims []string
		for _, c := range s.Spec.VolumeClaimTemplates {
			claims = append(claims, c.Name)
		}
		out = append(out, workload{"StatefulSet", s.Name, &s.Spec.Template, claims})
	}
	for _, j := range b.jobs {
		out = append(out, workload{"Job", j.Name, &j.Spec.Template, nil})
	}
	return out
}

func kustomize(t *testing.T, dir string) *built {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	b := &built{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, r := range resources.Resources() {
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		id := r.GetKind() + "/" + r.GetName()
		decode := func(v any) {
			if err := strictDecode(data, v); err != nil {
				t.Errorf("%s: %s does not decode strictly: %v", dir, id, err)
			}
		}
		switch gvk := r.GetApiVersion() + " " + r.GetKind(); gvk {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			decode(o)
			b.deployments = append(b.deployments, o)
		case "apps/v1 DaemonSet":
			o := &appsv1.DaemonSet{}
			decode(o)
			b.daemonSets = append(b.daemonSets, o)
		case "apps/v1 StatefulSet":
			o := &appsv1.StatefulSet{}
			decode(o)
			b.statefulSets = append(b.statefulSets, o)
		case "batch/v1 Job":
			o := &batchv1.Job{}
			decode(o)
			b.jobs = append(b.jobs, o)
		case "v1 Service":
			o := &corev1.Service{}
			decode(o)
			b.services = append(b.services, o)
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			decode(o)
			b.configMaps[o.Name] = o
		case "v1 Secret":
			o := &corev1.Secret{}
			decode(o)
			b.secrets[o.Name] = o
		case "v1 Namespace":
			o := &corev1.Namespace{}
			decode(o)
			b.namespaces = append(b.namespaces, o)
		case "autoscaling/v2 HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			decode(o)
			b.hpas = append(b.hpas, o)
		case "clickhouse.altinity.com/v1 ClickHouseInstallation":
			o := &operatorResource{}
			decode(o)
			b.chis = append(b.chis, o)
		case "clickhouse-keeper.altinity.com/v1 ClickHouseKeeperInstallation":
			o := &operatorResource{}
			decode(o)
			b.chks = append(b.chks, o)
		default:
			t.Errorf("%s: %s: no typed decoding for %s; add it to this test", dir, id, gvk)
		}
	}
	return b
}

// kustomizationDirs are the folders under deploy/k8s with a kustomization.
func kustomizationDirs(t *testing.T) []string {
	var dirs []string
	root := filepath.Join(deployDir(t), "k8s")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// Every kustomization lists files that exist, and every YAML file under
// deploy/k8s is used by one.
func TestKustomizationsListFilesThatExist(t *testing.T) {
	used := map[string]bool{}
	for _, dir := range kustomizationDirs(t) {
		text, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k kustypes.Kustomization
		if err := yaml.UnmarshalStrict(text, &k); err != nil {
			t.Errorf("%s/kustomization.yaml: %v", dir, err)
			continue
		}
		used[filepath.Join(dir, "kustomization.yaml")] = true
		var files []string
		files = append(files, k.Resources...)
		for _, p := range k.Patches {
			if p.Path != "" {
				files = append(files, p.Path)
			}
		}
		for _, g := range k.ConfigMapGenerator {
			files = append(files, g.FileSources...)
		}
		for _, g := range k.SecretGenerator {
			files = append(files, g.FileSources...)
		}
		for _, f := range files {
			if _, after, ok := strings.Cut(f, "="); ok {
				f = after // key=path
			}
			p := filepath.Join(dir, f)
			st, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s/kustomization.yaml lists %s: %v", dir, f, err)
				continue
			}
			if st.IsDir() {
				mustExist(t, filepath.Join(p, "kustomization.yaml"), dir+": resource folder "+f)
			}
			used[p] = true
		}
	}
	filepath.WalkDir(filepath.Join(deployDir(t), "k8s"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".yaml") && !used[p] {
			t.Errorf("%s is in no kustomization", p)
		}
		return err
	})
}

func TestK8sManifests(t *testing.T) {
	commands := tracehouseCommands(t)
	for _, dir := range kustomizationDirs(t) {
		rel, _ := filepath.Rel(filepath.Join(deployDir(t), "k8s"), dir)
		t.Run(rel, func(t *testing.T) {
			b := kustomize(t, dir)
			checkWorkloads(t, b, commands)
			checkServices(t, b)
			checkHPAs(t, b)
			checkClickHouse(t, b)
		})
	}
}

func containerPorts(pod *corev1.PodTemplateSpec) map[string]int32 {
	ports := map[string]int32{}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
	}
	return ports
}

func portExists(ports map[string]int32, p intstr.IntOrString) bool {
	if p.Type == intstr.String {
		_, ok := ports[p.StrVal]
		return ok
	}
	for _, n := range ports {
		if n == p.IntVal {
			return true
		}
	}
	return false
}

func checkWorkloads(t *testing.T, b *built, commands []string) {
	for _, w := range b.workloads() {
		id := w.kind + "/" + w.name
		ports := containerPorts(w.pod)
		volumes := map[string]corev1.Volume{}
		for _, v := range w.pod.Spec.Volumes {
			volumes[v.Name] = v
			if v.ConfigMap == nil {
				continue
			}
			cm, ok := b.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Errorf("%s: volume %s: no ConfigMap %q", id, v.Name, v.ConfigMap.Name)
				continue
			}
			for _, item := range v.ConfigMap.Items {
				if _, ok := cm.Data[item.Key]; !ok {
					t.Errorf("%s: volume %s: ConfigMap %s has no key %q", id, v.Name, cm.Name, item.Key)
				}
			}
		}
		for _, c := range w.pod.Spec.Containers {
			if _, tag, ok := strings.Cut(c.Image, ":"); !ok || tag == "" || tag == "latest" {
				t.Errorf("%s: container %s: image %q is not pinned", id, c.Name, c.Image)
			}
			for _, m := range c.VolumeMounts {
				if _, ok := volumes[m.Name]; !ok && !slices.Contains(w.claims, m.Name) {
					t.Errorf("%s: container %s mounts unknown volume %q", id, c.Name, m.Name)
				}
			}
			mounted := mountedFiles(b, w.pod, c)
			for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
				if probe != nil && probe.HTTPGet != nil && !portExists(ports, probe.HTTPGet.Port) {
					t.Errorf("%s: container %s: probe port %s is not a container port %v", id, c.Name, probe.HTTPGet.Port.String(), ports)
				}
			}
			env := containerEnv(t, b, id, c)
			for k, v := range env {
				// Comma-separated bootstrap brokers, each a host:port.
				if strings.HasSuffix(k, "_BROKERS") {
					for _, b := range strings.Split(v, ",") {
						if _, _, err := net.SplitHostPort(b); err != nil {
							t.Errorf("%s: %s=%q: %q is not a bootstrap host:port", id, k, v, b)
						}
					}
				}
			}
			if strings.HasPrefix(c.Image, "tracehouse/sample-services:") {
				checkShopContainer(t, b, id, c, env)
			}
			if strings.HasPrefix(c.Image, "tracehouse/tracehouse:") {
				args := c.Args
				if len(args) == 0 || !slices.Contains(commands, args[0]) {
					t.Errorf("%s: args %q do not start with a tracehouse subcommand %v", id, args, commands)
					continue
				}
				var configs []string
				dir := t.TempDir()
				for i, a := range args {
					if a != "--config" || i+1 >= len(args) {
						continue
					}
					text, ok := mounted[args[i+1]]
					if !ok {
						t.Errorf("%s: --config %s is no ConfigMap key mounted in the container", id, args[i+1])
						continue
					}
					file := filepath.Join(dir, fmt.Sprintf("%d-%s", i, path.Base(args[i+1])))
					if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
						t.Fatal(err)
					}
					configs = append(configs, file)
				}
				if args[0] == "collector" && len(configs) > 0 {
					if cfg := checkCollectorRun(t, id, configs, env); cfg != nil {
						checkK8sTokenSource(t, b, id, w.pod, c, cfg)
					}
				}
				if dsn := env[thcommands.EnvClickHouse]; dsn != "" {
					checkDSN(t, b, id, dsn)
				}
				if args[0] == "migrate" {
					// --dry-run parses the flags and renders without connecting.
					t.Setenv(thcommands.EnvClickHouse, env[thcommands.EnvClickHouse])
					if err := thcommands.Migrate.Run(context.Background(), append(slices.Clone(args[1:]), "--dry-run"), cli.Env{Stdout: io.Discard, Lookup: os.LookupEnv}); err != nil {
						t.Errorf("%s: %q: %v", id, args, err)
					}
				}
				if gw := env["TRACEHOUSE_GATEWAY"]; gw != "" {
					host, port, _ := net.SplitHostPort(strings.TrimPrefix(gw, "dns:///"))
					checkServicePort(t, b, id, host, port)
				}
			}
		}
	}
}

// k8sVarRef is a $(VAR) reference, which Kubernetes expands in args and
// env values from the container's environment.
var k8sVarRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkShopContainer: a sample-services container runs a real subcommand
// whose flags and environment parse as the binary parses them, sets no
// variable it does not read (except those its args and env refer to), and
// every peer URL names a Service of the build, or a StatefulSet replica
// by its stable name (<pod>.<headless service>), on the right port.
func checkShopContainer(t *testing.T, b *built, id string, c corev1.Container, env map[string]string) {
	if len(c.Args) == 0 || !slices.Contains(shopCommands(t), c.Args[0]) {
		t.Errorf("%s: args %q do not start with a sample-services subcommand %v", id, c.Args, shopCommands(t))
		return
	}
	referenced := map[string]bool{}
	expand := func(s string) string {
		return k8sVarRef.ReplaceAllStringFunc(s, func(ref string) string {
			name := k8sVarRef.FindStringSubmatch(ref)[1]
			referenced[name] = true
			v, ok := env[name]
			if !ok {
				t.Errorf("%s: %s refers to $(%s), which the container does not define", id, s, name)
			}
			// What the downward API gives at run time, in its shape.
			switch v {
			case "fieldRef:status.hostIP", "fieldRef:status.podIP":
				return "10.0.0.1"
			case "fieldRef:metadata.name":
				return "pod-0"
			}
			return v
		})
	}
	mapping := types.MappingWithEquals{}
	for k, v := range env {
		v := expand(v)
		mapping[k] = &v
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = expand(a)
	}
	consulted, err := parseShopFlags(args[0], args[1:], mapping)
	if err != nil {
		t.Errorf("%s: %q: %v", id, c.Args, err)
	}
	for k := range env {
		if !consulted[k] && !referenced[k] {
			t.Errorf("%s: sets %s, which %s neither reads nor refers to", id, k, args[0])
		}
	}
	for _, a := range args {
		for _, raw := range strings.Split(a, ",") {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "nats") || u.Host == "" || u.Hostname() == "localhost" {
				continue
			}
			checkPeer(t, b, id, u.Hostname(), u.Port())
		}
	}
}

// checkPeer: host:port is a Service with that port, or "<sts>-<i>.<svc>",
// replica i of a StatefulSet whose governing Service svc is headless and
// has that port.
func checkPeer(t *testing.T, b *built, id, host, port string) {
	pod, svc, ok := strings.Cut(host, ".")
	if !ok {
		checkServicePort(t, b, id, host, port)
		return
	}
	for _, sts := range b.statefulSets {
		if sts.Spec.ServiceName != svc || !strings.HasPrefix(pod, sts.Name+"-") {
			continue
		}
		replicas := int32(1) // the API's default
		if sts.Spec.Replicas != nil {
			replicas = *sts.Spec.Replicas
		}
		if i, err := strconv.Atoi(strings.TrimPrefix(pod, sts.Name+"-")); err != nil || i < 0 || int32(i) >= replicas {
			t.Errorf("%s: %s names no replica of StatefulSet %s (%d replicas)", id, host, sts.Name, replicas)
		}
		for _, s := range b.services {
			if s.Name == svc && s.Spec.ClusterIP != corev1.ClusterIPNone {
				t.Errorf("%s: %s: Service %s is not headless, so %s has no DNS name", id, host, svc, pod)
			}
		}
		checkServicePort(t, b, id, svc, port)
		return
	}
	t.Errorf("%s: %s is no StatefulSet replica (<name>-<i>.<service>)", id, host)
}

// mountedFiles are the ConfigMap files a container sees: path in the
// container → content.
func mountedFiles(b *built, pod *corev1.PodTemplateSpec, c corev1.Container) map[string]string {
	files := map[string]string{}
	for _, m := range c.VolumeMounts {
		for _, v := range pod.Spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm, ok := b.configMaps[v.ConfigMap.Name]
			if !ok {
				continue
			}
			for _, item := range v.ConfigMap.Items {
				if text, ok := cm.Data[item.Key]; ok {
					files[path.Join(m.MountPath, item.Path)] = text
				}
			}
		}
	}
	return files
}

// containerEnv is the environment a container gets from its manifest, with
// Secret and ConfigMap references resolved from the build (a missing one
// is an error). Downward-API values are set to a placeholder.
func containerEnv(t *testing.T, b *built, id string, c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		ref := e.ValueFrom
		switch {
		case ref == nil:
		case ref.SecretKeyRef != nil:
			s, ok := b.secrets[ref.SecretKeyRef.Name]
			if !ok {
				t.Errorf("%s: env %s: no Secret %q", id, e.Name, ref.SecretKeyRef.Name)
			} else if _, ok := s.Data[ref.SecretKeyRef.Key]; !ok {
				t.Errorf("%s: env %s: Secret %s has no key %q", id, e.Name, s.Name, ref.SecretKeyRef.Key)
			} else {
				env[e.Name] = string(s.Data[ref.SecretKeyRef.Key])
			}
		case ref.ConfigMapKeyRef != nil:
			cm, ok := b.configMaps[ref.ConfigMapKeyRef.Name]
			if !ok {
				t.Errorf("%s: env %s: no ConfigMap %q", id, e.Name, ref.ConfigMapKeyRef.Name)
			} else if v, ok := cm.Data[ref.ConfigMapKeyRef.Key]; !ok {
				t.Errorf("%s: env %s: ConfigMap %s has no key %q", id, e.Name, cm.Name, ref.ConfigMapKeyRef.Key)
			} else {
				env[e.Name] = v
			}
		case ref.FieldRef != nil:
			env[e.Name] = "fieldRef:" + ref.FieldRef.FieldPath
		}
	}
	return env
}

// checkDSN: every host of a ClickHouse DSN is a Service (or the Service the
// operator creates for a ClickHouseInstallation) with that port.
func checkDSN(t *testing.T, b *built, id, dsn string) {
	opts, err := storage.ParseDSN(dsn)
	if err != nil {
		t.Errorf("%s: %v", id, err)
		return
	}
	for _, addr := range opts.Addr {
		host, port, _ := net.SplitHostPort(addr)
		for _, chi := range b.chis {
			if host == "clickhouse-"+chi.Metadata.Name && (port == "9000" || port == "8123") {
				return
			}
		}
		checkServicePort(t, b, id, host, port)
	}
}

func checkServicePort(t *testing.T, b *built, id, host, port string) {
	for _, s := range b.services {
		if s.Name != host {
			continue
		}
		for _, p := range s.Spec.Ports {
			if fmt.Sprint(p.Port) == port {
				return
			}
		}
		t.Errorf("%s: Service %s has no port %s", id, host, port)
		return
	}
	t.Errorf("%s: %s:%s names no Service", id, host, port)
}

func checkServices(t *testing.T, b *built) {
	for _, s := range b.services {
		var matched bool
		for _, w := range b.workloads() {
			labels := w.pod.Labels
			ok := len(s.Spec.Selector) > 0
			for k, v := range s.Spec.Selector {
				ok = ok && labels[k] == v
			}
			if !ok {
				continue
			}
			matched = true
			for _, p := range s.Spec.Ports {
				if !portExists(containerPorts(w.pod), p.TargetPort) {
					t.Errorf("Service %s: targetPort %s is not a port of %s/%s", s.Name, p.TargetPort.String(), w.kind, w.name)
				}
			}
		}
		if !matched {
			t.Errorf("Service %s selects no pods (%v)", s.Name, s.Spec.Selector)
		}
	}
}

func checkHPAs(t *testing.T, b *built) {
	for _, h := range b.hpas {
		ref := h.Spec.ScaleTargetRef
		var target *appsv1.Deployment
		for _, d := range b.deployments {
			if ref.Kind == "Deployment" && d.Name == ref.Name {
				target = d
			}
		}
		if target == nil {
			t.Errorf("HPA %s scales %s/%s, which does not exist", h.Name, ref.Kind, ref.Name)
			continue
		}
		for _, c := range target.Spec.Template.Spec.Containers {
			if c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("HPA %s scales on CPU, but %s container %s requests none", h.Name, target.Name, c.Name)
			}
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("HPA %s: minReplicas %v, maxReplicas %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
	}
}

func checkClickHouse(t *testing.T, b *built) {
	if len(b.chis) == 0 {
		return
	}
	for _, chi := range b.chis {
		c := chi.Spec.Configuration
		if len(c.Clusters) != 1 || c.Clusters[0].Name != clusterName || c.Clusters[0].Layout.ShardsCount != 2 || c.Clusters[0].Layout.ReplicasCount != 2 {
			t.Errorf("ClickHouseInstallation %s: clusters %+v, want %s with 2 shards x 2 replicas", chi.Metadata.Name, c.Clusters, clusterName)
		}
		for _, n := range c.Zookeeper.Nodes {
			var ok bool
			for _, chk := range b.chks {
				ok = ok || n.Host == "keeper-"+chk.Metadata.Name
			}
			if !ok || n.Port != 2181 {
				t.Errorf("ClickHouseInstallation %s: keeper %s:%d is no ClickHouseKeeperInstallation's service", chi.Metadata.Name, n.Host, n.Port)
			}
		}
		for user, v := range c.Users {
			if !strings.HasSuffix(user, "/k8s_secret_password") {
				continue
			}
			parts := strings.Split(v, "/") // namespace/secret/key
			if len(parts) != 3 || parts[0] != chi.Metadata.Namespace {
				t.Errorf("ClickHouseInstallation %s: %s %q is not %s/<secret>/<key>", chi.Metadata.Name, user, v, chi.Metadata.Namespace)
			} else if s, ok := b.secrets[parts[1]]; !ok {
				t.Errorf("ClickHouseInstallation %s: %s names Secret %q, which the build does not have (a generated name with a hash suffix?)", chi.Metadata.Name, user, parts[1])
			} else if _, ok := s.Data[parts[2]]; !ok {
				t.Errorf("ClickHouseInstallation %s: Secret %s has no key %q", chi.Metadata.Name, parts[1], parts[2])
			}
		}
	}
	for _, j := range b.jobs {
		for _, c := range j.Spec.Template.Spec.Containers {
			if len(c.Args) > 0 && c.Args[0] == "migrate" {
				if i := slices.Index(c.Args, "--cluster"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != clusterName {
					t.Errorf("Job %s: migrate %q on a cluster needs --cluster %s", j.Name, c.Args, clusterName)
				}
			}
		}
	}
}

// kustomize v5.5 (kubectl 1.32) panics on a patch file that holds several
// `$patch: delete` documents, and `kubectl apply -k` is how the README
// deploys: one deletion per patch.
func TestDeletePatchesAreSingleDocuments(t *testing.T) {
	for _, dir := range kustomizationDirs(t) {
		text, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k kustypes.Kustomization
		if err := yaml.Unmarshal(text, &k); err != nil {
			t.Fatal(err)
		}
		for _, p := range k.Patches {
			patch, where := p.Patch, "an inline patch"
			if p.Path != "" {
				b, err := os.ReadFile(filepath.Join(dir, p.Path))
				if err != nil {
					t.Fatal(err)
				}
				patch, where = string(b), p.Path
			}
			docs := 0
			var deletes bool
			for _, doc := range strings.Split(patch, "\n---") {
				if strings.TrimSpace(doc) == "" {
					continue
				}
				docs++
				for _, line := range strings.Split(doc, "\n") {
					deletes = deletes || strings.TrimSpace(line) == "$patch: delete" && !strings.HasPrefix(line, " ")
				}
			}
			if deletes && docs > 1 {
				t.Errorf("%s: %s has %d documents and a `$patch: delete`: put each deletion in its own patch", dir, where, docs)
			}
		}
	}
}

// The kafka overlay: agents run deploy/kafka/agent.yaml, gateways
// deploy/kafka/ingest-gateway.yaml, both with the broker address of one
// ConfigMap; the gateways keep no disk queue and no Service sends them OTLP.
// (TestK8sManifests checks the rest of the build: strict decoding, probes,
// the configs loading with the distribution under the pods' environment.)
func TestK8sKafkaOverlay(t *testing.T) {
	b := kustomize(t, filepath.Join(deployDir(t), "k8s", "overlays", "kafka"))
	if len(b.chis) != 1 {
		t.Errorf("%d ClickHouseInstallations, want prod's cluster under the Kafka buffer", len(b.chis))
	}
	brokers := map[string]string{}
	check := func(kind, name string, pod *corev1.PodTemplateSpec, config string) {
		id := kind + "/" + name
		if len(pod.Spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want the collector", id, len(pod.Spec.Containers))
		}
		c := pod.Spec.Containers[0]
		var configs []string
		files := mountedFiles(b, pod, c)
		for i, a := range c.Args {
			if a == "--config" && i+1 < len(c.Args) {
				configs = append(configs, files[c.Args[i+1]])
			}
		}
		want, err := os.ReadFile(filepath.Join(deployDir(t), "kafka", config))
		if err != nil {
			t.Fatal(err)
		}
		if len(configs) != 1 || configs[0] != string(want) {
			t.Errorf("%s: args %q do not run exactly deploy/kafka/%s", id, c.Args, config)
		}
		for _, e := range c.Env {
			if e.Name == "KAFKA_BROKERS" && e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				brokers[id] = e.ValueFrom.ConfigMapKeyRef.Name + "/" + e.ValueFrom.ConfigMapKeyRef.Key
			}
		}
		if brokers[id] == "" {
			t.Errorf("%s: KAFKA_BROKERS does not come from the tracehouse-kafka ConfigMap", id)
		}
	}
	for _, d := range b.daemonSets {
		if d.Name == "tracehouse-agent" {
			check("DaemonSet", d.Name, &d.Spec.Template, "agent.yaml")
			// Pods reach it through hostPorts and kubelet probes it: not on loopback.
			if env := containerEnv(t, b, "DaemonSet/"+d.Name, d.Spec.Template.Spec.Containers[0]); env["TRACEHOUSE_LISTEN_HOST"] != "0.0.0.0" {
				t.Errorf("DaemonSet/%s: TRACEHOUSE_LISTEN_HOST %q, want 0.0.0.0 (the config binds loopback otherwise)", d.Name, env["TRACEHOUSE_LISTEN_HOST"])
			}
		}
	}
	var gateway *appsv1.Deployment
	for _, d := range b.deployments {
		if d.Name == "tracehouse-gateway" {
			gateway = d
			check("Deployment", d.Name, &d.Spec.Template, "ingest-gateway.yaml")
		}
	}
	if len(brokers) != 2 || brokers["DaemonSet/tracehouse-agent"] != brokers["Deployment/tracehouse-gateway"] {
		t.Errorf("agents and gateways must read the broker address from one ConfigMap key: %v", brokers)
	}
	if gateway == nil {
		t.Fatal("no tracehouse-gateway Deployment")
	}
	for _, v := range gateway.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			t.Errorf("gateway: volume %s: Kafka is the buffer, the gateway keeps nothing on disk", v.Name)
		}
	}
	for _, p := range gateway.Spec.Template.Spec.Containers[0].Ports {
		if p.ContainerPort == 4317 || p.ContainerPort == 4318 || p.ContainerPort == 4319 {
			t.Errorf("gateway: port %s (%d): the gateways read Kafka and listen for no OTLP", p.Name, p.ContainerPort)
		}
	}
	for _, s := range b.services {
		if s.Spec.Selector["app.kubernetes.io/name"] == "tracehouse-gateway" {
			t.Errorf("Service %s still sends to the gateways, which listen for no OTLP", s.Name)
		}
	}
}
