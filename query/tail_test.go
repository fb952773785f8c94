package query

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/storage/reader"
	"github.com/tracehouse/tracehouse/storage/writer"
)

// TestTailFollowsNewRecords writes records while a tail runs: the matching
// ones arrive in later polls, in order, once each; the others never do.
func TestTailFollowsNewRecords(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	svc := newServiceOpts(t, conn, db, Options{Limits: Limits{TailPollInterval: 50 * time.Millisecond, TailMaxDuration: time.Minute}, Now: time.Now}, reader.Limits{})
	w := writer.NewWriter(conn, writer.Options{Database: db})
	write := func(service string, sev plog.SeverityNumber, body string) {
		t.Helper()
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", service)
		r := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
		r.SetSeverityNumber(sev)
		r.SetSeverityText(sev.String())
		r.Body().SetStr(body)
		if err := w.WriteLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
	}
	// Before the tail starts: not shown (the tail starts now).
	write("tailsvc", plog.SeverityNumberError, "before the tail")
	time.Sleep(10 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	polls := 0
	err := svc.TailLogs(ctx, TailQuery{Query: "service:tailsvc level:error"}, func(b TailBatch) error {
		polls++
		for _, e := range b.Entries {
			got = append(got, e.Record.Body().AsString())
		}
		switch {
		case polls == 1: // the tail is running: write while it polls
			write("tailsvc", plog.SeverityNumberError, "first")
			write("tailsvc", plog.SeverityNumberInfo, "info: not shown")
			write("othersvc", plog.SeverityNumberError, "other service: not shown")
		case len(got) == 1 && got[0] == "first" && len(b.Entries) > 0:
			write("tailsvc", plog.SeverityNumberError, "second")
		case len(got) >= 2:
			// A few more polls, to catch a record shown twice.
			if polls > 100 || len(b.Entries) == 0 {
				cancel()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"first", "second"}; !slices.Equal(got, want) {
		t.Errorf("tail showed %q after %d polls, want %q", got, polls, want)
	}
}
