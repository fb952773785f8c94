// Package payment is the payment service: it charges cards, answers a
// repeated Idempotency-Key with the first result instead of charging twice,
// and fails on demand (declines, latency, outage) so the order saga and its
// circuit breaker have something to react to.
package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Wire names shared with callers.
const (
	IdempotencyKeyHeader = "Idempotency-Key"
	// ReplayedHeader is "true" on a response served from an earlier request
	// with the same idempotency key.
	ReplayedHeader = "Idempotent-Replayed"

	CodeCardDeclined        = "card_declined"
	CodeIdempotencyMismatch = "idempotency_key_reused"

	StatusSucceeded = "succeeded"
	StatusDeclined  = "declined"
)

// ChargeRequest is the body of POST /v1/charges.
type ChargeRequest struct {
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Card        string `json:"card"`
}

func (r ChargeRequest) validate() error {
	switch {
	case r.OrderID == "":
		return httpx.FieldError("order_id", "order_id is required")
	case r.AmountCents <= 0:
		return httpx.FieldError("amount_cents", "amount_cents must be a positive number of cents, got %d", r.AmountCents)
	case len(r.Currency) != 3:
		return httpx.FieldError("currency", "currency must be a 3-letter ISO 4217 code such as USD, got %q", r.Currency)
	}
	if err := cards.Check(r.Card); err != nil {
		return httpx.FieldError("card", "%v", err)
	}
	return nil
}

// fingerprint identifies what was asked for, so a key reused for a
// different charge is refused rather than answered with someone else's
// result. Only the last four digits are kept.
func (r ChargeRequest) fingerprint() string {
	return fmt.Sprintf("%s|%d|%s|%s", r.OrderID, r.AmountCents, r.Currency, cards.Last4(r.Card))
}

// Charge is one processed charge, approved or declined.
type Charge struct {
	ID            string    `json:"charge_id"`
	OrderID       string    `json:"order_id"`
	AmountCents   int64     `json:"amount_cents"`
	Currency      string    `json:"currency"`
	CardLast4     string    `json:"card_last4"`
	Status        string    `json:"status"`
	DeclineReason string    `json:"decline_reason,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// Service is a running payment service.
type Service struct {
	service.Base[Faults]
	tel     *telemetry.Telemetry
	ledger  *lru.Cache[string, Charge]
	keys    *idempotencyKeys
	charged atomic.Int64
}

// New builds the payment service.
func New(cfg Config, tel *telemetry.Telemetry) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, err := service.NewBase(Name, tel, cfg.Faults)
	if err != nil {
		return nil, err
	}
	ledger, err := lru.New[string, Charge](cfg.MaxRecords)
	if err != nil {
		return nil, err
	}
	keys, err := newIdempotencyKeys(cfg.MaxRecords)
	if err != nil {
		return nil, err
	}
	s := &Service{
		Base:   base,
		tel:    tel,
		ledger: ledger,
		keys:   keys,
	}
	s.App().Post("/v1/charges", s.createCharge)
	s.App().Get("/v1/charges/:id", s.getCharge)
	return s, nil
}

// Run serves the payment service until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	return service.Run(ctx, Name, cfg.Common, func(tel *telemetry.Telemetry) (service.Server, error) {
		return New(cfg, tel)
	})
}

// ChargesProcessed counts charges actually processed (approved or
// declined); replays of an idempotency key do not count. The proof that a
// retried charge did not charge twice.
func (s *Service) ChargesProcessed() int64 { return s.charged.Load() }

func (s *Service) createCharge(c *fiber.Ctx) error {
	ctx := c.UserContext()
	span := trace.SpanFromContext(ctx)
	f := s.Faults().Load()

	if slept := f.Latency.Sleep(ctx); slept > 0 {
		span.SetAttributes(attribute.Float64("fault.injected_latency_ms", float64(slept.Microseconds())/1000))
	}
	if f.Outage {
		span.SetAttributes(attribute.Bool("fault.outage", true))
		return &httpx.APIError{
			Status:     http.StatusServiceUnavailable,
			Code:       httpx.CodeUnavailable,
			Message:    `payment is in a simulated outage; end it with PUT /admin/faults {"outage":false}`,
			RetryAfter: time.Second,
		}
	}

	key := c.Get(IdempotencyKeyHeader)
	if key == "" {
		return httpx.FieldError(IdempotencyKeyHeader, "the %s header is required so a retried charge is never charged twice; use one key per order", IdempotencyKeyHeader)
	}
	var req ChargeRequest
	if err := httpx.DecodeJSON(c.Body(), &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	span.SetAttributes(
		attribute.String("payment.idempotency_key", key),
		attribute.String("order.id", req.OrderID),
		attribute.Int64("payment.amount_cents", req.AmountCents),
	)

	entry, replayed, err := s.keys.claim(ctx, key, req.fingerprint(), func() Charge { return s.process(req, f) })
	if err != nil {
		return err
	}
	if entry.fingerprint != req.fingerprint() {
		return httpx.NewError(http.StatusUnprocessableEntity, CodeIdempotencyMismatch,
			"idempotency key %q was first used for a different charge (order %s); use a new key for a new charge", key, entry.charge.OrderID)
	}
	charge := entry.charge
	span.SetAttributes(attribute.String("payment.charge_id", charge.ID), attribute.Bool("payment.replayed", replayed))
	if replayed {
		c.Set(ReplayedHeader, "true")
	}

	log := s.tel.Log(ctx).With().Str("charge_id", charge.ID).Str("order_id", charge.OrderID).
		Int64("amount_cents", charge.AmountCents).Bool("replayed", replayed).Logger()
	if charge.Status == StatusDeclined {
		declined := &httpx.APIError{
			Status:  http.StatusPaymentRequired,
			Code:    CodeCardDeclined,
			Message: charge.DeclineReason,
			Details: map[string]string{"charge_id": charge.ID, "order_id": charge.OrderID},
		}
		httpx.MarkFailed(ctx, errors.New(charge.DeclineReason))
		log.Warn().Str("card_last4", charge.CardLast4).Msg("card declined")
		return declined
	}
	log.Info().Msg("charge succeeded")
	return c.Status(http.StatusCreated).JSON(charge)
}

// process decides and records one charge; it runs once per idempotency key.
func (s *Service) process(req ChargeRequest, f Faults) Charge {
	charge := Charge{
		ID:          newID("ch_"),
		OrderID:     req.OrderID,
		AmountCents: req.AmountCents,
		Currency:    req.Currency,
		CardLast4:   cards.Last4(req.Card),
		Status:      StatusSucceeded,
		CreatedAt:   time.Now().UTC(),
	}
	if req.Card == cards.AlwaysDeclined || mrand.Float64() < f.ErrorRate {
		charge.Status = StatusDeclined
		charge.DeclineReason = "card declined"
	}
	s.ledger.Add(charge.ID, charge)
	s.charged.Add(1)
	return charge
}

func (s *Service) getCharge(c *fiber.Ctx) error {
	charge, ok := s.ledger.Get(c.Params("id"))
	if !ok {
		return httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no charge %q (charges are kept in memory and the oldest are forgotten)", c.Params("id"))
	}
	return c.JSON(charge)
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return prefix + hex.EncodeToString(b[:])
}
