package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/internal/golden"
	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/writer"
	"github.com/tracehouse/tracehouse/web"
)

func TestMain(m *testing.M) { chtest.Main(m) }

type env struct {
	app  *fiber.App
	svc  *query.Service
	conn driver.Conn
	db   string
}

func newEnv(t testing.TB, db string, conn driver.Conn, qopts query.Options, opts Options) *env {
	return newEnvLimits(t, db, conn, qopts, reader.Limits{}, opts)
}

func newEnvLimits(t testing.TB, db string, conn driver.Conn, qopts query.Options, limits reader.Limits, opts Options) *env {
	t.Helper()
	if qopts.Now == nil {
		qopts.Now = func() time.Time { return seed.Now }
	}
	store, err := reader.New(conn, reader.Options{Database: db, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	if qopts.Views == nil {
		views, err := writer.NewViews(conn, db)
		if err != nil {
			t.Fatal(err)
		}
		qopts.Views = views
	}
	svc := query.New(store, qopts)
	opts.Logger = zerolog.Nop()
	return &env{app: NewApp(svc, opts), svc: svc, conn: conn, db: db}
}

func seeded(t testing.TB) *env {
	db, conn := seed.Load(t)
	return newEnv(t, db, conn, query.Options{}, Options{})
}

func (e *env) get(t testing.TB, target string, header ...string) (*http.Response, []byte) {
	t.Helper()
	return e.do(t, http.MethodGet, target, header...)
}

// do sends a request as a client of the service on this machine would
// (Host 127.0.0.1:8080, unless a "Host" header says otherwise).
func (e *env) do(t testing.TB, method, target string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "127.0.0.1:8080"
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.app.Test(req, 30_000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func us(t time.Time) string  { return fmt.Sprint(t.UnixMicro()) }
func ms(t time.Time) string  { return fmt.Sprint(t.UnixMilli()) }
func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

var (
	start = seed.Base.Add(-time.Minute)
	end   = seed.Base.Add(5 * time.Minute)
)

func q(values ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(values); i += 2 {
		v.Add(values[i], values[i+1])
	}
	return v.Encode()
}

// snapshot is what a golden file holds: status, the headers that matter
// and the body (JSON decoded, so the file is indented and keys sorted;
// NDJSON and SSE as their lines).
type snapshot struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    any               `json:"body"`
}

func snapshotOf(t *testing.T, resp *http.Response, body []byte) []byte {
	t.Helper()
	s := snapshot{Status: resp.StatusCode, Headers: map[string]string{}}
	for _, h := range []string{"Content-Type", "Retry-After", "Www-Authenticate"} {
		if v := resp.Header.Get(h); v != "" {
			s.Headers[h] = v
		}
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		if err := json.Unmarshal(body, &s.Body); err != nil {
			t.Fatalf("response is not JSON: %v\n%s", err, body)
		}
	case strings.HasPrefix(ct, "application/x-ndjson"):
		var lines []any
		for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
			var v any
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				t.Fatalf("NDJSON line is not JSON: %v\n%s", err, l)
			}
			lines = append(lines, v)
		}
		s.Body = lines
	default:
		s.Body = strings.Split(string(body), "\n")
	}
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// TestEndpointSnapshots calls every endpoint on the seeded data and
// compares status and body with testdata/<name>.json.
func TestEndpointSnapshots(t *testing.T) {
	e := seeded(t)
	ok, failed, health := seed.TraceOK.String(), seed.TraceFailed.String(), seed.TraceHealth.String()
	cases := []struct {
		name, target string
		header       []string
	}{
		{"healthz", "/healthz", nil},
		{"readyz", "/readyz", nil},
		{"jaeger_services", "/api/services", nil},
		{"jaeger_service_operations", "/api/services/order/operations", nil},
		{"jaeger_service_operations_kind", "/api/services/order/operations?spanKind=client", nil},
		{"jaeger_operations", "/api/operations?service=order", nil},
		{"jaeger_operations_kind", "/api/operations?" + q("service", "order", "spanKind", "server"), nil},
		{"jaeger_operations_no_service", "/api/operations", nil},
		{"jaeger_search", "/api/traces?" + q("service", "payment", "start", us(start), "end", us(end), "limit", "20", "lookback", "custom"), nil},
		{"jaeger_search_tags", "/api/traces?" + q("service", "payment", "tags", `{"http.response.status_code":"402","card.brand":"visa"}`, "start", us(start), "end", us(end)), nil},
		{"jaeger_search_error_tag", "/api/traces?" + q("service", "gateway", "tags", `{"error":"true"}`, "start", us(start), "end", us(end)), nil},
		{"jaeger_search_duration", "/api/traces?" + q("service", "gateway", "operation", "POST /checkout", "minDuration", "150ms", "start", us(start), "end", us(end)), nil},
		{"jaeger_search_lookback", "/api/traces?" + q("service", "auth", "lookback", "2h"), nil},
		{"jaeger_search_bad_tags", "/api/traces?" + q("service", "payment", "tags", `{"a":`), nil},
		{"jaeger_search_no_service", "/api/traces", nil},
		{"jaeger_trace", "/api/traces/" + ok, nil},
		{"jaeger_trace_64bit", "/api/traces/a3ce929d0e0e4738", nil},
		{"jaeger_trace_missing", "/api/traces/" + seed.TraceMissing.String(), nil},
		{"jaeger_trace_bad_id", "/api/traces/not-hex", nil},
		{"jaeger_traces_by_id", "/api/traces?" + q("traceID", health, "traceID", seed.TraceMissing.String()), nil},
		{"jaeger_dependencies", "/api/dependencies?" + q("endTs", ms(end), "lookback", fmt.Sprint((10*time.Minute).Milliseconds())), nil},
		{"v1_request_path", "/api/v1/traces/" + failed, nil},
		{"v1_request_path_missing", "/api/v1/traces/" + seed.TraceMissing.String(), nil},
		{"v1_compare", "/api/v1/traces/compare?" + q("a", ok, "b", failed), nil},
		{"v1_compare_missing_param", "/api/v1/traces/compare?a=" + ok, nil},
		{"v1_logs", "/api/v1/logs?" + q("q", "service:payment", "start", rfc(start), "end", rfc(end), "limit", "3"), nil},
		{"v1_logs_histogram", "/api/v1/logs?" + q("q", `level>=warn "card declined"`, "start", rfc(seed.Base), "end", rfc(seed.Base.Add(5*time.Minute)), "histogram", "1"), nil},
		{"v1_logs_bad_query", "/api/v1/logs?" + q("q", `service:payment (level:error OR`, "start", rfc(start), "end", rfc(end)), nil},
		{"v1_logs_bad_time", "/api/v1/logs?" + q("start", "yesterday"), nil},
		{"v1_logs_ndjson", "/api/v1/logs?" + q("q", "trace_id:"+ok, "start", rfc(start), "end", rfc(end), "limit", "3"), []string{"Accept", "application/x-ndjson"}},
		{"v1_logs_tail", "/api/v1/logs/tail?" + q("q", "service:order", "start", rfc(seed.Base.Add(time.Minute)), "limit", "2"), nil},
		{"v1_logs_tail_bad_query", "/api/v1/logs/tail?" + q("q", `"unclosed`), nil},
		{"v1_servicemap", "/api/v1/servicemap?" + q("start", rfc(start), "end", rfc(end)), nil},
		{"v1_red", "/api/v1/metrics/red?" + q("service", "payment", "start", rfc(seed.Base), "end", rfc(seed.Base.Add(3*time.Minute)), "step", "60"), nil},
		{"v1_red_operation", "/api/v1/metrics/red?" + q("service", "order", "operation", "POST payment/charge", "start", rfc(seed.Base), "end", rfc(seed.Base.Add(2*time.Minute)), "step", "2m"), nil},
		{"v1_red_bad_step", "/api/v1/metrics/red?" + q("service", "payment", "step", "90s"), nil},
		{"v1_log_patterns", "/api/v1/logs/patterns?" + q("q", "service:payment OR service:order", "start", rfc(start), "end", rfc(end), "limit", "4"), nil},
		{"v1_log_patterns_bad_query", "/api/v1/logs/patterns?" + q("q", `pattern:"a <…> b"`, "start", rfc(start), "end", rfc(end)), nil},
		{"v1_log_patterns_bad_sample", "/api/v1/logs/patterns?" + q("sample", "5"), nil},
		{"v1_operations", "/api/v1/operations?" + q("service", "order"), nil},
		{"v1_operations_no_service", "/api/v1/operations", nil},
		{"v1_attributes", "/api/v1/attributes?" + q("start", rfc(start), "end", rfc(end), "limit", "8"), nil},
		{"v1_attributes_log_prefix", "/api/v1/attributes?" + q("signal", "log", "service", "payment", "prefix", "http", "start", rfc(start), "end", rfc(end)), nil},
		{"v1_attribute_values", "/api/v1/attributes/values?" + q("key", "http.response.status_code", "start", rfc(start), "end", rfc(end)), nil},
		{"v1_attribute_values_field_prefix", "/api/v1/attributes/values?" + q("signal", "log", "scope", "field", "key", "level", "prefix", "w", "start", rfc(start), "end", rfc(end)), nil},
		{"v1_attribute_values_no_key", "/api/v1/attributes/values?" + q("start", rfc(start), "end", rfc(end)), nil},
		{"v1_attributes_bad_signal", "/api/v1/attributes?" + q("signal", "metric"), nil},
		{"v1_attributes_bad_scope", "/api/v1/attributes?" + q("scope", "span"), nil},
		{"v1_attributes_bad_limit", "/api/v1/attributes?" + q("limit", "100000"), nil},
		// The seed's resources carry no service.instance.id: every span is
		// in the instance "", whose series is the service's.
		{"v1_red_instance", "/api/v1/metrics/red?" + q("service", "payment", "instance", "", "start", rfc(seed.Base), "end", rfc(seed.Base.Add(3*time.Minute)), "step", "60"), nil},
		{"v1_red_unknown_instance", "/api/v1/metrics/red?" + q("service", "payment", "instance", "payment-9", "start", rfc(seed.Base), "end", rfc(seed.Base.Add(3*time.Minute)), "step", "60"), nil},
		{"v1_instances", "/api/v1/metrics/instances?" + q("service", "payment", "start", rfc(start), "end", rfc(end)), nil},
		{"v1_instances_no_service", "/api/v1/metrics/instances", nil},
		{"v1_instances_bad_kind", "/api/v1/metrics/instances?" + q("service", "payment", "spanKind", "sideways"), nil},
		{"jaeger_search_instance", "/api/traces?" + q("service", "payment", "instance", "payment-9", "start", us(start), "end", us(end)), nil},
		{"unknown_api_route", "/api/nope", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.get(t, c.target, c.header...)
			golden.Check(t, c.name+".json", string(snapshotOf(t, resp, body)))
		})
	}

	t.Run("v1_logs_next_page", func(t *testing.T) {
		target := "/api/v1/logs?" + q("start", rfc(start), "end", rfc(end), "limit", "5")
		_, body := e.get(t, target)
		var first struct {
			Data struct {
				NextCursor string `json:"nextCursor"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &first); err != nil || first.Data.NextCursor == "" {
			t.Fatalf("first page has no cursor: %v %s", err, body)
		}
		resp, body := e.get(t, target+"&cursor="+url.QueryEscape(first.Data.NextCursor))
		golden.Check(t, "v1_logs_next_page.json", string(snapshotOf(t, resp, body)))
	})
}

func TestMetricsEndpoint(t *testing.T) {
	e := seeded(t)
	e.get(t, "/api/services")
	e.get(t, "/api/traces/zz")
	_, body := e.get(t, "/metrics")
	for _, want := range []string{
		`tracehouse_query_http_requests_total{code="200",method="GET",route="/api/services"} 1`,
		`tracehouse_query_http_requests_total{code="400",method="GET",route="/api/traces/:traceID"} 1`,
		`tracehouse_query_http_request_duration_seconds_bucket{method="GET",route="/api/services",le="+Inf"} 1`,
		"tracehouse_query_clickhouse_queries_in_flight 0",
		"tracehouse_query_clickhouse_query_slots 8",
		"tracehouse_query_clickhouse_queries_rejected_total 0",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestUIAndAuth(t *testing.T) {
	db, conn := seed.Load(t)
	ui := fstest.MapFS{"index.html": {Data: []byte("<html>tracehouse</html>")}, "js/app.js": {Data: []byte("console.log(1)")}}
	e := newEnv(t, db, conn, query.Options{}, Options{UI: ui, AuthToken: "s3cret"})

	for target, want := range map[string]string{"/": "<html>tracehouse</html>", "/js/app.js": "console.log(1)"} {
		resp, body := e.get(t, target)
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("GET %s: %d %q", target, resp.StatusCode, body)
		}
		for k, v := range web.Headers() {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", target, k, got, v)
			}
		}
	}
	if resp, _ := e.get(t, "/nope.js"); resp.StatusCode != 404 {
		t.Errorf("a file the UI does not have: %d", resp.StatusCode)
	}
	resp, body := e.get(t, "/api/services")
	golden.Check(t, "auth_missing.json", string(snapshotOf(t, resp, body)))
	if resp, _ := e.get(t, "/api/services", "Authorization", "Bearer wrong"); resp.StatusCode != 401 {
		t.Errorf("wrong token: %d", resp.StatusCode)
	}
	if resp, _ := e.get(t, "/api/services", "Authorization", "Bearer s3cret"); resp.StatusCode != 200 {
		t.Errorf("right token: %d", resp.StatusCode)
	}
	if resp, _ := e.get(t, "/api/v1/logs/tail?limit=1&access_token=s3cret&start="+rfc(seed.Base)); resp.StatusCode != 200 {
		t.Errorf("token as a query parameter (EventSource): %d", resp.StatusCode)
	}
	if resp, _ := e.get(t, "/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz needs no token: %d", resp.StatusCode)
	}
}

// TestServesTheWebUI serves the real UI: every kind of file with its type
// and with the headers the UI is written for.
func TestServesTheWebUI(t *testing.T) {
	db := chtest.NewDatabase(t)
	e := newEnv(t, db, chtest.ConnTo(t, db), query.Options{}, Options{UI: web.FS})
	for p, want := range map[string]string{
		"/":                  "text/html",
		"/js/app.js":         "text/javascript",
		"/css/app.css":       "text/css",
		"/favicon.svg":       "image/svg+xml",
		"/js/pages/trace.js": "text/javascript",
	} {
		resp, _ := e.get(t, p)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %s", p, resp.Status)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: Content-Type %q, want %s", p, ct, want)
		}
		for k, v := range web.Headers() {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("GET %s: %s %q, want %q", p, k, got, v)
			}
		}
	}
}

// TestBusy fills the one query slot, so the next request waits for the
// queue timeout and gets 429 with Retry-After.
func TestBusy(t *testing.T) {
	db, conn := seed.Load(t)
	lim := query.NewLimiter(1, time.Millisecond)
	e := newEnv(t, db, conn, query.Options{Limiter: lim}, Options{})
	release, err := lim.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.get(t, "/api/services")
	golden.Check(t, "busy.json", string(snapshotOf(t, resp, body)))
	release()
	if resp, _ := e.get(t, "/api/services"); resp.StatusCode != 200 {
		t.Errorf("after the slot is free: %d", resp.StatusCode)
	}
}

// TestQueryTimeout runs a query that cannot finish within a 1 ms
// max_execution_time: 504 with a message that says what to do.
func TestQueryTimeout(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	if err := seed.WriteManyLogs(context.Background(), conn, db, 200_000); err != nil {
		t.Fatal(err)
	}
	e := newEnvLimits(t, db, conn, query.Options{}, reader.Limits{MaxExecutionTime: time.Millisecond}, Options{})
	resp, body := e.get(t, "/api/v1/logs?"+q("q", "attr.n>=0 -attr.n:7", "start", rfc(seed.Base), "end", rfc(seed.Base.Add(24*time.Hour))))
	golden.Check(t, "timeout.json", string(snapshotOf(t, resp, body)))
}

// TestInjection sends SQL-looking input everywhere a user value goes: each
// request either finds exactly the rows whose data holds that text, or is
// refused with 400; the tables are intact afterwards.
func TestInjection(t *testing.T) {
	e := seeded(t)
	wr := q("start", rfc(start), "end", rfc(end))
	cases := []struct {
		target string
		status int
		rows   int // logs or traces found
	}{
		{"/api/v1/logs?" + wr + "&" + q("q", `"'; DROP TABLE logs; --"`), 200, 1},
		{"/api/v1/logs?" + wr + "&" + q("q", `service:"payment' OR '1'='1"`), 200, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `attr.note:"x') OR 1=1 --"`), 200, 1},
		{"/api/v1/logs?" + wr + "&" + q("q", `"x" FORMAT JSON`), 200, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `declined SETTINGS max_execution_time=1000`), 400, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `declined SETTINGS`), 200, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `/* comment */ declined`), 400, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `"/* comment */" declined`), 200, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `declined --`), 400, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `declined; SELECT 1`), 200, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `service:payment) OR (1=1`), 400, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", "refusé \u202e\u0000"), 200, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", "refusé"), 200, 1},
		{"/api/v1/logs?" + wr + "&" + q("q", `attr.{q0:String}:x`), 200, 0},
		{"/api/v1/logs?" + wr + "&" + q("q", `service:{q0:String}`), 200, 0},
		{"/api/v1/logs?" + q("start", "1' OR 1=1", "end", rfc(end)), 400, 0},
		{"/api/v1/logs?" + wr + "&" + q("cursor", "' OR 1=1 --"), 400, 0},
		{"/api/traces?" + q("service", "payment' OR 1=1 --", "start", us(start), "end", us(end)), 200, 0},
		{"/api/traces?" + q("service", "payment", "tags", `{"card.brand') OR 1=1 --":"visa"}`, "start", us(start), "end", us(end)), 200, 0},
		{"/api/traces?" + q("service", "payment", "tags", `{"card.brand":"visa' OR '1'='1"}`, "start", us(start), "end", us(end)), 200, 0},
		{"/api/traces?" + q("service", "payment", "tags", `{"card.brand":"visa"}`, "start", us(start), "end", us(end)), 200, 2},
		{"/api/traces?" + q("service", "payment", "tag", "card.brand:visa FORMAT TSV", "start", us(start), "end", us(end)), 200, 0},
		{"/api/traces?" + q("service", "payment", "limit", "1; DROP TABLE spans"), 400, 0},
		{"/api/traces/" + url.PathEscape("4bf92f35' OR 1=1 --"), 400, 0},
		{"/api/operations?" + q("service", "order' UNION SELECT name FROM system.tables --"), 200, 0},
		{"/api/v1/metrics/red?" + q("service", "payment", "operation", "x' OR 1=1 --", "start", rfc(seed.Base), "end", rfc(end)), 200, 0},
	}
	for _, c := range cases {
		resp, body := e.get(t, c.target)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.target, resp.StatusCode, c.status, body)
			continue
		}
		if c.status != 200 {
			continue
		}
		if n := countRows(t, body); n != c.rows {
			t.Errorf("%s: %d rows, want %d: %s", c.target, n, c.rows, body)
		}
	}
	// Nothing was dropped or changed.
	_, body := e.get(t, "/api/v1/logs?"+wr+"&limit=1000")
	if n := countRows(t, body); n != seed.Logs().LogRecordCount() {
		t.Errorf("after the attempts %d log records remain, want %d", n, seed.Logs().LogRecordCount())
	}
	for _, id := range []string{seed.TraceOK.String(), seed.TraceFailed.String()} {
		if resp, _ := e.get(t, "/api/traces/"+id); resp.StatusCode != 200 {
			t.Errorf("trace %s after the attempts: %d", id, resp.StatusCode)
		}
	}
}

// countRows counts the records of a log page, the traces of a search, the
// operations or the points with calls of a series.
func countRows(t *testing.T, body []byte) int {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("not an envelope: %s", body)
	}
	var logs struct {
		Logs   []any `json:"logs"`
		Points []struct {
			Calls int `json:"calls"`
		} `json:"points"`
	}
	if json.Unmarshal(env.Data, &logs) == nil {
		if logs.Points != nil {
			n := 0
			for _, p := range logs.Points {
				n += p.Calls
			}
			return n
		}
		return len(logs.Logs)
	}
	var list []any
	if err := json.Unmarshal(env.Data, &list); err != nil {
		t.Fatalf("data is neither a log page nor a list: %s", body)
	}
	return len(list)
}

// TestServe runs the app on a real listener and stops it with the context.
func TestServe(t *testing.T) {
	db, conn := seed.Load(t)
	ctx, cancel := context.WithCancel(context.Background())
	svc := newEnv(t, db, conn, query.Options{}, Options{}).svc
	app := NewApp(svc, Options{Context: ctx, Logger: zerolog.Nop()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, app, ln, zerolog.Nop()) }()
	base := "http://" + ln.Addr().String()

	resp, err := http.Get(base + "/api/services")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /api/services: %d", resp.StatusCode)
	}
	// A live tail stays open until the server stops.
	resp, err = http.Get(base + "/api/v1/logs/tail?" + q("q", "service:auth", "start", rfc(seed.Base)))
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(resp.Body)
	line, err := r.ReadString('\n')
	if err != nil || line != "event: log\n" {
		t.Fatalf("first tail line %q, %v", line, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeListener: %v", err)
	}
	rest, _ := io.ReadAll(r)
	resp.Body.Close()
	if !strings.Contains(string(rest), "event: end") {
		t.Errorf("the tail did not end cleanly at shutdown: %q", rest)
	}
}

// TestStoreUnreachable: with ClickHouse gone (its port closed, as while an
// engine restarts), a query is answered 503 with Retry-After, not 500.
func TestStoreUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conn, _, err := storage.OpenConn("http://tracehouse:x@" + addr + "/default")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	e := newEnv(t, "default", conn, query.Options{}, Options{})
	for _, path := range []string{"/api/services", "/api/v1/logs?q=level:error"} {
		resp, body := e.get(t, path)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "unavailable") {
			t.Errorf("GET %s: %d Retry-After %q %s, want 503 with Retry-After saying the store is unavailable", path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
}
