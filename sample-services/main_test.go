package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/internal/testenv"
)

const (
	exitOK      = cli.ExitOK
	exitFailure = cli.ExitFailure
	exitUsage   = cli.ExitUsage
)

func noEnv(string) (string, bool) { return "", false }

// run is the binary without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup cli.Lookup) int {
	return program.Run(ctx, args, cli.Env{Stdout: stdout, Stderr: stderr, Lookup: lookup})
}

func TestLoadgenExitsNonZeroWhenTheGatewayIsUnreachable(t *testing.T) {
	ln := testenv.Listen(t)
	target := "http://" + ln.Addr().String()
	ln.Close()

	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"loadgen", "--target", target, "--requests", "3"}, &stdout, &stderr, noEnv)
	if code != exitFailure {
		t.Fatalf("exit code %d, want %d; stderr: %s", code, exitFailure, stderr.String())
	}
	if !strings.Contains(stderr.String(), "unreachable") || !strings.Contains(stderr.String(), target) {
		t.Errorf("stderr does not explain the failure: %q", stderr.String())
	}
}

func TestLoadgenAgainstAGatewayExitsZero(t *testing.T) {
	st := testenv.StartStack(t, testenv.Options{})
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"loadgen", "--target", st.GatewayURL, "--requests", "10", "--rps", "0", "--mix", "checkout=1"}, &stdout, &stderr, noEnv)
	if code != exitOK {
		t.Fatalf("exit code %d; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "total") {
		t.Errorf("no summary table on stdout: %q", stdout.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{args: nil, code: exitUsage, says: "usage"},
		{args: []string{"billing"}, code: exitUsage, says: `unknown command "billing"`},
		{args: []string{"loadgen", "--mix", "checkout=70,refund=30"}, code: exitUsage, says: `unknown kind "refund"`},
		{args: []string{"gateway", "--listen", "nowhere"}, code: exitUsage, says: "-listen"},
		{args: []string{"order", "--payment-attempts", "0"}, code: exitUsage, says: "payment_attempts"},
		{args: []string{"payment", "--error-rate", "1.5"}, code: exitUsage, says: "error_rate"},
		{args: []string{"auth", "-h"}, code: exitOK, says: "AUTH_TOKEN_TTL"},
		{args: []string{"broker", "--nats-listen", "0.0.0.0:4222"}, code: exitUsage, says: "set -user and -password"},
		{args: []string{"broker", "-h"}, code: exitOK, says: "BROKER_NATS_LISTEN"},
		{args: []string{"fulfillment", "--max-deliveries", "0"}, code: exitUsage, says: "-max-deliveries"},
		{args: []string{"fulfillment", "--nats-url", "http://x:1"}, code: exitUsage, says: "-nats-url"},
		{args: []string{"order", "--payment-url", ""}, code: exitUsage, says: "-payment-url is empty"},
		{args: []string{"gateway", "--order-url", "http://a:1,http://a:1"}, code: exitUsage, says: "twice"},
		{args: []string{"order", "--instance-id", "a b"}, code: exitUsage, says: "-instance-id"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr, noEnv)
		if code != tc.code || !strings.Contains(stderr.String()+stdout.String(), tc.says) {
			t.Errorf("run %v: exit %d (want %d), output %q (want it to say %q)", tc.args, code, tc.code, stderr.String(), tc.says)
		}
	}
}

func TestServiceStopsOnCancel(t *testing.T) {
	ln := testenv.Listen(t)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // SIGTERM before start: the service starts, drains and exits cleanly
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"payment", "--listen", addr, "--otlp-endpoint", ""}, &stdout, &stderr, noEnv)
	if code != exitOK {
		t.Fatalf("exit code %d; stderr: %s", code, stderr.String())
	}
	for _, want := range []string{"payment started", "payment stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, stderr.String())
		}
	}
}
