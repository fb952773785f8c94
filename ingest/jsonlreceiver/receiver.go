package jsonlreceiver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// The HTTP contract of POST /v1/logs/jsonl:
//
//	body      newline-delimited JSON objects, plain or compressed
//	          (Content-Encoding gzip, zstd, deflate, snappy); blank lines
//	          are skipped; ?service=NAME names the service of lines that
//	          do not
//	type      Content-Type application/x-ndjson, application/jsonl or
//	          application/json (415 otherwise, and without one)
//	200       every line stored            {"accepted":N,"rejected":0}
//	207       some lines bad, the good     {"accepted":N,"rejected":M,
//	          ones stored                   "errors":[{"line":3,"reason":"…"}]}
//	400       no good line, or the pipeline rejected the records for good
//	401       auth: is configured and the request's credentials are missing
//	          or wrong (confighttp answers it before the handler runs)
//	403       a web page of an origin that cors.allowed_origins does not
//	          list sent the request (its Origin header says so)
//	413       body larger than max_request_body_size: nothing stored
//	415       another Content-Type: nothing stored
//	429       the pipeline is full (queue full, memory limit): nothing
//	          stored; retry the whole request after Retry-After seconds
//
// Every answer is JSON. Line numbers count every line from 1, blank ones
// included.

// AcceptedContentTypes are the media types of a JSON-lines body.
//
// A browser posts text/plain, application/x-www-form-urlencoded and
// multipart/form-data bodies (and bodies without a Content-Type: a Blob,
// sendBeacon) from any page to any address without asking the server
// first (no CORS preflight). Accepting only JSON media types, which a page
// can send elsewhere only after a preflight that this receiver answers
// only for cors.allowed_origins, keeps every web page the operator opens
// from posting log lines to a collector on their machine or network.
var AcceptedContentTypes = []string{"application/x-ndjson", "application/jsonl", "application/json"}

// response is the JSON answer.
type response struct {
	Accepted int         `json:"accepted"`
	Rejected int         `json:"rejected"`
	Errors   []lineError `json:"errors,omitempty"`
	Error    string      `json:"error,omitempty"`
}

type lineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ScopeName is the instrumentation scope of the records this receiver
// creates.
const ScopeName = "github.com/tracehouse/tracehouse/ingest/jsonlreceiver"

type jsonlReceiver struct {
	cfg *Config
	// allowedOrigins are cors.allowed_origins, lower case; nil when CORS
	// is not configured (no web page may post).
	allowedOrigins []string
	set            receiver.Settings
	next           consumer.Logs
	obs            *receiverhelper.ObsReport
	badLines       metric.Int64Counter
	server         *http.Server
	addr           string // the listener's address, once started
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Logs) (*jsonlReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              "http",
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	badLines, err := set.MeterProvider.Meter("github.com/tracehouse/tracehouse/ingest/jsonlreceiver").Int64Counter(
		"tracehouse.jsonl.bad_lines", metric.WithUnit("{line}"),
		metric.WithDescription("Lines that could not be read as a JSON object and were not stored."))
	if err != nil {
		return nil, err
	}
	r := &jsonlReceiver{cfg: cfg, set: set, next: next, obs: obs, badLines: badLines}
	if cors := cfg.ServerConfig.CORS.Get(); cors != nil {
		for _, o := range cors.AllowedOrigins {
			r.allowedOrigins = append(r.allowedOrigins, strings.ToLower(o))
		}
	}
	return r, nil
}

func (r *jsonlReceiver) Start(ctx context.Context, host component.Host) error {
	ln, err := r.cfg.ServerConfig.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("jsonl receiver: listen on %s: %w", r.cfg.ServerConfig.NetAddr.Endpoint, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(r.cfg.Path, r.handle)
	srv, err := r.cfg.ServerConfig.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, mux,
		confighttp.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, msg string, code int) {
			writeResponse(w, code, response{Error: msg})
		}))
	if err != nil {
		ln.Close()
		return err
	}
	r.server = srv
	r.addr = ln.Addr().String()
	r.set.Logger.Info("JSON-lines log endpoint listening", zap.String("url", "http://"+ln.Addr().String()+r.cfg.Path))
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

// Shutdown is safe without Start.
func (r *jsonlReceiver) Shutdown(ctx context.Context) error {
	if r.server == nil {
		return nil
	}
	return r.server.Shutdown(ctx)
}

func (r *jsonlReceiver) handle(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeResponse(w, http.StatusMethodNotAllowed, response{Error: "POST newline-delimited JSON to " + r.cfg.Path})
		return
	}
	// Browsers name the page that sent a request in Origin; other clients
	// send none. confighttp's CORS handler answers preflights but lets a
	// request from any origin through, so the origin is checked here.
	if origin := req.Header.Get("Origin"); origin != "" && !originAllowed(r.allowedOrigins, origin) {
		writeResponse(w, http.StatusForbidden, response{Error: fmt.Sprintf(
			"requests from web pages of origin %q are refused; list the origin in cors.allowed_origins to accept them", origin)})
		return
	}
	if ct := req.Header.Get("Content-Type"); !acceptedContentType(ct) {
		writeResponse(w, http.StatusUnsupportedMediaType, response{Error: fmt.Sprintf(
			"Content-Type %q is not accepted: send newline-delimited JSON as %s", ct, strings.Join(AcceptedContentTypes, ", "))})
		return
	}
	defaultService := req.URL.Query().Get("service")
	if defaultService == "" {
		defaultService = r.cfg.DefaultService
	}
	now := time.Now()
	b := newBatch()
	var resp response
	reader := bufio.NewReaderSize(req.Body, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, tooLong, readErr := readLine(reader, r.cfg.MaxLineSize)
		line = bytes.TrimSpace(line)
		switch {
		case tooLong:
			r.bad(&resp, lineNo, fmt.Sprintf("line longer than max_line_size (%d bytes)", r.cfg.MaxLineSize))
		case len(line) > 0:
			rec := plog.NewLogRecord()
			service, err := parseLine(line, rec, now)
			if err != nil {
				r.bad(&resp, lineNo, err.Error())
				break
			}
			if service == "" {
				service = defaultService
			}
			rec.MoveTo(b.records(service).AppendEmpty())
		}
		if readErr == io.EOF {
			break
		}
		if readErr != nil {
			var tooBig *http.MaxBytesError
			if errors.As(readErr, &tooBig) {
				writeResponse(w, http.StatusRequestEntityTooLarge, response{
					Error: fmt.Sprintf("request body larger than %d bytes (max_request_body_size); nothing was stored: split it", tooBig.Limit)})
				return
			}
			writeResponse(w, http.StatusBadRequest, response{Error: "read request body: " + readErr.Error() + "; nothing was stored"})
			return
		}
	}
	if resp.Rejected > 0 {
		r.badLines.Add(req.Context(), int64(resp.Rejected))
	}
	accepted := b.logs.LogRecordCount()
	if accepted == 0 {
		code := http.StatusOK
		if resp.Rejected > 0 {
			code = http.StatusBadRequest
			resp.Error = "no line could be read"
		}
		writeResponse(w, code, resp)
		return
	}

	ctx := r.obs.StartLogsOp(req.Context())
	err := r.next.ConsumeLogs(ctx, b.logs)
	r.obs.EndLogsOp(ctx, "jsonl", accepted, err)
	switch {
	case err == nil:
		resp.Accepted = accepted
		code := http.StatusOK
		if resp.Rejected > 0 {
			code = http.StatusMultiStatus
		}
		writeResponse(w, code, resp)
	case consumererror.IsPermanent(err):
		resp.Error = "the pipeline rejected the records for good: " + err.Error()
		writeResponse(w, http.StatusBadRequest, resp)
	default:
		delay := retryDelay(err, r.cfg.RetryAfter)
		w.Header().Set("Retry-After", strconv.Itoa(delay))
		resp.Error = fmt.Sprintf("the collector is overloaded (%v); nothing was stored, retry the whole request in %ds", err, delay)
		writeResponse(w, http.StatusTooManyRequests, resp)
	}
}

// acceptedContentType: the media type (parameters such as charset aside)
// is one of AcceptedContentTypes.
func acceptedContentType(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	for _, t := range AcceptedContentTypes {
		if mediaType == t {
			return true
		}
	}
	return false
}

// originAllowed matches origin as confighttp's CORS handler does: an
// entry is an origin, "*" (any), or a pattern with one "*"
// ("https://*.example.com"); case does not matter.
func originAllowed(allowed []string, origin string) bool {
	origin = strings.ToLower(origin)
	for _, a := range allowed {
		if a == "*" || a == origin {
			return true
		}
		if prefix, suffix, ok := strings.Cut(a, "*"); ok && len(origin) >= len(prefix)+len(suffix) &&
			strings.HasPrefix(origin, prefix) && strings.HasSuffix(origin, suffix) {
			return true
		}
	}
	return false
}

func (r *jsonlReceiver) bad(resp *response, line int, reason string) {
	resp.Rejected++
	if len(resp.Errors) < r.cfg.MaxReportedErrors {
		resp.Errors = append(resp.Errors, lineError{Line: line, Reason: reason})
	}
}

// retryDelay is the RetryInfo delay of a gRPC status error (whole seconds,
// at least 1), or def.
func retryDelay(err error, def time.Duration) int {
	d := def
	if st, ok := status.FromError(err); ok {
		for _, detail := range st.Details() {
			if ri, ok := detail.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
				d = ri.GetRetryDelay().AsDuration()
			}
		}
	}
	return max(1, int(math.Ceil(d.Seconds())))
}

// readLine returns the next line without its newline. A line longer than
// max is consumed and reported as tooLong (without its content).
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		// The newline does not count, and the last line of a body has none
		// (counting it as if it had let that line run one byte over max).
		content := len(chunk)
		if content > 0 && chunk[content-1] == '\n' {
			content--
		}
		if !tooLong {
			if len(line)+content > max {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), tooLong, err
	}
}

// batch groups the records of one request by service.
type batch struct {
	logs      plog.Logs
	byService map[string]plog.LogRecordSlice
}

func newBatch() *batch {
	return &batch{logs: plog.NewLogs(), byService: map[string]plog.LogRecordSlice{}}
}

func (b *batch) records(service string) plog.LogRecordSlice {
	if s, ok := b.byService[service]; ok {
		return s
	}
	rl := b.logs.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(ScopeName)
	b.byService[service] = sl.LogRecords()
	return sl.LogRecords()
}

func writeResponse(w http.ResponseWriter, code int, resp response) {
	body, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}
