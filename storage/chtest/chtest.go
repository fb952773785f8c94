// Package chtest gives every test package a real ClickHouse: one embedded
// engine per test binary (the engine allows one per process), on a temporary
// folder and a free loopback port, reached through clickhouse-go/v2 exactly
// as the product reaches it.
//
//	func TestMain(m *testing.M) { chtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		db := chtest.NewDatabase(t)
//		conn := chtest.ConnTo(t, db)
//		...
//	}
package chtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

var server *embedded.Server

// Main starts the package's engine, runs the tests and removes the engine's
// folder. Call it from TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "tracehouse-chtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chtest:", err)
		os.Exit(1)
	}
	level := zerolog.WarnLevel
	if os.Getenv("CHTEST_VERBOSE") != "" {
		level = zerolog.DebugLevel
	}
	server, err = embedded.Start(embedded.Config{
		DataDir: dir,
		Listen:  "127.0.0.1:0",
		// Small enough that a test can cross it cheaply.
		MaxRequestBytes: 64 << 20,
		Logger:          zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(level).With().Timestamp().Logger(),
	})
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "chtest: cannot start the embedded ClickHouse:", err)
		os.Exit(1)
	}
	code := m.Run()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	server.Shutdown(ctx)
	cancel()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Server is the package's running engine.
func Server(t testing.TB) *embedded.Server {
	t.Helper()
	if server == nil {
		t.Fatal("chtest: call chtest.Main(m) from TestMain")
	}
	return server
}

// DSN is the clickhouse-go DSN of database db on the package's engine,
// with its credentials: the engine always requires them.
func DSN(t testing.TB, db string) string {
	return DSNVia(t, Server(t).Addr(), db)
}

// DSNVia is the DSN of database db with the engine's credentials at
// another address: a proxy in front of the engine.
func DSNVia(t testing.TB, addr, db string) string {
	user, password := Credentials(t)
	u := url.URL{Scheme: "http", User: url.UserPassword(user, password), Host: addr, Path: "/" + db}
	return u.String()
}

// Credentials are the user and password of the package's engine, for
// tests that speak its HTTP interface directly.
func Credentials(t testing.TB) (user, password string) {
	t.Helper()
	opts, err := storage.ParseDSN(Server(t).DSN())
	if err != nil {
		t.Fatal(err)
	}
	return opts.Auth.Username, opts.Auth.Password
}

// Conn connects to the default database; closed when the test ends.
func Conn(t testing.TB) driver.Conn { return ConnTo(t, "default") }

// ConnTo connects to database db; closed when the test ends.
func ConnTo(t testing.TB, db string) driver.Conn {
	t.Helper()
	conn, err := storage.Open(context.Background(), DSN(t, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Strings runs a statement whose rows are one String column and returns
// that column; any error fails the test.
func Strings(t testing.TB, conn driver.Conn, query string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// NewDatabase creates an empty database with a unique name and drops it when
// the test ends, so tests of one package never see each other's rows.
func NewDatabase(t testing.TB) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	conn := Conn(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	return name
}
