// Command tracehouse is the Tracehouse product binary: the embedded
// ClickHouse, schema migrations, the collector and the query service, each a
// subcommand (internal/commands), and all of them together in one process
// with `all-in-one`, the default.
package main

import (
	"os"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/internal/commands"
	"github.com/tracehouse/tracehouse/internal/logging"
)

func main() { os.Exit(cli.Main(commands.Tracehouse, logging.New())) }
