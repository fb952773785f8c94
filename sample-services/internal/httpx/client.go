package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// maxResponseBody caps what a peer's response may make us buffer.
const maxResponseBody = 1 << 20

// Client calls one other sample service, which may run as several replicas,
// with JSON bodies. Every call is a CLIENT span (otelhttp) carrying W3C
// trace context to the peer, so the peer's SERVER span becomes its child.
//
// With several replicas it balances between them (round robin, or by an
// affinity key) and fails over: a replica that refuses the connection is
// taken out of rotation and the request goes to the next one at once; a
// replica that dies mid-request is retried elsewhere only for replayable
// requests. Each attempt is its own CLIENT span, so a trace shows the
// failed one and the one that answered.
type Client struct {
	peer     string
	replicas *replicas
	http     *http.Client
	// transport is kept apart because otelhttp's wrapper does not pass
	// CloseIdleConnections through.
	transport *http.Transport
}

// NewClient returns a client for the service named peer ("auth", "order")
// whose replicas answer at baseURLs. timeout bounds each call end to end;
// callers can shorten it per call with their context. Close stops it.
func NewClient(peer string, baseURLs []string, tel *telemetry.Telemetry, timeout time.Duration) *Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	// The default of 2 idle connections per host makes a busy service open
	// and close a connection per call to its peer.
	base.MaxIdleConnsPerHost = 64
	transport := otelhttp.NewTransport(
		peerAttributeTransport{peer: peer, next: base},
		otelhttp.WithTracerProvider(tel.TracerProvider),
		otelhttp.WithPropagators(tel.Propagator),
		otelhttp.WithSpanNameFormatter(clientSpanName),
	)
	urls := make([]string, len(baseURLs))
	for i, u := range baseURLs {
		urls[i] = strings.TrimRight(u, "/")
	}
	return &Client{
		peer:      peer,
		replicas:  newReplicas(peer, urls, tel.Logger),
		http:      &http.Client{Transport: transport, Timeout: timeout},
		transport: base,
	}
}

// Close stops the replica probe and closes kept-alive connections. Called
// on shutdown: a connection that was dialled but never used counts as busy
// on the peer for its first seconds and would hold up the peer's own drain.
func (c *Client) Close() {
	c.replicas.close()
	c.transport.CloseIdleConnections()
}

// Ready is a readiness check: nil while at least one replica answers
// /healthz. It uses a plain client on purpose: readiness polling every few
// seconds would otherwise fill the trace store with probe spans.
func (c *Client) Ready(ctx context.Context) error {
	var errs []error
	for _, e := range c.replicas.endpoints {
		err := probe(ctx, probeClient, e.url+"/healthz")
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("no %s replica answers: %w", c.peer, errors.Join(errs...))
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// Request is one call. Route is the path template ("/v1/orders/:id") used
// for the span name, Path the concrete path.
type Request struct {
	Method string
	Route  string
	Path   string
	Header map[string]string
	Body   any
	// Affinity, when set, sends every request with the same value to the
	// same replica while it is up (the order id, say, whose state lives in
	// one replica's memory).
	Affinity string
}

// Do sends req and decodes a 2xx JSON response into out (nil to discard).
// Anything else is an *UpstreamError.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	var body []byte
	if req.Body != nil {
		encoded, err := json.Marshal(req.Body)
		if err != nil {
			return fmt.Errorf("encode %s %s request for %s: %w", req.Method, req.Route, c.peer, err)
		}
		body = encoded
	}
	ctx = context.WithValue(ctx, routeKey{}, req.Route)
	canReplay := replayable(req.Method, req.Header)
	var err error
	for i, e := range c.replicas.order(req.Affinity) {
		if i > 0 && ctx.Err() != nil {
			break
		}
		err = c.once(ctx, e.url, req, body, out)
		upErr, ok := AsUpstream(err)
		if !ok || upErr.Status != 0 || !failoverSafe(upErr.Err, canReplay) {
			return err
		}
		c.replicas.markDown(e, upErr.Err)
	}
	return err
}

// once is one attempt against the replica at baseURL.
func (c *Client) once(ctx context.Context, baseURL string, req Request, body []byte, out any) error {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	httpReq, err := http.NewRequestWithContext(ctx, req.Method, baseURL+req.Path, reader)
	if err != nil {
		return fmt.Errorf("build %s %s request for %s: %w", req.Method, req.Route, c.peer, err)
	}
	httpReq.Header.Set("Accept", "application/json")
	if body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.Header {
		httpReq.Header.Set(k, v)
	}

	resp, err := c.http.Do(httpReq)
	if err != nil {
		return &UpstreamError{Peer: c.peer, URL: baseURL, Method: req.Method, Route: req.Route, Err: err}
	}
	defer resp.Body.Close()
	recordServedBy(ctx, resp.Header.Values(ServedByHeader))
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return &UpstreamError{Peer: c.peer, URL: baseURL, Method: req.Method, Route: req.Route, Status: resp.StatusCode, Err: err}
	}

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil || len(payload) == 0 {
			return nil
		}
		if err := json.Unmarshal(payload, out); err != nil {
			return &UpstreamError{Peer: c.peer, URL: baseURL, Method: req.Method, Route: req.Route, Status: resp.StatusCode,
				Err: fmt.Errorf("decode response: %w", err)}
		}
		return nil
	}

	upErr := &UpstreamError{Peer: c.peer, URL: baseURL, Method: req.Method, Route: req.Route, Status: resp.StatusCode}
	var envelope ErrorEnvelope
	if json.Unmarshal(payload, &envelope) == nil && envelope.Error != nil {
		upErr.API = envelope.Error
		upErr.API.Status = resp.StatusCode
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
		upErr.RetryAfter = time.Duration(secs) * time.Second
	}
	return upErr
}

// UpstreamError is a failed call to another service: no response at all
// (Status 0, Err set) or a non-2xx one (API holds its decoded error body
// when the peer sent our error shape).
type UpstreamError struct {
	Peer       string
	URL        string
	Method     string
	Route      string
	Status     int
	API        *APIError
	RetryAfter time.Duration
	Err        error
}

func (e *UpstreamError) Error() string {
	switch {
	case e.Status == 0:
		return fmt.Sprintf("%s service at %s unreachable (%s %s): %v", e.Peer, e.URL, e.Method, e.Route, e.Err)
	case e.API != nil:
		return fmt.Sprintf("%s service %s %s: %d %s: %s", e.Peer, e.Method, e.Route, e.Status, e.API.Code, e.API.Message)
	case e.Err != nil:
		return fmt.Sprintf("%s service %s %s: %d: %v", e.Peer, e.Method, e.Route, e.Status, e.Err)
	default:
		return fmt.Sprintf("%s service %s %s: HTTP %d", e.Peer, e.Method, e.Route, e.Status)
	}
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// Code is the peer's error code, or "" when it sent none.
func (e *UpstreamError) Code() string {
	if e.API == nil {
		return ""
	}
	return e.API.Code
}

// Transient says whether trying again may succeed: no response, a timeout,
// or a 5xx/429 from the peer. A 4xx is a verdict and will not change.
func (e *UpstreamError) Transient() bool {
	return e.Status == 0 || e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// AsUpstream unwraps err to an *UpstreamError.
func AsUpstream(err error) (*UpstreamError, bool) {
	var upErr *UpstreamError
	ok := errors.As(err, &upErr)
	return upErr, ok
}

type routeKey struct{}

// clientSpanName gives "POST /v1/orders"-style names; the route template
// rather than the concrete path keeps span names low-cardinality.
func clientSpanName(_ string, r *http.Request) string {
	if route, ok := r.Context().Value(routeKey{}).(string); ok && route != "" {
		return r.Method + " " + route
	}
	return r.Method
}

// peerAttributeTransport runs inside otelhttp's transport, where the request
// context already holds the CLIENT span, and names the service being called
// so a service map can be drawn from client spans alone.
type peerAttributeTransport struct {
	peer string
	next http.RoundTripper
}

func (t peerAttributeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	trace.SpanFromContext(r.Context()).SetAttributes(
		attribute.String("service.peer.name", t.peer),
		attribute.String("peer.service", t.peer), // pre-1.37 name, still common in service-map queries
	)
	return t.next.RoundTrip(r)
}
