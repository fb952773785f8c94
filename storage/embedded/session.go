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
// query service does) pays for no SET at all, where setting and resetting
// around each request cost a statement apiece.
func (s *Server) applySession(req *request) error {
	if req.database != s.database {
		if _, err := s.engine.Query("USE "+quoteIdent(req.database), "TabSeparated"); err != nil {
			return err
		}
		s.database = req.database
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
