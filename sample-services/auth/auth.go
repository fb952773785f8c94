// Package auth is the auth service: it issues signed tokens on login and
// validates them for the gateway on every request, with a bounded cache of
// validated tokens in front of a (simulated, slow) identity provider.
package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// MaxUserLength bounds user names; they end up in tokens and span attributes.
const MaxUserLength = 64

// IssueRequest is the body of POST /v1/tokens.
type IssueRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// IssueResponse is a freshly issued token.
type IssueResponse struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
}

// ValidateRequest is the body of POST /v1/tokens/validate.
type ValidateRequest struct {
	Token string `json:"token"`
}

// Service is a running auth service.
type Service struct {
	service.Base[Faults]
	tel    *telemetry.Telemetry
	signer signer
	ttl    time.Duration
	cache  *lru.Cache[string, Claims]
}

// New builds the auth service.
func New(cfg Config, tel *telemetry.Telemetry) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, err := service.NewBase(Name, tel, cfg.Faults)
	if err != nil {
		return nil, err
	}
	cache, err := lru.New[string, Claims](cfg.CacheSize)
	if err != nil {
		return nil, err
	}
	secret := []byte(cfg.TokenSecret)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms
	}
	s := &Service{
		Base:   base,
		tel:    tel,
		signer: signer{secret: secret},
		ttl:    cfg.TokenTTL,
		cache:  cache,
	}
	s.App().Post("/v1/tokens", s.issue)
	s.App().Post("/v1/tokens/validate", s.validate)
	return s, nil
}

// Run serves the auth service until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	return service.Run(ctx, Name, cfg.Common, func(tel *telemetry.Telemetry) (service.Server, error) {
		return New(cfg, tel)
	})
}

func (s *Service) issue(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req IssueRequest
	if err := httpx.DecodeJSON(c.Body(), &req); err != nil {
		return err
	}
	switch {
	case req.User == "":
		return httpx.FieldError("user", "user is required")
	case len(req.User) > MaxUserLength:
		return httpx.FieldError("user", "user must be at most %d characters, got %d", MaxUserLength, len(req.User))
	case req.Password == "":
		// The demo has no user database: any non-empty password logs in.
		return httpx.FieldError("password", "password is required")
	}
	s.askIdentityProvider(ctx)

	expiresAt := time.Now().Add(s.ttl).UTC().Truncate(time.Second)
	token := s.signer.issue(req.User, expiresAt)
	s.cache.Add(token, Claims{User: req.User, ExpiresAt: expiresAt})
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("enduser.id", req.User))
	s.tel.Log(ctx).Info().Str("user", req.User).Time("expires_at", expiresAt).Msg("token issued")
	return c.Status(http.StatusCreated).JSON(IssueResponse{Token: token, User: req.User, ExpiresAt: expiresAt})
}

func (s *Service) validate(c *fiber.Ctx) error {
	ctx := c.UserContext()
	span := trace.SpanFromContext(ctx)
	var req ValidateRequest
	if err := httpx.DecodeJSON(c.Body(), &req); err != nil {
		return err
	}
	if req.Token == "" {
		return httpx.FieldError("token", "token is required")
	}

	now := time.Now()
	claims, hit := s.cache.Get(req.Token)
	span.SetAttributes(attribute.Bool("auth.cache_hit", hit))
	if !hit || !now.Before(claims.ExpiresAt) {
		s.askIdentityProvider(ctx)
		var err error
		claims, err = s.signer.verify(req.Token, now)
		if err != nil {
			s.cache.Remove(req.Token)
			s.tel.Log(ctx).Info().Str("reason", err.Error()).Msg("token rejected")
			return &httpx.APIError{Status: http.StatusUnauthorized, Code: httpx.CodeUnauthorized, Message: reason(err)}
		}
		s.cache.Add(req.Token, claims)
	}
	span.SetAttributes(attribute.String("enduser.id", claims.User))
	return c.JSON(claims)
}

// askIdentityProvider stands in for the slow call a real auth service makes
// to its identity provider; its duration is the injected latency.
func (s *Service) askIdentityProvider(ctx context.Context) {
	_, span := s.tel.Tracer().Start(ctx, "auth.identity_provider", trace.WithSpanKind(trace.SpanKindInternal))
	defer span.End()
	if slept := s.Faults().Load().Latency.Sleep(ctx); slept > 0 {
		span.SetAttributes(attribute.Float64("fault.injected_latency_ms", float64(slept.Microseconds())/1000))
	}
}

func reason(err error) string {
	for _, known := range []error{errExpiredToken, errBadSignature, errMalformedToken} {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	return err.Error()
}
