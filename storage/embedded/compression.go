package embedded

import (
	"compress/gzip"
	"compress/zlib"
	"io"
	"strings"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// Two kinds of compression reach the server, as with ClickHouse:
//   - HTTP compression (Content-Encoding / Accept-Encoding with
//     enable_http_compression=1): gzip, deflate, br or zstd around the
//     whole body.
//   - ClickHouse's own frames (decompress=1 for the request, compress=1 for
//     the response): LZ4 or ZSTD blocks with a checksum each, the layout the
//     native protocol uses, which clickhouse-go sends for its LZ4 and ZSTD
//     modes.

// frameMethod is the frame compression network_compression_method names;
// LZ4 when it is empty, as in ClickHouse.
func frameMethod(name string) (compress.Method, error) {
	method := strings.ToUpper(name)
	switch method {
	case "", "LZ4":
		return compress.LZ4, nil
	case "ZSTD":
		return compress.ZSTD, nil
	case "NONE":
		return compress.None, nil
	default:
		return 0, badRequest(codeBadArguments, "unknown network_compression_method %q (use LZ4, ZSTD or NONE)", method)
	}
}

// pickEncoding chooses the response's Content-Encoding: the first of the
// client's Accept-Encoding list that the server can write (quality values
// are not weighed), or none.
func pickEncoding(accept string) string {
	for _, enc := range strings.Split(accept, ",") {
		enc = strings.TrimSpace(strings.SplitN(enc, ";", 2)[0])
		switch enc {
		case "gzip", "deflate", "br", "zstd":
			return enc
		}
	}
	return ""
}

// decodeBody undoes the request's Content-Encoding. "deflate" is a zlib
// stream, which is what clickhouse-go sends under that name. The closer
// releases the decoder; the caller caps what it yields (decompress.go).
func decodeBody(encoding string, body io.Reader) (io.Reader, io.Closer, error) {
	name := strings.ToLower(strings.TrimSpace(encoding))
	switch name {
	case "", "identity", "none":
		return body, noClose, nil
	case "gzip":
		r, err := gzip.NewReader(body)
		if err != nil {
			return nil, nil, badRequest(codeCannotDecompress, "cannot read gzip body: %v", err)
		}
		return r, r, nil
	case "deflate":
		r, err := zlib.NewReader(body)
		if err != nil {
			return nil, nil, badRequest(codeCannotDecompress, "cannot read deflate body: %v", err)
		}
		return r, r, nil
	case "br":
		return brotli.NewReader(body), noClose, nil
	case "zstd":
		// Synchronous decoding: the default starts goroutines that only
		// Close stops. The window is bounded so that a frame header cannot
		// make the decoder allocate hundreds of megabytes up front; 64 MiB
		// covers every level short of --long.
		r, err := zstd.NewReader(body, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, nil, badRequest(codeCannotDecompress, "cannot read zstd body: %v", err)
		}
		return r, closerFunc(func() error { r.Close(); return nil }), nil
	default:
		return nil, nil, badRequest(codeUnknownFormat, "unsupported Content-Encoding %q (use gzip, deflate, br or zstd)", encoding)
	}
}

type closerFunc func() error

var noClose = closerFunc(func() error { return nil })

func (f closerFunc) Close() error { return f() }

// newEncoder compresses a response for a Content-Encoding pickEncoding
// chose (nil for any other name).
func newEncoder(encoding string, w io.Writer) io.WriteCloser {
	switch encoding {
	case "gzip":
		return gzip.NewWriter(w)
	case "deflate":
		// HTTP's "deflate" is the zlib format (RFC 9110), which ClickHouse
		// sends and clickhouse-go reads; raw DEFLATE fails its zlib header.
		return zlib.NewWriter(w)
	case "br":
		return brotli.NewWriter(w)
	case "zstd":
		enc, _ := zstd.NewWriter(w) // errors only on bad options
		return enc
	}
	return nil
}
