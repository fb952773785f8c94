package payment_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"testing"

	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
	"github.com/tracehouse/tracehouse/sample-services/payment"
)

// startPayment runs payment alone, without injected latency.
func startPayment(t *testing.T) (*payment.Service, string) {
	t.Helper()
	ln := testenv.Listen(t)
	cfg := payment.DefaultConfig()
	cfg.Listen = ln.Addr().String()
	cfg.OTLPEndpoint = ""
	cfg.Faults.Latency = faults.Latency{}
	svc, err := payment.New(cfg, testenv.NewTelemetry(t, cfg.TelemetryConfig(payment.Name)))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Serve(t, svc, ln)
	return svc, "http://" + ln.Addr().String()
}

func charge(t *testing.T, url, key string, amount int64, card string) testenv.Response {
	t.Helper()
	header := map[string]string{}
	if key != "" {
		header[payment.IdempotencyKeyHeader] = key
	}
	return testenv.Do(t, http.MethodPost, url+"/v1/charges", header, payment.ChargeRequest{
		OrderID: "ord_1", AmountCents: amount, Currency: "USD", Card: card,
	})
}

func TestSameIdempotencyKeyReturnsTheSameCharge(t *testing.T) {
	svc, url := startPayment(t)

	first := charge(t, url, "key-1", 1500, cards.Approved)
	second := charge(t, url, "key-1", 1500, cards.Approved)
	if first.Status != http.StatusCreated || second.Status != http.StatusCreated {
		t.Fatalf("charges: %d %s / %d %s; want 201 twice", first.Status, first.Body, second.Status, second.Body)
	}
	var a, b payment.Charge
	first.JSON(t, &a)
	second.JSON(t, &b)
	if a.ID == "" || a != b {
		t.Errorf("same key gave different results:\n%+v\n%+v", a, b)
	}
	if first.Header.Get(payment.ReplayedHeader) != "" || second.Header.Get(payment.ReplayedHeader) != "true" {
		t.Errorf("%s headers: first %q second %q; want only the second marked", payment.ReplayedHeader,
			first.Header.Get(payment.ReplayedHeader), second.Header.Get(payment.ReplayedHeader))
	}
	if n := svc.ChargesProcessed(); n != 1 {
		t.Errorf("processed %d charges for one key, want 1", n)
	}

	other := charge(t, url, "key-2", 1500, cards.Approved)
	var c payment.Charge
	other.JSON(t, &c)
	if c.ID == a.ID || svc.ChargesProcessed() != 2 {
		t.Errorf("a new key should be a new charge: ids %s/%s, processed %d", a.ID, c.ID, svc.ChargesProcessed())
	}

	lookup := testenv.Do(t, http.MethodGet, url+"/v1/charges/"+a.ID, nil, nil)
	var stored payment.Charge
	lookup.JSON(t, &stored)
	if lookup.Status != http.StatusOK || stored != a {
		t.Errorf("GET charge: %d %+v, want %+v", lookup.Status, stored, a)
	}
}

func TestSameIdempotencyKeyReplaysADecline(t *testing.T) {
	svc, url := startPayment(t)
	first := charge(t, url, "key-d", 700, cards.AlwaysDeclined)
	second := charge(t, url, "key-d", 700, cards.AlwaysDeclined)
	if first.Status != http.StatusPaymentRequired || second.Status != http.StatusPaymentRequired {
		t.Fatalf("declines: %d / %d; want 402 twice", first.Status, second.Status)
	}
	e1, e2 := first.APIError(t), second.APIError(t)
	if e1.Code != payment.CodeCardDeclined || e1.Message != "card declined" {
		t.Errorf("decline error = %+v; want card_declined / card declined", e1)
	}
	if e1.Details["charge_id"] == "" || e1.Details["charge_id"] != e2.Details["charge_id"] {
		t.Errorf("declines carry charge ids %q and %q; want the same one", e1.Details["charge_id"], e2.Details["charge_id"])
	}
	if n := svc.ChargesProcessed(); n != 1 {
		t.Errorf("processed %d charges, want 1", n)
	}
}

func TestConcurrentRetriesWithOneKeyChargeOnce(t *testing.T) {
	svc, url := startPayment(t)
	const callers = 8
	body, _ := json.Marshal(payment.ChargeRequest{OrderID: "ord_1", AmountCents: 900, Currency: "USD", Card: cards.Approved})
	ids := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		// Plain net/http: t.Fatal must not be called off the test goroutine.
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, url+"/v1/charges", bytes.NewReader(body))
			req.Header.Set(payment.IdempotencyKeyHeader, "key-race")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			var c payment.Charge
			errs[i] = json.NewDecoder(resp.Body).Decode(&c)
			ids[i] = c.ID
		})
	}
	wg.Wait()
	for i, id := range ids {
		if errs[i] != nil || id == "" || id != ids[0] {
			t.Fatalf("concurrent charges with one key got ids %v (errors %v); want one id for all", ids, errs)
		}
	}
	if n := svc.ChargesProcessed(); n != 1 {
		t.Errorf("processed %d charges, want 1", n)
	}
}

func TestReusedKeyForADifferentChargeIsRefused(t *testing.T) {
	_, url := startPayment(t)
	charge(t, url, "key-x", 100, cards.Approved)
	resp := charge(t, url, "key-x", 999, cards.Approved)
	if resp.Status != http.StatusUnprocessableEntity || resp.APIError(t).Code != payment.CodeIdempotencyMismatch {
		t.Fatalf("reused key with another amount: %d %s; want 422 %s", resp.Status, resp.Body, payment.CodeIdempotencyMismatch)
	}
}

func TestChargeInputIsValidated(t *testing.T) {
	_, url := startPayment(t)
	for _, tc := range []struct {
		name, key string
		amount    int64
		card      string
		field     string
	}{
		{name: "no idempotency key", amount: 100, card: cards.Approved, field: payment.IdempotencyKeyHeader},
		{name: "zero amount", key: "k1", amount: 0, card: cards.Approved, field: "amount_cents"},
		{name: "bad card", key: "k2", amount: 100, card: "1234", field: "card"},
	} {
		resp := charge(t, url, tc.key, tc.amount, tc.card)
		if resp.Status != http.StatusBadRequest || resp.APIError(t).Field != tc.field {
			t.Errorf("%s: %d %s; want 400 naming %s", tc.name, resp.Status, resp.Body, tc.field)
		}
	}
}

func TestOutageAnswers503AndIsNotRemembered(t *testing.T) {
	svc, url := startPayment(t)
	testenv.SetFaults(t, url, map[string]any{"outage": true})
	resp := charge(t, url, "key-o", 100, cards.Approved)
	if resp.Status != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("during outage: %d (Retry-After %q); want 503 with Retry-After", resp.Status, resp.Header.Get("Retry-After"))
	}
	// The outage never processed the charge, so the same key must work
	// once payment is back: that is what order's retries rely on.
	testenv.SetFaults(t, url, map[string]any{"outage": false})
	if resp := charge(t, url, "key-o", 100, cards.Approved); resp.Status != http.StatusCreated {
		t.Fatalf("same key after the outage: %d %s; want 201", resp.Status, resp.Body)
	}
	if n := svc.ChargesProcessed(); n != 1 {
		t.Errorf("processed %d charges, want 1", n)
	}
}

func TestFaultsAdminAPI(t *testing.T) {
	svc, url := startPayment(t)
	testenv.SetFaults(t, url, map[string]any{"error_rate": 0.25, "latency": map[string]string{"p50": "1ms"}})
	got := svc.Faults().Load()
	if got.ErrorRate != 0.25 || got.Latency.P50.D().String() != "1ms" || got.Outage {
		t.Errorf("faults after PUT = %+v", got)
	}
	resp := testenv.Do(t, http.MethodPut, url+"/admin/faults", nil, map[string]any{"error_rate": 2})
	if resp.Status != http.StatusBadRequest || resp.APIError(t).Field != "error_rate" {
		t.Errorf("error_rate 2: %d %s; want 400 naming error_rate", resp.Status, resp.Body)
	}
	resp = testenv.Do(t, http.MethodPut, url+"/admin/faults", nil, map[string]any{"latency": map[string]string{"p99": "soon"}})
	if resp.Status != http.StatusBadRequest || resp.APIError(t).Field != "latency.p99" {
		t.Errorf("latency.p99 \"soon\": %d %s; want 400 naming latency.p99", resp.Status, resp.Body)
	}
	if svc.Faults().Load() != got {
		t.Errorf("rejected PUTs changed the faults")
	}
}
