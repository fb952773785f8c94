package commands

import (
	"errors"
	"strings"
	"testing"

	"github.com/tracehouse/tracehouse/collector"
	"github.com/tracehouse/tracehouse/internal/cli"
)

// The receiver switches: off by default; alone, on loopback at the usual
// port; with a value, at that address; the same from their variables.
func TestAllInOneReceiverSwitches(t *testing.T) {
	cfg, err := parseAllInOne(nil, cli.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if overrides, err := receiverOverrides(cfg.receivers, cfg.data, false); err != nil || len(overrides) != 0 {
		t.Errorf("no switch: overrides %v, %v; want none", overrides, err)
	}

	cfg, err = parseAllInOne([]string{"--zipkin", "--jaeger", "--syslog", "--fluent", "--tail-logs", "/var/log/app/*.log", "--tail-logs", "/srv/**/*.log"}, cli.Env{})
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.receivers
	g, h := r.jaeger.addrs()
	if r.zipkin.addr != collector.DefaultZipkin || r.syslog.addr != collector.DefaultSyslog || r.fluent.addr != collector.DefaultFluent ||
		g != collector.DefaultJaegerGRPC || h != collector.DefaultJaegerThriftHTTP || len(r.tailLogs) != 2 {
		t.Errorf("switches alone: %+v", r)
	}
	overrides, err := receiverOverrides(r, cfg.data, false)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(overrides, "\n")
	for _, want := range []string{"receivers::zipkin", "receivers::jaeger", "receivers::syslog/tcp", "receivers::syslog/udp",
		"receivers::fluent_forward", "receivers::file_log/tail", `"/srv/**/*.log"`, "extensions::file_storage/filelog", "data/filelog"} {
		if !strings.Contains(joined, want) {
			t.Errorf("overrides lack %s:\n%s", want, joined)
		}
	}
	if banner := describeReceivers(r); !strings.Contains(banner, "syslog") || !strings.Contains(banner, "/srv/**/*.log") {
		t.Errorf("banner:\n%s", banner)
	}

	env := cli.Env{Lookup: lookup(map[string]string{
		"TRACEHOUSE_ZIPKIN": "127.0.0.1:19411", "TRACEHOUSE_SYSLOG": "true", "TRACEHOUSE_FLUENT": "false",
		"TRACEHOUSE_JAEGER": ",127.0.0.1:24268", "TRACEHOUSE_TAIL_LOGS": "data/logs/*.log",
	})}
	cfg, err = parseAllInOne([]string{"--syslog=127.0.0.1:15514"}, env)
	if err != nil {
		t.Fatal(err)
	}
	r = cfg.receivers
	g, h = r.jaeger.addrs()
	if r.zipkin.addr != "127.0.0.1:19411" || r.syslog.addr != "127.0.0.1:15514" || r.fluent.addr != "" ||
		g != "" || h != "127.0.0.1:24268" || len(r.tailLogs) != 1 || r.tailLogs[0] != "data/logs/*.log" {
		t.Errorf("from variables (a flag beating its variable): %+v", r)
	}

	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--syslog=0.0.0.0:5514"}, nil, "no credentials"},
		{[]string{"--fluent=192.0.2.1:24224", "--ingest-token", "t0ken"}, nil, "no credentials"},
		{[]string{"--zipkin=0.0.0.0:9411"}, nil, "ingest token"},
		{[]string{"--zipkin=9411"}, nil, "host:port"},
		{[]string{"--jaeger=127.0.0.1:14250"}, nil, "GRPC_ADDR,THRIFT_HTTP_ADDR"},
		{[]string{"--tail-logs="}, nil, "empty"},
		{nil, map[string]string{"TRACEHOUSE_SYSLOG": "maybe"}, "TRACEHOUSE_SYSLOG"},
	} {
		_, err := parseAllInOne(tc.args, cli.Env{Lookup: lookup(tc.env)})
		var usage *cli.UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v; want a usage error saying %q", tc.args, tc.env, err, tc.want)
		}
	}
	// Beyond loopback with a token: Zipkin then requires it.
	cfg, err = parseAllInOne([]string{"--zipkin=0.0.0.0:9411", "--ingest-token", "t0ken"}, cli.Env{})
	if err != nil {
		t.Fatal(err)
	}
	overrides, _ = receiverOverrides(cfg.receivers, cfg.data, true)
	if joined := strings.Join(overrides, "\n"); !strings.Contains(joined, collector.IngestAuthExtension) {
		t.Errorf("zipkin with a token does not require it:\n%s", joined)
	}
}
