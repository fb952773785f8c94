package order

import (
	"testing"
	"time"
)

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	base, ceiling := 10*time.Millisecond, 50*time.Millisecond
	for attempt, limit := range map[int]time.Duration{1: 10 * time.Millisecond, 2: 20 * time.Millisecond, 3: 40 * time.Millisecond, 4: ceiling, 40: ceiling} {
		for range 100 {
			if d := backoff(attempt, base, ceiling); d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %s, want within [0, %s]", attempt, d, limit)
			}
		}
	}
	if d := backoff(3, 0, 0); d != 0 {
		t.Errorf("backoff with no base = %s, want 0", d)
	}
}
