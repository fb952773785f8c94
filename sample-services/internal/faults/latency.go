package faults

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
)

// Duration is a time.Duration written in JSON as "250ms", the way people
// type it with curl, instead of nanoseconds.
type Duration time.Duration

// D is the time.Duration value.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Ptr lets a flag package fill a Duration: flag.DurationVar(d.Ptr(), ...).
func (d *Duration) Ptr() *time.Duration { return (*time.Duration)(d) }

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reports bad input as a *json.UnmarshalTypeError, the one
// error type encoding/json completes with the field's path, so the 400 can
// name the field.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: reflect.TypeFor[Duration]()}
	}
	parsed, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: strconv.Quote(s), Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(parsed)
	return nil
}

// JSONTypeHint tells httpx.DecodeJSON how to describe the expected value.
func (Duration) JSONTypeHint() string { return `a duration string such as "250ms" or "2s"` }

// Latency is injected delay drawn from a log-normal distribution, the usual
// shape of service latency: most calls near P50 and a long tail out to P99.
// Zero P50 means no delay.
type Latency struct {
	P50 Duration `json:"p50"`
	P99 Duration `json:"p99"`
}

// z99 is the standard normal quantile at 0.99.
const z99 = 2.3263478740408408

// maxTailFactor bounds a draw at this multiple of P99, so a rare sample far
// in the tail cannot stall a request for minutes.
const maxTailFactor = 4

// Validate checks the distribution; field is the JSON name it lives under.
func (l Latency) Validate(field string) error {
	switch {
	case l.P50 < 0:
		return httpx.FieldError(field+".p50", "%s.p50 must not be negative, got %s", field, l.P50.D())
	case l.P99 != 0 && l.P99 < l.P50:
		return httpx.FieldError(field+".p99", "%s.p99 (%s) must be at least p50 (%s), or 0 for a fixed delay", field, l.P99.D(), l.P50.D())
	}
	return nil
}

// Sample draws one delay.
func (l Latency) Sample() time.Duration {
	p50, p99 := float64(l.P50), float64(l.P99)
	if p50 <= 0 {
		return 0
	}
	if p99 <= p50 {
		return l.P50.D()
	}
	// For a log-normal, the median is exp(mu) and quantile q is
	// exp(mu + sigma*z_q); solve for sigma from P50 and P99.
	sigma := math.Log(p99/p50) / z99
	d := p50 * math.Exp(sigma*rand.NormFloat64())
	return time.Duration(math.Min(d, maxTailFactor*p99))
}

// Sleep waits one sampled delay, or less if ctx ends first, and returns the
// delay it drew.
func (l Latency) Sleep(ctx context.Context) time.Duration {
	d := l.Sample()
	if d <= 0 {
		return 0
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return d
}
