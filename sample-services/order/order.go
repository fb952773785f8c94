// Package order is the order service. It creates orders as a saga (reserve
// stock, charge payment, confirm) and undoes the finished steps when a later
// one fails, each undo step a span of its own so the trace tells the story.
// Payment is called through a circuit breaker with per-call timeouts and
// retries.
package order

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

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
)

// Item is one line of an order; prices are in cents so sums are exact.
type Item struct {
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"price_cents"`
}

// CreateRequest is the body of POST /v1/orders.
type CreateRequest struct {
	User  string `json:"user"`
	Items []Item `json:"items"`
	Card  string `json:"card"`
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
		payments:  newPayments(tel, cfg.PaymentURL, base.Faults()),
		orders:    orders,
		inventory: newInventory(cfg.InitialStock, cfg.MaxSKUs),
	}
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

// Close drops kept-alive connections to peers, after the app has stopped.
func (s *Service) Close() {
	s.payments.client.CloseIdleConnections()
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
	o, err := s.checkout(c.UserContext(), req)
	if err != nil {
		return err
	}
	return c.Status(http.StatusCreated).JSON(o)
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
