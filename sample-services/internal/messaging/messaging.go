// Package messaging is how the sample services talk through the NATS
// JetStream broker: the streams and subjects of the shop's events, the
// connection, and traced publishing and consuming.
//
// Trace context crosses the broker in the message headers (W3C
// traceparent/tracestate, through HeaderCarrier). Spans follow the OTel
// messaging conventions (semconv 1.43, where messaging.operation.type
// "publish" has become "send"):
//
//   - "publish <subject>", PRODUCER, operation type send: one per attempt
//     to hand a message to the stream; its context travels in the
//     message, so it is the message's creation context.
//   - "receive <stream>", CLIENT, operation type receive: one per batch a
//     pull consumer fetched, in a trace of its own, linked to the creation
//     context of every message in the batch.
//   - "process <subject>", CONSUMER, operation type process: one per
//     delivery, a child of the creation context (so it is in the trace of
//     the request that published the message) and linked to its batch's
//     receive span. A redelivered message gets one process span per
//     delivery, numbered by messaging.nats.message.delivery_count.
//
// Attributes on all three: messaging.system=nats (the registry has no NATS
// value; the conventions allow others), messaging.operation.name and
// .type, messaging.destination.name (the subject), messaging.message.id
// (the Nats-Msg-Id header, which is also the stream's deduplication key),
// messaging.message.body.size, server.address/server.port of the broker.
// Consumers add messaging.consumer.group.name and
// messaging.destination.subscription.name (the durable consumer). NATS
// has no conventions of its own, so the JetStream specifics are named the
// way the registry names other systems' (messaging.servicebus.message.
// delivery_count, messaging.kafka.offset): messaging.nats.stream.name,
// messaging.nats.stream.sequence, messaging.nats.message.delivery_count
// (1 on the first delivery) and messaging.nats.duplicate (the stream
// already had this message id).
package messaging

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
)

// The shop's events and where they live.
const (
	// StreamOrders holds the order events, for fulfillment.
	StreamOrders = "ORDERS"
	// SubjectOrderConfirmed is published once an order is paid and
	// confirmed; fulfillment ships it.
	SubjectOrderConfirmed = "order.confirmed"
	// SubjectOrderCancelled is published by the order saga's compensation.
	SubjectOrderCancelled = "order.cancelled"

	// StreamDeadLetters holds the messages a consumer gave up on, under
	// DeadLetterPrefix + the original subject.
	StreamDeadLetters = "ORDERS_DLQ"
	DeadLetterPrefix  = "dlq."
)

// Headers a dead-lettered message carries besides its trace context and
// Nats-Msg-Id (both of the original message's).
const (
	HeaderDeadLetterReason     = "Dead-Letter-Reason"
	HeaderDeadLetterDeliveries = "Dead-Letter-Deliveries"
	HeaderDeadLetterSubject    = "Dead-Letter-Subject"
	HeaderDeadLetterSequence   = "Dead-Letter-Stream-Sequence"
	HeaderDeadLetterConsumer   = "Dead-Letter-Consumer"
)

// System is messaging.system.
const System = "nats"

// Attribute keys the conventions do not define (see the package comment).
const (
	StreamNameKey     = attribute.Key("messaging.nats.stream.name")
	StreamSequenceKey = attribute.Key("messaging.nats.stream.sequence")
	DeliveryCountKey  = attribute.Key("messaging.nats.message.delivery_count")
	DuplicateKey      = attribute.Key("messaging.nats.duplicate")
)

// OrderStreams are the streams of the shop's order events. Every service
// that uses them creates them (CreateOrUpdateStream with the same config
// is a no-op), so start order does not matter.
func OrderStreams() []jetstream.StreamConfig {
	return []jetstream.StreamConfig{
		{
			Name:        StreamOrders,
			Description: "order events of the sample shop",
			Subjects:    []string{SubjectOrderConfirmed, SubjectOrderCancelled},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			// Bounded: the demo runs for days at a few events a second.
			MaxAge:   72 * time.Hour,
			MaxBytes: 256 << 20,
			// A publish retried after a lost ack carries the same
			// Nats-Msg-Id and is dropped as a duplicate.
			Duplicates: 10 * time.Minute,
		},
		{
			Name:        StreamDeadLetters,
			Description: "order events a consumer gave up on",
			Subjects:    []string{DeadLetterPrefix + "order.>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      7 * 24 * time.Hour,
			MaxBytes:    64 << 20,
			Duplicates:  10 * time.Minute,
		},
	}
}

// EnsureStreams creates the streams or brings their config up to date.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, streams []jetstream.StreamConfig) error {
	for _, cfg := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create stream %s on the broker: %w", cfg.Name, err)
		}
	}
	return nil
}

// DefaultURL is the broker of `make run`.
const DefaultURL = "nats://127.0.0.1:4222"

// CheckURL checks a broker URL flag: nats://host:port, credentials allowed.
func CheckURL(flagName, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("-%s %q: want the broker's URL such as %s", flagName, raw, DefaultURL)
	}
	return nil
}

// Connect connects to the broker at rawURL as clientName. It does not wait
// for the broker: a broker that is down or restarting is reconnected to
// in the background, forever, and publishes wait for it within their own
// deadline. Connection changes are logged.
func Connect(rawURL, clientName string, log zerolog.Logger) (*nats.Conn, error) {
	nc, err := nats.Connect(rawURL,
		nats.Name(clientName),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500*time.Millisecond),
		nats.Timeout(2*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().AnErr("reason", err).Str("broker", redact(rawURL)).Msg("disconnected from the broker, reconnecting")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("broker", nc.ConnectedUrlRedacted()).Msg("reconnected to the broker")
		}),
		nats.ConnectHandler(func(nc *nats.Conn) {
			log.Info().Str("broker", nc.ConnectedUrlRedacted()).Msg("connected to the broker")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn().Err(err).Msg("broker error")
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to the broker at %s: %w", redact(rawURL), err)
	}
	return nc, nil
}

// serverAttributes are server.address and server.port of the broker URL.
func serverAttributes(rawURL string) []attribute.KeyValue {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil
	}
	host, portText, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil
	}
	port, _ := strconv.Atoi(portText)
	return []attribute.KeyValue{attribute.String("server.address", host), attribute.Int("server.port", port)}
}

// redact drops the password from a URL for logs.
func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable broker URL)"
	}
	return u.Redacted()
}

// HeaderCarrier carries trace context in NATS message headers. Keys are
// case-sensitive in NATS; the W3C propagator writes and reads them in
// lower case on both sides, so they match.
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier{}

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string { return nats.Header(c).Get(key) }

// Set replaces the values of key.
func (c HeaderCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// ErrNotConnected is a publish or fetch while the broker is unreachable.
var ErrNotConnected = errors.New("not connected to the broker")
