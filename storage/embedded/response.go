package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/ClickHouse/ch-go/compress"

	"github.com/tracehouse/tracehouse/storage/chdb"
)

// stream sends a result as the engine produces it, so a large result never
// sits in memory whole. The first chunk is read before the status line, so
// an error at the start is still a clean 500. The statement is cancelled
// when ctx (the client's) ends.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, req *request) error {
	var out *responseWriter
	err := s.engine.Stream(ctx, req.sql, req.format, req.params, func(chunk []byte) error {
		if out == nil {
			out = s.newResponseWriter(w, req, -1)
		}
		return out.write(chunk)
	})
	if err != nil && ctx.Err() != nil {
		s.sched.readsCancelled.Add(1)
		s.log.Debug().Str("query_id", req.queryID).Msg("read cancelled: its client went away")
		return err
	}
	if out == nil {
		if err != nil {
			return err
		}
		return s.writeResult(w, req, nil)
	}
	if err != nil {
		out.exception(err)
	}
	return out.close()
}

// writeResult sends a whole result.
func (s *Server) writeResult(w http.ResponseWriter, req *request, data []byte) error {
	out := s.newResponseWriter(w, req, len(data))
	if err := out.write(data); err != nil {
		out.release()
		return err
	}
	return out.close()
}

// responseWriter applies ClickHouse frames and HTTP compression to a result.
type responseWriter struct {
	buf    *bufio.Writer    // the HTTP body
	enc    io.WriteCloser   // HTTP compression into buf, or nil
	frames *compress.Writer // ClickHouse frames, or nil
	sink   io.Writer        // where framed data goes: enc or buf
}

// maxFrame caps the data in one ClickHouse frame.
const maxFrame = 1 << 20

// responseBuffers holds the 64 KiB buffers results are written through,
// so that a small read does not allocate (and clear) one per request: that
// was most of the bytes a SELECT 1 allocated, and the garbage collections
// they caused.
var responseBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// newResponseWriter sends the status line and headers for a result of size
// bytes (-1 when unknown, i.e. streamed). Content-Length is set only when the
// body is sent as it is; an empty result gets neither frames nor encoding.
func (s *Server) newResponseWriter(w http.ResponseWriter, req *request, size int) *responseWriter {
	h := w.Header()
	h.Set("Content-Type", contentType(req.format))
	h.Set("X-ClickHouse-Format", req.format)
	h.Set("X-ClickHouse-Server-Display-Name", s.hello.displayName)
	h.Set("X-ClickHouse-Timezone", s.hello.timezone)
	buf := responseBuffers.Get().(*bufio.Writer)
	buf.Reset(w)
	out := &responseWriter{buf: buf}
	out.sink = out.buf
	if req.httpEncoding != "" && size != 0 {
		h.Set("Content-Encoding", req.httpEncoding)
		out.enc = newEncoder(req.httpEncoding, out.buf)
		out.sink = out.enc
	} else if size >= 0 && req.compress == 0 {
		h.Set("Content-Length", strconv.Itoa(size))
	}
	if req.compress != 0 && size != 0 {
		out.frames = compress.NewWriter(compress.LevelZero, req.compress)
	}
	if size == 0 {
		h.Set("Content-Length", "0")
	}
	w.WriteHeader(http.StatusOK)
	return out
}

func (o *responseWriter) write(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), maxFrame)
		chunk := p[:n]
		p = p[n:]
		if o.frames != nil {
			if err := o.frames.Compress(chunk); err != nil {
				return err
			}
			chunk = o.frames.Data
		}
		if _, err := o.sink.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

// exception appends a failure that happened after the status line was sent,
// in the framing ClickHouse uses so clients can tell it from data.
func (o *responseWriter) exception(err error) {
	msg := err.Error()
	fmt.Fprintf(o.sink, "\r\n__exception__\r\n%s\r\n%d tracehouse\r\n__exception__\r\n", msg, len(msg))
}

// close ends the result and gives the buffer back; the writer is not used
// after it.
func (o *responseWriter) close() error {
	defer o.release()
	if o.enc != nil {
		if err := o.enc.Close(); err != nil {
			return err
		}
	}
	return o.buf.Flush()
}

func (o *responseWriter) release() {
	if o.buf != nil {
		o.buf.Reset(nil)
		responseBuffers.Put(o.buf)
		o.buf = nil
	}
}

func contentType(format string) string {
	switch f := strings.ToLower(format); {
	case strings.HasPrefix(f, "json"):
		return "application/json; charset=UTF-8"
	case f == "native" || strings.HasPrefix(f, "rowbinary") || f == "parquet" || f == "arrow":
		return "application/octet-stream"
	default:
		return "text/plain; charset=UTF-8"
	}
}

// writeError answers like ClickHouse: the status, the exception code in an
// X-ClickHouse-Exception-Code header, and "Code: N. DB::Exception: …" as the
// body. From that clickhouse-go returns a typed *clickhouse.Exception.
func writeError(w http.ResponseWriter, err error) {
	status, code, msg := http.StatusInternalServerError, 1000, err.Error()
	var he *httpError
	var ex *chdb.Exception
	switch {
	case errors.As(err, &he):
		status, code = he.status, he.code
		msg = fmt.Sprintf("Code: %d. DB::Exception: %s", he.code, he.msg)
	case errors.As(err, &ex):
		code, msg = ex.Code, ex.Message
	default:
		msg = fmt.Sprintf("Code: %d. DB::Exception: %s", code, msg)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("X-ClickHouse-Exception-Code", strconv.Itoa(code))
	h.Del("Content-Encoding")
	h.Del("Content-Length")
	w.WriteHeader(status)
	io.WriteString(w, strings.TrimRight(msg, "\n")+"\n")
}
