package jsonlreceiver

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tracehouse/tracehouse/ingest/ingesttest"
)

func TestConfig(t *testing.T) {
	if err := componenttest.CheckConfigStruct(createDefaultConfig()); err != nil {
		t.Fatal(err)
	}
	load := func(name string) (*Config, error) {
		cfg := createDefaultConfig().(*Config)
		return cfg, ingesttest.LoadConfig(t, component.MustNewIDWithName(TypeStr, name), cfg)
	}
	def, err := load("")
	if err != nil || def.ServerConfig.NetAddr.Endpoint != DefaultEndpoint || def.Path != DefaultPath || def.ServerConfig.MaxRequestBodySize != DefaultMaxBodySize {
		t.Errorf("defaults: %+v, %v", def, err)
	}
	custom, err := load("custom")
	if err != nil {
		t.Fatal(err)
	}
	if custom.ServerConfig.NetAddr.Endpoint != "0.0.0.0:5000" || custom.Path != "/ingest" || custom.DefaultService != "legacy" ||
		custom.MaxLineSize != 4096 || custom.ServerConfig.MaxRequestBodySize != 1<<20 || custom.RetryAfter != 10*time.Second {
		t.Errorf("custom: %+v", custom)
	}
	if _, err := load("bad"); err == nil || !strings.Contains(err.Error(), "path") || !strings.Contains(err.Error(), "retry_after") {
		t.Errorf("bad config: %v, want errors about path and retry_after", err)
	}
}

// start runs a receiver on a free port in front of next.
func start(t *testing.T, next consumer.Logs, mutate func(*Config)) string {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.ServerConfig.NetAddr.Endpoint = "127.0.0.1:0"
	if mutate != nil {
		mutate(cfg)
	}
	set := receivertest.NewNopSettings(componentType)
	rcv, err := NewFactory().CreateLogs(context.Background(), set, cfg, next)
	if err != nil {
		t.Fatal(err)
	}
	ingesttest.Start(t, rcv)
	return "http://" + rcv.(*jsonlReceiver).addr + cfg.Path
}

func post(t *testing.T, url string, body []byte, header map[string]string) (int, http.Header, response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var resp response
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("status %d, body %q is not the JSON answer: %v", res.StatusCode, raw, err)
	}
	return res.StatusCode, res.Header, resp
}

func TestShutdownWithoutStart(t *testing.T) {
	rcv, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(componentType),
		createDefaultConfig(), consumertest.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := rcv.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// Bad lines are reported by number and reason; their good neighbours are
// stored, grouped by service.
func TestMixedBatch(t *testing.T) {
	sink := new(consumertest.LogsSink)
	url := start(t, sink, nil) + "?service=fallback"
	body := strings.Join([]string{
		`{"level":"info","service":"auth","message":"token issued"}`,
		`not json`,
		``,
		`{"level":"error","message":"no service"}`,
		`[1,2,3]`,
		`{"msg":"auth again","service":"auth"}`,
		`{"unterminated":`,
	}, "\n")
	code, _, resp := post(t, url, []byte(body), nil)
	if code != http.StatusMultiStatus {
		t.Errorf("status %d, want 207", code)
	}
	if resp.Accepted != 3 || resp.Rejected != 3 {
		t.Errorf("answer %+v, want 3 accepted and 3 rejected", resp)
	}
	var lines []int
	for _, e := range resp.Errors {
		lines = append(lines, e.Line)
		if e.Reason == "" {
			t.Errorf("line %d: no reason", e.Line)
		}
	}
	if want := []int{2, 5, 7}; !equalInts(lines, want) {
		t.Errorf("bad lines %v, want %v", lines, want)
	}
	if sink.LogRecordCount() != 3 {
		t.Fatalf("%d records reached the pipeline, want 3", sink.LogRecordCount())
	}
	got := map[string]int{}
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			svc, _ := rl.Resource().Attributes().Get("service.name")
			got[svc.Str()] += rl.ScopeLogs().At(0).LogRecords().Len()
		}
	}
	if got["auth"] != 2 || got["fallback"] != 1 {
		t.Errorf("records per service %v, want auth:2 fallback:1", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGzipAndLimits(t *testing.T) {
	sink := new(consumertest.LogsSink)
	url := start(t, sink, func(c *Config) {
		c.ServerConfig.MaxRequestBodySize = 4096
		c.MaxLineSize = 100
	})

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for range 20 {
		zw.Write([]byte(`{"msg":"compressed"}` + "\n"))
	}
	zw.Close()
	code, _, resp := post(t, url, gz.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	if code != http.StatusOK || resp.Accepted != 20 {
		t.Errorf("gzip body: %d %+v, want 200 with 20 accepted", code, resp)
	}

	long := `{"msg":"` + strings.Repeat("x", 200) + `"}` + "\n" + `{"msg":"short"}`
	code, _, resp = post(t, url, []byte(long), nil)
	if code != http.StatusMultiStatus || resp.Accepted != 1 || len(resp.Errors) != 1 || resp.Errors[0].Line != 1 ||
		!strings.Contains(resp.Errors[0].Reason, "max_line_size") {
		t.Errorf("long line: %d %+v, want 207 with line 1 too long", code, resp)
	}

	before := sink.LogRecordCount()
	huge := bytes.Repeat([]byte(`{"msg":"filler"}`+"\n"), 1000)
	code, _, resp = post(t, url, huge, nil)
	if code != http.StatusRequestEntityTooLarge || resp.Error == "" {
		t.Errorf("body over the limit: %d %+v, want 413", code, resp)
	}
	// A gzip bomb is limited on its decompressed size too.
	gz.Reset()
	zw = gzip.NewWriter(&gz)
	zw.Write(huge)
	zw.Close()
	code, _, _ = post(t, url, gz.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("compressed body over the limit once decompressed: %d, want 413", code)
	}
	if sink.LogRecordCount() != before {
		t.Errorf("%d records stored from bodies over the limit, want none", sink.LogRecordCount()-before)
	}

	code, _, resp = post(t, url, []byte("nope\n[]\n"), nil)
	if code != http.StatusBadRequest || resp.Rejected != 2 {
		t.Errorf("only bad lines: %d %+v, want 400 with 2 rejected", code, resp)
	}

	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", res.StatusCode)
	}
}

// refusing answers every ConsumeLogs with err.
type refusing struct{ err error }

func (r refusing) ConsumeLogs(context.Context, plog.Logs) error { return r.err }
func (refusing) Capabilities() consumer.Capabilities            { return consumer.Capabilities{} }

func TestBackpressure(t *testing.T) {
	exhausted, _ := status.New(codes.ResourceExhausted, "sending queue is full").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(7 * time.Second)})
	for _, c := range []struct {
		name       string
		err        error
		code       int
		retryAfter string
	}{
		{"resource exhausted with a delay", exhausted.Err(), http.StatusTooManyRequests, "7"},
		{"retryable without a delay", errors.New("data refused due to high memory usage"), http.StatusTooManyRequests, "5"},
		{"permanent", consumererror.NewPermanent(errors.New("cannot store")), http.StatusBadRequest, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := start(t, refusing{c.err}, nil)
			code, header, resp := post(t, url, []byte(`{"msg":"a"}`+"\n"+`{"msg":"b"}`), nil)
			if code != c.code || header.Get("Retry-After") != c.retryAfter {
				t.Errorf("%d Retry-After %q, want %d %q", code, header.Get("Retry-After"), c.code, c.retryAfter)
			}
			if resp.Accepted != 0 || resp.Error == "" {
				t.Errorf("answer %+v, want nothing accepted and a reason", resp)
			}
		})
	}
}
