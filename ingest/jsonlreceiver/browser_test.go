package jsonlreceiver

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

const twoLines = `{"msg":"a"}` + "\n" + `{"msg":"b"}`

// A web page can post text/plain, form and multipart bodies (or a body
// without a type) to any address without a CORS preflight: those are
// refused before a line is read, JSON types are accepted.
func TestContentTypes(t *testing.T) {
	sink := new(consumertest.LogsSink)
	url := start(t, sink, nil)
	for _, c := range []struct {
		contentType string
		code        int
	}{
		{"application/x-ndjson", http.StatusOK},
		{"application/jsonl", http.StatusOK},
		{"application/json", http.StatusOK},
		{"application/x-ndjson; charset=utf-8", http.StatusOK},
		{"Application/JSON", http.StatusOK},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"text/plain;charset=UTF-8", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"", http.StatusUnsupportedMediaType},
		{"application/x-protobuf", http.StatusUnsupportedMediaType},
		{"application/json-seq garbage;;", http.StatusUnsupportedMediaType},
	} {
		before := sink.LogRecordCount()
		code, _, resp := post(t, url, []byte(twoLines), map[string]string{"Content-Type": c.contentType})
		if code != c.code {
			t.Errorf("Content-Type %q: %d %+v, want %d", c.contentType, code, resp, c.code)
		}
		stored := sink.LogRecordCount() - before
		if c.code == http.StatusOK && stored != 2 || c.code != http.StatusOK && stored != 0 {
			t.Errorf("Content-Type %q: %d records stored", c.contentType, stored)
		}
		if c.code == http.StatusUnsupportedMediaType {
			for _, name := range AcceptedContentTypes {
				if !strings.Contains(resp.Error, name) {
					t.Errorf("Content-Type %q: answer %q does not name %s", c.contentType, resp.Error, name)
				}
			}
		}
	}
}

// Requests from web pages carry Origin: refused unless cors.allowed_origins
// lists it; a listed origin gets its preflight answered and may post.
func TestOrigins(t *testing.T) {
	sink := new(consumertest.LogsSink)
	open := start(t, sink, nil)
	code, _, resp := post(t, open, []byte(twoLines), map[string]string{"Origin": "https://evil.example"})
	if code != http.StatusForbidden || !strings.Contains(resp.Error, "cors.allowed_origins") {
		t.Errorf("Origin without CORS configured: %d %+v, want 403 naming cors.allowed_origins", code, resp)
	}
	code, _, _ = post(t, open, []byte(twoLines), map[string]string{"Origin": "null"})
	if code != http.StatusForbidden {
		t.Errorf("Origin null (sandboxed page, file://): %d, want 403", code)
	}

	withCORS := start(t, sink, func(c *Config) {
		c.ServerConfig.CORS = configoptional.Some(confighttp.CORSConfig{
			AllowedOrigins: []string{"https://app.example.com", "https://*.shop.example"},
		})
	})
	for origin, want := range map[string]int{
		"https://app.example.com":      http.StatusOK,
		"https://APP.example.com":      http.StatusOK,
		"https://eu.shop.example":      http.StatusOK,
		"https://evil.example":         http.StatusForbidden,
		"https://app.example.com.evil": http.StatusForbidden,
		"http://shop.example":          http.StatusForbidden,
	} {
		code, _, resp := post(t, withCORS, []byte(twoLines), map[string]string{"Origin": origin})
		if code != want {
			t.Errorf("Origin %s: %d %+v, want %d", origin, code, resp, want)
		}
	}
	if sink.LogRecordCount() != 6 {
		t.Errorf("%d records stored, want 6 (three posts from allowed origins)", sink.LogRecordCount())
	}

	preflight := func(origin string) string {
		req, _ := http.NewRequest(http.MethodOptions, withCORS, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get("Access-Control-Allow-Origin")
	}
	if got := preflight("https://app.example.com"); got != "https://app.example.com" {
		t.Errorf("preflight from an allowed origin: Access-Control-Allow-Origin %q", got)
	}
	if got := preflight("https://evil.example"); got != "" {
		t.Errorf("preflight from another origin: Access-Control-Allow-Origin %q, want none", got)
	}
}

// hostWith is a collector host holding extensions.
type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

// auth: with the bearertokenauth extension, as a collector config sets it:
// 401 without the token or with another, nothing stored; the token gets in.
func TestBearerTokenAuth(t *testing.T) {
	authID := component.MustNewIDWithName("bearertokenauth", "ingest")
	factory := bearertokenauthextension.NewFactory()
	extCfg := factory.CreateDefaultConfig().(*bearertokenauthextension.Config)
	extCfg.BearerToken = configopaque.String("s3cret")
	ext, err := factory.Create(context.Background(), extensiontest.NewNopSettings(factory.Type()), extCfg)
	if err != nil {
		t.Fatal(err)
	}
	host := hostWith{authID: ext}
	if err := ext.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ext.Shutdown(context.Background()) })

	sink := new(consumertest.LogsSink)
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.ServerConfig.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: authID}})
	rcv, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(componentType), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Start(context.Background(), host); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rcv.Shutdown(context.Background()) })
	url := "http://" + rcv.(*jsonlReceiver).addr + cfg.Path

	for _, c := range []struct {
		name, authorization string
		code                int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "Bearer guess", http.StatusUnauthorized},
		{"token without the scheme", "s3cret", http.StatusUnauthorized},
		{"right token", "Bearer s3cret", http.StatusOK},
	} {
		header := map[string]string{}
		if c.authorization != "" {
			header["Authorization"] = c.authorization
		}
		before := sink.LogRecordCount()
		code, _, resp := post(t, url, []byte(twoLines), header)
		if code != c.code {
			t.Errorf("%s: %d %+v, want %d", c.name, code, resp, c.code)
		}
		if stored := sink.LogRecordCount() - before; (c.code == http.StatusOK) != (stored == 2) {
			t.Errorf("%s: %d records stored", c.name, stored)
		}
	}
}
