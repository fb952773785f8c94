package collector

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Bad input to each receiver is counted (and reported in the collector's
// log, at most once per interval), never crashes the collector and never
// stops the receiver: good input right after is stored.

// Syslog: an invalid priority, a line without a header, binary junk and a
// frame cut off by the sender closing the connection.
func TestSyslogBadInput(t *testing.T) {
	addr := freeTCPAndUDP(t)
	a := startAllInOne(t, Receivers{Syslog: addr})
	run := fmt.Sprint(time.Now().UnixNano())

	junk := make([]byte, 300)
	rand.Read(junk)
	junk = bytes.ReplaceAll(junk, []byte("\n"), nil)
	tcp, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(tcp, "<999>1 2026-12-01T00:00:00Z host app - - - invalid priority run%s\n", run)
	fmt.Fprintf(tcp, "no header at all run%s\n", run)
	tcp.Write(append(junk, '\n'))
	fmt.Fprintf(tcp, "<13>1 %s host app - - - truncated fra", time.Now().UTC().Format(time.RFC3339)) // no newline: the sender goes away
	tcp.Close()
	udp, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(udp, "<abc>Oct 11 22:14:15 host app: bad priority over udp run%s", run)
	udp.Write(junk)
	udp.Close()

	a.waitMetric("tracehouse_logs_unparsed_records", "logfields/syslog", 5)
	bad := a.waitLogs(`attr.log.source:syslog "priority" run`+run, 2)
	for _, r := range bad {
		if r.Attributes["log.parse_error"] == nil {
			t.Errorf("a bad line is not marked with log.parse_error: %+v", r)
		}
	}
	a.waitLogs(`attr.log.parse_error:* run`+run, 3)
	// A frame cut off is still a syslog line: stored with what it had.
	a.waitLogs(`service:app "truncated fra"`, 1)

	// Both transports still take good input.
	logger(t, "--server", "127.0.0.1", "--port", fmt.Sprint(portOf(t, addr)), "--tcp", "--rfc5424", "--tag", "after", "still listening tcp run"+run)
	logger(t, "--server", "127.0.0.1", "--port", fmt.Sprint(portOf(t, addr)), "--udp", "--rfc3164", "--tag", "after", "still listening udp run"+run)
	a.waitLogs(`service:after "still listening" run`+run, 2)
}

// Fluent forward: a frame cut off in the middle, and bytes that are not
// msgpack at all. The receiver counts each (fluent_parse_failures) and
// closes that connection; other connections carry on.
func TestFluentForwardBadInput(t *testing.T) {
	addr := freeTCPAndUDP(t)
	a := startAllInOne(t, Receivers{Fluent: addr})
	run := fmt.Sprint(time.Now().UnixNano())

	// A message-mode array [tag, time, record] whose record map promises
	// two entries and brings one.
	truncated := []byte{0x93, 0xa3, 'a', 'p', 'p', 0xce, 0x65, 0x00, 0x00, 0x00, 0x82, 0xa3, 'm', 's', 'g', 0xa2, 'h', 'i'}
	for _, frame := range [][]byte{truncated, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(frame)
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		conn.Read(make([]byte, 16)) // the receiver closes it
		conn.Close()
	}
	a.waitMetric("tracehouse_fluent_bad_frames", "", 2)

	fluentSend(t, addr, run)
	a.waitLogs(`attr.log.source:fluent run`+run, 7)
}

// File log: a binary file matched by the glob is dropped and counted,
// while text appended to another matched file is still stored.
func TestFileLogBadInput(t *testing.T) {
	dir := t.TempDir()
	a := startAllInOne(t, Receivers{TailLogs: []string{filepath.Join(dir, "*.log")}, DataDir: filepath.Join(dir, "data")})
	run := fmt.Sprint(time.Now().UnixNano())

	time.Sleep(time.Second) // files that exist at the first poll are read from their end
	junk := make([]byte, 64<<10)
	rand.Read(junk)
	if err := os.WriteFile(filepath.Join(dir, "core.log"), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	a.waitMetric("tracehouse_logs_binary_records_dropped", "logfields/file", 1)
	appendLines(t, filepath.Join(dir, "app.log"), "text after the binary file run"+run)
	a.waitLogs(`service:app "after the binary file" run`+run, 1)
	if got := a.logs(`service:core`); len(got) != 0 {
		t.Errorf("%d records of the binary file were stored: %s", len(got), dumpLogs(got[:1]))
	}
}
