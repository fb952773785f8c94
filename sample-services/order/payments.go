package order

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/faults"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Wire format of the payment service (see package payment); repeated here
// so order depends on payment's API, not on its code.
const (
	paymentChargesRoute     = "/v1/charges"
	paymentIdempotencyKey   = "Idempotency-Key"
	paymentCodeCardDeclined = "card_declined"
	breakerName             = "payment"
)

type chargeRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Card        string `json:"card"`
}

type charge struct {
	ID     string `json:"charge_id"`
	Status string `json:"status"`
}

// errCallerGone marks a payment call abandoned because our own caller went
// away; that says nothing about payment's health, so the breaker ignores it.
var errCallerGone = errors.New("caller cancelled the request")

// BreakerOpenError is a charge that was not attempted because the breaker
// is open (or half-open and already at its trial quota).
type BreakerOpenError struct {
	State      gobreaker.State
	RetryAfter time.Duration
}

func (e *BreakerOpenError) Error() string {
	return fmt.Sprintf("payment circuit breaker is %s; payment not attempted", e.State)
}

// payments charges orders through the payment service, guarding it with a
// circuit breaker so an outage fails checkouts fast instead of piling
// timed-out calls onto a service that is already down.
type payments struct {
	tel     *telemetry.Telemetry
	client  *httpx.Client
	faults  *faults.Store[Faults]
	breaker atomic.Pointer[gobreaker.CircuitBreaker[charge]]
}

func newPayments(tel *telemetry.Telemetry, baseURLs []string, store *faults.Store[Faults]) *payments {
	p := &payments{
		tel: tel,
		// Each attempt has its own deadline (payment_timeout); this one is
		// only a backstop.
		client: httpx.NewClient("payment", baseURLs, tel, time.Minute),
		faults: store,
	}
	p.breaker.Store(p.newBreaker(store.Load()))
	store.OnChange(func(old, updated Faults) {
		if !old.breakerSettingsEqual(updated) {
			p.breaker.Store(p.newBreaker(updated))
		}
	})
	return p
}

func (p *payments) newBreaker(f Faults) *gobreaker.CircuitBreaker[charge] {
	threshold := f.BreakerFailureThreshold
	return gobreaker.NewCircuitBreaker[charge](gobreaker.Settings{
		Name:        breakerName,
		MaxRequests: f.BreakerHalfOpenRequests,
		Timeout:     f.BreakerOpenTimeout.D(),
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= threshold
		},
		// Only signs that payment itself is unwell count against it: no
		// answer, a timeout, a 5xx or 429. A declined card is payment
		// working as intended.
		IsSuccessful: func(err error) bool {
			if err == nil {
				return true
			}
			upErr, ok := httpx.AsUpstream(err)
			return ok && !upErr.Transient()
		},
		IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			ev := p.tel.Logger.Warn()
			if to == gobreaker.StateClosed {
				ev = p.tel.Logger.Info()
			}
			ev.Str("breaker", name).Str("from", from.String()).Str("to", to.String()).Msg("circuit breaker state changed")
		},
	})
}

// BreakerState is the breaker's state and counts, for /admin/breaker.
type BreakerState struct {
	Name                 string `json:"name"`
	State                string `json:"state"`
	Requests             uint32 `json:"requests"`
	TotalFailures        uint32 `json:"total_failures"`
	ConsecutiveFailures  uint32 `json:"consecutive_failures"`
	ConsecutiveSuccesses uint32 `json:"consecutive_successes"`
}

func (p *payments) state() BreakerState {
	cb := p.breaker.Load()
	counts := cb.Counts()
	return BreakerState{
		Name:                 cb.Name(),
		State:                cb.State().String(),
		Requests:             counts.Requests,
		TotalFailures:        counts.TotalFailures,
		ConsecutiveFailures:  counts.ConsecutiveFailures,
		ConsecutiveSuccesses: counts.ConsecutiveSuccesses,
	}
}

// charge asks payment to charge the order, retrying transient failures with
// exponential backoff. The order id is the idempotency key, so a retry
// after a lost response cannot charge twice.
func (p *payments) charge(ctx context.Context, o Order, card string) (charge, error) {
	f := p.faults.Load()
	cb := p.breaker.Load()
	span := trace.SpanFromContext(ctx)
	req := httpx.Request{
		Method: http.MethodPost,
		Route:  paymentChargesRoute,
		Path:   paymentChargesRoute,
		Header: map[string]string{paymentIdempotencyKey: o.ID},
		Body:   chargeRequest{OrderID: o.ID, AmountCents: o.AmountCents, Currency: o.Currency, Card: card},
		// Payment replicas remember idempotency keys in memory: every
		// attempt for this order goes to the replica that saw the first.
		Affinity: o.ID,
	}

	for attempt := 1; ; attempt++ {
		span.SetAttributes(attribute.Int("payment.attempts", attempt))
		result, err := cb.Execute(func() (charge, error) {
			attemptCtx, cancel := context.WithTimeout(ctx, f.PaymentTimeout.D())
			defer cancel()
			var out charge
			err := p.client.Do(attemptCtx, req, &out)
			if err != nil && ctx.Err() != nil {
				return out, fmt.Errorf("%w: %w", errCallerGone, err)
			}
			return out, err
		})
		if err == nil {
			return result, nil
		}
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			return charge{}, p.fallback(ctx, o, cb, f)
		}
		upErr, isUpstream := httpx.AsUpstream(err)
		retryable := isUpstream && upErr.Transient() && !errors.Is(err, errCallerGone)
		if !retryable || attempt >= f.PaymentAttempts {
			return charge{}, err
		}
		delay := backoff(attempt, f.RetryBaseDelay.D(), f.RetryMaxDelay.D())
		span.AddEvent("payment.retry", trace.WithAttributes(
			attribute.Int("attempt", attempt),
			attribute.String("error", err.Error()),
			attribute.Float64("backoff_ms", float64(delay.Microseconds())/1000),
		))
		p.tel.Log(ctx).Warn().Err(err).Int("attempt", attempt).Stringer("backoff", delay).Str("order_id", o.ID).Msg("payment call failed, retrying")
		if !sleep(ctx, delay) {
			return charge{}, fmt.Errorf("%w: %w", errCallerGone, ctx.Err())
		}
	}
}

// fallback is what happens instead of a payment call while the breaker is
// open: a span and a warning that make the short-circuit visible in the
// trace and the logs, and an error that tells the caller when to retry.
func (p *payments) fallback(ctx context.Context, o Order, cb *gobreaker.CircuitBreaker[charge], f Faults) error {
	state := cb.State()
	ctx, span := p.tel.Tracer().Start(ctx, "payment.fallback",
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(
			attribute.String("breaker.name", cb.Name()),
			attribute.String("breaker.state", state.String()),
			attribute.Int64("breaker.consecutive_failures", int64(cb.Counts().ConsecutiveFailures)),
			attribute.String("order.id", o.ID),
		))
	defer span.End()
	err := &BreakerOpenError{State: state, RetryAfter: f.BreakerOpenTimeout.D()}
	span.SetStatus(codes.Error, err.Error())
	p.tel.Log(ctx).Warn().Str("breaker_state", state.String()).Str("breaker", cb.Name()).Str("order_id", o.ID).Msg("breaker open")
	return err
}

// backoff is the delay before retry n+1: base*2^(n-1) capped at max, with
// full jitter so retries from many orders do not arrive in lockstep.
func backoff(attempt int, base, max time.Duration) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base << (attempt - 1)
	if d > max || d <= 0 {
		d = max
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
