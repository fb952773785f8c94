package storage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ClickHouse/ch-go/compress"
)

func TestPasswordFileParameter(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clickhouse.password")
	if err := os.WriteFile(file, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := ParseDSN("http://tracehouse@127.0.0.1:8123/th?password_file=" + file + "&max_execution_time=60")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Auth.Username != "tracehouse" || opts.Auth.Password != "s3cr3t" || opts.Auth.Database != "th" {
		t.Errorf("auth = %+v", opts.Auth)
	}
	if _, sent := opts.Settings[PasswordFileParam]; sent {
		t.Error("password_file would reach the server as a setting")
	}
	if opts.Settings["max_execution_time"] == nil {
		t.Errorf("the other parameters are lost: %v", opts.Settings)
	}

	// CRLF line ends, and only the first line counts.
	os.WriteFile(file, []byte("s3cr3t\r\nsecond line\n"), 0o600)
	if opts, err := ParseDSN("127.0.0.1:8123?password_file=" + file); err != nil || opts.Auth.Password != "s3cr3t" {
		t.Errorf("CRLF file: %v %q", err, opts.Auth.Password)
	}

	for dsn, want := range map[string]string{
		"http://u:inline@h:8123/db?password_file=" + file:                   "both a password and password_file",
		"http://u@h:8123/db?password_file=":                                 "password_file is empty",
		"http://u@h:8123/db?password_file=" + filepath.Join(dir, "missing"): "read the ClickHouse password from",
	} {
		if _, err := ParseDSN(dsn); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDSN(%q) = %v; want an error saying %q", dsn, err, want)
		} else if strings.Contains(err.Error(), "inline") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the error shows a password: %v", err)
		}
	}
	os.WriteFile(file, []byte("\n"), 0o600)
	if _, err := ParseDSN("http://u@h:8123/db?password_file=" + file); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty password file: %v", err)
	}
}

// TestBodyCompressionFollowsDSN: INSERT bodies are compressed only over
// HTTP, only for the methods ClickHouse's frames carry (gzip, deflate and
// br are HTTP compression, which Exec cannot declare), and only on
// connections opened here.
func TestBodyCompressionFollowsDSN(t *testing.T) {
	for dsn, want := range map[string]compress.Method{
		"http://127.0.0.1:8123/default":                             compress.None,
		"http://127.0.0.1:8123/default?compress=lz4":                compress.LZ4,
		"http://127.0.0.1:8123/default?compress=true":               compress.LZ4,
		"https://127.0.0.1:8443/default?secure=true&compress=lz4hc": compress.LZ4HC,
		"127.0.0.1:8123?compress=zstd":                              compress.ZSTD,
		"http://127.0.0.1:8123/default?compress=gzip":               compress.None,
		"http://127.0.0.1:8123/default?compress=br":                 compress.None,
		"http://127.0.0.1:8123/default?compress=none":               compress.None,
		"clickhouse://127.0.0.1:9000/default?compress=lz4":          compress.None,
	} {
		conn, _, err := OpenConn(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if got := BodyCompression(conn); got != want {
			t.Errorf("%s: BodyCompression = %s, want %s", dsn, got, want)
		}
		conn.Close()
	}
}
