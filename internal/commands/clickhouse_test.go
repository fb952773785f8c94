package commands

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/embedded"
)

// clickHouseChildEnv makes the test binary run `tracehouse clickhouse`
// with the arguments in the variable (tab-separated) instead of the tests:
// the engine allows one per process, and the test binary has its own.
const clickHouseChildEnv = "COMMANDS_TEST_CLICKHOUSE_ARGS"

// runChildCommand runs the child's command when the test binary was
// started as one; it reports whether it did.
func runChildCommand() (int, bool) {
	args, ok := os.LookupEnv(clickHouseChildEnv)
	if !ok {
		return 0, false
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := zerolog.New(os.Stderr).Level(zerolog.DebugLevel)
	env := cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Logger: log, Lookup: os.LookupEnv}
	if err := ClickHouse.Run(ctx, strings.Split(args, "\t"), env); err != nil {
		log.Error().Err(err).Msg("clickhouse")
		return 1, true
	}
	return 0, true
}

// clickHouseChild is a running `tracehouse clickhouse`.
type clickHouseChild struct {
	cmd    *exec.Cmd
	stdout strings.Builder // the lines up to the curl line
	stderr strings.Builder // its logs, once it stopped
	dsn    string
	addr   string
}

func startClickHouse(t *testing.T, extraEnv []string, args ...string) *clickHouseChild {
	t.Helper()
	c := &clickHouseChild{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	c.cmd.Env = append(append(os.Environ(), clickHouseChildEnv+"="+strings.Join(args, "\t")), extraEnv...)
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		line := lines.Text()
		c.stdout.WriteString(line + "\n")
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "embedded ClickHouse listening on http://"):
			c.addr = strings.TrimPrefix(fields[len(fields)-1], "http://")
		case len(fields) >= 2 && fields[0] == "DSN":
			c.dsn = fields[1]
		}
		if c.dsn != "" {
			return c
		}
	}
	c.cmd.Wait()
	t.Fatalf("tracehouse clickhouse did not start:\n%s%s", c.stdout.String(), c.stderr.String())
	return nil
}

// stop sends SIGTERM and waits; the logs are complete after it.
func (c *clickHouseChild) stop(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tracehouse clickhouse: %v\n%s", err, c.stderr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("tracehouse clickhouse did not stop on SIGTERM")
	}
}

// TestClickHouseCommandSaysWhereThePasswordIs: `tracehouse clickhouse`
// generates a password into the data folder, prints where it is and a DSN
// that reads it (which works), and shows the password itself nowhere: not
// on stdout, not in a log line.
func TestClickHouseCommandSaysWhereThePasswordIs(t *testing.T) {
	dir := t.TempDir()
	c := startClickHouse(t, nil, "--data", dir, "--listen", "127.0.0.1:0")
	passwordFile := filepath.Join(dir, embedded.PasswordFileName)
	password, err := os.ReadFile(passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(password))
	if !strings.Contains(c.stdout.String(), passwordFile) || !strings.Contains(c.dsn, "password_file=") {
		t.Fatalf("the output does not say where the password is:\n%s", c.stdout.String())
	}
	conn, err := storage.Open(context.Background(), c.dsn)
	if err != nil {
		t.Fatalf("the printed DSN does not connect: %v", err)
	}
	var one uint8
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 through the printed DSN: %v", err)
	}
	conn.Close()
	resp, err := http.Post("http://"+c.addr+"/", "text/plain", strings.NewReader("SELECT 1"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), secret) {
		t.Fatalf("a request without credentials: %d %s", resp.StatusCode, body)
	}
	c.stop(t)
	for name, text := range map[string]string{"stdout": c.stdout.String(), "logs": c.stderr.String()} {
		if strings.Contains(text, secret) {
			t.Errorf("the password appears in the %s:\n%s", name, text)
		}
	}
	if !strings.Contains(c.stderr.String(), `"password_file":"`+passwordFile) {
		t.Errorf("the ready log line does not name the password file:\n%s", c.stderr.String())
	}
}

// TestClickHouseCommandTakesAGivenPassword: --password (here through its
// variable) and --user replace the generated password; no file is made.
func TestClickHouseCommandTakesAGivenPassword(t *testing.T) {
	dir := t.TempDir()
	const password = "correct horse battery staple"
	c := startClickHouse(t, []string{"TRACEHOUSE_CLICKHOUSE_PASSWORD=" + password}, "--data", dir, "--listen", "127.0.0.1:0", "--user", "ops")
	if _, err := os.Stat(filepath.Join(dir, embedded.PasswordFileName)); !os.IsNotExist(err) {
		t.Errorf("a password file was made although a password was given: %v", err)
	}
	for _, tc := range []struct {
		user, password string
		status         int
	}{{"ops", password, 200}, {"ops", "wrong", 403}, {embedded.DefaultUser, password, 403}} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+c.addr+"/", strings.NewReader("SELECT 1"))
		req.SetBasicAuth(tc.user, tc.password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("user %s with %s password: %d, want %d", tc.user, map[bool]string{true: "the", false: "a wrong"}[tc.password == password], resp.StatusCode, tc.status)
		}
	}
	c.stop(t)
	if strings.Contains(c.stdout.String()+c.stderr.String(), password) {
		t.Errorf("the given password was printed or logged")
	}
}
