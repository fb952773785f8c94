package storage

import (
	"context"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Compressed request bodies over HTTP.
//
// With compress=lz4, lz4hc or zstd in an http:// DSN, clickhouse-go
// (v2.51) compresses what it encodes itself: its batch INSERTs go in
// ClickHouse's compression frames with decompress=1 in the URL, and it
// asks for compressed results (compress=1). What it sends through Exec it
// sends as it is, and the writer (storage/writer) sends its own Native
// blocks through Exec. So the writer frames those bodies itself, the way
// the driver frames its batches, and marks the request with decompress=1
// (CompressedExec). A ClickHouse server reads such a body as if it had
// come uncompressed, statement included: its HTTP handler decompresses
// the body and parses the query from the result. The embedded server does
// the same (storage/embedded, decompress.go), with a bound on the
// decompressed size.
//
// ClickHouse's frames rather than Content-Encoding: they are what the
// driver itself sends for these DSNs, every ClickHouse version takes them,
// they travel through HTTP proxies that would decode, refuse or re-encode
// a Content-Encoding they do not know (lz4 is not a registered one), each
// frame is checksummed, and each states its decompressed size before its
// data, so a server bounds its memory before allocating. DSNs asking for
// gzip, deflate or br (HTTP compression) keep plain INSERT bodies: Exec has
// no way to set the request's Content-Encoding header.

// BodyCompression is the compression of the request bodies the writer
// sends through Exec on conn: compress.LZ4, LZ4HC or ZSTD when conn was
// opened by Open or OpenConn from an http(s):// DSN asking for lz4, lz4hc
// or zstd, else compress.None (send them plain).
func BodyCompression(conn Conn) compress.Method {
	if c, ok := conn.(*framingConn); ok {
		return c.method
	}
	return compress.None
}

// CompressedExec marks the context of an Exec whose query, the request's
// body, is in ClickHouse's compression frames in the method
// BodyCompression names: the request then carries decompress=1. It
// replaces the settings the context carried.
func CompressedExec(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"decompress": 1}))
}

// framingConn is a connection whose DSN asks for compressed bodies: it
// says so to BodyCompression, and its hello queries do not carry the
// settings of the statement that opened the connection (see openConn).
type framingConn struct {
	driver.Conn
	method compress.Method
}

// bodyFraming is the frame compression an HTTP DSN's compression asks for,
// or compress.None.
func bodyFraming(opts *clickhouse.Options) compress.Method {
	if opts.Protocol != clickhouse.HTTP || opts.Compression == nil {
		return compress.None
	}
	switch opts.Compression.Method {
	case clickhouse.CompressionLZ4:
		return compress.LZ4
	case clickhouse.CompressionLZ4HC:
		return compress.LZ4HC
	case clickhouse.CompressionZSTD:
		return compress.ZSTD
	}
	return compress.None
}

// openConn opens a connection pool for opts. Over HTTP clickhouse-go opens a
// connection inside the call that needs one, and its hello query (SELECT
// displayName(), …) goes with that call's context, settings included: an
// Exec marked by CompressedExec would send the hello, plain SQL, with
// decompress=1, which the server refuses (the body is not in frames). So
// when bodies are compressed, connections are opened with a context whose
// settings are cleared (they are the statement's, not the hello's).
func openConn(opts *clickhouse.Options) (Conn, error) {
	method := bodyFraming(opts)
	if method == compress.None {
		return clickhouse.Open(opts)
	}
	opts.DialStrategy = func(ctx context.Context, connID int, o *clickhouse.Options, dial clickhouse.Dial) (clickhouse.DialResult, error) {
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{}))
		return clickhouse.DefaultDialStrategy(ctx, connID, o, dial)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: conn, method: method}, nil
}
