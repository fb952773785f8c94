package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/go-faster/city"
)

// Fuzz targets of the request parsing (`make fuzz` runs each for a while;
// `go test` runs their seeds, the f.Add ones and testdata/fuzz/…).

// FuzzCheckStatement: the guard never panics, the lexer's tokens are in
// order and in bounds, and a call to file() appended to an accepted
// SELECT that ends in code (not inside a string or comment) is refused:
// nothing the fuzzer writes before it can hide it from the guard without
// hiding it from the engine.
func FuzzCheckStatement(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "SELECT * FROM file('/etc/passwd')", "SELECT 'file(' , $$x$$", "SELECT `fi``le`('x')",
		"SELECT 1 /* /* */ */", "SELECT 1 -- x", "SELECT $a$ ' $a$", "SELECT x'41', b'01'",
		"CREATE TABLE url (x String) ENGINE = URL('http://x', CSV)", "INSERT INTO t VALUES (1, {p:String})",
		"SELECT * FROM format(Values, 's String', '(file(''x''))')", "SELECT \u201cfile\u201d('x')",
		"SELECT 1 SETTINGS additional_result_filter = 'x'", "SYSTEM DROP MARK CACHE", "SELECT {f:Identifier}('x')",
		"CREATE DICTIONARY d (s String) PRIMARY KEY s SOURCE(CLICKHOUSE(QUERY 'SELECT 1')) LAYOUT(FLAT()) LIFETIME(0)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lx := newLexer(s)
		end := 0
		for {
			tok, ok := lx.next()
			if !ok {
				break
			}
			if tok.start < end || tok.end <= tok.start || tok.end > len(s) || s[tok.start:tok.end] != tok.text {
				t.Fatalf("token %+v after offset %d in %q", tok, end, s)
			}
			end = tok.end
		}
		accepted := checkStatement(s, false) == nil
		checkStatement(s, true)
		checkInsertData(s)
		if !accepted || !startsWithSelect(s) || !endsInCode(s) {
			return
		}
		for _, call := range []string{" file('x')", " \nfile\n('x')", " `file`('x')", " \"file\" ('x')", " url('x')"} {
			if checkStatement(s+call, false) == nil {
				t.Fatalf("accepted %q", s+call)
			}
		}
	})
}

func startsWithSelect(s string) bool {
	for lx := newLexer(s); ; {
		tok, ok := lx.next()
		if !ok {
			return false
		}
		if tok.kind == tokWord {
			return strings.EqualFold(tok.text, "SELECT")
		}
	}
}

// endsInCode tells whether text appended to s is read as code: not inside
// a string, a quoted name, a comment or a heredoc.
func endsInCode(s string) bool {
	const mark = "zzfuzzmark"
	var last token
	for lx := newLexer(s + " " + mark); ; {
		tok, ok := lx.next()
		if !ok {
			break
		}
		last = tok
	}
	return last.kind == tokWord && last.text == mark && last.start == len(s)+1
}

// FuzzFrameReader: ClickHouse frames never panic the reader nor make it
// yield more than its budget, and where ch-go's own reader decodes the
// input, this one yields the same bytes.
func FuzzFrameReader(f *testing.F) {
	for _, method := range []compress.Method{compress.None, compress.LZ4, compress.ZSTD} {
		w := compress.NewWriter(compress.LevelZero, method)
		w.Compress([]byte("a Native block, or anything else " + strings.Repeat("x", 300)))
		frame := append([]byte(nil), w.Data...)
		f.Add(frame)
		f.Add(append(append([]byte(nil), frame...), frame...))
		f.Add(frame[:len(frame)-3])
	}
	const budget = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newFrameReader(bytes.NewReader(data), budget)
		defer r.Close()
		got, err := io.ReadAll(newCapReader(r, budget))
		if len(got) > budget {
			t.Fatalf("%d bytes out of a budget of %d", len(got), budget)
		}
		var he *httpError
		var tooLarge *errDecodedTooLarge
		if err != nil && !errors.As(err, &he) && !errors.As(err, &tooLarge) {
			t.Fatalf("unexpected error %T: %v", err, err)
		}
		if !framesFit(data, budget) {
			return // ch-go would allocate what the header claims
		}
		want, werr := io.ReadAll(compress.NewReader(bytes.NewReader(data)))
		if werr == nil && err == nil && !bytes.Equal(got, want) {
			t.Fatalf("decoded %d bytes, ch-go %d", len(got), len(want))
		}
	})
}

// FuzzFrameDecode builds one frame with a valid checksum around any
// payload and claimed size, so that the fuzzer reaches the LZ4 and ZSTD
// decoders: never a panic, never more than the budget, and a frame that
// decodes yields exactly the size it claims.
func FuzzFrameDecode(f *testing.F) {
	for _, method := range []compress.Method{compress.None, compress.LZ4, compress.ZSTD} {
		w := compress.NewWriter(compress.LevelZero, method)
		w.Compress([]byte(strings.Repeat("abc", 200)))
		f.Add(w.Data[frameChecksumSize], uint32(600), w.Data[frameHeaderSize:])
	}
	f.Add(byte(frameMethodZSTD), uint32(10), []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x48, 0x55, 0x00, 0x00, 0x10, 0x61, 0x01, 0x00, 0xfb, 0xff, 0x39, 0xc0, 0x02})
	const budget = 1 << 16
	f.Fuzz(func(t *testing.T, method byte, size uint32, payload []byte) {
		frame := make([]byte, frameHeaderSize, frameHeaderSize+len(payload))
		frame[frameChecksumSize] = method
		binary.LittleEndian.PutUint32(frame[frameChecksumSize+1:], uint32(len(payload)+frameHeaderSize-frameChecksumSize))
		binary.LittleEndian.PutUint32(frame[frameChecksumSize+5:], size)
		frame = append(frame, payload...)
		sum := city.CH128(frame[frameChecksumSize:])
		binary.LittleEndian.PutUint64(frame[0:8], sum.Low)
		binary.LittleEndian.PutUint64(frame[8:16], sum.High)
		r := newFrameReader(bytes.NewReader(frame), budget)
		defer r.Close()
		got, err := io.ReadAll(r)
		if len(got) > budget {
			t.Fatalf("%d bytes out of a budget of %d", len(got), budget)
		}
		if err == nil && uint32(len(got)) != size {
			t.Fatalf("a frame claiming %d bytes decoded to %d", size, len(got))
		}
		var he *httpError
		var tooLarge *errDecodedTooLarge
		if err != nil && !errors.As(err, &he) && !errors.As(err, &tooLarge) {
			t.Fatalf("unexpected error %T: %v", err, err)
		}
	})
}

// framesFit tells whether every frame header in data claims sizes within
// max, so that ch-go's reader can be run on it as a reference.
func framesFit(data []byte, max uint32) bool {
	for len(data) >= frameHeaderSize {
		raw := uint32(data[17]) | uint32(data[18])<<8 | uint32(data[19])<<16 | uint32(data[20])<<24
		size := uint32(data[21]) | uint32(data[22])<<8 | uint32(data[23])<<16 | uint32(data[24])<<24
		if raw > max || size > max || raw < 9 {
			return false
		}
		skip := int(raw) + frameChecksumSize
		if skip > len(data) {
			return true
		}
		data = data[skip:]
	}
	return true
}

// FuzzParseRequest: any URL, Content-Encoding and body is parsed without a
// panic, the data read out stays within the limit, settings have valid
// names, and the guard runs on whatever was parsed.
func FuzzParseRequest(f *testing.F) {
	f.Add(false, "query=SELECT+1", "", []byte(""))
	f.Add(true, "max_threads=2&param_x=5&default_format=JSONEachRow", "", []byte("SELECT {x:UInt8}"))
	f.Add(true, "query=INSERT+INTO+t+FORMAT+Native&decompress=1", "", []byte("\x00\x01"))
	f.Add(true, "", "gzip", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00"))
	f.Add(true, "query=INSERT+INTO+t+VALUES", "", []byte("(1, 'a'), (file('x'))"))
	f.Add(true, "compress=1&network_compression_method=zstd&enable_http_compression=1", "zstd", []byte("(\xb5/\xfd"))
	f.Add(true, "", "", []byte("INSERT INTO t FORMAT CSV\n1,2\n"))
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, post bool, rawQuery, encoding string, body []byte) {
		method := http.MethodGet
		if post {
			method = http.MethodPost
		}
		r := &http.Request{Method: method, URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{},
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Host: "127.0.0.1:8123"}
		if encoding != "" {
			r.Header.Set("Content-Encoding", encoding)
		}
		req, err := parseRequest(r, r.Body, limit)
		if err != nil || req == nil {
			return
		}
		defer req.close()
		for name := range req.settings {
			if !settingName.MatchString(name) {
				t.Fatalf("setting name %q passed", name)
			}
		}
		req.check(!post)
		if req.insertData != nil {
			n, _ := io.Copy(io.Discard, req.insertData)
			if n > limit {
				t.Fatalf("%d bytes of insert data out of a limit of %d", n, limit)
			}
		}
	})
}
