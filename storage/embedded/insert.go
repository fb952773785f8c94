package embedded

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Insert data never goes to the engine inside the statement: the engine
// (chDB 26.5) cuts inline data at the first blank line ("\n\n"), so binary
// Native bodies would fail now and then ("Cannot read all data in
// NativeReader"). The server spools the data to a file instead (in tmpfs by
// default) and has the engine read that file.

// insertHeadBytes is how much of a body is searched for an INSERT
// statement followed by its data.
const insertHeadBytes = 64 << 10

// insertHeader finds "INSERT INTO <target> FORMAT <name>" or
// "INSERT INTO <target> VALUES" at the start of a statement.
var insertHeader = regexp.MustCompile(`(?is)^\s*(INSERT\s+INTO\s+.+?)\s+(?:FORMAT\s+([A-Za-z0-9_]+)|(VALUES))[ \t]*\r?\n?`)

// splitInsert separates an INSERT statement from the data that follows it.
func splitInsert(sql string) (target, format, rest string, ok bool) {
	m := insertHeader.FindStringSubmatchIndex(sql)
	if m == nil {
		return "", "", "", false
	}
	target = sql[m[2]:m[3]]
	if m[4] >= 0 {
		format = sql[m[4]:m[5]]
		rest = sql[m[1]:]
	} else {
		format = "Values"
		rest = sql[m[6]+len("VALUES"):]
	}
	if strings.Contains(strings.ToUpper(target), " SELECT ") {
		return "", "", "", false // INSERT … SELECT carries no data
	}
	return target, format, rest, true
}

// insertAtHead looks for "INSERT INTO t FORMAT X" at the start of a body that
// holds both the statement and its data. When it finds one it returns the
// statement and the data that follows it, unread; otherwise rest is the
// whole body, also unread. Only the FORMAT form counts here: VALUES data is
// SQL text, which the caller reads whole with the statement.
func insertAtHead(body io.Reader) (stmt, target, format string, rest io.Reader, ok bool) {
	buffered := bufio.NewReaderSize(body, insertHeadBytes)
	head, _ := buffered.Peek(insertHeadBytes)
	if m := insertHeader.FindSubmatchIndex(head); m != nil && m[4] >= 0 && m[1] < len(head) {
		stmt := string(head[:m[1]])
		if target, format, _, ok := splitInsert(stmt); ok {
			buffered.Discard(m[1])
			return strings.TrimSpace(stmt), target, format, buffered, true
		}
	}
	return "", "", "", buffered, false
}

// spool writes a request's insert data to a new file in the spool folder and
// returns its path; the caller removes the file.
func (s *Server) spool(req *request) (string, error) {
	path := filepath.Join(s.spoolDir, strconv.FormatUint(s.spoolSeq.Add(1), 10)+".data")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("spool insert data: %w", err)
	}
	src := req.insertData
	if src == nil {
		src = bytes.NewReader(req.inlineData)
	}
	_, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && req.insertData != nil && valuesFormat(req.insertFormat) {
		// Values data is parsed as SQL expressions: guard it like a
		// statement (inline data was guarded with the statement).
		err = checkSpooledValues(path)
	}
	if err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}

// insertFromFile builds the statement that loads spooled data. Native data
// carries its own column types, so it is read with the file() table function
// as an INSERT … SELECT: the engine runs that as one server-side pipeline,
// much faster than FROM INFILE, which goes through the engine's client-side
// path. Other formats need the target's column types to parse, which FROM
// INFILE supplies.
func insertFromFile(target, format, path string) string {
	if strings.EqualFold(format, "Native") {
		return fmt.Sprintf("%s SELECT * FROM file('%s', 'Native')", target, path)
	}
	return fmt.Sprintf("%s FROM INFILE '%s' FORMAT %s", target, path, format)
}
