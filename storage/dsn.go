// Package storage holds what every Tracehouse component needs to reach
// ClickHouse: DSN handling here, schema migrations in storage/schema, the
// embedded engine in storage/embedded and test helpers in storage/chtest.
//
// The same code path serves the embedded default and a production cluster:
// only the DSN differs ("http://127.0.0.1:8123" vs "clickhouse://host:9000").
package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage/internal/inprocess"
)

// DefaultDSN points at the embedded engine started by `tracehouse clickhouse`
// or `tracehouse all-in-one`. The engine requires its password: the DSN
// `tracehouse clickhouse` prints adds the user and password_file.
const DefaultDSN = "http://127.0.0.1:8123/default"

// PasswordFileParam is the DSN parameter naming a file that holds the
// password (its first line), so that the password itself need not appear in
// a command line or a configuration file: the embedded engine writes its
// password into its data folder, and `tracehouse clickhouse` prints a DSN
// with this parameter.
const PasswordFileParam = "password_file"

// ParseDSN turns a DSN into clickhouse-go options. Both the native protocol
// (clickhouse://, tcp://) and the HTTP interface (http://, https://) are
// accepted; a bare host:port means the HTTP interface of the embedded engine.
// A password_file=PATH parameter reads the password from that file.
func ParseDSN(dsn string) (*clickhouse.Options, error) {
	if dsn == "" {
		dsn = DefaultDSN
	}
	if !strings.Contains(dsn, "://") {
		dsn = "http://" + dsn
	}
	dsn, passwordFile, err := takePasswordFile(dsn)
	if err != nil {
		return nil, err
	}
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid ClickHouse DSN %q: %w (expected e.g. %s or clickhouse://user:pass@host:9000/db)", redact(dsn), err, DefaultDSN)
	}
	if passwordFile != "" {
		if opts.Auth.Password != "" {
			return nil, fmt.Errorf("ClickHouse DSN %s has both a password and %s: give one of them", redact(dsn), PasswordFileParam)
		}
		if opts.Auth.Password, err = readPasswordFile(passwordFile); err != nil {
			return nil, err
		}
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.Protocol == clickhouse.HTTP && opts.TLS == nil && opts.TransportFunc == nil {
		// The embedded engine, when this process runs it, is reached
		// without a socket (storage/internal/inprocess); any other
		// address through clickhouse-go's own transport.
		opts.TransportFunc = func(t *http.Transport) (http.RoundTripper, error) { return inprocess.Transport(t), nil }
	}
	return opts, nil
}

// takePasswordFile removes the password_file parameter from a DSN (the
// driver would send it to the server as a setting) and returns its value.
func takePasswordFile(dsn string) (string, string, error) {
	if !strings.Contains(dsn, PasswordFileParam+"=") {
		return dsn, "", nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url's error repeats the DSN, password included.
		return "", "", fmt.Errorf("invalid ClickHouse DSN: it does not parse as a URL")
	}
	q := u.Query()
	path := q.Get(PasswordFileParam)
	if path == "" {
		return "", "", fmt.Errorf("ClickHouse DSN %s: %s is empty (give the path of a file holding the password)", redact(dsn), PasswordFileParam)
	}
	q.Del(PasswordFileParam)
	u.RawQuery = q.Encode()
	return u.String(), path, nil
}

// readPasswordFile reads a password kept in a file: its first line.
func readPasswordFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the ClickHouse password from %s (%s in the DSN): %w (the embedded ClickHouse writes it into its data folder on its first start)", path, PasswordFileParam, err)
	}
	password, _, _ := strings.Cut(string(data), "\n")
	password = strings.TrimRight(password, "\r")
	if password == "" {
		return "", fmt.Errorf("the ClickHouse password file %s (%s in the DSN) is empty", path, PasswordFileParam)
	}
	return password, nil
}

// Conn is a connection (pool) to ClickHouse: clickhouse-go's, named here so
// that components outside storage need not import the driver.
type Conn = driver.Conn

// OpenConn opens a connection pool for dsn without contacting ClickHouse
// (connections are made on first use), so a component can start while
// ClickHouse is still down. native reports whether it speaks the native
// protocol (clickhouse://, tcp://) rather than the HTTP interface. An HTTP
// DSN with compress=lz4, lz4hc or zstd gets compressed INSERT bodies
// (BodyCompression).
func OpenConn(dsn string) (conn Conn, native bool, err error) {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, false, err
	}
	conn, err = openConn(opts)
	if err != nil {
		return nil, false, fmt.Errorf("open a ClickHouse connection to %s: %w", redact(dsn), err)
	}
	return conn, opts.Protocol == clickhouse.Native, nil
}

// Open connects to ClickHouse and checks that it answers. Its connection
// is OpenConn's.
func Open(ctx context.Context, dsn string) (driver.Conn, error) {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	conn, err := openConn(opts)
	if err != nil {
		return nil, fmt.Errorf("connect to ClickHouse at %s: %w", redact(dsn), err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ClickHouse at %s does not answer: %w (is it running? `tracehouse clickhouse` starts the embedded engine)", redact(dsn), err)
	}
	return conn, nil
}

// redact hides the password of a DSN before it reaches a log or an error.
func redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return dsn
	}
	userinfo := dsn[scheme+3 : at]
	if colon := strings.Index(userinfo, ":"); colon >= 0 {
		return dsn[:scheme+3] + userinfo[:colon] + ":***" + dsn[at:]
	}
	return dsn
}

// Query parameters ({name:Type}) reach ClickHouse in its "escaped" text
// form on every protocol: a backslash starts an escape and a tab or newline
// ends the value. Binary values such as FixedString(16) trace ids therefore
// go in as hex and are decoded in SQL:
//
//	WHERE TraceId = unhex({trace_id:String})
//
// HexParam is that encoding.
func HexParam(b []byte) string { return hex.EncodeToString(b) }
