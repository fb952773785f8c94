package browserguardextension

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// served sends r through a guard configured by cfg and says whether the
// receiver's handler saw it, checking that a refusal is a 403 saying why.
func served(t *testing.T, cfg *Config, r *http.Request) bool {
	t.Helper()
	wrap, err := newGuard(cfg, zap.NewNop()).GetHTTPHandler(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	reached := false
	h, err := wrap(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached = true }))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if !reached && (rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "allowed")) {
		t.Errorf("refused with %d %q, want 403 saying what is allowed", rec.Code, rec.Body.String())
	}
	return reached
}

func request(host string, header map[string]string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://"+host+"/v1/logs", strings.NewReader("{}"))
	r.Host = host
	for k, v := range header {
		r.Header.Set(k, v)
	}
	return r
}

func TestGuard(t *testing.T) {
	laptop := &Config{CheckHost: true}
	withApp := &Config{CheckHost: true, AllowedOrigins: []string{"https://shop.example.com"}, AllowedHosts: []string{"collector.internal"}}
	gateway := &Config{}
	cases := []struct {
		name   string
		cfg    *Config
		host   string
		header map[string]string
		want   bool
	}{
		{"an SDK on this machine", laptop, "127.0.0.1:4318", nil, true},
		{"an SDK naming localhost", laptop, "localhost:4318", nil, true},
		{"an SDK over IPv6", laptop, "[::1]:4318", nil, true},
		{"a cross-site page", laptop, "127.0.0.1:4318", map[string]string{"Origin": "http://evil.example"}, false},
		{"a cross-site page without Origin", laptop, "127.0.0.1:4318", map[string]string{"Sec-Fetch-Site": "cross-site"}, false},
		{"a DNS-rebinding page", laptop, "rebind.attacker.test:4318", map[string]string{"Origin": "http://rebind.attacker.test:4318"}, false},
		{"a rebinding request without Origin", laptop, "rebind.attacker.test:4318", nil, false},
		{"an allowed browser app", withApp, "127.0.0.1:4318", map[string]string{"Origin": "https://shop.example.com", "Sec-Fetch-Site": "cross-site"}, true},
		{"an allowed origin is matched whole", withApp, "127.0.0.1:4318", map[string]string{"Origin": "https://shop.example.com.evil"}, false},
		{"an allowed host name", withApp, "collector.internal:4318", nil, true},
		{"a gateway's service name", gateway, "tracehouse-collector:4318", nil, true},
		{"a page against a gateway", gateway, "tracehouse-collector:4318", map[string]string{"Origin": "http://evil.example"}, false},
		{"every origin allowed", &Config{AllowedOrigins: []string{"*"}}, "x:1", map[string]string{"Origin": "http://a.example"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := served(t, c.cfg, request(c.host, c.header)); got != c.want {
				t.Errorf("served %v, want %v", got, c.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, bad := range []*Config{
		{AllowedOrigins: []string{"shop.example.com"}},
		{AllowedOrigins: []string{"https://shop.example.com/app"}},
		{AllowedHosts: []string{"collector:4318"}},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	good := &Config{AllowedOrigins: []string{"https://shop.example.com", "http://localhost:3000", "*"}, AllowedHosts: []string{"collector.internal"}}
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
}
