package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/go-faster/city"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// A request body is capped twice: as it arrives (http.MaxBytesReader, the
// raw size) and as it is decompressed, after every layer. Without the
// second cap a few kilobytes of zstd or gzip would unpack into gigabytes
// in the spool folder (tmpfs: RAM) before the engine saw a byte.

// errDecodedTooLarge is returned once a decompressed body passes the limit.
type errDecodedTooLarge struct{ limit int64 }

func (e *errDecodedTooLarge) Error() string {
	return fmt.Sprintf("decompressed request body is larger than the limit of %d bytes", e.limit)
}

// capReader fails with errDecodedTooLarge once more than limit bytes have
// been read through it.
type capReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func newCapReader(r io.Reader, limit int64) *capReader {
	return &capReader{r: r, left: limit, limit: limit}
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, &errDecodedTooLarge{limit: c.limit}
	}
	// Read one byte more than allowed, to tell "exactly the limit" from
	// "over it".
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n + int(c.left), &errDecodedTooLarge{limit: c.limit}
	}
	return n, err
}

// ClickHouse's compression frames: a 16-byte CityHash128 checksum of the
// rest, a method byte, the compressed size (header included) and the
// decompressed size, then the compressed data. clickhouse-go sends them
// for its LZ4 and ZSTD modes (decompress=1).
const (
	frameChecksumSize = 16
	frameHeaderSize   = frameChecksumSize + 1 + 4 + 4
	frameMethodNone   = 0x02
	frameMethodLZ4    = 0x82
	frameMethodZSTD   = 0x90

	// maxFrameSize bounds one frame's compressed and decompressed size, as
	// ClickHouse's clients bound what they read (ch-go: 128 MiB).
	maxFrameSize = 128 << 20
	// lz4MaxRatio bounds how far LZ4 can expand (255:1 at best, plus
	// slack for the block's tail): a frame claiming more is corrupt.
	lz4MaxRatio = 256
)

// frameReader decodes ClickHouse frames, checking each header before it
// allocates: a frame may not claim more than is left of the decompressed
// budget, and its compressed bytes are buffered only as they arrive.
type frameReader struct {
	r       io.Reader
	limit   int64 // the decompressed budget of the whole body
	left    int64
	header  [frameHeaderSize]byte
	raw     bytes.Buffer
	data    []byte
	pos     int
	zstd    *zstd.Decoder
	maxSize int
	// err is the first error, returned from then on: a reader that peeks
	// and drops it (bufio.Reader.Peek) must not read on into the middle of
	// a broken frame, which could look like a clean end.
	err error
}

func newFrameReader(r io.Reader, limit int64) *frameReader {
	f := &frameReader{r: r, limit: limit, left: limit, maxSize: maxFrameSize}
	if limit < int64(f.maxSize) {
		f.maxSize = int(limit)
	}
	return f
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err // f.data may hold a frame that failed to decode
	}
	for f.pos >= len(f.data) {
		if f.err = f.next(); f.err != nil {
			return 0, f.err
		}
	}
	n := copy(p, f.data[f.pos:])
	f.pos += n
	return n, nil
}

// Close releases the zstd decoder.
func (f *frameReader) Close() error {
	if f.zstd != nil {
		f.zstd.Close()
		f.zstd = nil
	}
	return nil
}

func cannotDecompress(format string, args ...any) error {
	return badRequest(codeCannotDecompress, "Cannot decompress: "+format+". (CANNOT_DECOMPRESS)", args...)
}

// next reads and decodes one frame into f.data.
func (f *frameReader) next() error {
	f.pos, f.data = 0, f.data[:0]
	if n, err := io.ReadFull(f.r, f.header[:]); err != nil {
		switch {
		case errors.Is(err, io.EOF) && n == 0:
			return io.EOF // the body ended cleanly between frames
		case errors.Is(err, io.ErrUnexpectedEOF):
			return cannotDecompress("the compressed body ends in the middle of a frame header")
		}
		return err // the raw size cap, a network error
	}
	method := f.header[frameChecksumSize]
	rawSize := int64(binary.LittleEndian.Uint32(f.header[frameChecksumSize+1:])) - (frameHeaderSize - frameChecksumSize)
	dataSize := int64(binary.LittleEndian.Uint32(f.header[frameChecksumSize+5:]))
	switch {
	case method != frameMethodNone && method != frameMethodLZ4 && method != frameMethodZSTD:
		return cannotDecompress("unknown compression method 0x%02x in a frame header", method)
	case rawSize < 0 || rawSize > int64(f.maxSize):
		return cannotDecompress("a frame claims %d compressed bytes (at most %d)", rawSize, f.maxSize)
	case dataSize > f.left:
		return &errDecodedTooLarge{limit: f.limit}
	case dataSize > int64(f.maxSize):
		return cannotDecompress("a frame claims %d decompressed bytes (at most %d)", dataSize, f.maxSize)
	case method == frameMethodNone && dataSize != rawSize:
		return cannotDecompress("an uncompressed frame of %d bytes claims %d", rawSize, dataSize)
	case method == frameMethodLZ4 && dataSize > rawSize*lz4MaxRatio+64:
		return cannotDecompress("an LZ4 frame of %d bytes claims %d decompressed bytes, more than LZ4 can expand to", rawSize, dataSize)
	}
	f.raw.Reset()
	f.raw.Write(f.header[frameChecksumSize:])
	if n, err := io.CopyN(&f.raw, f.r, rawSize); err != nil {
		if errors.Is(err, io.EOF) {
			return cannotDecompress("the compressed body ends in the middle of a frame (%d of %d bytes)", n, rawSize)
		}
		return err
	}
	raw := f.raw.Bytes()
	want := city.U128{Low: binary.LittleEndian.Uint64(f.header[0:8]), High: binary.LittleEndian.Uint64(f.header[8:16])}
	if city.CH128(raw) != want {
		return cannotDecompress("checksum mismatch: the frame was corrupted")
	}
	payload := raw[frameHeaderSize-frameChecksumSize:]
	switch method {
	case frameMethodNone:
		f.data = append(f.data, payload...)
	case frameMethodLZ4:
		// One byte more than claimed: the decoder then reports a block
		// that decodes to more, and never gets an empty buffer (it
		// dereferences a nil one: found by FuzzFrameDecode).
		if cap(f.data) < int(dataSize)+1 {
			f.data = make([]byte, dataSize+1)
		}
		n, err := lz4.UncompressBlock(payload, f.data[:dataSize+1])
		if err != nil || int64(n) != dataSize {
			return cannotDecompress("an LZ4 frame does not decode to the %d bytes its header claims", dataSize)
		}
		f.data = f.data[:dataSize]
	case frameMethodZSTD:
		if f.zstd == nil {
			// Synchronous (no goroutines), and never more output than a
			// frame may hold: a zstd bomb stops at maxSize.
			dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(uint64(f.maxSize)))
			if err != nil {
				return err
			}
			f.zstd = dec
		}
		out, err := f.zstd.DecodeAll(payload, f.data[:0])
		if err != nil || int64(len(out)) != dataSize {
			return cannotDecompress("a ZSTD frame does not decode to the %d bytes its header claims", dataSize)
		}
		f.data = out
	}
	f.left -= dataSize
	return nil
}
