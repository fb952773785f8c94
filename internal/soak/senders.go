package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// A sender sends numbered items (spans or log records) in requests of
// batch items, a few requests at a time, and sends a request again until it
// is acknowledged: at-least-once delivery, as an OTel SDK does. It records
// exactly which requests were acknowledged and when.
//
// Every item has an id: the sender's index in the top byte, its sequence
// number below, stored as the item's SpanId (big-endian). Request k holds
// items k*batch … (k+1)*batch-1 and one TraceId. Counting stored rows per
// request tells lost (acknowledged, not stored) from duplicates (stored
// more than once).

// idMask keeps the sequence number of an item id.
const idMask = 1<<56 - 1

// attempt is what one try of a request came to.
type attempt int

const (
	acked    attempt = iota // the receiver took the request
	retry                   // told to come back later, or nothing reached the receiver
	noAnswer                // sent, and no answer came back: it may have been taken
	rejected                // refused for good (a bug: the harness sends valid data)
)

// answerLost tells, for a try that failed, whether the request may have
// reached the receiver and been taken without its answer coming back (a
// kill between the queue's write and the answer, a timeout): sending it
// again may store it twice, which no deduplication token can recognise
// (OTLP carries no request id, and the resend is another batch). A
// refused connection, an HTTP status or RESOURCE_EXHAUSTED is a request
// that was not taken.
func answerLost(err error) bool {
	if err == nil || strings.Contains(err.Error(), "connection refused") {
		return false
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.ResourceExhausted {
		return false
	}
	return true
}

type sender struct {
	name    string // signal/transport, e.g. traces/otlp-grpc
	signal  string // traces or logs
	index   uint64 // top byte of every item id
	service string // service.name of every item
	batch   int
	rate    *atomic.Int64 // items per second of every sender; doubled under overload
	nonce   uint64        // high half of every TraceId: this run's
	token   string        // bearer token of the receivers ("": none)
	sdk     bool          // the shop's services: counted in shop.go, not by this type
	post    func(ctx context.Context, k uint64) (attempt, time.Duration, error)

	mu       sync.Mutex
	requests uint64               // requests sent at least once
	ackedAt  map[uint64]time.Time // acknowledged requests
	rejects  map[uint64]string    // requests refused for good, and why
	resent   map[uint64]bool      // requests sent again after a try whose answer was lost
	attempts uint64
	lastErr  string
}

func newSender(name, signal string, index uint64, batch int, rate *atomic.Int64, nonce uint64) *sender {
	return &sender{
		name: name, signal: signal, index: index, batch: batch, rate: rate, nonce: nonce,
		service: "soak-" + strings.ReplaceAll(name, "/", "-"),
		ackedAt: map[uint64]time.Time{}, rejects: map[uint64]string{}, resent: map[uint64]bool{},
	}
}

func (s *sender) itemID(k uint64, i int) uint64 { return s.index<<56 | (k*uint64(s.batch) + uint64(i)) }

func (s *sender) traceID(k uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[:8], s.nonce)
	binary.BigEndian.PutUint64(id[8:], s.index<<56|k)
	return id
}

func spanID(id uint64) pcommon.SpanID {
	var s pcommon.SpanID
	binary.BigEndian.PutUint64(s[:], id)
	return s
}

// run sends requests until stop ends, up to inflight at a time (as an
// agent's exporter with several consumers, or several SDK processes, do:
// a collector answers a request once the batch holding it is on disk),
// finishing the requests in flight until they are acknowledged or giveUp
// ends.
func (s *sender) run(stop, giveUp context.Context, inflight int) {
	slots := make(chan struct{}, max(1, inflight))
	var delivering sync.WaitGroup
	defer delivering.Wait()
	next := time.Now()
	for k := uint64(0); stop.Err() == nil; k++ {
		// Pace: a request of batch items every batch/rate seconds.
		if wait := time.Until(next); wait > 0 {
			select {
			case <-stop.Done():
				return
			case <-time.After(wait):
			}
		}
		next = next.Add(time.Duration(float64(s.batch) / float64(s.rate.Load()) * float64(time.Second)))
		if behind := time.Since(next); behind > 2*time.Second {
			next = time.Now() // after a stall, resume the rate rather than burst
		}
		select {
		case <-stop.Done():
			return
		case slots <- struct{}{}:
		}
		s.mu.Lock()
		s.requests++
		s.mu.Unlock()
		delivering.Go(func() {
			defer func() { <-slots }()
			s.deliver(giveUp, k)
		})
	}
}

// deliver sends request k until it is acknowledged, refused for good, or
// giveUp ends.
func (s *sender) deliver(giveUp context.Context, k uint64) {
	backoff := 100 * time.Millisecond
	for giveUp.Err() == nil {
		ctx, cancel := context.WithTimeout(giveUp, 15*time.Second)
		result, delay, err := s.post(ctx, k)
		cancel()
		s.mu.Lock()
		s.attempts++
		if err != nil {
			s.lastErr = err.Error()
		}
		switch result {
		case acked:
			s.ackedAt[k] = time.Now()
			s.mu.Unlock()
			return
		case rejected:
			s.rejects[k] = fmt.Sprint(err)
			s.mu.Unlock()
			return
		case noAnswer:
			s.resent[k] = true
		}
		s.mu.Unlock()
		if delay <= 0 {
			delay = backoff
			backoff = min(2*backoff, 2*time.Second)
		}
		select {
		case <-giveUp.Done():
		case <-time.After(delay):
		}
	}
}

// lastAcked is the most recently acknowledged request, for the visibility
// probe.
func (s *sender) lastAcked() (k uint64, at time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for r, t := range s.ackedAt {
		if !ok || t.After(at) {
			k, at, ok = r, t, true
		}
	}
	return k, at, ok
}

// traces and logs build request k.

func (s *sender) traces(k uint64) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", s.service)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("tracehouse-soak")
	now := time.Now()
	tid := s.traceID(k)
	for i := 0; i < s.batch; i++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(spanID(s.itemID(k, i)))
		if i > 0 {
			sp.SetParentSpanID(spanID(s.itemID(k, 0)))
		}
		sp.SetName("soak " + strconv.Itoa(i%8))
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(now))
		sp.Attributes().PutInt("soak.request", int64(k))
	}
	return td
}

func (s *sender) logs(k uint64) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", s.service)
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("tracehouse-soak")
	now := pcommon.NewTimestampFromTime(time.Now())
	tid := s.traceID(k)
	for i := 0; i < s.batch; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetTraceID(tid)
		lr.SetSpanID(spanID(s.itemID(k, i)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr(fmt.Sprintf("soak %s request %d item %d", s.name, k, i))
	}
	return ld
}

func (s *sender) jsonLines(k uint64) []byte {
	var b bytes.Buffer
	now := time.Now().UTC().Format(time.RFC3339Nano)
	tid := s.traceID(k)
	for i := 0; i < s.batch; i++ {
		sid := spanID(s.itemID(k, i))
		line, _ := json.Marshal(map[string]any{
			"time": now, "level": "info", "service": s.service,
			"trace_id": hex.EncodeToString(tid[:]), "span_id": hex.EncodeToString(sid[:]),
			"msg": fmt.Sprintf("soak %s request %d item %d", s.name, k, i),
		})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Transports.

// grpcAttempt classifies a gRPC answer: an error that is temporary by its
// code (or no answer at all) is retried after the RetryInfo delay.
func grpcAttempt(err error, rejectedItems int64) (attempt, time.Duration, error) {
	if err == nil {
		if rejectedItems > 0 {
			return rejected, 0, fmt.Errorf("partial success: %d items rejected", rejectedItems)
		}
		return acked, 0, nil
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Canceled, codes.Unknown, codes.Internal:
		var delay time.Duration
		for _, d := range st.Details() {
			if ri, ok := d.(*errdetails.RetryInfo); ok {
				delay = ri.GetRetryDelay().AsDuration()
			}
		}
		if answerLost(err) {
			return noAnswer, delay, err
		}
		return retry, delay, err
	}
	return rejected, 0, err
}

func otlpGRPCTraces(s *sender, conn *grpc.ClientConn) {
	client := ptraceotlp.NewGRPCClient(conn)
	s.post = func(ctx context.Context, k uint64) (attempt, time.Duration, error) {
		res, err := client.Export(s.authorized(ctx), ptraceotlp.NewExportRequestFromTraces(s.traces(k)))
		if err != nil {
			return grpcAttempt(err, 0)
		}
		return grpcAttempt(nil, res.PartialSuccess().RejectedSpans())
	}
}

func otlpGRPCLogs(s *sender, conn *grpc.ClientConn) {
	client := plogotlp.NewGRPCClient(conn)
	s.post = func(ctx context.Context, k uint64) (attempt, time.Duration, error) {
		res, err := client.Export(s.authorized(ctx), plogotlp.NewExportRequestFromLogs(s.logs(k)))
		if err != nil {
			return grpcAttempt(err, 0)
		}
		return grpcAttempt(nil, res.PartialSuccess().RejectedLogRecords())
	}
}

// authorized adds the sender's bearer token to a gRPC call's metadata.
func (s *sender) authorized(ctx context.Context) context.Context {
	if s.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.token)
}

func grpcConn(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// httpAttempt posts body and classifies the answer: 429, 502, 503, 504 or
// no answer are retried (after Retry-After when given); 200 is
// acknowledged once ok accepts the answer's body.
func httpAttempt(ctx context.Context, client *http.Client, url, token, contentType string, body []byte, ok func([]byte) error) (attempt, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return rejected, 0, err
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		if answerLost(err) {
			return noAnswer, 0, err
		}
		return retry, 0, err
	}
	answer, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return noAnswer, 0, err
	}
	switch res.StatusCode {
	case http.StatusOK:
		if err := ok(answer); err != nil {
			return rejected, 0, err
		}
		return acked, 0, nil
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		secs, _ := strconv.Atoi(res.Header.Get("Retry-After"))
		return retry, time.Duration(secs) * time.Second, fmt.Errorf("HTTP %d", res.StatusCode)
	}
	return rejected, 0, fmt.Errorf("HTTP %d: %.200s", res.StatusCode, answer)
}

var httpClient = &http.Client{}

func otlpHTTPTraces(s *sender, addr string) {
	s.post = func(ctx context.Context, k uint64) (attempt, time.Duration, error) {
		body, err := ptraceotlp.NewExportRequestFromTraces(s.traces(k)).MarshalProto()
		if err != nil {
			return rejected, 0, err
		}
		return httpAttempt(ctx, httpClient, "http://"+addr+"/v1/traces", s.token, "application/x-protobuf", body, func(answer []byte) error {
			res := ptraceotlp.NewExportResponse()
			if err := res.UnmarshalProto(answer); err != nil {
				return err
			}
			if n := res.PartialSuccess().RejectedSpans(); n > 0 {
				return fmt.Errorf("partial success: %d spans rejected", n)
			}
			return nil
		})
	}
}

func otlpHTTPLogs(s *sender, addr string) {
	s.post = func(ctx context.Context, k uint64) (attempt, time.Duration, error) {
		body, err := plogotlp.NewExportRequestFromLogs(s.logs(k)).MarshalProto()
		if err != nil {
			return rejected, 0, err
		}
		return httpAttempt(ctx, httpClient, "http://"+addr+"/v1/logs", s.token, "application/x-protobuf", body, func(answer []byte) error {
			res := plogotlp.NewExportResponse()
			if err := res.UnmarshalProto(answer); err != nil {
				return err
			}
			if n := res.PartialSuccess().RejectedLogRecords(); n > 0 {
				return fmt.Errorf("partial success: %d log records rejected", n)
			}
			return nil
		})
	}
}

func jsonlLogs(s *sender, addr string) {
	s.post = func(ctx context.Context, k uint64) (attempt, time.Duration, error) {
		return httpAttempt(ctx, httpClient, "http://"+addr+"/v1/logs/jsonl", s.token, "application/x-ndjson", s.jsonLines(k), func(answer []byte) error {
			var res struct{ Accepted, Rejected int }
			if err := json.Unmarshal(answer, &res); err != nil {
				return err
			}
			if res.Accepted != s.batch || res.Rejected != 0 {
				return fmt.Errorf("accepted %d, rejected %d of %d lines", res.Accepted, res.Rejected, s.batch)
			}
			return nil
		})
	}
}
