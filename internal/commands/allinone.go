package commands

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	spansTTL, logsTTL                  time.Duration
	// shortenSpansTTL and shortenLogsTTL: the TTL was given, so it may
	// shorten the stored one.
	shortenSpansTTL, shortenLogsTTL bool
	ingestToken                     string        // see ingestAuth
	receivers                       receiverFlags // see receiverOverrides
}

func allInOneFlags(env cli.Env) (*cli.FlagSet, *allInOneConfig) {
	cfg := &allInOneConfig{}
	fs := cli.NewFlagSet("tracehouse all-in-one", "TRACEHOUSE", env)
	fs.StringVar(&cfg.data, "data", "./data", "data folder of the embedded ClickHouse (kept across restarts)")
	fs.SetEnv("data", EnvData)
	fs.StringVar(&cfg.clickhouseListen, "clickhouse-listen", embedded.DefaultListen, "address of the embedded ClickHouse HTTP interface")
	fs.SetEnv("clickhouse-listen", EnvClickHouseListen)
	fs.StringVar(&cfg.httpListen, "http", "127.0.0.1:8080", "address of the query API and UI")
	fs.SetEnv("http", EnvQueryHTTP)
	ttlVar(fs, &cfg.spansTTL, "spans-ttl", schema.DefaultSpansTTL, "how long spans are kept, a `duration` such as 7d, 36h or 1d12h (0: forever; shortening deletes stored data, so a default never shortens what is stored)")
	fs.SetEnv("spans-ttl", EnvSpansTTL)
	ttlVar(fs, &cfg.logsTTL, "logs-ttl", schema.DefaultLogsTTL, "how long logs are kept, a `duration` such as 7d (0: forever; shortening deletes stored data, so a default never shortens what is stored)")
	fs.SetEnv("logs-ttl", EnvLogsTTL)
	fs.StringVar(&cfg.ingestToken, "ingest-token", "", "token every collector receiver (OTLP gRPC and HTTP, JSON-lines) then requires as `Authorization: Bearer TOKEN` (default: none; receivers on loopback accept any local sender)")
	fs.SetEnv("ingest-token", EnvIngestToken)
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
	// Refuse bad receiver switches before the slow start of the engine.
	if _, err := receiverOverrides(cfg.receivers, cfg.data, cfg.ingestToken != ""); err != nil {
		return nil, err
	}
	return cfg, nil
}

func runAllInOne(ctx context.Context, args []string, env cli.Env) error {
	cfg, err := parseAllInOne(args, env)
	if err != nil {
		return err
	}
	log := env.Logger
	// Check the UI's port before the slow start of the engine.
	ln, err := net.Listen("tcp", cfg.httpListen)
	if err != nil {
		return fmt.Errorf("query API and UI cannot listen on %s: %w (choose another address with --http)", cfg.httpListen, err)
	}
	defer ln.Close()

	srv, err := embedded.Start(embedded.Config{DataDir: cfg.data, Listen: cfg.clickhouseListen, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
	}()

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

	overrides := []string{"yaml:exporters::tracehouse::endpoint: " + srv.DSN(), "yaml:exporters::tracehouse::create_schema: false"}
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
		// The schema was applied above with this command's TTLs; the
		// exporter must not apply it again with its defaults.
		Overrides: append(overrides, auth...),
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
	svc := query.New(store, query.Options{})
	appCtx, stopApp := context.WithCancel(ctx)
	defer stopApp()
	app := api.NewApp(svc, api.Options{Logger: log, Context: appCtx, UI: web.FS})
	served := make(chan error, 1)
	go func() { served <- api.ServeListener(appCtx, app, ln, log) }()

	fmt.Fprintf(env.Stdout, `Tracehouse is running.
  UI and query API      http://%s
  OTLP                  gRPC 127.0.0.1:4317, HTTP 127.0.0.1:4318; JSON-lines logs http://127.0.0.1:4319/v1/logs/jsonl
  ClickHouse (embedded) http://%s   DSN %s
  data folder           %s
%sPress Ctrl-C to stop.
`, ln.Addr(), srv.Addr(), srv.DSN(), cfg.data, describeReceivers(cfg.receivers))

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
