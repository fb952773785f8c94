package storage

import (
	"fmt"
	"regexp"
	"strings"
)

// identRE is what Tracehouse accepts as a database or table name: a plain
// identifier, which is safe in SQL text, needs no quoting on any ClickHouse
// version and reads the same in every tool.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidIdent reports whether name is a plain identifier (letters, digits,
// underscore; not starting with a digit).
func ValidIdent(name string) bool { return identRE.MatchString(name) }

// CheckIdent is ValidIdent as an error that says what a valid name looks like.
func CheckIdent(name string) error {
	if ValidIdent(name) {
		return nil
	}
	return fmt.Errorf("name %q is not a plain identifier (letters, digits, underscore; not starting with a digit)", name)
}

// QuoteIdent quotes name as a ClickHouse identifier (backquotes, an inner
// backquote doubled), so that a name that is also a keyword is still read as
// a name.
func QuoteIdent(name string) string { return "`" + strings.ReplaceAll(name, "`", "``") + "`" }
