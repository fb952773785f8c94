package embedded

import "strings"

// The engine has one session for the whole process: its current database and
// its settings are shared by every statement. ClickHouse's HTTP interface
// scopes both to a request, so the server holds Server.session while a
// request runs and brings the engine's session to what that request asks
// for first.

// applySession brings the engine's session (current database and settings)
// to what the request asks for. It changes only what differs from the
// previous request: a client that sends the same settings every time (as the
// query service does) pays for no SET at all. What does differ goes in one
// SET statement: all-in-one alternates the query service's reads (four
// limits) with the writer's inserts (three deduplication settings), and
// one statement per setting cost about 7 × 0.23 ms on every switch, more
// than the read itself (BenchmarkSessionSwitch).
func (s *Server) applySession(req *request) error {
	if req.database != s.database {
		if _, err := s.engine.Query("USE "+quoteIdent(req.database), "TabSeparated"); err != nil {
			return err
		}
		s.database = req.database
	}
	var changes []string
	for name := range s.settings {
		if _, keep := req.settings[name]; !keep {
			changes = append(changes, name+" = DEFAULT")
		}
	}
	for name, value := range req.settings {
		if current, ok := s.settings[name]; !ok || current != value {
			changes = append(changes, name+" = "+quoteString(value))
		}
	}
	if len(changes) == 0 {
		return nil
	}
	if len(changes) > 1 {
		if _, err := s.engine.Query("SET "+strings.Join(changes, ", "), "TabSeparated"); err == nil {
			for name := range s.settings {
				if _, keep := req.settings[name]; !keep {
					delete(s.settings, name)
				}
			}
			for name, value := range req.settings {
				s.settings[name] = value
			}
			return nil
		}
		// One of them was refused. The engine checks them all before it
		// applies any, but going one by one below names the one that
		// failed and keeps the record exact whatever was applied.
	}
	for name := range s.settings {
		if _, keep := req.settings[name]; keep {
			continue
		}
		if _, err := s.engine.Query("SET "+name+" = DEFAULT", "TabSeparated"); err != nil {
			return err
		}
		delete(s.settings, name)
	}
	for name, value := range req.settings {
		if current, ok := s.settings[name]; ok && current == value {
			continue
		}
		if _, err := s.engine.Query("SET "+name+" = "+quoteString(value), "TabSeparated"); err != nil {
			return err
		}
		s.settings[name] = value
	}
	return nil
}

// sessionStatement tells USE and SET statements. Over ClickHouse's HTTP
// interface without a session they change nothing beyond their own request,
// so they are answered without running: on this engine they would change
// the process-wide session under every other client.
func sessionStatement(sql string) bool {
	switch firstWord(sql) {
	case "USE", "SET":
		return true
	}
	return false
}

// quoteString makes a ClickHouse string literal; setting names are checked
// against settingName and values go in as literals, since SET takes no
// query parameters.
func quoteString(value string) string {
	return "'" + strings.NewReplacer("\\", "\\\\", "'", "\\'").Replace(value) + "'"
}

// quoteIdent makes a ClickHouse identifier of any name, for USE and DROP,
// which take no query parameters.
func quoteIdent(name string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(name) + "`"
}
