// Package telemetry wires one sample service to OpenTelemetry: a tracer
// provider and a logger provider exporting over OTLP gRPC, the W3C
// propagator, and a zerolog logger whose events become OTLP log records.
//
// Nothing here is global: several services run in one test process, each
// with its own service.name, so every service carries its own *Telemetry.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopePrefix names the instrumentation scope of everything the sample
// services emit; the service name is appended.
const ScopePrefix = "github.com/tracehouse/tracehouse/sample-services/"

// Config says who the service is and where its telemetry goes.
type Config struct {
	ServiceName    string
	ServiceVersion string
	// InstanceID is service.instance.id: which of the service's processes
	// (replicas) this is. Required: two replicas must never share it.
	InstanceID  string
	Environment string
	// OTLPEndpoint is host:port of an OTLP gRPC receiver, spoken to without
	// TLS, or a URL (http:// insecure, https:// TLS). Empty turns export off:
	// spans and log records are still created, so trace context still
	// propagates, but nothing leaves the process.
	OTLPEndpoint string
	LogLevel     zerolog.Level
	// LogOutput receives every log event as a JSON line, next to the OTLP
	// copy. Defaults to os.Stderr.
	LogOutput io.Writer
}

// Telemetry is one service's tracing and logging.
type Telemetry struct {
	// Service and Instance are service.name and service.instance.id.
	Service, Instance string
	TracerProvider    *sdktrace.TracerProvider
	LoggerProvider    *sdklog.LoggerProvider
	Propagator        propagation.TextMapPropagator
	// Logger writes JSON to LogOutput and OTLP log records; bind it to a
	// context with Log so events carry the active trace and span ids.
	Logger zerolog.Logger

	// Exported counts the spans and log records the collector accepted.
	Exported *Exported

	tracer trace.Tracer
	// stderrOnly logs without the OTLP copy, for errors of the OTLP path
	// itself.
	stderrOnly zerolog.Logger
}

// New builds the providers and the logger. Exporters connect lazily, so a
// collector that is down at start only costs dropped batches, never a
// failed start.
func New(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.ServiceName == "" {
		return nil, errors.New("telemetry: service name is empty")
	}
	if cfg.InstanceID == "" {
		return nil, fmt.Errorf("telemetry: %s has no instance id (service.instance.id)", cfg.ServiceName)
	}
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}

	exported := &Exported{}
	traceOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	logOpts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	if cfg.OTLPEndpoint != "" {
		traceExp, logExp, err := newExporters(ctx, cfg.OTLPEndpoint)
		if err != nil {
			return nil, err
		}
		traceOpts = append(traceOpts, sdktrace.WithBatcher(countingSpanExporter{traceExp, &exported.spans}))
		logOpts = append(logOpts, sdklog.WithProcessor(sdklog.NewBatchProcessor(countingLogExporter{logExp, &exported.logs})))
	}

	t := &Telemetry{
		Service:        cfg.ServiceName,
		Instance:       cfg.InstanceID,
		TracerProvider: sdktrace.NewTracerProvider(traceOpts...),
		LoggerProvider: sdklog.NewLoggerProvider(logOpts...),
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		Exported:       exported,
	}
	t.tracer = t.TracerProvider.Tracer(ScopePrefix + cfg.ServiceName)

	out := cfg.LogOutput
	if out == nil {
		out = os.Stderr
	}
	bridge := newLogBridge(t.LoggerProvider.Logger(ScopePrefix + cfg.ServiceName))
	t.Logger = zerolog.New(zerolog.MultiLevelWriter(out, bridge)).
		Level(cfg.LogLevel).
		Hook(timestampHook{}, traceHook{})
	t.stderrOnly = zerolog.New(out).Hook(timestampHook{})
	return t, nil
}

// ReportSDKErrors sends errors the OTel SDK reports (an unreachable
// collector, dropped batches) to the JSON log on stderr instead of the
// SDK's plain-text default. Not to OTLP: a failed export reported through
// export would feed on itself. The handler is process-global, so only a
// process running a single service should call this.
func (t *Telemetry) ReportSDKErrors() {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		t.stderrOnly.Warn().Err(err).Msg("OpenTelemetry SDK error; is the collector at --otlp-endpoint up?")
	}))
}

// ServedBy is how this process names itself to callers: "service/instance"
// (the X-Served-By response header, see httpx).
func (t *Telemetry) ServedBy() string { return t.Service + "/" + t.Instance }

// Tracer is the tracer for spans the service creates itself (saga steps,
// fallbacks); HTTP spans come from the server middleware and otelhttp.
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// Log returns the service logger bound to ctx: every event it writes is
// stamped with the trace and span active in ctx.
func (t *Telemetry) Log(ctx context.Context) *zerolog.Logger {
	l := t.Logger.With().Ctx(ctx).Logger()
	return &l
}

// ForceFlush exports everything buffered so far, spans first so a log
// record never reaches the collector before the span it points at.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	return errors.Join(t.TracerProvider.ForceFlush(ctx), t.LoggerProvider.ForceFlush(ctx))
}

// Shutdown flushes and stops both providers; ctx bounds how long a slow
// collector can hold up process exit.
// Its last act is a JSON line on LogOutput (not OTLP, which is closed by
// then) with how many spans and log records the collector accepted.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	err := errors.Join(t.TracerProvider.Shutdown(ctx), t.LoggerProvider.Shutdown(ctx))
	t.stderrOnly.Info().Int64("spans_exported", t.Exported.Spans()).Int64("logs_exported", t.Exported.Logs()).
		AnErr("flush_error", err).Msg("telemetry flushed")
	return err
}

func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{
		semconv.ServiceName(cfg.ServiceName),
		semconv.ServiceVersion(cfg.ServiceVersion),
		semconv.ServiceInstanceID(cfg.InstanceID),
	}
	if cfg.Environment != "" {
		attrs = append(attrs,
			semconv.DeploymentEnvironmentNameKey.String(cfg.Environment),
			// The pre-1.27 key, still what many dashboards and our own
			// queries group by; costs one attribute per resource.
			attribute.String("deployment.environment", cfg.Environment),
		)
	}
	// OTEL_RESOURCE_ATTRIBUTES is read first so the flags above win: four
	// services may share one environment in tests and local runs.
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(attrs...),
	)
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry: build resource: %w", err)
	}
	// A partial resource (say, an unreadable host name) is still worth
	// exporting with; the error only says which detector failed.
	return res, nil
}

func newExporters(ctx context.Context, endpoint string) (sdktrace.SpanExporter, sdklog.Exporter, error) {
	hostPort, insecure, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, nil, err
	}
	traceOpts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(hostPort)}
	logOpts := []otlploggrpc.Option{otlploggrpc.WithEndpoint(hostPort)}
	if insecure {
		traceOpts = append(traceOpts, otlptracegrpc.WithInsecure())
		logOpts = append(logOpts, otlploggrpc.WithInsecure())
	}
	traceExp, err := otlptracegrpc.New(ctx, traceOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: OTLP trace exporter for %s: %w", endpoint, err)
	}
	logExp, err := otlploggrpc.New(ctx, logOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: OTLP log exporter for %s: %w", endpoint, err)
	}
	return traceExp, logExp, nil
}

// ParseEndpoint accepts "host:port" (plain gRPC, the local-collector case)
// or a URL as OTEL_EXPORTER_OTLP_ENDPOINT is usually written
// ("http://collector:4317"; https means TLS).
func ParseEndpoint(endpoint string) (hostPort string, insecure bool, err error) {
	if !strings.Contains(endpoint, "://") {
		if !strings.Contains(endpoint, ":") {
			return "", false, fmt.Errorf("OTLP endpoint %q has no port; use host:port such as 127.0.0.1:4317", endpoint)
		}
		return endpoint, true, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("OTLP endpoint %q is not a valid URL: %w", endpoint, err)
	}
	switch u.Scheme {
	case "http":
		insecure = true
	case "https":
	default:
		return "", false, fmt.Errorf("OTLP endpoint %q: scheme must be http or https, or drop it and write host:port", endpoint)
	}
	if u.Port() == "" {
		return "", false, fmt.Errorf("OTLP endpoint %q has no port; the OTLP gRPC default is 4317", endpoint)
	}
	return u.Host, insecure, nil
}
