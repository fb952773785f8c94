package broker_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tracehouse/tracehouse/sample-services/broker"
	"github.com/tracehouse/tracehouse/sample-services/internal/messaging"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
)

func start(t *testing.T, natsAddr, data string) (*broker.Service, string, func()) {
	t.Helper()
	ln := testenv.Listen(t)
	cfg := broker.DefaultConfig()
	cfg.Listen, cfg.OTLPEndpoint, cfg.InstanceID = ln.Addr().String(), "", "broker-1"
	cfg.NATSListen, cfg.Data = natsAddr, data
	svc, err := broker.New(cfg, testenv.NewTelemetry(t, cfg.TelemetryConfig(broker.Name)))
	if err != nil {
		t.Fatal(err)
	}
	stop := testenv.Serve(t, svc, ln)
	return svc, "http://" + ln.Addr().String(), stop
}

// The broker is ready with JetStream up, stores what it acknowledged in
// its data folder, and still has it after a restart.
func TestBrokerKeepsStreamsAcrossRestarts(t *testing.T) {
	natsLn := testenv.Listen(t)
	natsAddr := natsLn.Addr().String()
	natsLn.Close()
	data := t.TempDir()

	svc, url, stop := start(t, natsAddr, data)
	testenv.WaitReady(t, url)
	if resp := testenv.Do(t, http.MethodGet, url+"/healthz", nil, nil); resp.Status != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.Status)
	}
	nc, err := nats.Connect(svc.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := messaging.EnsureStreams(ctx, js, messaging.OrderStreams()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "a"} { // the second "a" is a duplicate
		if _, err := js.Publish(ctx, messaging.SubjectOrderConfirmed, []byte(`{}`), jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	stop()
	if entries, _ := os.ReadDir(filepath.Join(data, "jetstream")); len(entries) == 0 {
		t.Errorf("nothing stored under %s/jetstream", data)
	}

	svc, url, _ = start(t, natsAddr, data)
	testenv.WaitReady(t, url)
	nc, err = nats.Connect(svc.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	stream, err := js.Stream(ctx, messaging.StreamOrders)
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if info, err := stream.Info(ctx); err != nil || info.State.Msgs != 2 {
		t.Errorf("after restart the stream holds %v messages (err %v), want the 2 acknowledged", info.State.Msgs, err)
	}
}

func TestBrokerRefusesAnOpenPortWithoutCredentials(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.NATSListen = "0.0.0.0:4222"
	if err := cfg.Validate(); err == nil {
		t.Fatal("a broker reachable from other machines without credentials was accepted")
	}
	cfg.User, cfg.Password = "shop", "secret"
	if err := cfg.Validate(); err != nil {
		t.Errorf("with credentials: %v", err)
	}
	cfg.Password = ""
	if err := cfg.Validate(); err == nil {
		t.Error("a user without a password was accepted")
	}
}
