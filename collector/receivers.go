package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Default addresses of the receivers all-in-one turns on with a switch.
// They are each protocol's usual port, on loopback; syslog listens on 5514
// rather than 514, which only root may bind.
const (
	DefaultZipkin           = "127.0.0.1:9411"
	DefaultJaegerGRPC       = "127.0.0.1:14250"
	DefaultJaegerThriftHTTP = "127.0.0.1:14268"
	DefaultSyslog           = "127.0.0.1:5514" // TCP and UDP
	DefaultFluent           = "127.0.0.1:24224"
)

// FileCheckpointDir is where, under the all-in-one data folder, the file
// log receiver keeps how far it has read each tailed file, so a restart
// neither reads a line again nor skips one.
const FileCheckpointDir = "filelog"

// Receivers are the receivers beyond OTLP and JSON-lines that all-in-one
// turns on without a configuration file. An empty address leaves one off.
type Receivers struct {
	Zipkin           string // HTTP: Zipkin v2 JSON and protobuf, v1 JSON and Thrift
	JaegerGRPC       string // Jaeger's api_v2 gRPC collector service
	JaegerThriftHTTP string // Jaeger Thrift over HTTP (POST /api/traces)
	Syslog           string // RFC 5424 and RFC 3164, TCP and UDP on the same port
	Fluent           string // Fluent forward protocol over TCP (heartbeats over UDP)
	// TailLogs are glob patterns (doublestar: **, {a,b}) of log files to
	// tail; DataDir holds their checkpoints.
	TailLogs []string
	DataDir  string
	// IngestAuth: the Zipkin and Jaeger receivers, like OTLP, require the
	// ingest token (AllInOneIngestAuth's extension). Syslog and Fluent
	// forward carry no credentials: they stay on loopback.
	IngestAuth bool
}

// Names of what AllInOneReceivers adds, in collector configs.
const (
	syslogTCPReceiver  = "syslog/tcp"
	syslogUDPReceiver  = "syslog/udp"
	fluentReceiver     = "fluent_forward"
	fileReceiver       = "file_log/tail"
	fileStorage        = "file_storage/filelog"
	tracesPipeline     = "traces/zipkin_jaeger"
	syslogPipeline     = "logs/syslog"
	fluentPipeline     = "logs/fluent"
	filePipeline       = "logs/files"
	syslogFieldsName   = "logfields/syslog"
	fluentFieldsName   = "logfields/fluent"
	fileFieldsName     = "logfields/file"
	memoryLimiterName  = "memory_limiter"
	tracehouseExporter = "tracehouse"
)

// BrowserGuardExtension is the browserguard extension all-in-one.yaml puts
// in front of its HTTP receivers (ingest/browserguardextension).
const BrowserGuardExtension = "browserguard"

// AllInOneReceivers returns configuration overrides (for
// PipelineSettings.Overrides) that add the receivers r turns on to the
// all-in-one configuration, each in a pipeline of its own that ends in the
// tracehouse exporter. Put them after AllInOneIngestAuth's: both set the
// service's extension list, and this one keeps the auth extension when
// r.IngestAuth.
func AllInOneReceivers(r Receivers) ([]string, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	var out []string
	add := func(path string, value any) {
		b, err := json.Marshal(value)
		if err != nil {
			panic(err) // plain maps, lists and strings
		}
		// JSON is YAML; "$" is doubled so the collector's ${…} expansion
		// leaves addresses, globs and regular expressions as they are.
		out = append(out, "yaml:"+path+": "+strings.ReplaceAll(string(b), "$", "$$"))
	}
	pipeline := func(name string, receivers []string, processors ...string) {
		add("service::pipelines::"+name, map[string]any{
			"receivers":  receivers,
			"processors": append([]string{memoryLimiterName}, processors...),
			"exporters":  []string{tracehouseExporter},
		})
	}
	auth := func(server map[string]any) map[string]any {
		if r.IngestAuth {
			server["auth"] = map[string]any{"authenticator": IngestAuthExtension}
		}
		return server
	}
	// HTTP receivers get all-in-one.yaml's browser guard, as OTLP HTTP
	// does: without a token, a web page could post to them otherwise.
	guarded := func(server map[string]any) map[string]any {
		server["middlewares"] = []any{map[string]any{"id": BrowserGuardExtension}}
		return auth(server)
	}

	var traceReceivers []string
	if r.Zipkin != "" {
		add("receivers::zipkin", guarded(map[string]any{"endpoint": r.Zipkin}))
		traceReceivers = append(traceReceivers, "zipkin")
	}
	if r.JaegerGRPC != "" || r.JaegerThriftHTTP != "" {
		protocols := map[string]any{}
		if r.JaegerGRPC != "" {
			protocols["grpc"] = auth(map[string]any{"endpoint": r.JaegerGRPC})
		}
		if r.JaegerThriftHTTP != "" {
			protocols["thrift_http"] = guarded(map[string]any{"endpoint": r.JaegerThriftHTTP})
		}
		add("receivers::jaeger", map[string]any{"protocols": protocols})
		traceReceivers = append(traceReceivers, "jaeger")
	}
	if len(traceReceivers) > 0 {
		pipeline(tracesPipeline, traceReceivers)
	}

	if r.Syslog != "" {
		add("receivers::"+syslogTCPReceiver, SyslogReceiverConfig("tcp", r.Syslog))
		add("receivers::"+syslogUDPReceiver, SyslogReceiverConfig("udp", r.Syslog))
		add("processors::"+syslogFieldsName, SyslogFields)
		pipeline(syslogPipeline, []string{syslogTCPReceiver, syslogUDPReceiver}, syslogFieldsName)
	}
	if r.Fluent != "" {
		add("receivers::"+fluentReceiver, map[string]any{"endpoint": r.Fluent})
		add("processors::"+fluentFieldsName, FluentFields)
		pipeline(fluentPipeline, []string{fluentReceiver}, fluentFieldsName)
	}
	if len(r.TailLogs) > 0 {
		add("extensions::"+fileStorage, map[string]any{
			"directory":        filepath.Join(r.DataDir, FileCheckpointDir),
			"create_directory": true,
		})
		add("receivers::"+fileReceiver, FileLogReceiverConfig(r.TailLogs, fileStorage))
		add("processors::"+fileFieldsName, FileFields)
		pipeline(filePipeline, []string{fileReceiver}, fileFieldsName)

		// The service's extension list is replaced, not merged: keep the
		// configuration's own and the ingest auth one.
		var cfg struct {
			Service struct {
				Extensions []string `yaml:"extensions"`
			} `yaml:"service"`
		}
		if err := yaml.Unmarshal([]byte(AllInOneConfig()), &cfg); err != nil {
			return nil, fmt.Errorf("read %s: %w", AllInOne, err)
		}
		extensions := cfg.Service.Extensions
		if r.IngestAuth {
			extensions = append(extensions, IngestAuthExtension)
		}
		add("service::extensions", append(extensions, fileStorage))
	}
	return out, nil
}

// check refuses what all-in-one must not run: syslog and Fluent forward
// beyond loopback (neither protocol carries credentials, so anyone who
// reaches the port could write logs), Zipkin and Jaeger beyond loopback
// without the ingest token, and file tailing without a data folder.
func (r Receivers) check() error {
	var errs []error
	for _, l := range []struct{ name, addr string }{{"syslog", r.Syslog}, {"fluent", r.Fluent}} {
		if l.addr == "" {
			continue
		}
		host, err := listenHost(l.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s address %q: %w", l.name, l.addr, err))
		} else if !IsLoopbackHost(host) {
			errs = append(errs, fmt.Errorf("%s address %q is beyond loopback, and %s carries no credentials: keep it on 127.0.0.1 and run a forwarder (rsyslog, Fluent Bit) next to the senders, or a collector with a tracehouse or otlp exporter (collector/configs/agent.yaml)", l.name, l.addr, l.name))
		}
	}
	for _, l := range []struct{ name, addr string }{{"zipkin", r.Zipkin}, {"jaeger gRPC", r.JaegerGRPC}, {"jaeger Thrift HTTP", r.JaegerThriftHTTP}} {
		if l.addr == "" {
			continue
		}
		host, err := listenHost(l.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s address %q: %w", l.name, l.addr, err))
		} else if !IsLoopbackHost(host) && !r.IngestAuth {
			errs = append(errs, fmt.Errorf("%s address %q is beyond loopback: set an ingest token so it requires one", l.name, l.addr))
		}
	}
	for _, glob := range r.TailLogs {
		if strings.TrimSpace(glob) == "" {
			errs = append(errs, errors.New("a file glob to tail is empty"))
		}
	}
	if len(r.TailLogs) > 0 && r.DataDir == "" {
		errs = append(errs, errors.New("tailing files needs a data folder for its checkpoints"))
	}
	return errors.Join(errs...)
}

func listenHost(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("want host:port such as 127.0.0.1:5514")
	}
	if port == "" {
		return "", fmt.Errorf("no port")
	}
	return host, nil
}

// SyslogReceiverConfig is the syslog receiver for one transport ("tcp" or
// "udp") on addr. One port takes both formats: the receiver parses RFC
// 5424; a line it cannot read as such is parsed as RFC 3164 (BSD syslog,
// what `logger` without --rfc5424 and rsyslog's default forwarding send).
// A line neither parser reads — no valid <PRI> header, say — is kept as it
// arrived with the attribute log.parse_error, which the logfields processor
// counts and reports. The parsed message becomes the body; TCP frames are
// lines (RFC 6587 non-transparent framing, as logger and rsyslog send by
// default).
func SyslogReceiverConfig(transport, addr string) map[string]any {
	return map[string]any{
		transport:  map[string]any{"listen_address": addr},
		"protocol": "rfc5424",
		// Failures are counted and reported by logfields, not logged once
		// per line here.
		"on_error": "send_quiet",
		"operators": []any{
			map[string]any{
				"type": "syslog_parser", "id": "rfc3164", "protocol": "rfc3164",
				"if": "attributes.version == nil", "on_error": "send_quiet",
			},
			map[string]any{
				"type": "add", "id": "mark_unparsed", "if": "attributes.priority == nil",
				"field": `attributes["log.parse_error"]`,
				"value": "not RFC 5424 or RFC 3164 syslog (no valid <PRI> header)",
			},
			map[string]any{
				"type": "move", "id": "message_to_body", "if": "attributes.message != nil",
				"from": "attributes.message", "to": "body",
			},
		},
	}
}

// FileLogReceiverConfig tails the files that match globs, from their end
// when first seen (a file created later is read from its start), keeping
// its read positions in the storage extension so a restart resumes where
// it stopped. JSON lines (zerolog, zap, slog, pino) are parsed: message or
// msg becomes the body, time or timestamp the record's time, the other
// fields attributes (the level is read by logfields); other lines are kept
// as text. The service is the line's "service" field, or else the file's
// name up to its first dot (payment.log: payment).
//
// trace_id and span_id fields stay plain attributes and are deliberately
// not made the record's trace context: an application that logs to a file
// usually sends the same records over OTLP too (the sample services do),
// and a second copy linked to the trace would list every log line twice
// under its span.
func FileLogReceiverConfig(globs []string, storage string) map[string]any {
	timeParser := func(field string) map[string]any {
		return map[string]any{
			"type": "time_parser", "id": "time_" + field, "if": "attributes." + field + " != nil && type(attributes." + field + ") == 'string'",
			"parse_from": "attributes." + field, "layout_type": "gotime", "layout": "2006-01-02T15:04:05.999999999Z07:00",
			"on_error": "send_quiet",
		}
	}
	return map[string]any{
		"include":           globs,
		"start_at":          "end",
		"storage":           storage,
		"include_file_name": true,
		"include_file_path": true,
		"operators": []any{
			map[string]any{
				"type": "json_parser", "id": "json", "if": `body matches "^\\s*\\{"`, "on_error": "send_quiet",
			},
			timeParser("time"),
			timeParser("timestamp"),
			map[string]any{"type": "move", "id": "message_to_body", "if": "attributes.message != nil", "from": "attributes.message", "to": "body"},
			map[string]any{"type": "move", "id": "msg_to_body", "if": "attributes.msg != nil && attributes.message == nil", "from": "attributes.msg", "to": "body"},
			map[string]any{"type": "move", "id": "service_field", "if": "attributes.service != nil", "from": "attributes.service", "to": `resource["service.name"]`},
			map[string]any{
				"type": "regex_parser", "id": "service_from_file_name", "if": `resource["service.name"] == nil`,
				"parse_from": `attributes["log.file.name"]`, "regex": `^(?P<service_name>[^.]+)`, "parse_to": "resource",
				"on_error": "send_quiet",
			},
			map[string]any{"type": "move", "id": "service_name", "if": "resource.service_name != nil", "from": "resource.service_name", "to": `resource["service.name"]`},
		},
	}
}

// The logfields processor settings of each way in. query/README.md
// ("Logs from syslog, Fluent and files") documents the result.
var (
	// SyslogFields: the app name is the service, the hostname the host;
	// structured data becomes structured_data.<SD-ID>.<name> attributes.
	SyslogFields = map[string]any{
		"source":        "syslog",
		"resource_from": map[string]any{"service.name": []string{"appname"}, "host.name": []string{"hostname"}},
		"flatten_maps":  true,
	}
	// FluentFields: the record's service field, or else its tag, is the
	// service; a level or severity field the severity; nested maps become
	// dotted attributes (kubernetes.pod_name).
	FluentFields = map[string]any{
		"source":        "fluent",
		"resource_from": map[string]any{"service.name": []string{"service.name", "service", "fluent.tag"}},
		"severity_from": []string{"level", "severity", "log.level", "lvl"},
		"flatten_maps":  true,
	}
	// FileFields: the level field is the severity; binary content is
	// dropped and counted.
	FileFields = map[string]any{
		"source":        "file",
		"severity_from": []string{"level", "severity", "log.level", "lvl"},
		"flatten_maps":  true,
		"drop_binary":   true,
	}
)
