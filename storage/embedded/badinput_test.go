package embedded_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/compress"
	"github.com/go-faster/city"

	"github.com/tracehouse/tracehouse/storage/chtest"
)

// Each bad request gets a ClickHouse-style error, the server keeps serving
// and the rows stored before stay intact.
func TestBadInputLeavesServerAndDataIntact(t *testing.T) {
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE kv (k String, v UInt64) ENGINE = MergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO kv SELECT toString(number), number FROM numbers(1000)"); err != nil {
		t.Fatal(err)
	}
	insert := "database=" + db + "&query=" + url.QueryEscape("INSERT INTO kv (k, v) FORMAT Native")

	// A well-formed LZ4 frame holding a valid Native block, to cut short.
	var native bytes.Buffer
	native.Write([]byte{2, 1})                                            // 2 columns, 1 row
	native.Write([]byte{1, 'k', 6, 'S', 't', 'r', 'i', 'n', 'g', 1, 'x'}) // k String = "x"
	native.Write([]byte{1, 'v', 6, 'U', 'I', 'n', 't', '6', '4', 7, 0, 0, 0, 0, 0, 0, 0})
	frames := compress.NewWriter(compress.LevelZero, compress.LZ4)
	if err := frames.Compress(native.Bytes()); err != nil {
		t.Fatal(err)
	}
	framed := append([]byte(nil), frames.Data...)
	// The writer's shape with compress=lz4 in its DSN: no query parameter,
	// the statement and the block together in the frames.
	stmt := []byte("INSERT INTO kv (k, v) FORMAT Native\n")
	if err := frames.Compress(append(stmt, native.Bytes()...)); err != nil {
		t.Fatal(err)
	}
	framedWithStatement := append([]byte(nil), frames.Data...)
	inBody := "database=" + db + "&decompress=1"

	cases := []struct {
		name       string
		query      string
		body       []byte
		header     http.Header
		wantStatus int
		wantCode   string
	}{
		{"garbage Native body", insert, []byte("\x05\xff\xff\xffnot a native block at all"), nil, 500, ""},
		{"truncated compressed frame", insert + "&decompress=1", framed[:len(framed)-5], nil, 400, "271"},
		{"frame with a bad checksum", insert + "&decompress=1", append([]byte{framed[0] ^ 0xff}, framed[1:]...), nil, 400, "271"},
		{"truncated frame holding the statement", inBody, framedWithStatement[:len(framedWithStatement)-5], nil, 400, "271"},
		{"bad checksum on the frame holding the statement", inBody, append([]byte{framedWithStatement[0] ^ 0xff}, framedWithStatement[1:]...), nil, 400, "271"},
		{"plain statement sent with decompress=1", inBody, append(stmt, native.Bytes()...), nil, 400, "271"},
		{"gzip header on plain body", insert, native.Bytes(), http.Header{"Content-Encoding": {"gzip"}}, 400, "271"},
		{"unknown content encoding", insert, native.Bytes(), http.Header{"Content-Encoding": {"snappy"}}, 400, "73"},
		// Found by FuzzFrameDecode: the LZ4 decoder dereferenced the empty
		// buffer of a frame claiming 0 bytes (a panic per request).
		{"LZ4 frame claiming no data", insert + "&decompress=1", checksummedFrame(0x82, 0, []byte("000000000000000000")), nil, 400, "271"},
		{"ZSTD frame claiming no data", insert + "&decompress=1", checksummedFrame(0x90, 0, []byte("000000000000000000")), nil, 400, "271"},
		{"query failing mid-way", "database=" + db, []byte("SELECT throwIf(number = 500000, 'mid-way') FROM numbers(1000000)"), nil, 500, "395"},
		{"bad setting name", "database=" + db + "&max-threads=1", []byte("SELECT 1"), nil, 400, "36"},
		{"unknown setting", "database=" + db + "&no_such_setting_at_all=1", []byte("SELECT 1"), nil, 500, "115"},
		{"empty query", "", nil, nil, 400, "62"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := curlish(t, http.MethodPost, c.query, bytes.NewReader(c.body), c.header)
			if resp.StatusCode != c.wantStatus && !(c.name == "query failing mid-way" && resp.StatusCode == 200) {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.wantStatus, body)
			}
			if !strings.Contains(body, "Code: ") || !strings.Contains(body, "DB::Exception") {
				t.Fatalf("body is not a ClickHouse exception: %q", body)
			}
			if c.wantCode != "" && resp.StatusCode != 200 && resp.Header.Get("X-ClickHouse-Exception-Code") != c.wantCode {
				t.Fatalf("exception code %q, want %s: %s", resp.Header.Get("X-ClickHouse-Exception-Code"), c.wantCode, body)
			}
		})
	}

	// The framed block itself is fine: the same bytes, whole, are stored.
	resp, body := curlish(t, http.MethodPost, insert+"&decompress=1", bytes.NewReader(framed), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("valid framed insert: %d %s", resp.StatusCode, body)
	}
	resp, body = curlish(t, http.MethodPost, inBody, bytes.NewReader(framedWithStatement), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("valid framed statement and block: %d %s", resp.StatusCode, body)
	}
	var n, sum uint64
	if err := conn.QueryRow(ctx, "SELECT count(), sum(v) FROM kv").Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 1002 || sum != 999*1000/2+7+7 {
		t.Fatalf("after bad input: %d rows, sum %d", n, sum)
	}
}

func TestBodyOverTheLimit(t *testing.T) {
	limit := chtest.Server(t).MaxRequestBytes()
	db := chtest.NewDatabase(t)
	conn := chtest.ConnTo(t, db)
	if err := conn.Exec(context.Background(), "CREATE TABLE lines (s String) ENGINE = MergeTree ORDER BY s"); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("a line of text\n"), int(limit/15)+10)
	resp, body := curlish(t, http.MethodPost, "database="+db+"&query="+url.QueryEscape("INSERT INTO lines FORMAT LineAsString"), bytes.NewReader(big), nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.HasPrefix(body, "Code: ") {
		t.Fatalf("status %d: %q", resp.StatusCode, body)
	}
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM lines").Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused body must store nothing: %d rows, %v", n, err)
	}
}

// checksummedFrame is a ClickHouse compression frame around payload, with
// a valid checksum whatever the payload and the size it claims.
func checksummedFrame(method byte, size uint32, payload []byte) []byte {
	frame := make([]byte, 25, 25+len(payload))
	frame[16] = method
	binary.LittleEndian.PutUint32(frame[17:], uint32(9+len(payload)))
	binary.LittleEndian.PutUint32(frame[21:], size)
	frame = append(frame, payload...)
	sum := city.CH128(frame[16:])
	binary.LittleEndian.PutUint64(frame[0:], sum.Low)
	binary.LittleEndian.PutUint64(frame[8:], sum.High)
	return frame
}
