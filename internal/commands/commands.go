// Package commands holds the subcommands of the tracehouse binary, one file
// each. Every flag of every command can also be set from the environment
// (TRACEHOUSE_…; `tracehouse COMMAND -h` names each variable).
package commands

import (
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/storage/schema"
)

// Tracehouse is the tracehouse binary: without a command it runs
// all-in-one.
var Tracehouse = cli.Program{
	Name:     "tracehouse",
	Default:  AllInOne.Name,
	Commands: []cli.Command{AllInOne, Collector, Query, ClickHouse, Migrate},
}

// Variables shared by several commands: a deployment states each setting
// once, whichever commands it runs.
const (
	// EnvClickHouse holds the ClickHouse DSN of query and migrate (and of
	// the shipped ingest-gateway collector configuration).
	EnvClickHouse = "TRACEHOUSE_CLICKHOUSE"
	// EnvData is the embedded ClickHouse's data folder.
	EnvData = "TRACEHOUSE_DATA"
	// EnvClickHouseListen is the address of the embedded ClickHouse.
	EnvClickHouseListen = "TRACEHOUSE_CLICKHOUSE_LISTEN"
	// EnvQueryHTTP is the address of the query API and UI.
	EnvQueryHTTP = "TRACEHOUSE_QUERY_HTTP"
	// EnvSpansTTL and EnvLogsTTL are the retentions all-in-one and migrate
	// apply.
	EnvSpansTTL = "TRACEHOUSE_SPANS_TTL"
	EnvLogsTTL  = "TRACEHOUSE_LOGS_TTL"
)

// ttlValue is a retention flag: a Go duration whose units may include d
// (24h), e.g. 7d, 36h, 1d12h; 0 keeps data forever. all-in-one and migrate
// share it so that a retention is written the same way everywhere.
type ttlValue struct{ d *time.Duration }

func (v ttlValue) String() string {
	if v.d == nil {
		return ""
	}
	return schema.FormatTTL(*v.d)
}

func (v ttlValue) Set(s string) error {
	d, err := schema.ParseTTL(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// ttlVar defines a retention flag stored in p, starting at def.
func ttlVar(fs *cli.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var(ttlValue{p}, name, usage)
}
