package nativeblock

import (
	"fmt"
	"sync"

	"github.com/ClickHouse/ch-go/compress"
)

// FrameSize is the most uncompressed data one compression frame holds:
// ClickHouse's max_compress_block_size, the size its server and its
// clients cut their own compressed streams at. A reader (ClickHouse, the
// embedded server) holds one frame at a time, and a batch of any size stays
// far below the 128 MiB a frame may hold for ch-go's reader.
const FrameSize = 1 << 20

// Frames compresses INSERT bodies into ClickHouse's compression frames
// (16-byte CityHash128 checksum, method, compressed and decompressed sizes,
// data), the layout of the native protocol and of HTTP bodies sent with
// decompress=1, with ch-go's compressor: the code clickhouse-go compresses
// its own batches with. Safe for concurrent use.
type Frames struct {
	method  compress.Method
	writers sync.Pool // *compress.Writer: each keeps its compressor state and one frame
}

// NewFrames returns Frames for method (compress.LZ4, LZ4HC or ZSTD, at
// the compressor's default level, as clickhouse-go uses them), or nil for
// compress.None: bodies are then sent as they are.
func NewFrames(method compress.Method) *Frames {
	if method == compress.None {
		return nil
	}
	f := &Frames{method: method}
	f.writers.New = func() any { return compress.NewWriter(compress.LevelZero, method) }
	return f
}

// Method is the frames' compression.
func (f *Frames) Method() compress.Method { return f.method }

// Compress puts body (what Encode returned) into frames of at most
// FrameSize bytes each, in a buffer the encoder keeps: the bytes are valid
// until the next Compress or Forget. The statement at the head of the body
// is compressed with the block: ClickHouse reads the query from the
// decompressed body.
func (e *Encoder) Compress(body []byte, f *Frames) ([]byte, error) {
	out, err := f.Append(e.framed[:0], body)
	if err != nil {
		return nil, err
	}
	e.framed = out
	return out, nil
}

// Append appends body in frames of at most FrameSize bytes each to dst.
func (f *Frames) Append(dst, body []byte) ([]byte, error) {
	w := f.writers.Get().(*compress.Writer)
	defer f.writers.Put(w)
	for len(body) > 0 {
		n := min(len(body), FrameSize)
		if err := w.Compress(body[:n]); err != nil {
			return nil, fmt.Errorf("compress an INSERT body (%s): %w", f.method, err)
		}
		dst = append(dst, w.Data...)
		body = body[n:]
	}
	return dst, nil
}
