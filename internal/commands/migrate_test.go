package commands

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// runMigrateCmd runs `tracehouse migrate args` with the variables vars.
func runMigrateCmd(t *testing.T, args []string, out *bytes.Buffer, vars map[string]string) error {
	t.Helper()
	return Migrate.Run(context.Background(), args, cli.Env{Stdout: out, Stderr: out, Lookup: lookup(vars)})
}

func migrationIDs(t *testing.T) []string {
	t.Helper()
	migrations, err := schema.Render(schema.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range migrations {
		ids = append(ids, m.ID())
	}
	return ids
}

func TestMigrateKeepsLongerTTL(t *testing.T) {
	conn := chtest.Conn(t)
	db := fmt.Sprintf("test_cli_ttl_%d", time.Now().UnixNano())
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	dsn := chtest.DSN(t, db)
	var out bytes.Buffer
	if err := runMigrateCmd(t, []string{"--clickhouse", dsn, "--spans-ttl", "30d"}, &out, nil); err != nil {
		t.Fatal(err)
	}
	// Run again after an upgrade, without the flag: the 30 days stay.
	out.Reset()
	if err := runMigrateCmd(t, []string{"--clickhouse", dsn}, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "kept the TTL of spans, 720h0m0s") || strings.Contains(out.String(), "applied ttl") {
		t.Errorf("migrate without --spans-ttl printed:\n%s\nwant the 30-day TTL kept and reported", out.String())
	}
	// Given explicitly, it is shortened.
	out.Reset()
	if err := runMigrateCmd(t, []string{"--clickhouse", dsn, "--spans-ttl", "7d"}, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "applied ttl spans 168h0m0s") {
		t.Errorf("migrate --spans-ttl 7d printed:\n%s\nwant the TTL shortened", out.String())
	}
}

func TestMigrate(t *testing.T) {
	conn := chtest.Conn(t)
	db := fmt.Sprintf("test_cli_%d", time.Now().UnixNano())
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	dsn := chtest.DSN(t, db) // a database that does not exist yet
	var out bytes.Buffer
	if err := runMigrateCmd(t, []string{"--clickhouse", dsn, "--spans-ttl", "3d"}, &out, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range migrationIDs(t) {
		if !strings.Contains(out.String(), "applied "+id+"\n") {
			t.Errorf("output does not report %s:\n%s", id, out.String())
		}
	}
	out.Reset()
	if err := runMigrateCmd(t, []string{"--spans-ttl", "3d"}, &out, map[string]string{EnvClickHouse: dsn}); err != nil {
		t.Fatal(err)
	}
	if want := "schema in database " + db + " is up to date\n"; out.String() != want {
		t.Errorf("second run printed %q, want %q", out.String(), want)
	}
}

func TestMigrateDryRun(t *testing.T) {
	var out bytes.Buffer
	err := runMigrateCmd(t, []string{
		"--clickhouse", "http://127.0.0.1:1/from_dsn", "--cluster", "{cluster}", "--spans-ttl", "3d", "--logs-ttl", "0", "--dry-run",
	}, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	sql := out.String()
	for _, want := range []string{
		"CREATE DATABASE IF NOT EXISTS from_dsn ON CLUSTER '{cluster}'",
		"-- migration 0001_spans (checksum ",
		"CREATE TABLE IF NOT EXISTS from_dsn.spans_local ON CLUSTER '{cluster}'",
		"TTL toDateTime(Timestamp) + INTERVAL 3 DAY",
		"TTL Timestamp + INTERVAL 30 DAY",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	logs := regexp.MustCompile(`(?s)CREATE TABLE IF NOT EXISTS from_dsn\.logs_local .*?SETTINGS`).FindString(sql)
	if logs == "" || strings.Contains(logs, "TTL ") {
		t.Errorf("--logs-ttl 0 must render the logs table without TTL:\n%s", logs)
	}

	out.Reset()
	if err := runMigrateCmd(t, []string{"--database", "explicit", "--dry-run"}, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "CREATE TABLE IF NOT EXISTS explicit.spans\n") {
		t.Errorf("--database is not used")
	}

	for _, args := range [][]string{{"--spans-ttl", "soon"}, {"--database", "bad name", "--dry-run"}, {"extra"}} {
		if err := runMigrateCmd(t, args, &bytes.Buffer{}, nil); err == nil {
			t.Errorf("migrate %q: want an error", args)
		}
	}
}

func TestWithoutDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8123/tracehouse":                  "http://127.0.0.1:8123",
		"clickhouse://u:p@ch1:9000,ch2:9000/db?secure=true": "clickhouse://u:p@ch1:9000,ch2:9000?secure=true",
		"127.0.0.1:8123": "http://127.0.0.1:8123",
		"":               "http://127.0.0.1:8123",
	} {
		if got, err := withoutDatabase(in); err != nil || got != want {
			t.Errorf("withoutDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
