// Package gateway is the public API of the sample shop: login, checkout and
// order lookup. It validates input, authenticates every request with the
// auth service, forwards to the order service, rate limits per client, and
// answers every failure with the shared JSON error shape.
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Input limits of the public API.
const (
	MaxUserLength = 64
	MaxItems      = 100
	MaxQty        = 1000
	MaxSKULength  = 64
	MaxPrice      = 1_000_000.00
)

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// CheckoutItem is one line of a checkout; price is in currency units with
// at most two decimals (19.99).
type CheckoutItem struct {
	SKU   string  `json:"sku"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
}

// CheckoutRequest is the body of POST /api/checkout.
type CheckoutRequest struct {
	User  string         `json:"user"`
	Items []CheckoutItem `json:"items"`
	Card  string         `json:"card"`
}

// Service is a running gateway.
type Service struct {
	service.Base[Faults]
	tel    *telemetry.Telemetry
	auth   *httpx.Client
	orders *httpx.Client
}

// New builds the gateway.
func New(cfg Config, tel *telemetry.Telemetry) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Without auth and order the gateway can only fail requests, so it
	// should not get any.
	auth := httpx.NewClient("auth", cfg.AuthURLs, tel, cfg.UpstreamTimeout)
	orders := httpx.NewClient("order", cfg.OrderURLs, tel, cfg.UpstreamTimeout)
	base, err := service.NewBase(Name, tel, cfg.Faults,
		httpx.Check{Name: "auth", Probe: auth.Ready},
		httpx.Check{Name: "order", Probe: orders.Ready},
	)
	if err != nil {
		auth.Close()
		orders.Close()
		return nil, err
	}
	s := &Service{Base: base, tel: tel, auth: auth, orders: orders}

	api := s.App().Group("/api", rateLimiter(cfg), s.injectLatency)
	api.Post("/login", s.login)
	api.Post("/checkout", s.checkout)
	api.Get("/orders/:id", s.getOrder)
	return s, nil
}

// Run serves the gateway until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	return service.Run(ctx, Name, cfg.Common, func(tel *telemetry.Telemetry) (service.Server, error) {
		return New(cfg, tel)
	})
}

// Close drops kept-alive connections to peers, after the app has stopped.
func (s *Service) Close() {
	s.auth.Close()
	s.orders.Close()
}

// rateLimiter allows cfg.RateLimit requests per window per client IP over a
// sliding window; beyond that it answers 429 with Retry-After (set by the
// limiter) rather than queueing work the services cannot absorb.
func rateLimiter(cfg Config) fiber.Handler {
	return limiter.New(limiter.Config{
		Max:               cfg.RateLimit,
		Expiration:        cfg.RateWindow,
		LimiterMiddleware: limiter.SlidingWindow{},
		KeyGenerator:      func(c *fiber.Ctx) string { return c.IP() },
		LimitReached: func(c *fiber.Ctx) error {
			return &httpx.APIError{
				Status: http.StatusTooManyRequests,
				Code:   httpx.CodeRateLimited,
				Message: fmt.Sprintf("rate limit of %d requests per %s exceeded for %s; retry after the number of seconds in Retry-After",
					cfg.RateLimit, cfg.RateWindow, c.IP()),
			}
		},
	})
}

func (s *Service) injectLatency(c *fiber.Ctx) error {
	if slept := s.Faults().Load().Latency.Sleep(c.UserContext()); slept > 0 {
		trace.SpanFromContext(c.UserContext()).SetAttributes(
			attribute.Float64("fault.injected_latency_ms", float64(slept.Microseconds())/1000))
	}
	return c.Next()
}

func (s *Service) login(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req LoginRequest
	if err := httpx.DecodeJSON(c.Body(), &req); err != nil {
		return err
	}
	if err := checkUser(req.User); err != nil {
		return err
	}
	if req.Password == "" {
		return httpx.FieldError("password", "password is required")
	}
	var issued json.RawMessage
	err := s.auth.Do(ctx, httpx.Request{Method: http.MethodPost, Route: "/v1/tokens", Path: "/v1/tokens", Body: req}, &issued)
	if err != nil {
		return s.upstreamFailure(ctx, err)
	}
	return c.Status(http.StatusOK).Type("json").Send(issued)
}

func (s *Service) checkout(c *fiber.Ctx) error {
	ctx := c.UserContext()
	user, err := s.authenticate(c)
	if err != nil {
		return err
	}
	var req CheckoutRequest
	if err := httpx.DecodeJSON(c.Body(), &req); err != nil {
		return err
	}
	items, err := req.validate()
	if err != nil {
		return err
	}
	if req.User != user {
		return httpx.NewError(http.StatusForbidden, "forbidden",
			"the token belongs to %q but the checkout is for %q; log in as %q", user, req.User, req.User)
	}

	// The gateway names the order: the request to order is then
	// idempotent (a replica that dies mid-request can be replaced by
	// another with the same request), and the order id picks the order
	// replica, for this request and for every lookup of the order.
	orderID := newOrderID()
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("order.id", orderID))
	var created json.RawMessage
	err = s.orders.Do(ctx, httpx.Request{
		Method: http.MethodPost, Route: "/v1/orders", Path: "/v1/orders",
		Header:   map[string]string{httpx.IdempotencyKeyHeader: orderID},
		Body:     orderCreate{OrderID: orderID, User: req.User, Items: items, Card: req.Card},
		Affinity: orderID,
	}, &created)
	if err != nil {
		failure := s.upstreamFailure(ctx, err)
		httpx.MarkFailed(ctx, failure)
		return failure
	}
	return c.Status(http.StatusCreated).Type("json").Send(created)
}

func (s *Service) getOrder(c *fiber.Ctx) error {
	ctx := c.UserContext()
	user, err := s.authenticate(c)
	if err != nil {
		return err
	}
	id := c.Params("id")
	if id == "" || len(id) > 64 {
		return httpx.FieldError("id", "order id must be 1 to 64 characters")
	}
	var raw json.RawMessage
	err = s.orders.Do(ctx, httpx.Request{Method: http.MethodGet, Route: "/v1/orders/:id", Path: "/v1/orders/" + url.PathEscape(id), Affinity: id}, &raw)
	if err != nil {
		return s.upstreamFailure(ctx, err)
	}
	var owner struct {
		User string `json:"user"`
	}
	// Someone else's order is reported as missing, not forbidden, so ids
	// cannot be probed for existence.
	if json.Unmarshal(raw, &owner) != nil || owner.User != user {
		return httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no order %q for user %q", id, user)
	}
	return c.Type("json").Send(raw)
}

// authenticate validates the bearer token with the auth service and returns
// its user. Every /api request but login goes through here.
func (s *Service) authenticate(c *fiber.Ctx) (string, error) {
	ctx := c.UserContext()
	header := c.Get(fiber.HeaderAuthorization)
	token, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || token == "" {
		return "", &httpx.APIError{
			Status:  http.StatusUnauthorized,
			Code:    httpx.CodeUnauthorized,
			Field:   fiber.HeaderAuthorization,
			Message: "missing \"Authorization: Bearer <token>\" header; get a token from POST /api/login",
		}
	}
	var claims struct {
		User string `json:"user"`
	}
	err := s.auth.Do(ctx, httpx.Request{
		Method: http.MethodPost, Route: "/v1/tokens/validate", Path: "/v1/tokens/validate",
		Body: map[string]string{"token": token},
	}, &claims)
	if err != nil {
		return "", s.upstreamFailure(ctx, err)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("enduser.id", claims.User))
	return claims.User, nil
}

// upstreamFailure translates a failed call to auth or order into the
// gateway's answer: the peer's own verdict when it is about the request
// (4xx) or tells when to come back (503), a 502 otherwise.
func (s *Service) upstreamFailure(ctx context.Context, err error) error {
	upErr, ok := httpx.AsUpstream(err)
	if !ok {
		return err
	}
	log := s.tel.Log(ctx)
	switch {
	case upErr.Status == 0:
		log.Error().Err(err).Str("peer", upErr.Peer).Msg("upstream unreachable")
		return &httpx.APIError{
			Status:     http.StatusBadGateway,
			Code:       "upstream_unreachable",
			Message:    fmt.Sprintf("the %s service did not answer; try again shortly", upErr.Peer),
			RetryAfter: time.Second,
		}
	case upErr.API != nil && (upErr.Status < 500 || upErr.Status == http.StatusServiceUnavailable):
		passed := *upErr.API
		passed.Status = upErr.Status
		passed.RetryAfter = upErr.RetryAfter
		return &passed
	default:
		log.Error().Err(err).Str("peer", upErr.Peer).Int("status", upErr.Status).Msg("upstream failed")
		return &httpx.APIError{
			Status:  http.StatusBadGateway,
			Code:    httpx.CodeUpstreamError,
			Message: fmt.Sprintf("the %s service failed (HTTP %d); try again shortly", upErr.Peer, upErr.Status),
		}
	}
}

// orderCreate is the order service's POST /v1/orders body.
type orderCreate struct {
	OrderID string      `json:"order_id"`
	User    string      `json:"user"`
	Items   []orderItem `json:"items"`
	Card    string      `json:"card"`
}

type orderItem struct {
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"price_cents"`
}

func newOrderID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "ord_" + hex.EncodeToString(b[:])
}

func checkUser(user string) error {
	switch {
	case user == "":
		return httpx.FieldError("user", "user is required")
	case len(user) > MaxUserLength:
		return httpx.FieldError("user", "user must be at most %d characters, got %d", MaxUserLength, len(user))
	}
	return nil
}

// validate checks the checkout and converts prices to cents, naming the
// first offending field.
func (r CheckoutRequest) validate() ([]orderItem, error) {
	if err := checkUser(r.User); err != nil {
		return nil, err
	}
	if len(r.Items) == 0 {
		return nil, httpx.FieldError("items", "items must hold at least one {sku, qty, price} line")
	}
	if len(r.Items) > MaxItems {
		return nil, httpx.FieldError("items", "items may hold at most %d lines, got %d", MaxItems, len(r.Items))
	}
	items := make([]orderItem, 0, len(r.Items))
	for i, it := range r.Items {
		field := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		switch {
		case it.SKU == "":
			return nil, httpx.FieldError(field("sku"), "%s is required", field("sku"))
		case len(it.SKU) > MaxSKULength:
			return nil, httpx.FieldError(field("sku"), "%s must be at most %d characters", field("sku"), MaxSKULength)
		case it.Qty < 1 || it.Qty > MaxQty:
			return nil, httpx.FieldError(field("qty"), "%s must be between 1 and %d, got %d", field("qty"), MaxQty, it.Qty)
		case !(it.Price > 0) || it.Price > MaxPrice:
			return nil, httpx.FieldError(field("price"), "%s must be more than 0 and at most %.2f, got %v", field("price"), MaxPrice, it.Price)
		}
		cents := math.Round(it.Price * 100)
		if math.Abs(it.Price*100-cents) > 1e-6 {
			return nil, httpx.FieldError(field("price"), "%s has more than two decimals (%v); prices are in cents", field("price"), it.Price)
		}
		items = append(items, orderItem{SKU: it.SKU, Qty: it.Qty, PriceCents: int64(cents)})
	}
	if r.Card == "" {
		return nil, httpx.FieldError("card", "card is required; test card %s", cards.Approved)
	}
	if err := cards.Check(r.Card); err != nil {
		return nil, httpx.FieldError("card", "%v", err)
	}
	return items, nil
}
