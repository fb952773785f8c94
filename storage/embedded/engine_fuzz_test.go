package embedded_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/compress"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

// fuzzCanaryPath is a file the guard must keep the engine from reading.
// Its path is fixed, so that the seeds can name it; its content is random
// on the machine, so that no input can contain it.
const fuzzCanaryPath = "/tmp/tracehouse-fuzz-canary.txt"

func fuzzCanary(f *testing.F) string {
	var b [16]byte
	rand.Read(b[:])
	fh, err := os.OpenFile(fuzzCanaryPath, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		fh.WriteString("canary-" + hex.EncodeToString(b[:]) + "\n")
		fh.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		f.Fatal(err)
	}
	secret, err := os.ReadFile(fuzzCanaryPath)
	if err != nil || !strings.HasPrefix(string(secret), "canary-") {
		f.Fatalf("canary %s: %q %v", fuzzCanaryPath, secret, err)
	}
	return strings.TrimSpace(string(secret))
}

// FuzzGuardAgainstEngine runs every SELECT the guard accepts on the engine
// itself, bypassing the guard, and checks that the canary file was not
// read: a statement the guard and the engine read differently (a string
// the guard thinks closed, a comment the engine does not know) would show
// up as the canary's content in the result or an error message.
func FuzzGuardAgainstEngine(f *testing.F) {
	secret := fuzzCanary(f)
	engine := chtest.Server(f).Engine()
	// Bounds for whatever the fuzzer finds to run.
	for _, set := range []string{"SET max_execution_time = 2", "SET max_memory_usage = 268435456",
		"SET max_result_rows = 10000", "SET result_overflow_mode = 'break'", "SET function_sleep_max_microseconds_per_block = 100000"} {
		if _, err := engine.Query(set, "TabSeparated"); err != nil {
			f.Fatal(err)
		}
	}
	c := fuzzCanaryPath
	for _, s := range []string{
		"SELECT * FROM file('" + c + "', 'LineAsString')",
		"SELECT 1 -- \nfile('" + c + "')",
		"SELECT $a$ $a$, file('" + c + "')",
		"SELECT 'x', /* /* */ */ file('" + c + "')",
		"SELECT * FROM format(Values, 's String', '(file(''" + c + "''))')",
		"SELECT * FROM `file`('" + c + "', 'LineAsString')",
		"SELECT \u201cfile\u201d('" + c + "')",
		"SELECT * FROM numbers(1) SETTINGS additional_result_filter = 'file(''" + c + "'') != '''''",
		"SELECT 'file(''" + c + "'')'",
		"SELECT 1 # \nfile('" + c + "')",
		"SELECT x'41' , file('" + c + "')",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if embedded.CheckStatement(sql, false) != nil || !startsWithSelect(sql) {
			return
		}
		out, err := engine.Query(sql, "TabSeparated")
		if bytes.Contains(out, []byte(secret)) || err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("the guard let through a statement that read the canary: %q", sql)
		}
	})
}

// startsWithSelect: only queries run in the fuzzer (a DROP DATABASE would
// hang this engine, and statements changing the catalogue would make runs
// depend on each other). The guard accepts one statement per request, so
// text starting with SELECT is a query, unless guard and engine disagree
// about where it ends: what the fuzzer looks for.
func startsWithSelect(sql string) bool {
	s := strings.TrimLeft(sql, " \t\r\n(")
	return len(s) >= 7 && strings.EqualFold(s[:7], "SELECT ") && strings.TrimSpace(s[7:]) != ""
}

// FuzzNativeInsert sends any body as a Native insert, plain or in LZ4
// frames, through the server into the engine: the server answers 200 or a
// ClickHouse-style error, never crashes or hangs, and keeps serving.
func FuzzNativeInsert(f *testing.F) {
	db := chtest.NewDatabase(f)
	conn := chtest.ConnTo(f, db)
	if err := conn.Exec(context.Background(), "CREATE TABLE kv (k String, v UInt64, a Array(String), m Map(String, UInt8)) ENGINE = MergeTree ORDER BY k"); err != nil {
		f.Fatal(err)
	}
	var native bytes.Buffer
	native.Write([]byte{4, 1})
	native.Write([]byte{1, 'k', 6, 'S', 't', 'r', 'i', 'n', 'g', 1, 'x'})
	native.Write([]byte{1, 'v', 6, 'U', 'I', 'n', 't', '6', '4', 7, 0, 0, 0, 0, 0, 0, 0})
	native.Write(append([]byte{1, 'a', 13}, "Array(String)"...))
	native.Write([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 'y'})
	native.Write(append([]byte{1, 'm', 17}, "Map(String, UInt8)"...))
	native.Write([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 'z', 9})
	f.Add(native.Bytes(), false)
	f.Add(native.Bytes(), true)
	f.Add(native.Bytes()[:20], false)
	f.Add([]byte{1, 1, 1, 'k', 6, 'S', 't', 'r', 'i', 'n', 'g', 0xff, 0xff, 0xff, 0xff, 0x0f}, false)
	insert := "database=" + db + "&max_memory_usage=268435456&query=" + url.QueryEscape("INSERT INTO kv FORMAT Native")
	f.Fuzz(func(t *testing.T, body []byte, framed bool) {
		q := insert
		if framed {
			w := compress.NewWriter(compress.LevelZero, compress.LZ4)
			if err := w.Compress(body); err != nil {
				t.Fatal(err)
			}
			body, q = w.Data, q+"&decompress=1"
		}
		resp, text := curlish(t, http.MethodPost, q, bytes.NewReader(body), nil)
		if resp.StatusCode != http.StatusOK && !strings.HasPrefix(text, "Code: ") {
			t.Fatalf("%d without a ClickHouse error: %q", resp.StatusCode, text)
		}
		if resp, text := curlish(t, http.MethodPost, "", strings.NewReader("SELECT 1"), nil); resp.StatusCode != http.StatusOK || text != "1\n" {
			t.Fatalf("the server stopped answering after a Native body: %d %q", resp.StatusCode, text)
		}
	})
}
