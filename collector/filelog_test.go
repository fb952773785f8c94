package collector

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// Lines appended to tailed files while Tracehouse runs are each stored
// once, including across a restart in the middle with lines written while
// it was down: the checkpoints in DATA/filelog say where reading resumes.
// Lines already in a file when it is first seen are not imported. JSON
// lines are parsed (service, level, time, message); plain lines are kept
// as text with their service from the file name.
func TestFileLogTailsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	data := filepath.Join(dir, "data")
	app := filepath.Join(logs, "inventory.log")
	appendLines(t, app, `{"level":"error","message":"written before Tracehouse started"}`)

	a := startAllInOne(t, Receivers{TailLogs: []string{filepath.Join(logs, "*.log")}, DataDir: data})
	run := fmt.Sprint(time.Now().UnixNano())
	at := time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Millisecond)
	line := func(i int) string {
		return fmt.Sprintf(`{"level":"warn","time":%q,"message":"stock low item %d run%s","item":%d,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`,
			at.Format(time.RFC3339Nano), i, run, i)
	}
	// Let the receiver see the file (and skip what it holds) first.
	time.Sleep(time.Second)
	for i := 0; i < 10; i++ {
		appendLines(t, app, line(i))
	}
	appendLines(t, app, "plain text line run"+run)
	recs := a.waitLogs(`service:inventory level:warn "stock low" run`+run, 10)
	r := recs[0]
	if r.Attributes["log.source"] != "file" || r.Attributes["log.file.path"] != app || r.Attributes["log.file.name"] != "inventory.log" {
		t.Errorf("file attributes: %v", r.Attributes)
	}
	if r.TraceID != "" || r.Attributes["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("a tailed line's trace_id must stay an attribute, not link the record to the trace: traceId %q attributes %v", r.TraceID, r.Attributes)
	}
	if ts, err := time.Parse(time.RFC3339Nano, r.Timestamp); err != nil || !ts.Equal(at) {
		t.Errorf("timestamp %s, want the line's time %s", r.Timestamp, at)
	}
	if !strings.HasPrefix(fmt.Sprint(r.Body), "stock low item") {
		t.Errorf("body %#v, want the message", r.Body)
	}
	plain := a.waitLogs(`"plain text line" run`+run, 1)[0]
	if plain.Service != "inventory" || plain.Body != "plain text line run"+run {
		t.Errorf("plain line: %+v", plain)
	}
	if got := a.logs(`"written before Tracehouse started"`); len(got) != 0 {
		t.Errorf("a line already in the file at the first start was imported: %s", dumpLogs(got))
	}

	// Restart with lines written while Tracehouse was down, then more.
	a.stop()
	for i := 10; i < 20; i++ {
		appendLines(t, app, line(i))
	}
	// A file created while Tracehouse was down is read from its start.
	appendLines(t, filepath.Join(logs, "billing.log"), `{"level":"info","service":"billing-batch","msg":"nightly export done run`+run+`"}`)
	a.start()
	for i := 20; i < 30; i++ {
		appendLines(t, app, line(i))
	}
	recs = a.waitLogs(`service:inventory "stock low" run`+run, 30)
	items := map[float64]int{}
	for _, r := range recs {
		items[r.Attributes["item"].(float64)]++
	}
	for i := 0; i < 30; i++ {
		if items[float64(i)] != 1 {
			t.Errorf("item %d stored %d times, want once", i, items[float64(i)])
		}
	}
	a.waitLogs(`service:billing-batch level:info "nightly export done" run`+run, 1)
	a.waitLogs(`attr.log.source:file run`+run, 32)
	if _, err := os.Stat(filepath.Join(data, FileCheckpointDir)); err != nil {
		t.Errorf("no checkpoints in the data folder: %v", err)
	}
}
