package storage

import (
	"fmt"
	"regexp"
	"strings"
)

// identRE is what Tracehouse accepts as a database or table name: a plain
// identifier, so a name from a DSN or a flag can never carry SQL.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// CheckIdent reports a name that is not a plain identifier.
func CheckIdent(name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("%q is not a plain identifier (letters, digits and _, not starting with a digit)", name)
	}
	return nil
}

// QuoteIdent quotes a name for SQL text.
func QuoteIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }
