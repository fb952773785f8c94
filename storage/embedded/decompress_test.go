package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/go-faster/city"
)

// TestFrameReaderErrorSticks: once a frame fails, every later read fails
// the same way, with no byte of the broken frame and none of the frames
// after it. bufio.Reader.Peek (how the server finds a statement at the
// head of a body) returns an error once and forgets it: a reader that went
// on would turn a corrupt first frame into an empty body ("Empty query")
// or into the broken frame's bytes.
func TestFrameReaderErrorSticks(t *testing.T) {
	good := compress.NewWriter(compress.LevelZero, compress.LZ4)
	if err := good.Compress(bytes.Repeat([]byte("first "), 100)); err != nil {
		t.Fatal(err)
	}
	first := append([]byte(nil), good.Data...)
	if err := good.Compress(bytes.Repeat([]byte("third "), 100)); err != nil {
		t.Fatal(err)
	}
	third := append([]byte(nil), good.Data...)
	// A checksummed LZ4 frame whose data does not decode to the size it
	// claims: the decoder fills the buffer before it fails.
	broken := checksummedTestFrame(0x82, 4096, bytes.Repeat([]byte{0xf0}, 64))

	for name, body := range map[string][]byte{
		"broken first":  append(append([]byte(nil), broken...), third...),
		"broken second": append(append(append([]byte(nil), first...), broken...), third...),
	} {
		t.Run(name, func(t *testing.T) {
			r := newFrameReader(bytes.NewReader(body), 1<<20)
			defer r.Close()
			var got []byte
			buf := make([]byte, 256)
			var firstErr error
			for range 20 {
				n, err := r.Read(buf)
				got = append(got, buf[:n]...)
				if err == nil {
					continue
				}
				var he *httpError
				if !errors.As(err, &he) || he.code != codeCannotDecompress {
					t.Fatalf("error %v, want CANNOT_DECOMPRESS", err)
				}
				if firstErr != nil && err != firstErr {
					t.Fatalf("a later read gave %v after %v", err, firstErr)
				}
				if n != 0 && firstErr != nil {
					t.Fatalf("a read after the error returned %d bytes", n)
				}
				firstErr = err
			}
			if firstErr == nil {
				t.Fatal("no error for a broken frame")
			}
			if want := bytes.Repeat([]byte("first "), 100); name == "broken second" && !bytes.Equal(got, want) ||
				name == "broken first" && len(got) != 0 {
				t.Fatalf("read %d bytes around the broken frame: %.80q", len(got), got)
			}
		})
	}
}

// checksummedTestFrame is a frame around payload with a valid checksum,
// whatever the payload and the size it claims.
func checksummedTestFrame(method byte, size uint32, payload []byte) []byte {
	frame := make([]byte, frameHeaderSize, frameHeaderSize+len(payload))
	frame[frameChecksumSize] = method
	binary.LittleEndian.PutUint32(frame[frameChecksumSize+1:], uint32(len(payload)+frameHeaderSize-frameChecksumSize))
	binary.LittleEndian.PutUint32(frame[frameChecksumSize+5:], size)
	frame = append(frame, payload...)
	sum := city.CH128(frame[frameChecksumSize:])
	binary.LittleEndian.PutUint64(frame[0:8], sum.Low)
	binary.LittleEndian.PutUint64(frame[8:16], sum.High)
	return frame
}
