package ingesttest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/tracehouse/tracehouse/storage"
)

// Helpers shared by the exporter's tests (ingest), the receiver's
// (ingest/jsonlreceiver) and the whole collector's (collector), so every
// layer checks stored rows, config loading and throttling the same way.

// Count runs a query that returns one count.
func Count(t testing.TB, conn storage.Conn, query string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// WaitCount polls query until it returns want: rows arrive asynchronously,
// through the sending queue. It fails the test if the count overshoots or
// after a generous deadline (a whole collector, with retries, can be slow
// on a loaded machine); it never asserts how long it took.
func WaitCount(t testing.TB, conn storage.Conn, query string, want uint64) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := Count(t, conn, query)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("%s = %d, want %d", query, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Start starts c with a no-op host and shuts it down when the test ends.
func Start(t testing.TB, c component.Component) {
	t.Helper()
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
}

// LoadConfig unmarshals the section id of testdata/config.yaml over cfg
// (which holds the defaults) and returns what validation says, as the
// collector would: a bad section is the returned error, not a test failure.
func LoadConfig(t testing.TB, id component.ID, cfg component.Config) error {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := cm.Sub(id.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Unmarshal(cfg); err != nil {
		t.Fatal(err)
	}
	return confmap.Validate(cfg)
}

// RetryDelay is the delay of the RetryInfo in st; zero if there is none.
func RetryDelay(st *status.Status) time.Duration {
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	return delay
}
