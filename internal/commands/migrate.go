package commands

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Migrate is `tracehouse migrate`: it applies the schema to the ClickHouse
// at --clickhouse and prints what it applied, or with --dry-run prints the
// SQL it would run without connecting.
var Migrate = cli.Command{
	Name:    "migrate",
	Summary: "apply the schema migrations to a ClickHouse server or cluster",
	Run:     runMigrate,
}

type migrateConfig struct {
	dsn    string
	opts   schema.Options
	dryRun bool
}

func migrateFlags(env cli.Env) (*cli.FlagSet, *migrateConfig) {
	cfg := &migrateConfig{}
	o := &cfg.opts
	defaults := schema.DefaultOptions()
	fs := cli.NewFlagSet("tracehouse migrate", "TRACEHOUSE_MIGRATE", env)
	fs.StringVar(&cfg.dsn, "clickhouse", storage.DefaultDSN, "ClickHouse DSN")
	fs.SetEnv("clickhouse", EnvClickHouse)
	fs.StringVar(&o.Database, "database", "", "database for the Tracehouse tables (default: the DSN's database, else \"default\")")
	fs.StringVar(&o.Cluster, "cluster", "", "cluster name for ON CLUSTER and Distributed tables; empty for a single node")
	ttlVar(fs, &o.SpansTTL, "spans-ttl", defaults.SpansTTL, "how long spans are kept, a `duration` such as 7d, 36h or 1d12h; 0 keeps them forever")
	fs.SetEnv("spans-ttl", EnvSpansTTL)
	ttlVar(fs, &o.LogsTTL, "logs-ttl", defaults.LogsTTL, "how long logs are kept, a `duration` such as 7d; 0 keeps them forever")
	fs.SetEnv("logs-ttl", EnvLogsTTL)
	ttlVar(fs, &o.MetricsTTL, "metrics-ttl", defaults.MetricsTTL, "how long the per-minute aggregates are kept, a `duration` such as 30d; 0 keeps them forever")
	fs.SetEnv("metrics-ttl", "TRACEHOUSE_METRICS_TTL")
	fs.BoolVar(&cfg.dryRun, "dry-run", false, "print the SQL instead of running it")
	return fs, cfg
}

func parseMigrate(args []string, env cli.Env) (*migrateConfig, error) {
	fs, cfg := migrateFlags(env)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	chOpts, err := storage.ParseDSN(cfg.dsn)
	if err != nil {
		return nil, cli.Usage(err)
	}
	o := &cfg.opts
	// A TTL given (flag or variable) may shorten the table's; a default
	// may not: running migrate after an upgrade must not cut a 30-day
	// retention to the 7-day default.
	o.ShortenSpansTTL, o.ShortenLogsTTL, o.ShortenMetricsTTL = fs.Given("spans-ttl"), fs.Given("logs-ttl"), fs.Given("metrics-ttl")
	if o.Database == "" {
		o.Database = chOpts.Auth.Database
	}
	if o.Database == "" {
		o.Database = schema.DefaultDatabase
	}
	if err := o.Validate(); err != nil {
		return nil, cli.Usage(err)
	}
	return cfg, nil
}

func runMigrate(ctx context.Context, args []string, env cli.Env) error {
	cfg, err := parseMigrate(args, env)
	if err != nil {
		return err
	}
	opts := cfg.opts
	if cfg.dryRun {
		script, err := schema.Script(opts)
		if err != nil {
			return err
		}
		_, err = io.WriteString(env.Stdout, script)
		return err
	}

	// Connect without a database: the one we are about to create may not
	// exist yet, and every statement names its database anyway.
	dsn, err := withoutDatabase(cfg.dsn)
	if err != nil {
		return cli.Usage(err)
	}
	conn, err := storage.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	kept := 0
	opts.KeptTTL = func(d schema.TTLDiff) {
		fmt.Fprintln(env.Stdout, d.Explain("tracehouse migrate"))
		kept++
	}
	applied, err := schema.Migrate(ctx, conn, opts)
	for _, a := range applied {
		fmt.Fprintf(env.Stdout, "applied %s\n", a)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 && kept == 0 {
		fmt.Fprintf(env.Stdout, "schema in database %s is up to date\n", opts.Database)
	}
	return nil
}

// withoutDatabase is dsn with its database (the URL's path) removed, as
// storage.ParseDSN reads it.
func withoutDatabase(dsn string) (string, error) {
	if dsn == "" {
		dsn = storage.DefaultDSN
	}
	if !strings.Contains(dsn, "://") {
		dsn = "http://" + dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url's error repeats the DSN, password included.
		return "", fmt.Errorf("invalid ClickHouse DSN: it does not parse as a URL")
	}
	u.Path, u.RawPath = "", ""
	return u.String(), nil
}
