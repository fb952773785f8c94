package embedded

import "strings"

// returnsRows tells statements whose output may be large (and is streamed)
// from the ones that answer with little or nothing.
func returnsRows(sql string) bool {
	switch firstWord(sql) {
	case "SELECT", "WITH", "(": // the engine streams only queries
		return true
	}
	return false
}

// firstWord is a statement's first keyword in upper case, past leading
// comments, or "(" for a parenthesised query; "" when there is none.
func firstWord(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n")
	for strings.HasPrefix(sql, "--") || strings.HasPrefix(sql, "/*") {
		if strings.HasPrefix(sql, "--") {
			if i := strings.IndexByte(sql, '\n'); i >= 0 {
				sql = strings.TrimLeft(sql[i+1:], " \t\r\n")
				continue
			}
			return ""
		}
		if i := strings.Index(sql, "*/"); i >= 0 {
			sql = strings.TrimLeft(sql[i+2:], " \t\r\n")
			continue
		}
		return ""
	}
	if strings.HasPrefix(sql, "(") {
		return "("
	}
	end := strings.IndexAny(sql, " \t\r\n(")
	if end < 0 {
		end = len(sql)
	}
	return strings.ToUpper(sql[:end])
}
