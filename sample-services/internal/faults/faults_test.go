package faults_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
)

type settings struct {
	Rate    float64        `json:"rate"`
	Latency faults.Latency `json:"latency"`
}

func (s settings) Validate() error {
	if s.Rate < 0 || s.Rate > 1 {
		return httpx.FieldError("rate", "rate must be 0..1")
	}
	return s.Latency.Validate("latency")
}

func TestStoreKeepsOnlyValidUpdatesAndNotifies(t *testing.T) {
	store, err := faults.NewStore(settings{Rate: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	var notified []settings
	store.OnChange(func(_, updated settings) { notified = append(notified, updated) })

	if _, err := store.Update(func(s *settings) error { s.Rate = 2; return nil }); err == nil {
		t.Fatal("invalid update accepted")
	}
	if store.Load().Rate != 0.1 || len(notified) != 0 {
		t.Fatalf("invalid update leaked: %+v, %d notifications", store.Load(), len(notified))
	}
	if _, err := store.Update(func(s *settings) error { return errors.New("bad patch") }); err == nil {
		t.Fatal("failed patch accepted")
	}
	updated, err := store.Update(func(s *settings) error { s.Latency.P50 = faults.Duration(time.Millisecond); return nil })
	if err != nil || updated.Rate != 0.1 || updated.Latency.P50.D() != time.Millisecond {
		t.Fatalf("partial update: %+v, %v", updated, err)
	}
	if len(notified) != 1 || notified[0] != updated {
		t.Errorf("notifications %+v, want the one accepted update", notified)
	}
	if _, err := faults.NewStore(settings{Rate: -1}); err == nil {
		t.Error("NewStore accepted invalid initial settings")
	}
}

func TestDecodedPatchNamesBadDurationField(t *testing.T) {
	var s settings
	err := httpx.DecodeJSON([]byte(`{"latency": {"p99": "soon"}}`), &s)
	apiErr := httpx.AsAPIError(err)
	if apiErr.Field != "latency.p99" {
		t.Errorf("error %+v; want it to name latency.p99", apiErr)
	}
	if err := httpx.DecodeJSON([]byte(`{"latency": {"p50": "250ms"}}`), &s); err != nil || s.Latency.P50.D() != 250*time.Millisecond {
		t.Errorf("decode 250ms: %v, %v", s.Latency.P50.D(), err)
	}
}

func TestLatencySamples(t *testing.T) {
	if d := (faults.Latency{}).Sample(); d != 0 {
		t.Errorf("zero latency sampled %s", d)
	}
	fixed := faults.Latency{P50: faults.Duration(5 * time.Millisecond)}
	if d := fixed.Sample(); d != 5*time.Millisecond {
		t.Errorf("fixed latency sampled %s, want 5ms", d)
	}
	spread := faults.Latency{P50: faults.Duration(10 * time.Millisecond), P99: faults.Duration(100 * time.Millisecond)}
	below := 0
	for range 2000 {
		d := spread.Sample()
		if d <= 0 || d > 400*time.Millisecond {
			t.Fatalf("sample %s outside (0, 4*p99]", d)
		}
		if d <= 10*time.Millisecond {
			below++
		}
	}
	// Half the draws fall under the median; 2000 draws keep this far from
	// flaky (the bounds are ~9 standard deviations out).
	if below < 800 || below > 1200 {
		t.Errorf("%d of 2000 samples at or under p50, want about 1000", below)
	}
	if err := (faults.Latency{P50: faults.Duration(time.Second), P99: faults.Duration(time.Millisecond)}).Validate("latency"); err == nil {
		t.Error("p99 below p50 accepted")
	}
}
