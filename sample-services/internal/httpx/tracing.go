package httpx

import (
	"context"
	"net"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Tracing is the server half of trace propagation: it continues the W3C
// trace context of the incoming request (or starts a trace), opens a SERVER
// span named "METHOD /route", hands the span to handlers through
// c.UserContext(), names the processes that served the request in the
// X-Served-By response header, and writes one access log line bound to
// that span.
//
// It is ours rather than gofiber/contrib/otelfiber because that module pins
// semconv 1.12 attribute names (http.method, http.status_code) while the
// otelhttp client spans use the current ones (http.request.method,
// http.response.status_code); one naming across both sides of a hop keeps
// queries on the stored spans simple.
func Tracing(tel *telemetry.Telemetry, skip func(c *fiber.Ctx) bool) fiber.Handler {
	tracer := tel.TracerProvider.Tracer(telemetry.ScopePrefix + "httpx")
	return func(c *fiber.Ctx) error {
		if skip != nil && skip(c) {
			return c.Next()
		}
		start := time.Now()
		method := c.Method()
		ctx := tel.Propagator.Extract(c.UserContext(), requestHeaderCarrier{c})
		ctx, span := tracer.Start(ctx, method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(requestAttributes(c)...),
		)
		defer span.End()
		ctx, served := withServedBy(ctx)
		c.SetUserContext(ctx)

		handlerErr := c.Next()
		if handlerErr != nil {
			// Produce the response now so the span and the access log see
			// the status the client gets.
			if err := c.App().ErrorHandler(c, handlerErr); err != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}

		c.Set(ServedByHeader, served.header(tel.ServedBy()))
		status := c.Response().StatusCode()
		route := matchedRoute(c)
		if route != "" {
			span.SetName(method + " " + route)
			span.SetAttributes(semconv.HTTPRoute(route))
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(status))
		if handlerErr != nil {
			span.RecordError(handlerErr)
		}
		// Server spans are errors for 5xx only (OTel HTTP semconv): a 4xx
		// is the caller's mistake. Handlers mark business failures such as
		// a declined card themselves, with MarkFailed.
		if status >= 500 {
			msg := ""
			if handlerErr != nil {
				msg = AsAPIError(handlerErr).Message
			}
			span.SetStatus(codes.Error, msg)
		}

		accessLog(tel.Log(ctx), status, handlerErr).
			Str("http.request.method", method).
			Str("http.route", route).
			Str("url.path", c.Path()).
			Int("http.response.status_code", status).
			Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
			Msg("request served")
		return nil
	}
}

func accessLog(log *zerolog.Logger, status int, err error) *zerolog.Event {
	switch {
	case status >= 500:
		return log.Error().Err(err)
	case status >= 400:
		return log.Info().AnErr("reason", err)
	default:
		return log.Info()
	}
}

// MarkFailed records err on the span in ctx and sets its status to Error.
// For outcomes a handler knows are failures even when the HTTP status alone
// would not say so (a declined card is a 402).
func MarkFailed(ctx context.Context, err error) {
	span := trace.SpanFromContext(ctx)
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}

// matchedRoute is the route template ("/api/orders/:id"), or "" when no
// route matched: fiber then reports the last middleware's path, which would
// name every unknown URL after it.
func matchedRoute(c *fiber.Ctx) string {
	r := c.Route()
	if r == nil || r.Path == "" {
		return ""
	}
	if c.Response().StatusCode() == fiber.StatusNotFound && r.Path == "/" && c.Path() != "/" {
		return ""
	}
	return r.Path
}

func requestAttributes(c *fiber.Ctx) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(c.Method()),
		semconv.URLPath(c.Path()),
		semconv.URLScheme(c.Protocol()),
		semconv.ServerAddress(c.Hostname()),
		semconv.ClientAddress(c.IP()),
	}
	// Not c.Port(): it panics on a connection that is not TCP.
	if peer, ok := c.Context().RemoteAddr().(*net.TCPAddr); ok {
		attrs = append(attrs, attribute.Int("client.port", peer.Port))
	}
	if ua := c.Get(fiber.HeaderUserAgent); ua != "" {
		attrs = append(attrs, semconv.UserAgentOriginal(ua))
	}
	return attrs
}

// requestHeaderCarrier reads trace context from a fiber request. Values are
// copied (string(...)) because fasthttp reuses header buffers after the
// request, and the propagator keeps tracestate strings in the span.
type requestHeaderCarrier struct{ c *fiber.Ctx }

var _ propagation.TextMapCarrier = requestHeaderCarrier{}

func (h requestHeaderCarrier) Get(key string) string {
	return string(h.c.Request().Header.Peek(key))
}

// Set is a no-op: the carrier is only extracted from, and responses do not
// carry trace context.
func (requestHeaderCarrier) Set(string, string) {}

func (h requestHeaderCarrier) Keys() []string {
	var keys []string
	h.c.Request().Header.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}
