package embedded

import (
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"net/http"
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
// stream, which is what clickhouse-go sends under that name.
func decodeBody(encoding string, body io.Reader) (io.Reader, error) {
	name := strings.ToLower(strings.TrimSpace(encoding))
	var r io.Reader
	var err error
	switch name {
	case "", "identity", "none":
		return body, nil
	case "gzip":
		r, err = gzip.NewReader(body)
	case "deflate":
		r, err = zlib.NewReader(body)
	case "br":
		r = brotli.NewReader(body)
	case "zstd":
		var zr *zstd.Decoder
		if zr, err = zstd.NewReader(body); err == nil {
			r = zr.IOReadCloser()
		}
	default:
		return nil, badRequest(codeUnknownFormat, "unsupported Content-Encoding %q (use gzip, deflate, br or zstd)", encoding)
	}
	if err != nil {
		return nil, badRequest(codeCannotDecompress, "cannot read %s body: %v", name, err)
	}
	return r, nil
}

// frameReader reports a broken ClickHouse compression frame as a
// ClickHouse-style error, so the client learns its body was cut or corrupt
// rather than getting a parse error from the engine.
type frameReader struct{ r io.Reader }

func newFrameReader(r io.Reader) io.Reader { return &frameReader{r: compress.NewReader(r)} }

func (f *frameReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return n, io.EOF // the body ended cleanly between frames
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return n, err // sizeAware reports it
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, badRequest(codeCannotDecompress, "Cannot decompress: the compressed body ends in the middle of a frame. (CANNOT_DECOMPRESS)")
		}
		return n, badRequest(codeCannotDecompress, "Cannot decompress: %v. (CANNOT_DECOMPRESS)", err)
	}
	return n, err
}

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
