package collector

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// logger runs util-linux logger(1) against the all-in-one's syslog port.
func logger(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "logger", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("logger %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Syslog from util-linux logger, over TCP and UDP, in RFC 5424 and RFC
// 3164, lands with the app name as the service, the syslog severity as
// the level, and hostname, facility, process id, message id and
// structured data as attributes; a phrase of the message finds it.
func TestSyslogFromLogger(t *testing.T) {
	addr := freeTCPAndUDP(t)
	a := startAllInOne(t, Receivers{Syslog: addr})
	port := fmt.Sprint(portOf(t, addr))
	run := fmt.Sprint(time.Now().UnixNano())

	logger(t, "--server", "127.0.0.1", "--port", port, "--tcp", "--rfc5424",
		"--tag", "billing", "--id=4242", "--msgid", "CHARGE", "--priority", "local3.err",
		"--sd-id", "order@32473", "--sd-param", `id="A-17"`, "--sd-param", `amount="12.50"`,
		"card declined for order A-17 run"+run)
	logger(t, "--server", "127.0.0.1", "--port", port, "--udp", "--rfc5424",
		"--tag", "billing", "--priority", "user.warning", "retrying charge run"+run)
	logger(t, "--server", "127.0.0.1", "--port", port, "--udp", "--rfc3164",
		"--tag", "cron", "--id=77", "--priority", "cron.info", "nightly job started run"+run)
	logger(t, "--server", "127.0.0.1", "--port", port, "--tcp", "--rfc3164",
		"--tag", "kernel-ish", "--priority", "kern.crit", "disk failing run"+run)

	got := a.waitLogs(`service:billing level:error "card declined" `+"run"+run, 1)
	rec := got[0]
	for key, want := range map[string]any{
		"appname": "billing", "proc_id": "4242", "msg_id": "CHARGE", "facility": float64(19), "facility_text": "local3",
		"structured_data.order@32473.id": "A-17", "structured_data.order@32473.amount": "12.50", "log.source": "syslog",
	} {
		if rec.Attributes[key] != want {
			t.Errorf("RFC 5424 over TCP: attribute %s = %#v, want %#v (attributes %v)", key, rec.Attributes[key], want, rec.Attributes)
		}
	}
	host, _ := os.Hostname()
	if rec.Resource["host.name"] != host || rec.Attributes["hostname"] != host {
		t.Errorf("host.name %v, hostname %v, want %s", rec.Resource["host.name"], rec.Attributes["hostname"], host)
	}
	if body, _ := rec.Body.(string); body != "card declined for order A-17 run"+run || rec.SeverityText != "err" {
		t.Errorf("body %q severity %q, want the message and err", rec.Body, rec.SeverityText)
	}

	a.waitLogs(`attr.structured_data.order@32473.id:A-17 attr.msg_id:CHARGE run`+run, 1)
	a.waitLogs(`service:billing level:warn "retrying charge" run`+run, 1)
	cron := a.waitLogs(`service:cron level:info "nightly job" run`+run, 1)[0]
	if cron.Attributes["proc_id"] != "77" || cron.Attributes["facility_text"] != "cron" || cron.Attributes["version"] != nil {
		t.Errorf("RFC 3164 over UDP: attributes %v", cron.Attributes)
	}
	// The receiver maps crit to ERROR2 and alert to ERROR3 (emerg alone
	// is FATAL): level:error finds them.
	crit := a.waitLogs(`level:error "disk failing" run`+run, 1)[0]
	if crit.Service != "kernel-ish" || crit.SeverityText != "crit" || crit.SeverityNumber != 18 {
		t.Errorf("RFC 3164 over TCP: service %q severity %q (%d)", crit.Service, crit.SeverityText, crit.SeverityNumber)
	}
	a.waitLogs(`attr.log.source:syslog run`+run, 4)
}

// rsyslog, Debian's syslog daemon, forwards what local programs log to its
// socket: over TCP in RFC 5424 (its RSYSLOG_SyslogProtocol23Format) and
// over UDP in its default forwarding format (RSYSLOG_TraditionalForwardFormat,
// RFC 3164).
func TestSyslogFromRsyslog(t *testing.T) {
	// rsyslogd is in /usr/sbin, which a non-root PATH may leave out.
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		rsyslogd, err = exec.LookPath("/usr/sbin/rsyslogd")
	}
	if err != nil {
		t.Fatal("rsyslogd is not installed: apt-get install rsyslog (.ci/run installs it)")
	}
	addr := freeTCPAndUDP(t)
	a := startAllInOne(t, Receivers{Syslog: addr})
	port := portOf(t, addr)

	dir := t.TempDir()
	sock := filepath.Join(dir, "log.sock")
	conf := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`
global(workDirectory="%[1]s")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="%[2]s" CreatePath="on" RateLimit.Interval="0")
if $programname == "shipping" then {
  action(type="omfwd" target="127.0.0.1" port="%[3]d" protocol="tcp" template="RSYSLOG_SyslogProtocol23Format")
}
if $programname == "legacy" then {
  action(type="omfwd" target="127.0.0.1" port="%[3]d" protocol="udp")
}
`, dir, sock, port)), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, rsyslogd, "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"))
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unixgram", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not open %s: %s", sock, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	run := fmt.Sprint(time.Now().UnixNano())
	logger(t, "--socket", sock, "--tag", "shipping", "--priority", "daemon.err", "label printer jammed run"+run)
	logger(t, "--socket", sock, "--tag", "shipping", "--priority", "daemon.notice", "parcel handed over run"+run)
	logger(t, "--socket", sock, "--tag", "legacy", "--priority", "local0.warning", "quota nearly full run"+run)

	rec := a.waitLogs(`service:shipping level:error "printer jammed" run`+run, 1)[0]
	if rec.Attributes["version"] != float64(1) || rec.Attributes["facility_text"] != "daemon" {
		t.Errorf("rsyslog over TCP should arrive as RFC 5424 from daemon: %v", rec.Attributes)
	}
	a.waitLogs(`service:shipping level:info "handed over" run`+run, 1)
	legacy := a.waitLogs(`service:legacy level:warn "quota nearly full" run`+run, 1)[0]
	if legacy.Attributes["version"] != nil || legacy.Attributes["facility_text"] != "local0" {
		t.Errorf("rsyslog over UDP should arrive as RFC 3164 from local0: %v", legacy.Attributes)
	}
}
