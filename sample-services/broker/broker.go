// Package broker is the shop's message broker: a NATS server with
// JetStream, embedded from github.com/nats-io/nats-server, run as a process
// of its own like every other service (health endpoints, zerolog logs over
// OTLP, graceful shutdown). Streams persist in the data folder.
//
// The broker itself makes no spans: trace context crosses it in message
// headers, and the producers and consumers make the spans (see
// internal/messaging). In compose and Kubernetes the official NATS image
// takes its place.
package broker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Service is a running broker.
type Service struct {
	service.Base[Faults]
	nats *server.Server
	log  zerolog.Logger
}

// New starts the NATS server and builds the health app around it.
func New(cfg Config, tel *telemetry.Telemetry) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	host, portText, _ := net.SplitHostPort(cfg.NATSListen)
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("-nats-listen %q: port is not a number", cfg.NATSListen)
	}
	opts := &server.Options{
		ServerName:         "broker-" + cfg.Instance(),
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           cfg.Data,
		JetStreamMaxStore:  cfg.MaxStore,
		JetStreamMaxMemory: 64 << 20,
		Username:           cfg.User,
		Password:           cfg.Password,
		// Signals are ours: service.Run shuts the server down on SIGTERM.
		NoSigs: true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ns.SetLoggerV2(natsLogger{log: tel.Logger.With().Str("component", "nats").Logger()}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("broker: NATS did not start listening on %s within 30s (is the port taken? pick another with -nats-listen)", cfg.NATSListen)
	}
	s := &Service{nats: ns, log: tel.Logger}
	s.Base, err = service.NewBase(Name, tel, Faults{}, httpx.Check{Name: "jetstream", Probe: s.jetStreamReady})
	if err != nil {
		ns.Shutdown()
		return nil, err
	}
	s.App().Get("/v1/info", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"nats_url": s.ClientURL(), "jetstream": ns.JetStreamEnabled(), "clients": ns.NumClients()})
	})
	tel.Logger.Info().Str("nats_url", s.ClientURL()).Str("data", cfg.Data).Msg("NATS with JetStream ready")
	return s, nil
}

// ClientURL is where clients connect, nats://host:port.
func (s *Service) ClientURL() string { return s.nats.ClientURL() }

func (s *Service) jetStreamReady(context.Context) error {
	if h := s.nats.Healthz(&server.HealthzOptions{JSEnabledOnly: true}); h.Status != "ok" {
		return fmt.Errorf("NATS health: %s %s", h.Status, h.Error)
	}
	return nil
}

// Close shuts NATS down after the health app has stopped: clients see the
// connection close and reconnect when it is back; JetStream flushes its
// store.
func (s *Service) Close() {
	s.nats.Shutdown()
	s.nats.WaitForShutdown()
}

// Run serves the broker until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	return service.Run(ctx, Name, cfg.Common, func(tel *telemetry.Telemetry) (service.Server, error) {
		return New(cfg, tel)
	})
}

// natsLogger sends the NATS server's log lines to the service's zerolog
// logger (and so to OTLP).
type natsLogger struct{ log zerolog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Info().Msgf(format, v...) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }

// Fatalf is an error here: an embedded server must not exit the process
// (the server shuts itself down after a fatal error, and readiness fails).
func (l natsLogger) Fatalf(format string, v ...any) { l.log.Error().Msgf(format, v...) }
func (l natsLogger) Debugf(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l natsLogger) Tracef(format string, v ...any) { l.log.Trace().Msgf(format, v...) }
