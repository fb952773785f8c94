// Command fluentsend sends the Fluent forward test's records with the
// official Fluent Go client (github.com/fluent/fluent-logger-golang). The
// test runs it as a process of its own: the client and the collector's
// fluent_forward receiver both register msgp extension type 0, which
// panics when both are linked into one binary.
//
//	fluentsend -addr 127.0.0.1:24224 -run ID
//
// sends two records in message mode (acknowledged) and a batch of five in
// forward mode (one frame, acknowledged as a whole), every body ending in
// "run<ID>".
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/tinylib/msgp/msgp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:24224", "fluent_forward receiver, host:port")
	run := flag.String("run", "", "suffix of every message")
	flag.Parse()
	if err := send(*addr, *run); err != nil {
		fmt.Fprintln(os.Stderr, "fluentsend:", err)
		os.Exit(1)
	}
}

func send(addr, run string) error {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}
	client, err := fluent.New(fluent.Config{
		FluentHost: host, FluentPort: port, RequestAck: true, SubSecondPrecision: true,
		Timeout: 10 * time.Second, ReadTimeout: 10 * time.Second, MaxRetry: 3,
	})
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.Post("checkout", map[string]any{
		"level": "error", "message": "card declined run" + run, "order_id": 42,
		"kubernetes": map[string]any{"pod_name": "checkout-7d9f", "labels": map[string]any{"team": "payments"}},
	}); err != nil {
		return fmt.Errorf("message mode: %w", err)
	}
	if err := client.Post("nginx.access", map[string]any{
		"service": "edge", "log": "GET /healthz 200 run" + run, "status": "200",
	}); err != nil {
		return fmt.Errorf("message mode: %w", err)
	}

	// Forward mode: one frame carrying a batch of entries for one tag.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	now := time.Now().Unix()
	batch := fluent.Forward{Tag: "billing.worker", Option: map[string]string{"chunk": "chunk-" + run}}
	for i := range 5 {
		batch.Entries = append(batch.Entries, fluent.Entry{Time: now, Record: map[string]any{
			"message": fmt.Sprintf("invoice %d sent run%s", i, run), "severity": "info", "invoice": i,
		}})
	}
	frame, err := batch.MarshalMsg(nil)
	if err != nil {
		return err
	}
	if _, err := conn.Write(frame); err != nil {
		return err
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var ack fluent.AckResp
	if err := ack.DecodeMsg(msgp.NewReader(conn)); err != nil {
		return fmt.Errorf("forward mode: no acknowledgement: %w", err)
	}
	if ack.Ack != "chunk-"+run {
		return errors.New("forward mode: acknowledged " + ack.Ack + ", want chunk-" + run)
	}
	return nil
}
