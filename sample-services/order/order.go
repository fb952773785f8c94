// Package order is the order service. It creates orders as a saga (reserve
// stock, charge payment, confirm) and undoes the finished steps when a later
// one fails, each undo step a span of its own so the trace tells the story.
// Payment is called through a circuit breaker with per-call timeouts and
// retries. A confirmed order is announced as an order.confirmed event, a
// failed one as order.cancelled, on the broker; fulfillment takes it from
// there.
//
// Orders live in the memory of the replica that created them. A client
// that names the order (order_id in the request) can send the same
// request again, to any replica: the replica that has it answers with it,
// another one runs the saga under the same id, and payment's idempotency
// key (the order id) and the event's message id keep the charge and the
// event single.
package order

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Order statuses.
const (
	StatusPending   = "pending"
	StatusConfirmed = "confirmed"
	StatusFailed    = "failed"
)

// Limits on one order, so a single request cannot make the saga do
// unbounded work or overflow the amount.
const (
	MaxItems         = 100
	MaxQty           = 1000
	MaxPriceCents    = 100_000_000
	MaxSKULength     = 64
	defaultCurrency  = "USD"
	codeOutOfStock   = "out_of_stock"
	codePaymentError = "payment_unavailable"
	codeInProgress   = "order_in_progress"
	codeIDReused     = "order_id_reused"
	codeOrderFailed  = "order_failed"
	// ReplayedHeader is "true" on an answer with an order created earlier
	// under the same order_id.
	ReplayedHeader   = "Idempotent-Replayed"
	maxOrderIDLength = 64
)

// Item is one line of an order; prices are in cents so sums are exact.
type Item struct {
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"price_cents"`
}

// CreateRequest is the body of POST /v1/orders.
type CreateRequest struct {
	// OrderID, when given, names the order and makes the request
	// idempotent: a repeat gets the first answer instead of a second order.
	OrderID string `json:"order_id,omitempty"`
	User    string `json:"user"`
	Items   []Item `json:"items"`
	Card    string `json:"card"`
}

// Order is an order as stored and returned.
type Order struct {
	ID            string    `json:"order_id"`
	User          string    `json:"user"`
	Items         []Item    `json:"items"`
	AmountCents   int64     `json:"amount_cents"`
	Currency      string    `json:"currency"`
	Status        string    `json:"status"`
	ChargeID      string    `json:"charge_id,omitempty"`
	FailureReason string    `json:"failure_reason,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Service is a running order service.
type Service struct {
	service.Base[Faults]
	tel       *telemetry.Telemetry
	payments  *payments
	orders    *orderStore
	inventory *inventory
	events    *events // nil: events are off (-nats-url "")
}

// New builds the order service.
func New(cfg Config, tel *telemetry.Telemetry) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Order has no readiness checks: it stays ready while payment is down,
	// since the breaker turns that into fast, explained failures, and
	// lookups still work.
	base, err := service.NewBase(Name, tel, cfg.Faults)
	if err != nil {
		return nil, err
	}
	orders, err := newOrderStore(cfg.MaxOrders)
	if err != nil {
		return nil, err
	}
	s := &Service{
		Base:      base,
		tel:       tel,
		orders:    orders,
		inventory: newInventory(cfg.InitialStock, cfg.MaxSKUs),
	}
	if cfg.NATSURL != "" {
		if s.events, err = newEvents(tel, cfg); err != nil {
			return nil, err
		}
	}
	s.payments = newPayments(tel, cfg.PaymentURLs, base.Faults())
	s.App().Get("/admin/breaker", func(c *fiber.Ctx) error { return c.JSON(s.payments.state()) })
	s.App().Post("/v1/orders", s.create)
	s.App().Get("/v1/orders/:id", s.get)
	return s, nil
}

// Run serves the order service until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	return service.Run(ctx, Name, cfg.Common, func(tel *telemetry.Telemetry) (service.Server, error) {
		return New(cfg, tel)
	})
}

// Close drops kept-alive connections to peers and the broker, after the
// app has stopped.
func (s *Service) Close() {
	s.payments.client.Close()
	if s.events != nil {
		s.events.close()
	}
}

// Breaker is the payment circuit breaker's current state.
func (s *Service) Breaker() BreakerState { return s.payments.state() }

func (s *Service) create(c *fiber.Ctx) error {
	var req CreateRequest
	if err := httpx.DecodeJSON(c.Body(), &req); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	if req.OrderID != "" {
		if o, replayed, err := s.replay(c.UserContext(), req); replayed || err != nil {
			if err != nil {
				return err
			}
			c.Set(ReplayedHeader, "true")
			return c.Status(http.StatusCreated).JSON(o)
		}
	}
	o, err := s.checkout(c.UserContext(), req)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(o)
}

// replay answers a request whose order_id this replica already has: with
// the order when it is the same order, an error when the id names another
// order or the first request is still running or failed. Otherwise it
// claims the id (replayed false) and the caller runs the saga.
func (s *Service) replay(ctx context.Context, req CreateRequest) (Order, bool, error) {
	now := time.Now().UTC()
	pending := Order{ID: req.OrderID, User: req.User, Items: req.Items, Currency: defaultCurrency, Status: StatusPending, CreatedAt: now, UpdatedAt: now}
	existing, found := s.orders.claim(pending)
	if !found {
		return Order{}, false, nil
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("order.id", existing.ID), attribute.Bool("order.replayed", true))
	switch {
	case existing.fingerprint() != pending.fingerprint():
		return Order{}, true, httpx.NewError(http.StatusUnprocessableEntity, codeIDReused,
			"order_id %q already names another order (user %s, %d lines); use a new id for a new order", existing.ID, existing.User, len(existing.Items))
	case existing.Status == StatusPending:
		return Order{}, true, &httpx.APIError{Status: http.StatusConflict, Code: codeInProgress, RetryAfter: time.Second,
			Message: fmt.Sprintf("order %s is still being placed by an earlier request; retry shortly with the same order_id", existing.ID)}
	case existing.Status == StatusFailed:
		return Order{}, true, &httpx.APIError{Status: http.StatusConflict, Code: codeOrderFailed,
			Message: fmt.Sprintf("order %s already failed: %s; place a new order with a new order_id", existing.ID, existing.FailureReason),
			Details: map[string]string{"order_id": existing.ID, "order_status": existing.Status}}
	}
	s.tel.Log(ctx).Info().Str("order_id", existing.ID).Msg("order replayed")
	return existing, true, nil
}

func (s *Service) get(c *fiber.Ctx) error {
	id := c.Params("id")
	o, ok := s.orders.get(id)
	if !ok {
		return httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no order %q", id)
	}
	return c.JSON(o)
}

func (r CreateRequest) validate() error {
	if len(r.OrderID) > maxOrderIDLength || strings.IndexFunc(r.OrderID, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-')
	}) >= 0 {
		return httpx.FieldError("order_id", "order_id must be at most %d letters, digits, '_' or '-'", maxOrderIDLength)
	}
	if r.User == "" {
		return httpx.FieldError("user", "user is required")
	}
	if len(r.Items) == 0 || len(r.Items) > MaxItems {
		return httpx.FieldError("items", "items must hold 1 to %d lines, got %d", MaxItems, len(r.Items))
	}
	for i, it := range r.Items {
		switch {
		case it.SKU == "" || len(it.SKU) > MaxSKULength:
			return httpx.FieldError(itemField(i, "sku"), "%s must be 1 to %d characters", itemField(i, "sku"), MaxSKULength)
		case it.Qty < 1 || it.Qty > MaxQty:
			return httpx.FieldError(itemField(i, "qty"), "%s must be between 1 and %d, got %d", itemField(i, "qty"), MaxQty, it.Qty)
		case it.PriceCents < 1 || it.PriceCents > MaxPriceCents:
			return httpx.FieldError(itemField(i, "price_cents"), "%s must be between 1 and %d, got %d", itemField(i, "price_cents"), MaxPriceCents, it.PriceCents)
		}
	}
	if err := cards.Check(r.Card); err != nil {
		return httpx.FieldError("card", "%v", err)
	}
	return nil
}

func itemField(i int, name string) string {
	return fmt.Sprintf("items[%d].%s", i, name)
}
