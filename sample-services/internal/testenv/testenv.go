// Package testenv starts the sample services in-process for tests: real
// fiber servers on free loopback ports, real HTTP between them, real OTel
// SDKs (exporting to an otlpsink collector when one is given).
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/auth"
	"github.com/tracehouse/tracehouse/sample-services/broker"
	"github.com/tracehouse/tracehouse/sample-services/fulfillment"
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
// already zero, so tests are fast unless they ask otherwise; with
// replicas, ConfigureOrder and ConfigurePayment run once per replica.
type Options struct {
	OTLPEndpoint string
	// Events starts the broker (NATS with JetStream, in-process) and the
	// fulfillment worker, and has order publish its events; without it
	// order publishes none.
	Events bool
	// Replicas is how many order and payment replicas run (default 1).
	Replicas             int
	ConfigureGateway     func(*gateway.Config)
	ConfigureAuth        func(*auth.Config)
	ConfigureOrder       func(*order.Config)
	ConfigurePayment     func(*payment.Config)
	ConfigureFulfillment func(*fulfillment.Config)
}

// Stack is the services running. Order and Payment are the first
// replicas; Orders and Payments all of them.
type Stack struct {
	Gateway     *gateway.Service
	Auth        *auth.Service
	Order       *order.Service
	Payment     *payment.Service
	Orders      []*order.Service
	Payments    []*payment.Service
	Broker      *broker.Service
	Fulfillment *fulfillment.Service

	GatewayURL, AuthURL, OrderURL, PaymentURL string
	OrderURLs, PaymentURLs                    []string
	FulfillmentURL, BrokerURL, NATSURL        string
	// StopOrder stops order replica i gracefully, as SIGTERM does.
	StopOrder []func()

	brokerCfg  broker.Config
	stopBroker func()

	telemetry []*telemetry.Telemetry
}

// StartStack starts payment, order, auth and gateway wired to each other
// (and the broker and fulfillment with opts.Events). Everything stops when
// the test ends.
func StartStack(t testing.TB, opts Options) *Stack {
	t.Helper()
	replicas := max(opts.Replicas, 1)
	gwLn, authLn := Listen(t), Listen(t)
	st := &Stack{GatewayURL: baseURL(gwLn), AuthURL: baseURL(authLn)}

	natsURL := ""
	if opts.Events {
		brokerLn, natsLn := Listen(t), Listen(t)
		natsAddr := natsLn.Addr().String()
		natsLn.Close() // NATS binds it itself
		cfg := broker.DefaultConfig()
		cfg.Common = commonFor(brokerLn, opts.OTLPEndpoint, broker.Name, 0)
		cfg.NATSListen = natsAddr
		cfg.Data = t.TempDir()
		st.brokerCfg = cfg
		st.startBroker(t, brokerLn)
		st.NATSURL = st.Broker.ClientURL()
		natsURL = st.NATSURL
	}

	for i := range replicas {
		ln := Listen(t)
		cfg := payment.DefaultConfig()
		cfg.Common = commonFor(ln, opts.OTLPEndpoint, payment.Name, i)
		cfg.Faults.Latency = faults.Latency{}
		if opts.ConfigurePayment != nil {
			opts.ConfigurePayment(&cfg)
		}
		svc := must(t, func(tel *telemetry.Telemetry) (*payment.Service, error) { return payment.New(cfg, tel) },
			st.newTelemetry(t, payment.Name, cfg.Common))
		Serve(t, svc, ln)
		st.Payments = append(st.Payments, svc)
		st.PaymentURLs = append(st.PaymentURLs, baseURL(ln))
	}
	st.Payment, st.PaymentURL = st.Payments[0], st.PaymentURLs[0]

	for i := range replicas {
		ln := Listen(t)
		cfg := order.DefaultConfig()
		cfg.Common = commonFor(ln, opts.OTLPEndpoint, order.Name, i)
		cfg.PaymentURLs = st.PaymentURLs
		cfg.NATSURL = natsURL
		if opts.ConfigureOrder != nil {
			opts.ConfigureOrder(&cfg)
		}
		svc := must(t, func(tel *telemetry.Telemetry) (*order.Service, error) { return order.New(cfg, tel) },
			st.newTelemetry(t, order.Name, cfg.Common))
		st.StopOrder = append(st.StopOrder, Serve(t, svc, ln))
		st.Orders = append(st.Orders, svc)
		st.OrderURLs = append(st.OrderURLs, baseURL(ln))
	}
	st.Order, st.OrderURL = st.Orders[0], st.OrderURLs[0]

	if opts.Events {
		ln := Listen(t)
		cfg := fulfillment.DefaultConfig()
		cfg.Common = commonFor(ln, opts.OTLPEndpoint, fulfillment.Name, 0)
		cfg.NATSURL = natsURL
		cfg.Faults.Latency = faults.Latency{}
		cfg.RetryBaseDelay, cfg.RetryMaxDelay = 10*time.Millisecond, 50*time.Millisecond
		cfg.FetchWait = 100 * time.Millisecond
		if opts.ConfigureFulfillment != nil {
			opts.ConfigureFulfillment(&cfg)
		}
		st.Fulfillment = must(t, func(tel *telemetry.Telemetry) (*fulfillment.Service, error) { return fulfillment.New(cfg, tel) },
			st.newTelemetry(t, fulfillment.Name, cfg.Common))
		Serve(t, st.Fulfillment, ln)
		st.FulfillmentURL = baseURL(ln)
		WaitReady(t, st.FulfillmentURL)
	}

	authCfg := auth.DefaultConfig()
	authCfg.Common = commonFor(authLn, opts.OTLPEndpoint, auth.Name, 0)
	authCfg.Faults.Latency = faults.Latency{}
	if opts.ConfigureAuth != nil {
		opts.ConfigureAuth(&authCfg)
	}
	st.Auth = must(t, func(tel *telemetry.Telemetry) (*auth.Service, error) { return auth.New(authCfg, tel) },
		st.newTelemetry(t, auth.Name, authCfg.Common))
	Serve(t, st.Auth, authLn)

	gwCfg := gateway.DefaultConfig()
	gwCfg.Common = commonFor(gwLn, opts.OTLPEndpoint, gateway.Name, 0)
	gwCfg.AuthURLs, gwCfg.OrderURLs = []string{st.AuthURL}, st.OrderURLs
	if opts.ConfigureGateway != nil {
		opts.ConfigureGateway(&gwCfg)
	}
	st.Gateway = must(t, func(tel *telemetry.Telemetry) (*gateway.Service, error) { return gateway.New(gwCfg, tel) },
		st.newTelemetry(t, gateway.Name, gwCfg.Common))
	Serve(t, st.Gateway, gwLn)
	return st
}

func (st *Stack) startBroker(t testing.TB, ln net.Listener) {
	st.Broker = must(t, func(tel *telemetry.Telemetry) (*broker.Service, error) { return broker.New(st.brokerCfg, tel) },
		st.newTelemetry(t, broker.Name, st.brokerCfg.Common))
	st.stopBroker = Serve(t, st.Broker, ln)
	st.BrokerURL = baseURL(ln)
}

// StopBroker stops the broker (the stack must have Events) and returns
// the func that starts it again on the same address and data folder.
func (st *Stack) StopBroker(t testing.TB) (restart func()) {
	t.Helper()
	st.stopBroker()
	return func() {
		t.Helper()
		st.startBroker(t, Listen(t))
		WaitReady(t, st.BrokerURL)
	}
}

// commonFor is the common configuration of replica i of service name:
// instance id "<name>-<i+1>".
func commonFor(ln net.Listener, otlpEndpoint, name string, i int) service.Common {
	c := service.DefaultCommon(ln.Addr().String())
	c.OTLPEndpoint = otlpEndpoint
	c.Environment = "test"
	c.LogLevel = "debug"
	c.InstanceID = fmt.Sprintf("%s-%d", name, i+1)
	return c
}

// WaitReady polls baseURL/readyz until it answers 200, for up to 10s.
func WaitReady(t testing.TB, baseURL string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(baseURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within 10s (last: %v)", baseURL, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
// gracefully, the way SIGTERM does in a real process. The returned func
// does the same earlier (a replica going away mid-test); it is idempotent.
func Serve(t testing.TB, srv service.Server, ln net.Listener) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := httpx.Serve(ctx, srv.App(), ln, srv.Health(), 5*time.Second); err != nil {
			t.Errorf("serve %s: %v", ln.Addr(), err)
		}
		srv.Close()
	})
	stop = func() {
		// Connections the test client dialled but never used would hold
		// up the drain (see httpx.Client.Close).
		http.DefaultClient.CloseIdleConnections()
		cancel()
		wg.Wait()
	}
	t.Cleanup(stop)
	return stop
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
