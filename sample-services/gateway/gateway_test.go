package gateway_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/gateway"
	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
)

func TestCheckoutRejectsBadInputNamingTheField(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	authz := st.Login(t, "ann")
	item := func(sku string, qty any, price any) map[string]any {
		return map[string]any{"sku": sku, "qty": qty, "price": price}
	}
	valid := func() map[string]any { return testenv.CheckoutBody("ann", cards.Approved) }
	with := func(key string, value any) map[string]any { b := valid(); b[key] = value; return b }

	for _, tc := range []struct {
		name  string
		body  any
		field string
	}{
		{"empty body", "", "body"},
		{"malformed JSON", `{"user": "ann",`, "body"},
		{"not an object", `[1, 2]`, "body"},
		{"missing user", with("user", ""), "user"},
		{"no items", with("items", []any{}), "items"},
		{"zero qty", with("items", []any{item("sku-a", 0, 1.5)}), "items[0].qty"},
		{"qty too large", with("items", []any{item("sku-a", 1, 1.5), item("sku-b", 5000, 1.5)}), "items[1].qty"},
		{"qty not a number", with("items", []any{item("sku-a", "two", 1.5)}), "items.qty"},
		{"missing sku", with("items", []any{item("", 1, 1.5)}), "items[0].sku"},
		{"negative price", with("items", []any{item("sku-a", 1, -3)}), "items[0].price"},
		{"sub-cent price", with("items", []any{item("sku-a", 1, 1.234)}), "items[0].price"},
		{"missing card", with("card", ""), "card"},
		{"card fails Luhn", with("card", "4242424242424241"), "card"},
		{"unknown field", with("coupon", "FREE"), "coupon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/checkout", authz, tc.body)
			if resp.Status != http.StatusBadRequest {
				t.Fatalf("want 400, got %d %s", resp.Status, resp.Body)
			}
			apiErr := resp.APIError(t)
			if apiErr.Code != "invalid_field" || apiErr.Field != tc.field {
				t.Errorf("error = %+v; want invalid_field naming %q", apiErr, tc.field)
			}
			if tc.field != "body" && !strings.Contains(apiErr.Message, tc.field) {
				t.Errorf("message %q does not name the field %q", apiErr.Message, tc.field)
			}
		})
	}
}

func TestLoginRejectsBadInput(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	for body, field := range map[string]string{
		`{"password": "x"}`:                    "user",
		`{"user": "ann"}`:                      "password",
		`{"user": "ann", "password": 1}`:       "password",
		`{"user": "ann", "pasword": "secret"}`: "pasword",
	} {
		resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/login", nil, body)
		if resp.Status != http.StatusBadRequest || resp.APIError(t).Field != field {
			t.Errorf("login %s: %d %s; want 400 naming %s", body, resp.Status, resp.Body, field)
		}
	}
}

func TestRequestsNeedAValidToken(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	body := testenv.CheckoutBody("ann", cards.Approved)
	for name, header := range map[string]map[string]string{
		"no header":    nil,
		"not bearer":   {"Authorization": "Basic YW5uOng="},
		"forged token": {"Authorization": "Bearer YW5u.9999999999.deadbeef"},
	} {
		resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/checkout", header, body)
		if resp.Status != http.StatusUnauthorized || resp.APIError(t).Code != "unauthorized" {
			t.Errorf("%s: %d %s; want 401 unauthorized", name, resp.Status, resp.Body)
		}
	}

	// A token for one user cannot check out, or read orders, as another.
	bob := st.Login(t, "bob")
	if resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/checkout", bob, body); resp.Status != http.StatusForbidden {
		t.Errorf("bob checking out as ann: %d %s; want 403", resp.Status, resp.Body)
	}
	ann := st.Login(t, "ann")
	created := st.Checkout(t, ann, "ann")
	var order struct {
		ID string `json:"order_id"`
	}
	created.JSON(t, &order)
	if resp := testenv.Do(t, http.MethodGet, st.GatewayURL+"/api/orders/"+order.ID, ann, nil); resp.Status != http.StatusOK {
		t.Errorf("ann reading her order: %d %s; want 200", resp.Status, resp.Body)
	}
	if resp := testenv.Do(t, http.MethodGet, st.GatewayURL+"/api/orders/"+order.ID, bob, nil); resp.Status != http.StatusNotFound {
		t.Errorf("bob reading ann's order: %d %s; want 404", resp.Status, resp.Body)
	}
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	const limit = 3
	st := testenv.StartStack(t, testenv.Options{ConfigureGateway: func(c *gateway.Config) {
		c.RateLimit = limit
		c.RateWindow = time.Minute
	}})
	login := map[string]string{"user": "ann", "password": "secret"}
	for i := range limit {
		if resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/login", nil, login); resp.Status != http.StatusOK {
			t.Fatalf("request %d of %d: %d %s; want 200", i+1, limit, resp.Status, resp.Body)
		}
	}
	resp := testenv.Do(t, http.MethodPost, st.GatewayURL+"/api/login", nil, login)
	if resp.Status != http.StatusTooManyRequests {
		t.Fatalf("request over the limit: %d %s; want 429", resp.Status, resp.Body)
	}
	if apiErr := resp.APIError(t); apiErr.Code != "rate_limited" {
		t.Errorf("429 error code %q, want rate_limited", apiErr.Code)
	}
	retryAfter, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || retryAfter < 1 || retryAfter > 60 {
		t.Errorf("Retry-After %q; want seconds until the window frees up (1..60)", resp.Header.Get("Retry-After"))
	}
	// Probes are not rate limited: a limited client must not look down.
	if resp := testenv.Do(t, http.MethodGet, st.GatewayURL+"/healthz", nil, nil); resp.Status != http.StatusOK {
		t.Errorf("/healthz while rate limited: %d, want 200", resp.Status)
	}
}

func TestReadinessFollowsDependencies(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	if resp := testenv.Do(t, http.MethodGet, st.GatewayURL+"/readyz", nil, nil); resp.Status != http.StatusOK {
		t.Fatalf("/readyz with auth and order up: %d %s", resp.Status, resp.Body)
	}

	// A gateway pointed at an auth that is not there is alive but not ready.
	dead := testenv.Listen(t)
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	ln := testenv.Listen(t)
	cfg := gateway.DefaultConfig()
	cfg.Listen, cfg.OTLPEndpoint = ln.Addr().String(), ""
	cfg.AuthURLs, cfg.OrderURLs = []string{deadURL}, []string{st.OrderURL}
	gw, err := gateway.New(cfg, testenv.NewTelemetry(t, cfg.TelemetryConfig(gateway.Name)))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, gw, ln)
	url := "http://" + ln.Addr().String()
	if resp := testenv.Do(t, http.MethodGet, url+"/healthz", nil, nil); resp.Status != http.StatusOK {
		t.Errorf("/healthz: %d, want 200", resp.Status)
	}
	resp := testenv.Do(t, http.MethodGet, url+"/readyz", nil, nil)
	if resp.Status != http.StatusServiceUnavailable || !strings.Contains(string(resp.Body), "auth") {
		t.Errorf("/readyz with auth down: %d %s; want 503 naming auth", resp.Status, resp.Body)
	}
	login := testenv.Do(t, http.MethodPost, url+"/api/login", nil, map[string]string{"user": "ann", "password": "x"})
	if login.Status != http.StatusBadGateway || login.APIError(t).Code != "upstream_unreachable" {
		t.Errorf("login with auth down: %d %s; want 502 upstream_unreachable", login.Status, login.Body)
	}
	gw.Health().StartDraining()
	if resp := testenv.Do(t, http.MethodGet, url+"/readyz", nil, nil); resp.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: %d, want 503", resp.Status)
	}
}

func TestUnknownRouteIsAJSON404(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	resp := testenv.Do(t, http.MethodGet, st.GatewayURL+"/api/nope", nil, nil)
	if resp.Status != http.StatusNotFound || resp.APIError(t).Code != "not_found" {
		t.Errorf("unknown route: %d %s; want a JSON 404", resp.Status, resp.Body)
	}
}
