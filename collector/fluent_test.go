package collector

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// fluentSend builds and runs internal/fluentsend, the official Fluent Go
// client in a process of its own (see its doc comment for why).
func fluentSend(t *testing.T, addr, run string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "fluentsend")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./internal/fluentsend").CombinedOutput(); err != nil {
		t.Fatalf("build fluentsend: %v: %s", err, out)
	}
	if out, err := exec.CommandContext(ctx, bin, "-addr", addr, "-run", run).CombinedOutput(); err != nil {
		t.Fatalf("fluentsend: %v: %s", err, out)
	}
}

// Records from the official Fluent Go client: one at a time in message
// mode (acknowledged), and a batch in forward mode encoded by the
// client's own Forward type. The tag or the record's service field is the
// service, level or severity the level, message or log the body, the
// other fields (nested ones flattened) attributes.
func TestFluentForward(t *testing.T) {
	addr := freeTCPAndUDP(t)
	a := startAllInOne(t, Receivers{Fluent: addr})
	run := fmt.Sprint(time.Now().UnixNano())
	fluentSend(t, addr, run)

	rec := a.waitLogs(`service:checkout level:error "card declined" run`+run, 1)[0]
	for key, want := range map[string]any{
		"fluent.tag": "checkout", "order_id": float64(42), "kubernetes.pod_name": "checkout-7d9f",
		"kubernetes.labels.team": "payments", "log.source": "fluent", "level": "error",
	} {
		if rec.Attributes[key] != want {
			t.Errorf("attribute %s = %#v, want %#v (attributes %v)", key, rec.Attributes[key], want, rec.Attributes)
		}
	}
	if rec.Body != "card declined run"+run || rec.SeverityText != "error" {
		t.Errorf("body %#v severity %q", rec.Body, rec.SeverityText)
	}
	edge := a.waitLogs(`service:edge "healthz 200" run`+run, 1)[0]
	if edge.Attributes["fluent.tag"] != "nginx.access" || edge.Attributes["status"] != "200" {
		t.Errorf("the record's service field wins over its tag: %+v", edge)
	}
	invoices := a.waitLogs(`service:billing.worker level:info attr.log.source:fluent run`+run, 5)
	seen := map[any]bool{}
	for _, r := range invoices {
		seen[r.Attributes["invoice"]] = true
	}
	if len(seen) != 5 {
		t.Errorf("the batch's 5 records arrived as %v", seen)
	}
	a.waitLogs(`attr.fluent.tag:billing.worker "invoice 3"`, 1)
}
