package schema

import (
	"fmt"
	"strings"
)

// Script is the SQL Migrate runs on an empty database with opts: the
// bootstrap statements, then every migration under a comment naming it and
// its checksum. `tracehouse migrate --dry-run` prints it.
func Script(opts Options) (string, error) {
	boot, err := renderBootstrap(opts)
	if err != nil {
		return "", err
	}
	migrations, err := Render(opts)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(boot.SQL)
	for _, m := range migrations {
		fmt.Fprintf(&b, "\n-- migration %s (checksum %s)\n%s", m.ID(), m.Checksum, m.SQL)
	}
	return b.String(), nil
}
