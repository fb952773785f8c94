package order

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/messaging"
	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// events publishes the order events through an outbox, so a broker outage
// delays them instead of failing checkouts or losing them.
type events struct {
	tel    *telemetry.Telemetry
	nc     *nats.Conn
	outbox *messaging.Outbox
}

func newEvents(tel *telemetry.Telemetry, cfg Config) (*events, error) {
	nc, err := messaging.Connect(cfg.NATSURL, tel.ServedBy(), tel.Logger)
	if err != nil {
		return nil, err
	}
	pub, err := messaging.NewPublisher(tel, nc, cfg.NATSURL, messaging.OrderStreams(), cfg.PublishTimeout)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &events{tel: tel, nc: nc, outbox: messaging.NewOutbox(pub, cfg.OutboxSize)}, nil
}

func (e *events) close() {
	e.outbox.Close()
	// Drain flushes what the connection buffered; Close if it cannot.
	if err := e.nc.Drain(); err != nil {
		e.nc.Close()
	}
}

// announce publishes o's event on subject as part of the step in ctx. It
// never fails the step: an event the broker does not take now waits in
// the outbox, and one the outbox cannot hold is logged as lost.
func (s *Service) announce(ctx context.Context, subject string, o Order) {
	if s.events == nil {
		return
	}
	ev := messaging.OrderEvent{
		OrderID: o.ID, User: o.User, AmountCents: o.AmountCents, Currency: o.Currency,
		Status: o.Status, ChargeID: o.ChargeID, Reason: o.FailureReason, OccurredAt: o.UpdatedAt,
	}
	for _, it := range o.Items {
		ev.Items = append(ev.Items, messaging.OrderItem{SKU: it.SKU, Qty: it.Qty, PriceCents: it.PriceCents})
	}
	span := trace.SpanFromContext(ctx)
	msg, err := messaging.OrderMessage(subject, ev)
	if err == nil {
		var queued bool
		queued, err = s.events.outbox.Publish(ctx, msg)
		if queued {
			span.SetAttributes(attribute.Bool("event.queued", true))
		}
	}
	if err != nil {
		err = fmt.Errorf("order %s: %s event lost: %w", o.ID, subject, err)
		span.RecordError(err)
		s.tel.Log(ctx).Error().Err(err).Str("order_id", o.ID).Msg("order event lost")
	}
}
