package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tracehouse/tracehouse/collector"
	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/query/api"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/schema"
	"github.com/tracehouse/tracehouse/storage/writer"
	"github.com/tracehouse/tracehouse/web"
)

// AllInOne is `tracehouse all-in-one` (and `tracehouse` without a command):
// the whole stack in one process: the embedded ClickHouse, the schema, the
// collector pipeline writing to it, and the query API with the web UI.
var AllInOne = cli.Command{
	Name:    "all-in-one",
	Summary: "embedded ClickHouse + schema + collector + query API and UI in one process (the default)",
	Run:     runAllInOne,
}

type allInOneConfig struct {
	data, clickhouseListen, httpListen string
	api                                apiConfig
	spansTTL, logsTTL                  time.Duration
	// shortenSpansTTL and shortenLogsTTL: the TTL was given, so it may
	// shorten the stored one.
	shortenSpansTTL, shortenLogsTTL bool
	ingestToken                     string        // see ingestAuth
	receivers                       receiverFlags // see receiverOverrides
	// queueBudget is the disk the collector's sending queue may fill.
	queueBudget int64
	// queueFsync: every queue write reaches the disk before the sender's
	// answer.
	queueFsync bool
	// memoryLimit is what the whole process may use (0: machineMemory
	// share); engine carries the read limits.
	memoryLimit int64
	engine      embedded.Config
	// The collector's addresses; empty keeps the shipped configuration's
	// (TRACEHOUSE_LISTEN_HOST and the standard ports).
	otlpGRPC, otlpHTTP, jsonl, health, telemetry string
}

// Variables of all-in-one's own budgets.
const (
	EnvQueueBudget = "TRACEHOUSE_QUEUE_BUDGET"
	EnvQueueFsync  = "TRACEHOUSE_QUEUE_FSYNC"
	EnvMemoryLimit = "TRACEHOUSE_MEMORY_LIMIT"
)

// Budgets of all-in-one.
const (
	// DefaultQueueBudget is the disk the sending queue may fill while
	// ClickHouse is behind or down: at a few hundred bytes per span, some
	// millions of spans and log records, minutes to hours of a busy
	// machine's telemetry.
	DefaultQueueBudget = 2 << 30
	// defaultMemoryShare is the part of the machine's memory all-in-one
	// takes when --memory-limit is not given, in percent.
	defaultMemoryShare = 80
	// engineMemoryShare is the part of the memory limit the embedded
	// engine may track (max_server_memory_usage), and ingestMemoryShare
	// the resident set at which new data is refused, in percent: the rest
	// is the Go side (collector queues in flight, query API) and slack for
	// what the engine does not track.
	engineMemoryShare = 60
	ingestMemoryShare = 90
	// queueDir is the sending queue's folder inside the data folder.
	queueDir = "queue"
)

func allInOneFlags(env cli.Env) (*cli.FlagSet, *allInOneConfig) {
	cfg := &allInOneConfig{}
	fs := cli.NewFlagSet("tracehouse all-in-one", "TRACEHOUSE", env)
	fs.StringVar(&cfg.data, "data", "./data", "data folder of the embedded ClickHouse (kept across restarts)")
	fs.SetEnv("data", EnvData)
	fs.StringVar(&cfg.clickhouseListen, "clickhouse-listen", embedded.DefaultListen, "address of the embedded ClickHouse HTTP interface")
	fs.SetEnv("clickhouse-listen", EnvClickHouseListen)
	fs.StringVar(&cfg.httpListen, "http", "127.0.0.1:8080", "address of the query API and UI")
	fs.SetEnv("http", EnvQueryHTTP)
	apiFlags(fs, &cfg.api)
	ttlVar(fs, &cfg.spansTTL, "spans-ttl", schema.DefaultSpansTTL, "how long spans are kept, a `duration` such as 7d, 36h or 1d12h (0: forever; shortening deletes stored data, so a default never shortens what is stored)")
	fs.SetEnv("spans-ttl", EnvSpansTTL)
	ttlVar(fs, &cfg.logsTTL, "logs-ttl", schema.DefaultLogsTTL, "how long logs are kept, a `duration` such as 7d (0: forever; shortening deletes stored data, so a default never shortens what is stored)")
	fs.SetEnv("logs-ttl", EnvLogsTTL)
	fs.StringVar(&cfg.ingestToken, "ingest-token", "", "token every collector receiver (OTLP gRPC and HTTP, JSON-lines) then requires as `Authorization: Bearer TOKEN` (default: none; receivers on loopback accept any local sender)")
	fs.SetEnv("ingest-token", EnvIngestToken)
	byteSizeVar(fs, &cfg.queueBudget, "queue-budget", DefaultQueueBudget, "disk `size` the collector's sending queue (DATA/queue) may fill while ClickHouse is behind; when full, new data is refused with 429 / RESOURCE_EXHAUSTED and senders retry, accepted data is never dropped")
	fs.SetEnv("queue-budget", EnvQueueBudget)
	fs.BoolVar(&cfg.queueFsync, "queue-fsync", true, "sync every queue write to disk before answering the sender, so a power loss loses nothing acknowledged either (false: faster with small requests; a crash or kill of the process still loses nothing)")
	fs.SetEnv("queue-fsync", EnvQueueFsync)
	byteSizeVar(fs, &cfg.memoryLimit, "memory-limit", 0, "memory `size` the whole process may use, e.g. 8GiB: the engine gets 60% of it (max_server_memory_usage) and new data is refused past 90% of it (0: 80% of the machine's or container's memory)")
	fs.SetEnv("memory-limit", EnvMemoryLimit)
	readLimitFlags(fs, &cfg.engine)
	fs.StringVar(&cfg.otlpGRPC, "otlp-grpc", "", "address of the OTLP gRPC receiver (default 127.0.0.1:4317)")
	fs.StringVar(&cfg.otlpHTTP, "otlp-http", "", "address of the OTLP HTTP receiver (default 127.0.0.1:4318)")
	fs.StringVar(&cfg.jsonl, "jsonl", "", "address of the JSON-lines log receiver (default 127.0.0.1:4319)")
	fs.StringVar(&cfg.health, "collector-health", "", "address of the collector's health check (default 127.0.0.1:13133)")
	fs.StringVar(&cfg.telemetry, "collector-metrics", "", "address of the collector's Prometheus metrics (default 127.0.0.1:8888)")
	registerReceiverFlags(fs, &cfg.receivers)
	return fs, cfg
}

func parseAllInOne(args []string, env cli.Env) (*allInOneConfig, error) {
	fs, cfg := allInOneFlags(env)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	// Only a TTL the user set may shorten the stored one: restarting
	// without --spans-ttl must not cut a 30-day retention to the default.
	cfg.shortenSpansTTL, cfg.shortenLogsTTL = fs.Given("spans-ttl"), fs.Given("logs-ttl")
	if cfg.queueBudget <= 0 {
		return nil, cli.Usage(fmt.Errorf("--queue-budget must be positive: the sending queue needs room on disk"))
	}
	if cfg.memoryLimit == 0 {
		cfg.memoryLimit = machineMemory() * defaultMemoryShare / 100
	}
	finishReadLimits(fs, &cfg.engine)
	cfg.engine.MemoryLimit = cfg.memoryLimit * engineMemoryShare / 100
	for flag, addr := range map[string]string{"otlp-grpc": cfg.otlpGRPC, "otlp-http": cfg.otlpHTTP, "jsonl": cfg.jsonl,
		"collector-health": cfg.health, "collector-metrics": cfg.telemetry} {
		if _, port, err := net.SplitHostPort(addr); addr != "" && (err != nil || port == "") {
			return nil, cli.Usage(fmt.Errorf("--%s %q: want host:port, e.g. 127.0.0.1:4317", flag, addr))
		}
	}
	// Refuse bad receiver switches before the slow start of the engine.
	if _, err := receiverOverrides(cfg.receivers, cfg.data, cfg.ingestToken != ""); err != nil {
		return nil, err
	}
	return cfg, nil
}

// collectorOverrides point the shipped all-in-one collector configuration
// at this process's engine, data folder and budgets.
func (cfg *allInOneConfig) collectorOverrides(dsn, queue string) []string {
	quoted, _ := json.Marshal(queue) // a YAML string, whatever the path holds
	overrides := []string{
		"yaml:exporters::tracehouse::endpoint: " + dsn,
		// The schema was applied with this command's TTLs; the exporter
		// must not apply it again with its defaults.
		"yaml:exporters::tracehouse::create_schema: false",
		"yaml:extensions::file_storage/queue::directory: " + string(quoted),
		"yaml:extensions::file_storage/queue::compaction::directory: " + string(quoted),
		"yaml:exporters::tracehouse::sending_queue::queue_size: " + strconv.FormatInt(cfg.queueBudget, 10),
		"yaml:extensions::file_storage/queue::fsync: " + strconv.FormatBool(cfg.queueFsync),
	}
	if cfg.memoryLimit > 0 {
		overrides = append(overrides, "yaml:exporters::tracehouse::process_memory_limit_mib: "+
			strconv.FormatInt(cfg.memoryLimit*ingestMemoryShare/100>>20, 10))
	}
	for key, addr := range map[string]string{
		"receivers::otlp::protocols::grpc::endpoint": cfg.otlpGRPC,
		"receivers::otlp::protocols::http::endpoint": cfg.otlpHTTP,
		"receivers::jsonl::endpoint":                 cfg.jsonl,
		"extensions::health_check::endpoint":         cfg.health,
	} {
		if addr != "" {
			overrides = append(overrides, "yaml:"+key+": "+addr)
		}
	}
	if cfg.telemetry != "" {
		host, port, _ := net.SplitHostPort(cfg.telemetry) // checked by parseAllInOne
		overrides = append(overrides, fmt.Sprintf("yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: %q, port: %s}}}}]", host, port))
	}
	return overrides
}

// addressOr is addr, or def when addr is empty.
func addressOr(addr, def string) string {
	if addr == "" {
		return def
	}
	return addr
}

func runAllInOne(ctx context.Context, args []string, env cli.Env) error {
	cfg, err := parseAllInOne(args, env)
	if err != nil {
		return err
	}
	log := env.Logger
	// Check the tokens file and the UI's port before the slow start of the
	// engine.
	apiOpts, err := cfg.api.options(api.Options{Logger: log, UI: web.FS})
	if err != nil {
		return cli.Usage(err)
	}
	ln, err := net.Listen("tcp", cfg.httpListen)
	if err != nil {
		return fmt.Errorf("query API and UI cannot listen on %s: %w (choose another address with --http)", cfg.httpListen, err)
	}
	defer ln.Close()
	cfg.api.warnIfOpen(ln, env)

	engineCfg := cfg.engine
	engineCfg.DataDir, engineCfg.Listen, engineCfg.Logger = cfg.data, cfg.clickhouseListen, log
	srv, err := embedded.Start(engineCfg)
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()

	// In-process clients get the engine's password: the query service
	// straight from the server, the collector through the password file,
	// so that the password is in no configuration (DSN() is secret).
	conn, err := storage.Open(ctx, srv.DSN())
	if err != nil {
		return err
	}
	defer conn.Close()
	opts := schema.DefaultOptions()
	opts.SpansTTL, opts.LogsTTL = cfg.spansTTL, cfg.logsTTL
	opts.ShortenSpansTTL, opts.ShortenLogsTTL = cfg.shortenSpansTTL, cfg.shortenLogsTTL
	opts.KeptTTL = func(d schema.TTLDiff) { log.Warn().Msg(d.Explain("tracehouse all-in-one")) }
	applied, err := schema.Migrate(ctx, conn, opts)
	if err != nil {
		return fmt.Errorf("apply schema: %w", err)
	}
	log.Info().Strs("applied", applied).Msg("schema up to date")

	// The sending queue lives in the data folder: what senders were told
	// was accepted survives a crash or a kill and is sent after the next
	// start.
	dataDir, err := filepath.Abs(cfg.data)
	if err != nil {
		return err
	}
	queue := filepath.Join(dataDir, queueDir)
	log.Info().Str("queue", queue).Int64("queue_budget", cfg.queueBudget).Int64("memory_limit", cfg.memoryLimit).
		Int64("engine_memory_limit", cfg.engine.MemoryLimit).Msg("budgets")
	auth, err := ingestAuth(cfg.ingestToken, env)
	if err != nil {
		return err
	}
	// After auth: both set the service's extensions (see AllInOneReceivers).
	more, err := receiverOverrides(cfg.receivers, cfg.data, cfg.ingestToken != "")
	if err != nil {
		return err
	}
	auth = append(auth, more...)
	pipeline, err := collector.StartPipeline(ctx, collector.PipelineSettings{
		Overrides: append(cfg.collectorOverrides(srv.ShareableDSN(), queue), auth...),
		Logger:    log.With().Str("component", "collector").Logger(),
	})
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pipeline.Shutdown(shutdownCtx); err != nil {
			log.Error().Err(err).Msg("collector shutdown")
		}
	}()

	store, err := reader.New(conn, reader.Options{})
	if err != nil {
		return err
	}
	views, err := writer.NewViews(conn, "")
	if err != nil {
		return err
	}
	svc := query.New(store, query.Options{Views: views})
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	apiOpts.Context = appCtx
	app := api.NewApp(svc, apiOpts)
	served := make(chan error, 1)
	go func() { served <- api.ServeListener(appCtx, app, ln, log) }()

	fmt.Fprintf(env.Stdout, `Tracehouse is running.
  UI and query API      http://%s
  OTLP                  gRPC %s, HTTP %s; JSON-lines logs http://%s/v1/logs/jsonl
  ClickHouse (embedded) http://%s   user %s, password in %s
                        DSN %s
  data folder           %s (sending queue in %s, up to %s)
%sPress Ctrl-C to stop.
`, ln.Addr(), addressOr(cfg.otlpGRPC, "127.0.0.1:4317"), addressOr(cfg.otlpHTTP, "127.0.0.1:4318"), addressOr(cfg.jsonl, "127.0.0.1:4319"),
		srv.Addr(), srv.User(), srv.PasswordFile(), srv.ShareableDSN(), cfg.data, queue, formatByteSize(cfg.queueBudget),
		describeReceivers(cfg.receivers))

	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case err := <-srv.Done():
		return fmt.Errorf("embedded ClickHouse stopped: %w", err)
	case err := <-pipeline.Done():
		return fmt.Errorf("collector stopped: %w", err)
	case err := <-served:
		return fmt.Errorf("query API stopped: %w", err)
	}
	// Stop in order: the UI and API, then the collector (drains its queue
	// into ClickHouse), then the engine.
	stopApp()
	<-served
	return nil
}

// --- Ingest authentication -------------------------------------------------

// EnvIngestToken sets --ingest-token.
const EnvIngestToken = collector.IngestTokenEnv

// envListenHost is the address all-in-one.yaml binds its receivers to.
const envListenHost = "TRACEHOUSE_LISTEN_HOST"

// ingestAuth returns the collector overrides for an ingest token: with
// one, OTLP gRPC, OTLP HTTP and JSON-lines require it. Without one the
// receivers take any sender, which is safe only on loopback: a listen
// host beyond it without a token is refused.
func ingestAuth(token string, env cli.Env) ([]string, error) {
	if token == "" {
		var host string
		if env.Lookup != nil {
			host, _ = env.Lookup(envListenHost)
		}
		if !collector.IsLoopbackHost(host) {
			return nil, cli.Usage(fmt.Errorf("%s=%s puts the collector's receivers beyond loopback: set --ingest-token (%s) so they require a token", envListenHost, host, EnvIngestToken))
		}
		return nil, nil
	}
	overrides, err := collector.AllInOneIngestAuth(token)
	if err != nil {
		return nil, cli.Usage(fmt.Errorf("--ingest-token (%s): %w", EnvIngestToken, err))
	}
	return overrides, nil
}

// --- Receivers beyond OTLP: --zipkin, --jaeger, --syslog, --fluent, --tail-logs ---
//
// Each is off unless given, and turns a receiver on in the collector
// pipeline without a configuration file (collector.AllInOneReceivers'
// overrides). A switch alone listens on loopback at the protocol's usual
// port; --zipkin=ADDR picks the address.

// receiverFlags are the switches' values.
type receiverFlags struct {
	zipkin, syslog, fluent listenSwitch
	jaeger                 jaegerSwitch
	tailLogs               globList
}

func registerReceiverFlags(fs *cli.FlagSet, r *receiverFlags) {
	r.zipkin.def, r.syslog.def, r.fluent.def = collector.DefaultZipkin, collector.DefaultSyslog, collector.DefaultFluent
	fs.Var(&r.zipkin, "zipkin", "receive Zipkin spans (v1/v2 JSON, v2 protobuf, Thrift) over HTTP on "+collector.DefaultZipkin+", or on --zipkin=ADDR (default: off)")
	fs.Var(&r.jaeger, "jaeger", "receive Jaeger spans over gRPC on "+collector.DefaultJaegerGRPC+" and Thrift HTTP on "+collector.DefaultJaegerThriftHTTP+", or on --jaeger=GRPC_ADDR,THRIFT_HTTP_ADDR (either may be empty; default: off)")
	fs.Var(&r.syslog, "syslog", "receive syslog (RFC 5424 and RFC 3164) over TCP and UDP on "+collector.DefaultSyslog+", or on --syslog=ADDR (loopback only: syslog has no credentials; default: off)")
	fs.Var(&r.fluent, "fluent", "receive the Fluent forward protocol (Fluent Bit, Fluentd, Docker's fluentd driver) on "+collector.DefaultFluent+", or on --fluent=ADDR (loopback only; default: off)")
	fs.Var(&r.tailLogs, "tail-logs", "tail log files matching a `GLOB` (** and {a,b} work; repeat the flag for more), from their end, resuming after a restart from checkpoints in DATA/"+collector.FileCheckpointDir+" (default: none)")
}

// receiverOverrides are the collector overrides for the switches given.
func receiverOverrides(r receiverFlags, data string, ingestToken bool) ([]string, error) {
	jaegerGRPC, jaegerThrift := r.jaeger.addrs()
	overrides, err := collector.AllInOneReceivers(collector.Receivers{
		Zipkin: r.zipkin.addr, JaegerGRPC: jaegerGRPC, JaegerThriftHTTP: jaegerThrift,
		Syslog: r.syslog.addr, Fluent: r.fluent.addr,
		TailLogs: r.tailLogs, DataDir: data, IngestAuth: ingestToken,
	})
	if err != nil {
		return nil, cli.Usage(err)
	}
	return overrides, nil
}

// describeReceivers lists the switched-on receivers for the start banner.
func describeReceivers(r receiverFlags) string {
	var b strings.Builder
	line := func(what, where string) { fmt.Fprintf(&b, "  %-21s %s\n", what, where) }
	if r.zipkin.addr != "" {
		line("Zipkin", "http://"+r.zipkin.addr+"/api/v2/spans")
	}
	if g, h := r.jaeger.addrs(); g != "" || h != "" {
		line("Jaeger", strings.TrimSpace(fmt.Sprintf("%s %s", labelled("gRPC", g), labelled("Thrift HTTP", h))))
	}
	if r.syslog.addr != "" {
		line("syslog", "TCP and UDP "+r.syslog.addr)
	}
	if r.fluent.addr != "" {
		line("Fluent forward", r.fluent.addr)
	}
	for _, glob := range r.tailLogs {
		line("tailing", glob)
	}
	return b.String()
}

func labelled(label, addr string) string {
	if addr == "" {
		return ""
	}
	return label + " " + addr
}

// listenSwitch is a flag that is off, on at def (--zipkin, =true), or on
// at an address (--zipkin=127.0.0.1:19411). Its variable takes the same
// values.
type listenSwitch struct{ addr, def string }

func (s *listenSwitch) String() string   { return s.addr }
func (s *listenSwitch) IsBoolFlag() bool { return true }

func (s *listenSwitch) Set(v string) error {
	if on, ok := switchWord(v); ok {
		s.addr = ""
		if on {
			s.addr = s.def
		}
		return nil
	}
	if err := checkAddr(v); err != nil {
		return err
	}
	s.addr = v
	return nil
}

// jaegerSwitch is --jaeger: off, on at the default ports, or
// GRPC_ADDR,THRIFT_HTTP_ADDR.
type jaegerSwitch struct {
	on           bool
	grpc, thrift string
}

func (s *jaegerSwitch) String() string {
	if !s.on {
		return ""
	}
	return s.grpc + "," + s.thrift
}
func (s *jaegerSwitch) IsBoolFlag() bool { return true }

func (s *jaegerSwitch) Set(v string) error {
	if on, ok := switchWord(v); ok {
		*s = jaegerSwitch{}
		if on {
			*s = jaegerSwitch{on: true, grpc: collector.DefaultJaegerGRPC, thrift: collector.DefaultJaegerThriftHTTP}
		}
		return nil
	}
	grpc, thrift, ok := strings.Cut(v, ",")
	if !ok {
		return fmt.Errorf("want GRPC_ADDR,THRIFT_HTTP_ADDR such as %s,%s (either may be empty), or true", collector.DefaultJaegerGRPC, collector.DefaultJaegerThriftHTTP)
	}
	for _, a := range []string{grpc, thrift} {
		if a == "" {
			continue
		}
		if err := checkAddr(a); err != nil {
			return err
		}
	}
	if grpc == "" && thrift == "" {
		return errors.New("both addresses are empty: use --jaeger=false to leave it off")
	}
	*s = jaegerSwitch{on: true, grpc: grpc, thrift: thrift}
	return nil
}

func (s *jaegerSwitch) addrs() (grpc, thrift string) { return s.grpc, s.thrift }

// switchWord reads the words a switch takes besides an address.
func switchWord(v string) (on, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "on", "yes":
		return true, true
	case "false", "0", "off", "no", "":
		return false, true
	}
	return false, false
}

func checkAddr(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil || port == "" {
		return fmt.Errorf("%q: want true, false or host:port such as 127.0.0.1:5514", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 1–65535", v, port)
	}
	_ = host
	return nil
}

// globList is a repeatable flag; its variable holds one glob.
type globList []string

func (g *globList) String() string { return strings.Join(*g, " ") }

func (g *globList) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("the glob is empty")
	}
	*g = append(*g, v)
	return nil
}
