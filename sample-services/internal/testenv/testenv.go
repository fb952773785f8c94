// Package testenv starts the sample services in-process for tests: real
// fiber servers on free loopback ports, real HTTP between them, real OTel
// SDKs (exporting to an otlpsink collector when one is given).
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/auth"
	"github.com/tracehouse/tracehouse/sample-services/gateway"
	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
	"github.com/tracehouse/tracehouse/sample-services/order"
	"github.com/tracehouse/tracehouse/sample-services/payment"
)

// Options adjust the stack before it starts. OTLPEndpoint empty means no
// export. The Configure hooks see configs whose injected latency is
// already zero, so tests are fast unless they ask otherwise.
type Options struct {
	OTLPEndpoint     string
	ConfigureGateway func(*gateway.Config)
	ConfigureAuth    func(*auth.Config)
	ConfigureOrder   func(*order.Config)
	ConfigurePayment func(*payment.Config)
}

// Stack is the four services running.
type Stack struct {
	Gateway *gateway.Service
	Auth    *auth.Service
	Order   *order.Service
	Payment *payment.Service

	GatewayURL, AuthURL, OrderURL, PaymentURL string

	telemetry []*telemetry.Telemetry
}

// StartStack starts payment, order, auth and gateway wired to each other.
// Everything stops when the test ends.
func StartStack(t testing.TB, opts Options) *Stack {
	t.Helper()
	gwLn, authLn, orderLn, payLn := Listen(t), Listen(t), Listen(t), Listen(t)
	st := &Stack{
		GatewayURL: baseURL(gwLn), AuthURL: baseURL(authLn),
		OrderURL: baseURL(orderLn), PaymentURL: baseURL(payLn),
	}

	payCfg := payment.DefaultConfig()
	payCfg.Common = commonFor(payLn, opts.OTLPEndpoint)
	payCfg.Faults.Latency = faults.Latency{}
	if opts.ConfigurePayment != nil {
		opts.ConfigurePayment(&payCfg)
	}
	st.Payment = must(t, func(tel *telemetry.Telemetry) (*payment.Service, error) { return payment.New(payCfg, tel) },
		st.newTelemetry(t, payment.Name, payCfg.Common))
	Serve(t, st.Payment, payLn)

	orderCfg := order.DefaultConfig()
	orderCfg.Common = commonFor(orderLn, opts.OTLPEndpoint)
	orderCfg.PaymentURL = st.PaymentURL
	if opts.ConfigureOrder != nil {
		opts.ConfigureOrder(&orderCfg)
	}
	st.Order = must(t, func(tel *telemetry.Telemetry) (*order.Service, error) { return order.New(orderCfg, tel) },
		st.newTelemetry(t, order.Name, orderCfg.Common))
	Serve(t, st.Order, orderLn)

	authCfg := auth.DefaultConfig()
	authCfg.Common = commonFor(authLn, opts.OTLPEndpoint)
	authCfg.Faults.Latency = faults.Latency{}
	if opts.ConfigureAuth != nil {
		opts.ConfigureAuth(&authCfg)
	}
	st.Auth = must(t, func(tel *telemetry.Telemetry) (*auth.Service, error) { return auth.New(authCfg, tel) },
		st.newTelemetry(t, auth.Name, authCfg.Common))
	Serve(t, st.Auth, authLn)

	gwCfg := gateway.DefaultConfig()
	gwCfg.Common = commonFor(gwLn, opts.OTLPEndpoint)
	gwCfg.AuthURL, gwCfg.OrderURL = st.AuthURL, st.OrderURL
	if opts.ConfigureGateway != nil {
		opts.ConfigureGateway(&gwCfg)
	}
	st.Gateway = must(t, func(tel *telemetry.Telemetry) (*gateway.Service, error) { return gateway.New(gwCfg, tel) },
		st.newTelemetry(t, gateway.Name, gwCfg.Common))
	Serve(t, st.Gateway, gwLn)
	return st
}

func commonFor(ln net.Listener, otlpEndpoint string) service.Common {
	c := service.DefaultCommon(ln.Addr().String())
	c.OTLPEndpoint = otlpEndpoint
	c.Environment = "test"
	c.LogLevel = "debug"
	return c
}

func (st *Stack) newTelemetry(t testing.TB, name string, c service.Common) *telemetry.Telemetry {
	tel := NewTelemetry(t, c.TelemetryConfig(name))
	st.telemetry = append(st.telemetry, tel)
	return tel
}

// NewTelemetry starts a service's telemetry with the stderr copy of its logs
// discarded (the OTLP copy is what tests look at); it is shut down when
// the test ends.
func NewTelemetry(t testing.TB, cfg telemetry.Config) *telemetry.Telemetry {
	t.Helper()
	cfg.LogOutput = io.Discard
	tel, err := telemetry.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("telemetry for %s: %v", cfg.ServiceName, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("shut down telemetry of %s: %v", cfg.ServiceName, err)
		}
	})
	return tel
}

func must[S any](t testing.TB, build func(*telemetry.Telemetry) (S, error), tel *telemetry.Telemetry) S {
	t.Helper()
	svc, err := build(tel)
	if err != nil {
		t.Fatalf("build service: %v", err)
	}
	return svc
}

// Flush exports every span and log record the services have buffered, so
// what the collector holds afterwards is complete.
func (st *Stack) Flush(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tel := range st.telemetry {
		if err := tel.ForceFlush(ctx); err != nil {
			t.Fatalf("flush telemetry: %v", err)
		}
	}
}

// Listen reserves a loopback port.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	return ln
}

func baseURL(ln net.Listener) string { return "http://" + ln.Addr().String() }

// Serve serves srv on ln until the test ends, then shuts it down
// gracefully, the way SIGTERM does in a real process.
func Serve(t testing.TB, srv service.Server, ln net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := httpx.Serve(ctx, srv.App(), ln, srv.Health(), 5*time.Second); err != nil {
			t.Errorf("serve %s: %v", ln.Addr(), err)
		}
		srv.Close()
	})
	t.Cleanup(func() {
		// Connections the test client dialled but never used would hold
		// up the drain (see httpx.Client.CloseIdleConnections).
		http.DefaultClient.CloseIdleConnections()
		cancel()
		wg.Wait()
	})
}

// Response is an HTTP response read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it cannot.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode response body %q: %v", r.Body, err)
	}
}

// APIError decodes the body as the services' error envelope.
func (r Response) APIError(t testing.TB) httpx.APIError {
	t.Helper()
	var env struct {
		Error *httpx.APIError `json:"error"`
	}
	r.JSON(t, &env)
	if env.Error == nil {
		t.Fatalf("response %d has no error object: %s", r.Status, r.Body)
	}
	return *env.Error
}

// Do sends one request; body is JSON-encoded unless it is a string, which
// is sent as is (for malformed-JSON tests).
func Do(t testing.TB, method, url string, header map[string]string, body any) Response {
	t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	default:
		encoded, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode request body: %v", err)
		}
		reader = bytes.NewReader(encoded)
	}
	req, err := http.NewRequest(method, url, reader)
	if err != nil {
		t.Fatalf("build %s %s: %v", method, url, err)
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s %s response: %v", method, url, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: payload}
}

// Login logs user in through the gateway and returns the Authorization
// header carrying the token.
func (st *Stack) Login(t testing.TB, user string) map[string]string {
	t.Helper()
	resp := Do(t, http.MethodPost, st.GatewayURL+"/api/login", nil, map[string]string{"user": user, "password": "secret"})
	if resp.Status != http.StatusOK {
		t.Fatalf("login as %s: %d %s", user, resp.Status, resp.Body)
	}
	var issued auth.IssueResponse
	resp.JSON(t, &issued)
	return map[string]string{"Authorization": "Bearer " + issued.Token}
}

// CheckoutBody is a valid checkout for user paying with card.
func CheckoutBody(user, card string) map[string]any {
	return map[string]any{
		"user":  user,
		"items": []map[string]any{{"sku": "sku-apple", "qty": 2, "price": 1.25}, {"sku": "sku-fig", "qty": 1, "price": 9.99}},
		"card":  card,
	}
}

// Checkout posts a valid checkout for user through the gateway.
func (st *Stack) Checkout(t testing.TB, authHeader map[string]string, user string) Response {
	t.Helper()
	return Do(t, http.MethodPost, st.GatewayURL+"/api/checkout", authHeader, CheckoutBody(user, cards.Approved))
}

// SetFaults changes a service's faults through its admin API, failing the
// test unless the service accepts them.
func SetFaults(t testing.TB, serviceURL string, patch any) {
	t.Helper()
	resp := Do(t, http.MethodPut, serviceURL+"/admin/faults", nil, patch)
	if resp.Status != http.StatusOK {
		t.Fatalf("PUT %s/admin/faults: %d %s", serviceURL, resp.Status, resp.Body)
	}
}
