// Package fulfillment is the worker that ships confirmed orders. It reads
// order.confirmed and order.cancelled from the broker's ORDERS stream
// through a durable pull consumer, acknowledges each message explicitly
// once handled, retries failures with exponential back-off (a negative
// acknowledgement with a delay) and, after -max-deliveries, moves the
// message to the dead-letter stream (dlq.<subject>) and terminates it, so
// nothing is dropped silently.
//
// Every delivery is a "process <subject>" CONSUMER span in the trace of
// the checkout that published the event; each fetched batch is a
// "receive ORDERS" span linked to the messages' producers (see
// internal/messaging). Logs written while handling a message carry its
// trace and span ids.
package fulfillment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
	"github.com/tracehouse/tracehouse/sample-services/internal/messaging"
	"github.com/tracehouse/tracehouse/sample-services/internal/service"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Shipment statuses.
const (
	StatusShipped   = "shipped"
	StatusCancelled = "cancelled"
)

// Shipment is what the worker did with an order.
type Shipment struct {
	ID        string    `json:"shipment_id,omitempty"`
	OrderID   string    `json:"order_id"`
	Status    string    `json:"status"`
	Units     int       `json:"units"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Service is a running fulfillment worker.
type Service struct {
	service.Base[Faults]
	cfg       Config
	tel       *telemetry.Telemetry
	nc        *nats.Conn
	pub       *messaging.Publisher
	spans     *messaging.Consumer
	consumer  atomic.Pointer[jetstream.Consumer]
	shipments *lru.Cache[string, Shipment]
	stats     Stats

	stop context.CancelFunc
	done chan struct{}
}

// Stats counts what the worker did with the deliveries it got.
type Stats struct {
	Processed    atomic.Int64
	Retried      atomic.Int64
	DeadLettered atomic.Int64
}

// New builds the worker and starts consuming; the broker may come later.
func New(cfg Config, tel *telemetry.Telemetry) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	shipments, err := lru.New[string, Shipment](cfg.MaxShipments)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, tel: tel, shipments: shipments, done: make(chan struct{})}
	// Ready once connected to the broker with the consumer in place:
	// before that the worker takes no messages.
	s.Base, err = service.NewBase(Name, tel, cfg.Faults, httpx.Check{Name: "broker", Probe: s.consuming})
	if err != nil {
		return nil, err
	}
	s.nc, err = messaging.Connect(cfg.NATSURL, tel.ServedBy(), tel.Logger)
	if err != nil {
		return nil, err
	}
	s.pub, err = messaging.NewPublisher(tel, s.nc, cfg.NATSURL, messaging.OrderStreams(), 5*time.Second)
	if err != nil {
		s.nc.Close()
		return nil, err
	}
	s.spans = messaging.NewConsumer(tel, cfg.NATSURL, messaging.StreamOrders, cfg.ConsumerName)

	s.App().Get("/v1/shipments/:order_id", s.getShipment)
	s.App().Get("/admin/consumer", s.consumerInfo)

	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.run(ctx)
	return s, nil
}

// Run serves the worker until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	return service.Run(ctx, Name, cfg.Common, func(tel *telemetry.Telemetry) (service.Server, error) {
		return New(cfg, tel)
	})
}

// Close stops fetching, lets the messages in hand finish (a message cut
// short is handed back to the broker at once), and closes the connection.
func (s *Service) Close() {
	s.stop()
	<-s.done
	if err := s.nc.Drain(); err != nil {
		s.nc.Close()
	}
}

// Shipment is the worker's record of order id.
func (s *Service) Shipment(orderID string) (Shipment, bool) { return s.shipments.Get(orderID) }

func (s *Service) consuming(context.Context) error {
	if !s.nc.IsConnected() {
		return fmt.Errorf("not connected to the broker at %s (%s)", s.nc.Opts.Url, s.nc.Status())
	}
	if s.consumer.Load() == nil {
		return fmt.Errorf("consumer %s on stream %s not set up yet", s.cfg.ConsumerName, messaging.StreamOrders)
	}
	return nil
}

func (s *Service) getShipment(c *fiber.Ctx) error {
	sh, ok := s.shipments.Get(c.Params("order_id"))
	if !ok {
		return httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no shipment for order %q (yet: events arrive asynchronously)", c.Params("order_id"))
	}
	return c.JSON(sh)
}

func (s *Service) consumerInfo(c *fiber.Ctx) error {
	cons := s.consumer.Load()
	if cons == nil {
		return httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, "consumer not set up yet; is the broker at %s up?", s.nc.Opts.Url)
	}
	info, err := (*cons).Info(c.UserContext())
	if err != nil {
		return httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, "broker: %v", err)
	}
	return c.JSON(fiber.Map{
		"consumer":          info.Name,
		"stream":            info.Stream,
		"pending":           info.NumPending,
		"ack_pending":       info.NumAckPending,
		"redelivered":       info.NumRedelivered,
		"processed":         s.stats.Processed.Load(),
		"retried":           s.stats.Retried.Load(),
		"dead_lettered":     s.stats.DeadLettered.Load(),
		"max_deliveries":    s.cfg.MaxDeliveries,
		"dead_letter_topic": messaging.DeadLetterPrefix + "order.*",
	})
}

// setup creates the streams and the durable consumer.
func (s *Service) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	js := s.pub.JetStream()
	if err := messaging.EnsureStreams(ctx, js, messaging.OrderStreams()); err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, messaging.StreamOrders, jetstream.ConsumerConfig{
		Durable:        s.cfg.ConsumerName,
		Description:    "fulfillment worker: ships confirmed orders",
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.cfg.AckWait,
		FilterSubjects: []string{messaging.SubjectOrderConfirmed, messaging.SubjectOrderCancelled},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		// Unlimited on the broker: the worker counts deliveries itself and
		// dead-letters at -max-deliveries, so the broker never drops a
		// message the worker failed to dead-letter (it comes back and is
		// dead-lettered again).
		MaxDeliver:    -1,
		MaxAckPending: 4 * s.cfg.BatchSize,
	})
	if err != nil {
		return fmt.Errorf("create consumer %s on stream %s: %w", s.cfg.ConsumerName, messaging.StreamOrders, err)
	}
	s.consumer.Store(&cons)
	s.tel.Logger.Info().Str("consumer", s.cfg.ConsumerName).Str("stream", messaging.StreamOrders).Int("max_deliveries", s.cfg.MaxDeliveries).Msg("consuming order events")
	return nil
}

// run fetches batches until ctx ends and handles each batch's messages
// concurrently.
func (s *Service) run(ctx context.Context) {
	defer close(s.done)
	var lastErr string
	pause := func(err error) {
		// One line per distinct error, not one per second of an outage.
		if msg := err.Error(); msg != lastErr {
			s.tel.Logger.Warn().Err(err).Msg("cannot fetch order events; retrying")
			lastErr = msg
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	for ctx.Err() == nil {
		if !s.nc.IsConnected() {
			pause(fmt.Errorf("%w (%s)", messaging.ErrNotConnected, s.nc.Status()))
			continue
		}
		cons := s.consumer.Load()
		if cons == nil {
			if err := s.setup(ctx); err != nil {
				pause(err)
				continue
			}
			cons = s.consumer.Load()
		}
		fetchStart := time.Now()
		batch, err := (*cons).Fetch(s.cfg.BatchSize, jetstream.FetchMaxWait(s.cfg.FetchWait))
		if err != nil {
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
				s.consumer.Store(nil) // the broker lost its state: set up again
			}
			pause(err)
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && len(msgs) == 0 {
			pause(err)
			continue
		}
		lastErr = ""
		if len(msgs) == 0 {
			continue
		}
		receive := s.spans.Received(fetchStart, msgs)
		var wg sync.WaitGroup
		for _, m := range msgs {
			wg.Go(func() { s.handle(ctx, m, receive) })
		}
		wg.Wait()
	}
}

// errPermanent marks a message that can never be handled (it does not
// decode): dead-lettered at once, without retries.
var errPermanent = errors.New("permanent failure")

// handle is one delivery: process, then ack, retry later, or dead-letter.
func (s *Service) handle(ctx context.Context, msg jetstream.Msg, receive trace.SpanContext) {
	ctx, span := s.spans.StartProcess(ctx, msg, receive)
	defer span.End()
	deliveries := 1
	if md, err := msg.Metadata(); err == nil {
		deliveries = int(md.NumDelivered)
	}
	log := s.tel.Log(ctx).With().Str("subject", msg.Subject()).Str("message_id", msg.Headers().Get(jetstream.MsgIDHeader)).
		Int("delivery", deliveries).Logger()

	err := s.process(ctx, msg)
	switch {
	case err == nil:
		if ackErr := msg.Ack(); ackErr != nil {
			// The broker delivers it again after AckWait; process is
			// idempotent (a shipment per order), so that is harmless.
			span.RecordError(ackErr)
			log.Warn().Err(ackErr).Msg("ack failed; the message will come again")
			return
		}
		span.AddEvent("ack")
		s.stats.Processed.Add(1)
		return
	case ctx.Err() != nil:
		// Shutting down mid-message: hand it back now rather than after
		// AckWait.
		_ = msg.Nak()
		span.SetStatus(codes.Error, "worker stopping; message handed back")
		log.Info().Msg("worker stopping; message handed back to the broker")
		return
	}

	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	if errors.Is(err, errPermanent) || deliveries >= s.cfg.MaxDeliveries {
		s.deadLetter(ctx, msg, err, deliveries, log)
		return
	}
	delay := backoff(deliveries, s.cfg.RetryBaseDelay, s.cfg.RetryMaxDelay)
	if nakErr := msg.NakWithDelay(delay); nakErr != nil {
		span.RecordError(nakErr)
	}
	span.AddEvent("nak", trace.WithAttributes(attribute.Float64("retry.backoff_ms", float64(delay.Microseconds())/1000)))
	s.stats.Retried.Add(1)
	log.Warn().Err(err).Stringer("backoff", delay).Int("max_deliveries", s.cfg.MaxDeliveries).Msg("order event failed; will be delivered again")
}

// deadLetter moves msg to the dead-letter stream (a PRODUCER span under
// the delivery's span, so the trace ends there) and terminates it. If the
// dead-letter stream does not take it, the message is handed back and
// comes again, to be dead-lettered then.
func (s *Service) deadLetter(ctx context.Context, msg jetstream.Msg, cause error, deliveries int, log zerolog.Logger) {
	span := trace.SpanFromContext(ctx)
	header := messaging.Header(msg)
	header[messaging.HeaderDeadLetterReason] = cause.Error()
	header[messaging.HeaderDeadLetterDeliveries] = strconv.Itoa(deliveries)
	header[messaging.HeaderDeadLetterSubject] = msg.Subject()
	header[messaging.HeaderDeadLetterConsumer] = s.cfg.ConsumerName
	if md, err := msg.Metadata(); err == nil {
		header[messaging.HeaderDeadLetterSequence] = strconv.FormatUint(md.Sequence.Stream, 10)
	}
	id := msg.Headers().Get(jetstream.MsgIDHeader)
	if id == "" {
		id = msg.Subject() + ":" + header[messaging.HeaderDeadLetterSequence]
	}
	_, err := s.pub.Publish(ctx, messaging.Message{Subject: messaging.DeadLetterPrefix + msg.Subject(), ID: id, Data: msg.Data(), Header: header})
	if err != nil {
		delay := backoff(deliveries, s.cfg.RetryBaseDelay, s.cfg.RetryMaxDelay)
		_ = msg.NakWithDelay(delay)
		log.Error().Err(err).AnErr("cause", cause).Msg("cannot dead-letter the message; handed back to try again")
		return
	}
	if err := msg.TermWithReason("dead-lettered"); err != nil {
		span.RecordError(err)
	}
	span.SetAttributes(attribute.Bool("messaging.nats.dead_lettered", true))
	s.stats.DeadLettered.Add(1)
	log.Error().Err(cause).Str("dead_letter_subject", messaging.DeadLetterPrefix+msg.Subject()).Msg("order event dead-lettered after its last delivery")
}

// process is the work: decode the event, suffer the injected faults, and
// ship (or record the cancellation of) the order.
func (s *Service) process(ctx context.Context, msg jetstream.Msg) error {
	span := trace.SpanFromContext(ctx)
	var ev messaging.OrderEvent
	if err := json.Unmarshal(msg.Data(), &ev); err != nil || ev.OrderID == "" {
		if err == nil {
			err = errors.New("no order_id")
		}
		return fmt.Errorf("%w: %s message is not an order event: %v", errPermanent, msg.Subject(), err)
	}
	span.SetAttributes(attribute.String("order.id", ev.OrderID))

	f := s.Faults().Load()
	if slept := f.Latency.Sleep(ctx); slept > 0 {
		span.SetAttributes(attribute.Float64("fault.injected_latency_ms", float64(slept.Microseconds())/1000))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if f.PoisonSKU != "" {
		for _, it := range ev.Items {
			if it.SKU == f.PoisonSKU {
				span.SetAttributes(attribute.Bool("fault.poison", true))
				return fmt.Errorf("packing %s crashed the label printer driver (poison message, injected)", it.SKU)
			}
		}
	}
	if f.ErrorRate > 0 && mrand.Float64() < f.ErrorRate {
		span.SetAttributes(attribute.Bool("fault.error", true))
		return errors.New("warehouse system unavailable (injected)")
	}

	log := s.tel.Log(ctx)
	units := 0
	for _, it := range ev.Items {
		units += it.Qty
	}
	switch msg.Subject() {
	case messaging.SubjectOrderConfirmed:
		if prev, ok := s.shipments.Get(ev.OrderID); ok && prev.Status == StatusShipped {
			// A redelivery after a lost ack: shipped already.
			span.SetAttributes(attribute.String("fulfillment.shipment_id", prev.ID), attribute.Bool("fulfillment.duplicate", true))
			log.Info().Str("order_id", ev.OrderID).Str("shipment_id", prev.ID).Msg("order already shipped")
			return nil
		}
		sh := Shipment{ID: newShipmentID(), OrderID: ev.OrderID, Status: StatusShipped, Units: units, UpdatedAt: time.Now().UTC()}
		s.shipments.Add(ev.OrderID, sh)
		span.SetAttributes(attribute.String("fulfillment.shipment_id", sh.ID))
		log.Info().Str("order_id", ev.OrderID).Str("shipment_id", sh.ID).Int("units", units).Msg("order shipped")
	case messaging.SubjectOrderCancelled:
		s.shipments.Add(ev.OrderID, Shipment{OrderID: ev.OrderID, Status: StatusCancelled, UpdatedAt: time.Now().UTC()})
		log.Info().Str("order_id", ev.OrderID).Str("reason", ev.Reason).Msg("order cancelled; nothing to ship")
	default:
		return fmt.Errorf("%w: unexpected subject %s", errPermanent, msg.Subject())
	}
	return nil
}

// backoff is the delay before delivery n+1: base*2^(n-1) capped at max,
// drawn between half and all of that so a burst of failures does not come
// back in lockstep, yet each retry still waits longer than the last.
func backoff(delivery int, base, max time.Duration) time.Duration {
	d := base << min(delivery-1, 30)
	if d > max || d <= 0 {
		d = max
	}
	return d/2 + time.Duration(mrand.Int64N(int64(d/2)+1))
}

func newShipmentID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return "shp_" + hex.EncodeToString(b[:])
}
