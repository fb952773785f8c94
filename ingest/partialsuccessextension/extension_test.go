package partialsuccessextension

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func TestLifecycle(t *testing.T) {
	f := NewFactory()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown without Start: %v", err)
	}
	if err := ext.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	if err := ext.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// serve runs handler behind the extension's HTTP middleware.
func serve(t *testing.T, handler http.HandlerFunc) (int, string, string) {
	t.Helper()
	f := NewFactory()
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), f.CreateDefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	wrap, err := ext.(*partialSuccess).GetHTTPHandler(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h, err := wrap(context.Background(), handler)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/traces", strings.NewReader("{}")))
	body, _ := io.ReadAll(rec.Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(body)
}

// okResponse answers as otlpreceiver does, after the pipeline ran.
func okResponse(pipeline func(context.Context)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pipeline(r.Context())
		b, _ := ptraceotlp.NewExportResponse().MarshalJSON()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(b)
	}
}

func TestHTTPResponses(t *testing.T) {
	// Nothing rejected: the response is otlpreceiver's, unchanged.
	empty, _ := ptraceotlp.NewExportResponse().MarshalJSON()
	code, _, body := serve(t, okResponse(func(context.Context) {}))
	if code != http.StatusOK || body != string(empty) {
		t.Errorf("nothing rejected: %d %q, want 200 %s", code, body, empty)
	}

	// Rejected spans: in partialSuccess; two exporters rejecting the same
	// span count it once.
	code, typ, body := serve(t, okResponse(func(ctx context.Context) {
		RejectSpans(ctx, 1, "span start time is after 2262-04-11")
		RejectSpans(ctx, 1, "span start time is after 2262-04-11")
	}))
	res := ptraceotlp.NewExportResponse()
	if err := res.UnmarshalJSON([]byte(body)); err != nil || code != http.StatusOK || typ != "application/json" {
		t.Fatalf("rejected: %d %s %q (%v)", code, typ, body, err)
	}
	if ps := res.PartialSuccess(); ps.RejectedSpans() != 1 || ps.ErrorMessage() != "span start time is after 2262-04-11" {
		t.Errorf("partialSuccess %q, want 1 rejected with the reason", body)
	}

	// An error answer stays as it is.
	code, _, body = serve(t, func(w http.ResponseWriter, r *http.Request) {
		RejectSpans(r.Context(), 1, "x")
		http.Error(w, "queue full", http.StatusTooManyRequests)
	})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "queue full") {
		t.Errorf("error answer: %d %q, want it unchanged", code, body)
	}
}
