package partialsuccessextension

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

type partialSuccess struct {
	component.StartFunc
	component.ShutdownFunc
	log *zap.Logger
}

var (
	_ extensionmiddleware.HTTPServer = (*partialSuccess)(nil)
	_ extensionmiddleware.GRPCServer = (*partialSuccess)(nil)
)

// GetHTTPHandler wraps the receiver's HTTP handler: each request gets a
// context to record rejections into, and its response is held until the
// handler returns, so that an OK answer can carry them. OTLP responses are
// a few bytes; nothing else is served there.
func (x *partialSuccess) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, o := withOutcome(r.Context())
			held := &heldResponse{header: w.Header()}
			next.ServeHTTP(held, r.WithContext(ctx))
			body := held.body.Bytes()
			sig, rejected, message := o.result()
			if rejected > 0 && held.status() == http.StatusOK && held.header.Get("Content-Encoding") == "" {
				if b, err := withPartialSuccess(sig, held.header.Get("Content-Type"), body, rejected, message); err == nil {
					body = b
				} else {
					x.log.Warn("could not add partialSuccess to an OTLP response", zap.Error(err))
				}
			}
			held.header.Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(held.status())
			w.Write(body)
		}), nil
	}, nil
}

// heldResponse keeps what a handler writes. Its headers are the real
// response's (written before the status).
type heldResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(b)
}

func (h *heldResponse) status() int {
	if h.code == 0 {
		return http.StatusOK
	}
	return h.code
}

// withPartialSuccess rewrites an OTLP/HTTP export response (protobuf or
// JSON, by its content type) with rejected items and their reason.
func withPartialSuccess(sig signal, contentType string, body []byte, rejected int64, message string) ([]byte, error) {
	isJSON := strings.HasPrefix(contentType, "application/json")
	switch sig {
	case spans:
		res := ptraceotlp.NewExportResponse()
		return rewriteResponse(res, isJSON, body, func() {
			res.PartialSuccess().SetRejectedSpans(rejected)
			res.PartialSuccess().SetErrorMessage(message)
		})
	case logRecords:
		res := plogotlp.NewExportResponse()
		return rewriteResponse(res, isJSON, body, func() {
			res.PartialSuccess().SetRejectedLogRecords(rejected)
			res.PartialSuccess().SetErrorMessage(message)
		})
	}
	return body, nil
}

// exportResponse is what the traces and logs export responses share.
type exportResponse interface {
	UnmarshalJSON([]byte) error
	UnmarshalProto([]byte) error
	MarshalJSON() ([]byte, error)
	MarshalProto() ([]byte, error)
}

// rewriteResponse decodes body into res in its encoding, applies set to
// it and encodes it again the same way.
func rewriteResponse(res exportResponse, isJSON bool, body []byte, set func()) ([]byte, error) {
	unmarshal, marshal := res.UnmarshalProto, res.MarshalProto
	if isJSON {
		unmarshal, marshal = res.UnmarshalJSON, res.MarshalJSON
	}
	if err := unmarshal(body); err != nil {
		return nil, err
	}
	set()
	return marshal()
}

// GetGRPCServerOptions adds an interceptor doing for gRPC what the HTTP
// handler does.
func (x *partialSuccess) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(x.intercept)}, nil
}

// protoMessage is what the gRPC response of an OTLP export is: pdata's
// own message type, which it keeps internal. An export response with
// partialSuccess, encoded by the public pdata API, is decoded into it.
type protoMessage interface {
	UnmarshalProto([]byte) error
}

func (x *partialSuccess) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, o := withOutcome(ctx)
	resp, err := handler(ctx, req)
	sig, rejected, message := o.result()
	if err != nil || rejected == 0 {
		return resp, err
	}
	msg, ok := resp.(protoMessage)
	if !ok {
		x.log.Warn("could not add partialSuccess to an OTLP gRPC response: unexpected message type (pdata changed?)")
		return resp, err
	}
	b, merr := withPartialSuccess(sig, "application/x-protobuf", nil, rejected, message)
	if merr == nil {
		merr = msg.UnmarshalProto(b)
	}
	if merr != nil {
		x.log.Warn("could not add partialSuccess to an OTLP gRPC response", zap.Error(merr))
	}
	return resp, err
}
