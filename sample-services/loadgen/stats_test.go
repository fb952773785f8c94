package loadgen

import (
	"testing"
	"time"
)

func TestHistogramQuantilesAreWithinTwoPercent(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{0.5: 500 * time.Millisecond, 0.9: 900 * time.Millisecond, 0.99: 990 * time.Millisecond} {
		got := h.quantile(q)
		if got < want || float64(got) > float64(want)*1.02 {
			t.Errorf("p%v = %s, want within [%s, +2%%]", q*100, got, want)
		}
	}
	if h.quantile(1) != time.Second || h.max != time.Second {
		t.Errorf("max = %s / p100 = %s, want 1s", h.max, h.quantile(1))
	}
	h.record(time.Hour) // beyond the last bucket: counted, clamped
	if h.total != 1001 || h.quantile(1) != time.Hour {
		t.Errorf("after an outlier: total %d, p100 %s", h.total, h.quantile(1))
	}
	h.reset()
	if h.total != 0 || h.quantile(0.5) != 0 {
		t.Errorf("reset histogram still reports data")
	}
}
