package order

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/messaging"
)

// checkout runs the order saga:
//
//	saga.reserve_stock -> saga.charge_payment -> saga.confirm_order
//
// and, when a step fails, the compensations of the steps that succeeded,
// newest first: saga.compensate.release_stock, then
// saga.compensate.mark_order_failed. Each step is an INTERNAL span under the
// request's SERVER span. confirm_order publishes order.confirmed and
// mark_order_failed order.cancelled (PRODUCER spans under the step): the
// saga itself stays synchronous, and fulfillment, which comes after it,
// is driven by the event.
func (s *Service) checkout(ctx context.Context, req CreateRequest) (Order, error) {
	now := time.Now().UTC()
	id := req.OrderID
	if id == "" {
		id = newOrderID()
	}
	o := Order{
		ID:        id,
		User:      req.User,
		Items:     req.Items,
		Currency:  defaultCurrency,
		Status:    StatusPending,
		CreatedAt: now,
		UpdatedAt: now,
	}
	for _, it := range req.Items {
		o.AmountCents += int64(it.Qty) * it.PriceCents
	}
	trace.SpanFromContext(ctx).SetAttributes(
		attribute.String("order.id", o.ID),
		attribute.Int64("order.amount_cents", o.AmountCents),
		attribute.Int("order.items", len(o.Items)),
	)
	s.orders.put(o)
	log := s.tel.Log(ctx)
	log.Info().Str("order_id", o.ID).Str("user", o.User).Int64("amount_cents", o.AmountCents).Msg("order created")

	err := s.step(ctx, "saga.reserve_stock", o, func(context.Context) error {
		return s.inventory.reserve(o.ID, o.Items)
	})
	if err != nil {
		o = s.compensate(ctx, o, err, false)
		var oos *errOutOfStock
		if errors.As(err, &oos) {
			return o, s.fail(ctx, o, &httpx.APIError{
				Status:  http.StatusConflict,
				Code:    codeOutOfStock,
				Field:   "items",
				Message: fmt.Sprintf("not enough stock: %v; order %s failed, nothing was charged", oos, o.ID),
			})
		}
		return o, s.fail(ctx, o, &httpx.APIError{Status: http.StatusConflict, Code: codeOutOfStock, Message: err.Error()})
	}

	var paid charge
	err = s.step(ctx, "saga.charge_payment", o, func(ctx context.Context) error {
		var err error
		paid, err = s.payments.charge(ctx, o, req.Card)
		return err
	})
	if err != nil {
		o = s.compensate(ctx, o, err, true)
		return o, s.fail(ctx, o, paymentFailure(o, err))
	}

	err = s.step(ctx, "saga.confirm_order", o, func(ctx context.Context) error {
		s.inventory.commit(o.ID)
		o.Status = StatusConfirmed
		o.ChargeID = paid.ID
		o.UpdatedAt = time.Now().UTC()
		s.orders.put(o)
		// The hand-off to fulfillment: not a step that can fail the
		// order (it is paid), so a broker outage only delays it.
		s.announce(ctx, messaging.SubjectOrderConfirmed, o)
		return nil
	})
	if err != nil { // confirm cannot fail today; kept so a future check can
		o = s.compensate(ctx, o, err, true)
		return o, s.fail(ctx, o, httpx.AsAPIError(err))
	}
	log.Info().Str("order_id", o.ID).Str("charge_id", o.ChargeID).Msg("order confirmed")
	return o, nil
}

// step runs one saga step in its own span.
func (s *Service) step(ctx context.Context, name string, o Order, fn func(context.Context) error) error {
	ctx, span := s.tel.Tracer().Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("order.id", o.ID), attribute.String("saga.step", name)))
	defer span.End()
	if err := fn(ctx); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	return nil
}

// compensate undoes the completed steps after cause made the saga fail.
// It runs to the end even if the client has gone away (WithoutCancel):
// stopping half-way would leak reserved stock.
//
// A payment call that timed out may have succeeded on payment's side; a
// production saga would then refund (or look the charge up by the order's
// idempotency key) instead of assuming nothing was charged.
func (s *Service) compensate(ctx context.Context, o Order, cause error, stockReserved bool) Order {
	ctx = context.WithoutCancel(ctx)
	log := s.tel.Log(ctx)
	if stockReserved {
		_ = s.step(ctx, "saga.compensate.release_stock", o, func(ctx context.Context) error {
			units := s.inventory.release(o.ID)
			trace.SpanFromContext(ctx).SetAttributes(attribute.Int("inventory.released_units", units))
			s.tel.Log(ctx).Info().Str("order_id", o.ID).Int("units", units).Msg("stock released")
			return nil
		})
	}
	_ = s.step(ctx, "saga.compensate.mark_order_failed", o, func(ctx context.Context) error {
		o.Status = StatusFailed
		o.FailureReason = cause.Error()
		o.UpdatedAt = time.Now().UTC()
		s.orders.put(o)
		s.announce(ctx, messaging.SubjectOrderCancelled, o)
		return nil
	})
	log.Warn().Str("order_id", o.ID).Str("reason", o.FailureReason).Msg("order failed, saga compensated")
	return o
}

// fail marks the request's SERVER span as failed (the status code alone
// would not for a 402 or 409) and tags the error with the order id.
func (s *Service) fail(ctx context.Context, o Order, apiErr *httpx.APIError) error {
	if apiErr.Details == nil {
		apiErr.Details = map[string]string{}
	}
	apiErr.Details["order_id"] = o.ID
	apiErr.Details["order_status"] = o.Status
	httpx.MarkFailed(ctx, apiErr)
	return apiErr
}

// paymentFailure turns a failed charge into the API error order answers.
func paymentFailure(o Order, err error) *httpx.APIError {
	var open *BreakerOpenError
	if errors.As(err, &open) {
		return &httpx.APIError{
			Status:     http.StatusServiceUnavailable,
			Code:       codePaymentError,
			Message:    fmt.Sprintf("payment is unavailable (circuit breaker %s); order %s failed and nothing was charged; retry later", open.State, o.ID),
			RetryAfter: open.RetryAfter,
		}
	}
	if upErr, ok := httpx.AsUpstream(err); ok && upErr.Code() == paymentCodeCardDeclined {
		return &httpx.APIError{
			Status:  http.StatusPaymentRequired,
			Code:    paymentCodeCardDeclined,
			Message: fmt.Sprintf("payment declined (%s); order %s failed and its stock was released; try another card", upErr.API.Message, o.ID),
		}
	}
	if upErr, ok := httpx.AsUpstream(err); ok && !upErr.Transient() {
		// A 4xx from payment is a request order built wrong: our bug, not
		// the client's.
		return &httpx.APIError{Status: http.StatusBadGateway, Code: httpx.CodeUpstreamError,
			Message: fmt.Sprintf("payment rejected the charge for order %s: %v", o.ID, err)}
	}
	return &httpx.APIError{
		Status:     http.StatusServiceUnavailable,
		Code:       codePaymentError,
		Message:    fmt.Sprintf("payment did not confirm the charge for order %s: %v; the order failed, retry later", o.ID, err),
		RetryAfter: time.Second,
	}
}

func newOrderID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "ord_" + hex.EncodeToString(b[:])
}
