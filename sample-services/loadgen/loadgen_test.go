package loadgen_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
	"github.com/tracehouse/tracehouse/sample-services/loadgen"
)

func TestRunSendsTheRequestedCountAndReportsTotals(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	cfg := loadgen.DefaultConfig()
	cfg.Target = st.GatewayURL
	cfg.RPS = 0 // as fast as the workers go: the count is what matters
	cfg.Concurrency = 4
	cfg.Duration = 0
	cfg.Requests = 40
	cfg.Mix = loadgen.Mix{loadgen.KindCheckout: 50, loadgen.KindOrder: 30, loadgen.KindLogin: 20}

	var out, progress bytes.Buffer
	rep, err := loadgen.Run(context.Background(), cfg, &out, &progress)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.Requests != cfg.Requests || rep.OK+rep.Errors != cfg.Requests {
		t.Errorf("report: %d requests, %d ok + %d errors; want %d in all", rep.Requests, rep.OK, rep.Errors, cfg.Requests)
	}
	perKind := 0
	for _, kind := range loadgen.Kinds {
		k := rep.ByKind[kind]
		perKind += k.Requests
		if k.OK+k.Errors != k.Requests {
			t.Errorf("%s: %d ok + %d errors != %d requests", kind, k.OK, k.Errors, k.Requests)
		}
	}
	if perKind != cfg.Requests {
		t.Errorf("requests by kind add up to %d, want %d", perKind, cfg.Requests)
	}
	checkouts := rep.ByKind[loadgen.KindCheckout]
	if checkouts.Errors != 0 || rep.ByKind[loadgen.KindLogin].Errors != 0 {
		t.Errorf("checkout and login should all succeed against a healthy stack; errors: %v", rep.ErrorsByKind)
	}
	// Lookups before a worker's first checkout ask for an order that does
	// not exist; nothing else may fail.
	for kind := range maps.Keys(rep.ErrorsByKind) {
		if kind != "not_found" {
			t.Errorf("unexpected error kind %q (%d)", kind, rep.ErrorsByKind[kind])
		}
	}
	// The services agree with the report: every successful checkout is
	// exactly one charge.
	if got := st.Payment.ChargesProcessed(); got != int64(checkouts.OK) {
		t.Errorf("payment processed %d charges, loadgen reports %d successful checkouts", got, checkouts.OK)
	}

	table := out.String()
	for _, want := range []string{"kind", "requests", "p99", "checkout", "total"} {
		if !strings.Contains(table, want) {
			t.Errorf("summary table lacks %q:\n%s", want, table)
		}
	}
}

func TestCancelledRunStopsAndReports(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	cfg := loadgen.DefaultConfig()
	cfg.Target = st.GatewayURL
	cfg.Concurrency = 2
	cfg.Duration = time.Hour
	cfg.ProgressInterval = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var progress bytes.Buffer
	// Ctrl-C ends a run early with a report of what was sent.
	var rep loadgen.Report
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, err = loadgen.Run(ctx, cfg, &bytes.Buffer{}, &progress)
	}()
	waitFor(t, func() bool { return st.Payment.ChargesProcessed() > 0 })
	cancel()
	<-done
	if err != nil {
		t.Fatalf("cancelled run: %v", err)
	}
	if rep.Requests == 0 || rep.OK+rep.Errors != rep.Requests {
		t.Errorf("cancelled run reported %+v", rep)
	}
	if !strings.Contains(progress.String(), "requests=") || !strings.Contains(progress.String(), "p99=") {
		t.Errorf("no progress line written: %q", progress.String())
	}
}

// waitFor polls cond; the deadline is only a guard against a hung test.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition never became true")
}

func TestRunFailsWhenTheTargetIsUnreachable(t *testing.T) {
	ln := testenv.Listen(t)
	target := "http://" + ln.Addr().String()
	ln.Close()

	cfg := loadgen.DefaultConfig()
	cfg.Target = target
	cfg.Requests = 5
	_, err := loadgen.Run(context.Background(), cfg, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, loadgen.ErrUnreachable) {
		t.Fatalf("run against a closed port: err = %v, want ErrUnreachable", err)
	}
	if !strings.Contains(err.Error(), target) {
		t.Errorf("error %q does not name the target", err)
	}
}

func TestParseMix(t *testing.T) {
	mix, err := loadgen.ParseMix("checkout=70, order=20,login=10")
	if err != nil || mix[loadgen.KindCheckout] != 70 || mix[loadgen.KindOrder] != 20 || mix[loadgen.KindLogin] != 10 {
		t.Fatalf("ParseMix = %v, %v", mix, err)
	}
	for in, wantInError := range map[string]string{
		"checkout":                "want kind=weight",
		"checkout=70,refund=30":   `unknown kind "refund"`,
		"checkout=-1":             "whole number",
		"checkout=ten":            "whole number",
		"checkout=1,checkout=2":   "listed twice",
		"checkout=0,order=0":      "add up to 0",
		"":                        "add up to 0",
		"login=10,order=0,foo=1x": `unknown kind "foo"`,
	} {
		if _, err := loadgen.ParseMix(in); err == nil || !strings.Contains(err.Error(), wantInError) {
			t.Errorf("ParseMix(%q) error = %v, want one saying %q", in, err, wantInError)
		}
	}
}

func TestParseFlags(t *testing.T) {
	noEnv := cli.Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	cfg, err := loadgen.ParseFlags([]string{"--target", "http://localhost:8000", "--requests", "500"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Requests != 500 || cfg.Duration != 0 {
		t.Errorf("--requests alone: requests %d duration %s; want 500 and no time bound", cfg.Requests, cfg.Duration)
	}
	cfg, err = loadgen.ParseFlags([]string{"--requests", "500", "--duration", "1m"}, noEnv)
	if err != nil || cfg.Duration != time.Minute {
		t.Errorf("--requests with --duration: duration %s, err %v; want both bounds", cfg.Duration, err)
	}
	env := map[string]string{"LOADGEN_RPS": "7", "LOADGEN_MIX": "login=1"}
	cfg, err = loadgen.ParseFlags(nil, cli.Env{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil || cfg.RPS != 7 || cfg.Mix[loadgen.KindLogin] != 1 || len(cfg.Mix) != 1 {
		t.Errorf("env overrides: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{
		{"--mix", "checkout=70,bogus=30"},
		{"--concurrency", "0"},
		{"--target", "localhost:8000"},
		{"--duration", "0"},
		{"--rps", "-1"},
	} {
		if _, err := loadgen.ParseFlags(args, noEnv); err == nil {
			t.Errorf("ParseFlags(%v) accepted bad input", args)
		}
	}
}

// With two order and two payment replicas, the report says how many
// requests each instance served (from X-Served-By), and that adds up.
func TestReportCountsRequestsPerInstance(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{Replicas: 2})
	cfg := loadgen.DefaultConfig()
	cfg.Target, cfg.RPS, cfg.Concurrency, cfg.Duration, cfg.Requests = st.GatewayURL, 0, 3, 0, 30
	cfg.Mix = loadgen.Mix{loadgen.KindCheckout: 1}
	var out, progress bytes.Buffer
	rep, err := loadgen.Run(context.Background(), cfg, &out, &progress)
	if err != nil || rep.OK != 30 {
		t.Fatalf("run: %v; %d of 30 ok (%v)", err, rep.OK, rep.ErrorsByKind)
	}
	in := rep.ByInstance
	if in["gateway/gateway-1"] != 30 {
		t.Errorf("gateway served %d of 30: %v", in["gateway/gateway-1"], in)
	}
	for _, svc := range []string{"order", "payment"} {
		one, two := in[svc+"/"+svc+"-1"], in[svc+"/"+svc+"-2"]
		if one+two != 30 || one == 0 || two == 0 {
			t.Errorf("%s replicas served %d and %d, want both some and 30 in all: %v", svc, one, two, in)
		}
	}
	if charged := st.Payments[0].ChargesProcessed() + st.Payments[1].ChargesProcessed(); charged != 30 {
		t.Errorf("payment replicas processed %d charges for 30 checkouts", charged)
	}
	if !strings.Contains(out.String(), "requests by instance") || !strings.Contains(out.String(), "order/order-2") {
		t.Errorf("summary lacks the per-instance table:\n%s", out.String())
	}
}
