package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/chtest"
)

// A client in the server's process reaches it without a socket; one with
// clickhouse-go's own transport (as in another process) over TCP. Both get
// the same answers.
func TestInProcessClientSkipsTheSocket(t *testing.T) {
	srv := chtest.Server(t)
	ctx := context.Background()
	conn := chtest.Conn(t) // storage.Open, as the product opens it
	opts, err := storage.ParseDSN(chtest.DSN(t, "default"))
	if err != nil {
		t.Fatal(err)
	}
	opts.TransportFunc = nil
	tcp, err := clickhouse.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()

	query := "SELECT number, toString(number) FROM numbers(100000)"
	count := func(c storage.Conn) (n int, sum uint64) {
		rows, err := c.Query(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var v uint64
			var s string
			if err := rows.Scan(&v, &s); err != nil {
				t.Fatal(err)
			}
			n, sum = n+1, sum+v
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return n, sum
	}

	count(conn) // the pool's first connection says hello first
	before := srv.InProcessRequestsForTest()
	n, sum := count(conn)
	if got := srv.InProcessRequestsForTest() - before; got != 1 {
		t.Errorf("storage.Open's connection made %d in-process requests for one query, want 1", got)
	}
	if n != 100000 || sum != 100000*99999/2 {
		t.Errorf("in-process: %d rows summing to %d, want 100000 rows summing to %d", n, sum, 100000*99999/2)
	}

	count(tcp)
	before = srv.InProcessRequestsForTest()
	tn, tsum := count(tcp)
	if got := srv.InProcessRequestsForTest() - before; got != 0 {
		t.Errorf("a connection with clickhouse-go's own transport made %d in-process requests, want 0 (TCP)", got)
	}
	if tn != n || tsum != sum {
		t.Errorf("TCP: %d rows summing to %d; in-process gave %d and %d", tn, tsum, n, sum)
	}
}

// The in-process path runs every check a TCP request passes: a wrong
// password and a statement the guard refuses fail the same way.
func TestInProcessKeepsTheChecks(t *testing.T) {
	srv := chtest.Server(t)
	ctx := context.Background()
	user, _ := chtest.Credentials(t)
	opts, err := storage.ParseDSN(chtest.DSN(t, "default"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Auth = clickhouse.Auth{Database: "default", Username: user, Password: "wrong"}
	before := srv.InProcessRequestsForTest()
	bad, err := clickhouse.Open(opts)
	if err == nil {
		err = bad.Ping(ctx)
		bad.Close()
	}
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ex.Code != 516 {
		t.Errorf("wrong password in-process: %v, want AUTHENTICATION_FAILED (516)", err)
	}
	if srv.InProcessRequestsForTest() == before {
		t.Error("the wrong-password request did not go in-process")
	}

	conn := chtest.Conn(t)
	err = conn.Exec(ctx, "SELECT * FROM file('/etc/passwd', 'LineAsString')")
	if !errors.As(err, &ex) || ex.Code != 497 {
		t.Errorf("file() in-process: %v, want ACCESS_DENIED (497)", err)
	}
}

// A client that closes the body early frees the engine: the read is
// cancelled, not run to its end into a pipe nobody drains.
func TestInProcessEarlyCloseCancelsTheRead(t *testing.T) {
	srv := chtest.Server(t)
	client, target := inProcessClient(t)
	cancelled := srv.SchedulerStats().ReadsCancelled
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader("SELECT number FROM system.numbers"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var one uint8
	done := make(chan error, 1)
	go func() { done <- chtest.Conn(t).QueryRow(context.Background(), "SELECT 1").Scan(&one) }()
	select {
	case err := <-done:
		if err != nil || one != 1 {
			t.Fatalf("next query after an early close: %v %d", err, one)
		}
	case <-time.After(time.Minute):
		t.Fatal("the engine is still busy with a read whose client closed the body")
	}
	if srv.SchedulerStats().ReadsCancelled == cancelled {
		t.Error("the abandoned read was not cancelled")
	}
}

// inProcessClient is a plain HTTP client through the transport
// storage.ParseDSN gives, and the server's query URL with credentials.
func inProcessClient(t *testing.T) (*http.Client, string) {
	t.Helper()
	opts, err := storage.ParseDSN(chtest.DSN(t, "default"))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := opts.TransportFunc(&http.Transport{})
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: rt}, chtest.DSN(t, "default")[:len("http://")] + opts.Auth.Username + ":" + opts.Auth.Password + "@" + chtest.Server(t).Addr() + "/"
}

// A client whose context ends mid-result gets an error, never a result cut
// short that looks whole, as over TCP.
func TestInProcessContextEndIsAnError(t *testing.T) {
	conn := chtest.Conn(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rows, err := conn.Query(ctx, "SELECT number FROM system.numbers")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if n++; n == 10 {
			cancel()
		}
	}
	if rows.Err() == nil {
		t.Errorf("an endless result ended after %d rows without an error when its context was cancelled", n)
	}
}

// A raw HTTP client through the in-process transport gets what a TCP one
// gets, refusals included: a GET may not write, a request from a web page
// is refused, a statement the guard denies is denied.
func TestInProcessRawRequests(t *testing.T) {
	srv := chtest.Server(t)
	inProc, target := inProcessClient(t)
	tcp := &http.Client{Transport: &http.Transport{}}
	defer tcp.CloseIdleConnections()
	do := func(client *http.Client, method, query string, header http.Header) string {
		t.Helper()
		req, err := http.NewRequest(method, target+"?query="+url.QueryEscape(query), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s code=%q: %s", resp.StatusCode, resp.Header.Get("Content-Type"),
			resp.Header.Get("X-ClickHouse-Exception-Code"), body)
	}
	for _, c := range []struct {
		method, query string
		header        http.Header
		want          string // start of the answer
	}{
		{http.MethodGet, "SELECT 1", nil, "200 text/plain; charset=UTF-8 code=\"\": 1\n"},
		{http.MethodGet, "CREATE TABLE inproc_get (x UInt8) ENGINE = Memory", nil, "500 text/plain; charset=UTF-8 code=\"164\""},
		{http.MethodPost, "SELECT 1", http.Header{"Origin": {"http://evil.example"}}, "403 text/plain; charset=UTF-8 code=\"497\""},
		{http.MethodPost, "SELECT * FROM file('/etc/passwd')", nil, "403 text/plain; charset=UTF-8 code=\"497\""},
		{http.MethodOptions, "", nil, "204  code=\"\": "},
	} {
		before := srv.InProcessRequestsForTest()
		got := do(inProc, c.method, c.query, c.header)
		if srv.InProcessRequestsForTest() == before {
			t.Errorf("%s %s did not go in-process", c.method, c.query)
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%s %s in-process: %q, want %q…", c.method, c.query, got, c.want)
		}
		if overTCP := do(tcp, c.method, c.query, c.header); got != overTCP {
			t.Errorf("%s %s: in-process %q, over TCP %q", c.method, c.query, got, overTCP)
		}
	}
}
