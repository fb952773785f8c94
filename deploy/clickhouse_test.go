package deploy

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tracehouse/tracehouse/storage/schema"
)

// clusterName is the ClickHouse cluster every deploy file names.
const clusterName = "tracehouse"

type macros struct {
	Cluster string `xml:"macros>cluster"`
	Shard   string `xml:"macros>shard"`
	Replica string `xml:"macros>replica"`
}

func readMacros(t *testing.T, path string) macros {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m macros
	if err := xml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

type clusterConfig struct {
	RemoteServers struct {
		Clusters []struct {
			XMLName xml.Name
			Shards  []struct {
				InternalReplication bool `xml:"internal_replication"`
				Replicas            []struct {
					Host string `xml:"host"`
					Port int    `xml:"port"`
				} `xml:"replica"`
			} `xml:"shard"`
		} `xml:",any"`
	} `xml:"remote_servers"`
	Keeper []struct {
		Host string `xml:"host"`
		Port int    `xml:"port"`
	} `xml:"zookeeper>node"`
}

// The cluster DDL names the cluster of remote_servers and only macros that
// every server's macros file defines; the macros files and remote_servers
// describe the same 2 x 2 servers.
func TestClusterConfigMatchesSchema(t *testing.T) {
	dir := filepath.Join(deployDir(t), "clickhouse", "cluster")
	b, err := os.ReadFile(filepath.Join(dir, "config.d", "cluster.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg clusterConfig
	if err := xml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("cluster.xml: %v", err)
	}
	if len(cfg.RemoteServers.Clusters) != 1 || cfg.RemoteServers.Clusters[0].XMLName.Local != clusterName {
		t.Fatalf("remote_servers should define exactly the cluster %q: %+v", clusterName, cfg.RemoteServers.Clusters)
	}
	if len(cfg.Keeper) == 0 {
		t.Error("cluster.xml names no Keeper node (<zookeeper><node>)")
	}
	cluster := cfg.RemoteServers.Clusters[0]
	if len(cluster.Shards) != 2 {
		t.Errorf("%d shards, want 2", len(cluster.Shards))
	}
	var hosts []string
	for i, s := range cluster.Shards {
		if !s.InternalReplication {
			t.Errorf("shard %d: internal_replication must be true with Replicated tables (else every replica gets every insert twice)", i+1)
		}
		if len(s.Replicas) != 2 {
			t.Errorf("shard %d: %d replicas, want 2", i+1, len(s.Replicas))
		}
		for _, r := range s.Replicas {
			hosts = append(hosts, r.Host)
			m := readMacros(t, filepath.Join(dir, "macros", r.Host+".xml"))
			if m.Cluster != clusterName || m.Replica != r.Host || m.Shard != string(rune('1'+i)) {
				t.Errorf("macros of %s: %+v, want cluster %s, shard %d, replica %s", r.Host, m, clusterName, i+1, r.Host)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "macros", "*.xml"))
	if len(files) != len(hosts) {
		t.Errorf("%d macros files for %d servers in remote_servers", len(files), len(hosts))
	}

	migrations, err := schema.Render(schema.Options{Cluster: clusterName})
	if err != nil {
		t.Fatal(err)
	}
	var ddl strings.Builder
	for _, m := range migrations {
		ddl.WriteString(strings.Join(m.Statements, ";\n"))
	}
	sql := ddl.String()
	for _, want := range []string{"ON CLUSTER '" + clusterName + "'", "Distributed('" + clusterName + "'", "ENGINE = Replicated"} {
		if !strings.Contains(sql, want) {
			t.Errorf("cluster DDL has no %q", want)
		}
	}
	defined := []string{"cluster", "shard", "replica", "database", "table"} // database/table: ClickHouse's own
	for _, m := range regexp.MustCompile(`\{(\w+)\}`).FindAllStringSubmatch(sql, -1) {
		if !slices.Contains(defined, m[1]) {
			t.Errorf("cluster DDL uses macro {%s}, which the macros files do not define", m[1])
		}
	}
	for _, macro := range []string{"{shard}", "{replica}"} {
		if !strings.Contains(sql, macro) {
			t.Errorf("cluster DDL does not use %s", macro)
		}
	}
}
