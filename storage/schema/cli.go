package schema

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracehouse/tracehouse/storage"
)

// EnvClickHouse names the environment variable that holds the DSN when
// --clickhouse is not given.
const EnvClickHouse = "TRACEHOUSE_CLICKHOUSE"

// RunMigrateCommand is `tracehouse migrate`: it applies the schema to the
// ClickHouse at --clickhouse and prints what it applied, or with --dry-run
// prints the SQL it would run without connecting.
func RunMigrateCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fl.SetOutput(stdout)
	defaultDSN := os.Getenv(EnvClickHouse)
	if defaultDSN == "" {
		defaultDSN = storage.DefaultDSN
	}
	defaults := DefaultOptions()
	dsn := fl.String("clickhouse", defaultDSN, "ClickHouse DSN (env "+EnvClickHouse+")")
	database := fl.String("database", "", "database for the Tracehouse tables (default: the DSN's database, else \"default\")")
	cluster := fl.String("cluster", "", "cluster name for ON CLUSTER and Distributed tables; empty for a single node")
	spansTTL := ttlFlag(fl, "spans-ttl", defaults.SpansTTL, "how long spans are kept, e.g. 7d, 36h; 0 keeps them forever")
	logsTTL := ttlFlag(fl, "logs-ttl", defaults.LogsTTL, "how long logs are kept; 0 keeps them forever")
	metricsTTL := ttlFlag(fl, "metrics-ttl", defaults.MetricsTTL, "how long the per-minute aggregates are kept; 0 keeps them forever")
	dryRun := fl.Bool("dry-run", false, "print the SQL instead of running it")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "Usage: tracehouse migrate [flags]\n\nCreates or updates the Tracehouse tables in ClickHouse.\n\nFlags:")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected argument %q (flags only; see --help)", fl.Arg(0))
	}

	chOpts, err := storage.ParseDSN(*dsn)
	if err != nil {
		return err
	}
	// A TTL given on the command line may shorten the table's; a default
	// may not (running migrate after an upgrade must not cut a 30-day
	// retention to the 7-day default).
	given := map[string]bool{}
	fl.Visit(func(f *flag.Flag) { given[f.Name] = true })
	opts := Options{
		Database:          *database,
		Cluster:           *cluster,
		SpansTTL:          *spansTTL,
		LogsTTL:           *logsTTL,
		MetricsTTL:        *metricsTTL,
		ShortenSpansTTL:   given["spans-ttl"],
		ShortenLogsTTL:    given["logs-ttl"],
		ShortenMetricsTTL: given["metrics-ttl"],
	}
	if opts.Database == "" {
		opts.Database = chOpts.Auth.Database
	}
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return err
	}

	if *dryRun {
		return printSQL(stdout, opts)
	}

	// Connect without a database: the one we are about to create may not
	// exist yet, and every statement names its database anyway.
	chOpts.Auth.Database = ""
	conn, err := clickhouse.Open(chOpts)
	if err != nil {
		return fmt.Errorf("migrate: connect to ClickHouse at %s: %w", strings.Join(chOpts.Addr, ","), err)
	}
	defer conn.Close()
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("migrate: ClickHouse at %s does not answer: %w (is it running? `tracehouse clickhouse` starts the embedded engine)", strings.Join(chOpts.Addr, ","), err)
	}
	kept := 0
	opts.KeptTTL = func(d TTLDiff) {
		fmt.Fprintln(stdout, d.Explain("tracehouse migrate"))
		kept++
	}
	applied, err := Migrate(ctx, conn, opts)
	for _, a := range applied {
		fmt.Fprintf(stdout, "applied %s\n", a)
	}
	if err != nil {
		return err
	}
	if len(applied) == 0 && kept == 0 {
		fmt.Fprintf(stdout, "schema in database %s is up to date\n", opts.Database)
	}
	return nil
}

func printSQL(w io.Writer, opts Options) error {
	boot, err := renderBootstrap(opts)
	if err != nil {
		return err
	}
	migrations, err := Render(opts)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, boot.SQL); err != nil {
		return err
	}
	for _, m := range migrations {
		if _, err := fmt.Fprintf(w, "\n-- migration %s (checksum %s)\n%s", m.ID(), m.Checksum, m.SQL); err != nil {
			return err
		}
	}
	return nil
}

// ttlFlag defines a retention flag that accepts Go durations plus a "d"
// (day) unit: "7d", "36h", "1d12h", "0".
func ttlFlag(fl *flag.FlagSet, name string, def time.Duration, usage string) *time.Duration {
	d := def
	fl.Func(name, usage+" (default "+FormatTTL(def)+")", func(s string) error {
		v, err := ParseTTL(s)
		if err != nil {
			return err
		}
		d = v
		return nil
	})
	return &d
}

// ParseTTL parses a retention: a Go duration whose units may include d
// (24h), e.g. "7d", "1d12h", "90m"; "0" keeps data forever.
func ParseTTL(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty TTL (use 0 to keep data forever)")
	}
	invalid := fmt.Errorf("invalid TTL %q: want e.g. 7d, 36h or 1d12h (0 keeps data forever)", s)
	rest := in
	var days time.Duration
	if i := strings.Index(rest, "d"); i >= 0 {
		n, err := strconv.ParseUint(rest[:i], 10, 16)
		if err != nil {
			return 0, invalid
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = rest[i+1:]
		if rest == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 {
		return 0, invalid
	}
	return days + d, nil
}

// FormatTTL prints a retention the way ParseTTL reads it.
func FormatTTL(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}
