package messaging

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Consumer makes the spans of a JetStream pull consumer.
type Consumer struct {
	tel    *telemetry.Telemetry
	stream string
	name   string
	server []attribute.KeyValue
}

// NewConsumer is the span maker of the durable consumer name on stream, at
// the broker rawURL.
func NewConsumer(tel *telemetry.Telemetry, rawURL, stream, name string) *Consumer {
	return &Consumer{tel: tel, stream: stream, name: name, server: serverAttributes(rawURL)}
}

func (c *Consumer) common(operation string) []attribute.KeyValue {
	return append([]attribute.KeyValue{
		semconv.MessagingSystemKey.String(System),
		semconv.MessagingOperationName(operation),
		semconv.MessagingConsumerGroupName(c.name),
		semconv.MessagingDestinationSubscriptionName(c.name),
		StreamNameKey.String(c.stream),
		semconv.MessagingClientID(c.tel.ServedBy()),
	}, c.server...)
}

// CreationContext is the span context the producer put in msg's headers:
// the "publish" span that created it. Invalid when it carries none.
func (c *Consumer) CreationContext(msg jetstream.Msg) trace.SpanContext {
	return trace.SpanContextFromContext(c.tel.Propagator.Extract(context.Background(), HeaderCarrier(msg.Headers())))
}

// Received records one fetched batch as a "receive <stream>" CLIENT span
// from fetchStart until now, in a trace of its own (a fetch belongs to no
// request), linked to the creation context of every message in it. It
// returns the span's context, for the process spans to link back to.
func (c *Consumer) Received(fetchStart time.Time, msgs []jetstream.Msg) trace.SpanContext {
	links := make([]trace.Link, 0, len(msgs))
	for _, m := range msgs {
		if sc := c.CreationContext(m); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
				semconv.MessagingDestinationName(m.Subject()),
				semconv.MessagingMessageID(m.Headers().Get(jetstream.MsgIDHeader)),
			}})
		}
	}
	attrs := append(c.common("receive"), semconv.MessagingOperationTypeReceive, semconv.MessagingBatchMessageCount(len(msgs)))
	_, span := c.tel.Tracer().Start(context.Background(), "receive "+c.stream,
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(fetchStart),
		trace.WithLinks(links...),
		trace.WithAttributes(attrs...))
	span.End()
	return span.SpanContext()
}

// StartProcess starts the "process <subject>" CONSUMER span of one
// delivery of msg: a child of the message's creation context (a new trace
// if it has none), linked to batch, the receive span of its fetch.
func (c *Consumer) StartProcess(ctx context.Context, msg jetstream.Msg, batch trace.SpanContext) (context.Context, trace.Span) {
	parent := c.tel.Propagator.Extract(ctx, HeaderCarrier(msg.Headers()))
	attrs := append(c.common("process"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(msg.Subject()),
		semconv.MessagingMessageID(msg.Headers().Get(jetstream.MsgIDHeader)),
		semconv.MessagingMessageBodySize(len(msg.Data())),
	)
	if md, err := msg.Metadata(); err == nil {
		attrs = append(attrs, DeliveryCountKey.Int64(int64(md.NumDelivered)), StreamSequenceKey.Int64(int64(md.Sequence.Stream)))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	if batch.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: batch, Attributes: []attribute.KeyValue{
			semconv.MessagingOperationTypeReceive,
		}}))
	}
	if !trace.SpanContextFromContext(parent).IsValid() {
		opts = append(opts, trace.WithNewRoot())
	}
	return c.tel.Tracer().Start(parent, "process "+msg.Subject(), opts...)
}

// Header returns a copy of msg's headers without the trace context, for
// passing the message on (to the dead-letter stream) under a new one.
func Header(msg jetstream.Msg) map[string]string {
	out := map[string]string{}
	for k, v := range msg.Headers() {
		switch k {
		case "traceparent", "tracestate", "baggage", jetstream.MsgIDHeader:
			continue
		}
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}
