package httpx_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
)

func newClient(t *testing.T, urls ...string) *httpx.Client {
	t.Helper()
	tel := testenv.NewTelemetry(t, telemetry.Config{ServiceName: "caller", InstanceID: "caller-1"})
	c := httpx.NewClient("peer", urls, tel, 5*time.Second)
	t.Cleanup(c.Close)
	return c
}

// replica answers every request with 200 and counts them.
func replica(t *testing.T) (url string, served *atomic.Int64) {
	served = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, served
}

// crashingReplica reads each request whole, then drops the connection
// without an answer: a process that died while handling it.
func crashingReplica(t *testing.T) (url string, got *atomic.Int64) {
	got = &atomic.Int64{}
	ln := testenv.Listen(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err == nil {
					req.Body.Close()
					got.Add(1)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), got
}

func closedPort(t *testing.T) string {
	ln := testenv.Listen(t)
	ln.Close()
	return "http://" + ln.Addr().String()
}

func post(c *httpx.Client, header map[string]string) error {
	return c.Do(context.Background(), httpx.Request{Method: http.MethodPost, Route: "/v1/x", Path: "/v1/x", Header: header, Body: map[string]int{"n": 1}}, nil)
}

// A refused connection carried nothing: any request goes to the next
// replica, and the dead one leaves the rotation.
func TestRefusedReplicaIsSkipped(t *testing.T) {
	live, served := replica(t)
	c := newClient(t, closedPort(t), live)
	for i := range 6 {
		if err := post(c, nil); err != nil {
			t.Fatalf("request %d with one replica refusing: %v", i, err)
		}
	}
	if served.Load() != 6 {
		t.Errorf("the live replica served %d of 6", served.Load())
	}
}

// A replica that dies mid-request may have done the work: only a
// replayable request (Idempotency-Key) is sent to another replica; any
// other fails, so the caller does not do the work twice.
func TestReplicaDyingMidRequest(t *testing.T) {
	t.Run("replayable", func(t *testing.T) {
		crashing, got := crashingReplica(t)
		live, served := replica(t)
		c := newClient(t, crashing, live)
		for i := range 6 {
			if err := post(c, map[string]string{httpx.IdempotencyKeyHeader: "k"}); err != nil {
				t.Fatalf("replayable request %d: %v", i, err)
			}
		}
		if got.Load() == 0 || served.Load() != 6 {
			t.Errorf("crashing replica got %d, live one served %d of 6; want the crash seen and every request answered", got.Load(), served.Load())
		}
	})
	t.Run("not replayable", func(t *testing.T) {
		crashing, _ := crashingReplica(t)
		live, _ := replica(t)
		c := newClient(t, crashing, live)
		var failed int
		for range 6 {
			if err := post(c, nil); err != nil {
				upErr, ok := httpx.AsUpstream(err)
				if !ok || upErr.Status != 0 {
					t.Fatalf("want a no-answer UpstreamError, got %v", err)
				}
				failed++
			}
		}
		// Round robin sends every other request to the crashing replica,
		// and none of them may be retried.
		if failed != 3 {
			t.Errorf("%d of 6 requests failed, want the 3 that reached the crashing replica", failed)
		}
	})
}

// Affinity sends every request with one key to one replica.
func TestAffinityPicksOneReplicaPerKey(t *testing.T) {
	a, servedA := replica(t)
	b, servedB := replica(t)
	c := newClient(t, a, b)
	for _, key := range []string{"ord_1", "ord_2", "ord_3", "ord_4", "ord_5", "ord_6", "ord_7", "ord_8"} {
		beforeA, beforeB := servedA.Load(), servedB.Load()
		for range 3 {
			if err := c.Do(context.Background(), httpx.Request{Method: http.MethodGet, Route: "/x", Path: "/x", Affinity: key}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if da, db := servedA.Load()-beforeA, servedB.Load()-beforeB; !(da == 3 && db == 0 || da == 0 && db == 3) {
			t.Errorf("key %s: replicas served %d and %d of 3; want all on one", key, da, db)
		}
	}
	if servedA.Load() == 0 || servedB.Load() == 0 {
		t.Errorf("8 keys all went to one replica (%d, %d)", servedA.Load(), servedB.Load())
	}
}

func TestReadyWhileAnyReplicaAnswers(t *testing.T) {
	live, _ := replica(t)
	if err := newClient(t, closedPort(t), live).Ready(context.Background()); err != nil {
		t.Errorf("one replica up: %v", err)
	}
	if err := newClient(t, closedPort(t), closedPort(t)).Ready(context.Background()); err == nil {
		t.Error("no replica up, yet ready")
	}
}
