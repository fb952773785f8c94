package messaging

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tracehouse/tracehouse/sample-services/internal/telemetry"
)

// Message is one event to publish.
type Message struct {
	Subject string
	// ID is the Nats-Msg-Id: the stream keeps one message per ID within
	// its duplicate window, so a retried publish cannot store it twice.
	ID     string
	Data   []byte
	Header map[string]string
}

// Publisher publishes to JetStream streams with a PRODUCER span per
// attempt, waiting for the stream's acknowledgement (the message is stored
// once Publish returns nil).
type Publisher struct {
	tel     *telemetry.Telemetry
	nc      *nats.Conn
	js      jetstream.JetStream
	streams []jetstream.StreamConfig
	timeout time.Duration
	server  []attribute.KeyValue
	// ensured is set once the streams exist; until then each publish
	// tries to create them, so a broker that starts late is fine.
	ensured atomic.Bool
	ensure  sync.Mutex
}

// NewPublisher publishes over nc (connected to rawURL) to streams, each
// attempt bounded by timeout.
func NewPublisher(tel *telemetry.Telemetry, nc *nats.Conn, rawURL string, streams []jetstream.StreamConfig, timeout time.Duration) (*Publisher, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	return &Publisher{tel: tel, nc: nc, js: js, streams: streams, timeout: timeout, server: serverAttributes(rawURL)}, nil
}

// JetStream is the publisher's JetStream context.
func (p *Publisher) JetStream() jetstream.JetStream { return p.js }

// Publish stores m in its stream, in a "publish <subject>" PRODUCER span
// that is a child of ctx's span and whose context travels in the message.
func (p *Publisher) Publish(ctx context.Context, m Message) (*jetstream.PubAck, error) {
	ctx, span := p.tel.Tracer().Start(ctx, "publish "+m.Subject,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(p.attributes(m)...))
	defer span.End()

	ack, err := p.publish(ctx, m)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	span.SetAttributes(StreamNameKey.String(ack.Stream), StreamSequenceKey.Int64(int64(ack.Sequence)))
	if ack.Duplicate {
		span.SetAttributes(DuplicateKey.Bool(true))
	}
	return ack, nil
}

func (p *Publisher) attributes(m Message) []attribute.KeyValue {
	return append([]attribute.KeyValue{
		semconv.MessagingSystemKey.String(System),
		semconv.MessagingOperationName("publish"),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingDestinationName(m.Subject),
		semconv.MessagingMessageID(m.ID),
		semconv.MessagingMessageBodySize(len(m.Data)),
		semconv.MessagingClientID(p.tel.ServedBy()),
	}, p.server...)
}

func (p *Publisher) publish(ctx context.Context, m Message) (*jetstream.PubAck, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if !p.nc.IsConnected() {
		return nil, fmt.Errorf("publish %s: %w (%s)", m.Subject, ErrNotConnected, p.nc.Status())
	}
	if !p.ensured.Load() {
		p.ensure.Lock()
		if !p.ensured.Load() {
			if err := EnsureStreams(ctx, p.js, p.streams); err != nil {
				p.ensure.Unlock()
				return nil, err
			}
			p.ensured.Store(true)
		}
		p.ensure.Unlock()
	}
	msg := nats.NewMsg(m.Subject)
	msg.Data = m.Data
	for k, v := range m.Header {
		msg.Header.Set(k, v)
	}
	p.tel.Propagator.Inject(ctx, HeaderCarrier(msg.Header))
	ack, err := p.js.PublishMsg(ctx, msg, jetstream.WithMsgID(m.ID))
	if err != nil {
		return nil, fmt.Errorf("publish %s (id %s): %w", m.Subject, m.ID, err)
	}
	return ack, nil
}

// Outbox publishes events that must not be lost while the broker is away:
// Publish tries at once, in the caller's trace, and when the broker does
// not acknowledge, keeps the message and re-publishes it in the background
// until it does. Each retry is another PRODUCER span in the caller's trace
// (its parent is the span that first published), and carries the same
// message id, so an attempt that did land before its ack was lost is not
// stored twice.
//
// The outbox lives in memory, like the order store it serves: a process
// killed with messages in it loses them (a production outbox is a table
// written in the same transaction as the order).
type Outbox struct {
	pub      *Publisher
	capacity int
	mu       sync.Mutex
	pending  []outboxEntry
	stop     context.CancelFunc
	done     chan struct{}
}

type outboxEntry struct {
	msg    Message
	parent trace.SpanContext
	tries  int
}

// NewOutbox starts the background relay; capacity bounds the messages it
// keeps.
func NewOutbox(pub *Publisher, capacity int) *Outbox {
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{pub: pub, capacity: capacity, stop: cancel, done: make(chan struct{})}
	go o.relay(ctx)
	return o
}

// Publish publishes m now or, failing that, keeps it for the relay. It
// returns an error only when the message could be neither published nor
// kept (the outbox is full); queued reports that it was kept.
func (o *Outbox) Publish(ctx context.Context, m Message) (queued bool, err error) {
	if _, err := o.pub.Publish(ctx, m); err == nil {
		return false, nil
	} else if !o.keep(outboxEntry{msg: m, parent: trace.SpanContextFromContext(ctx), tries: 1}) {
		return false, fmt.Errorf("%w; the outbox already holds %d messages, so this one is dropped", err, o.capacity)
	}
	o.pub.tel.Log(ctx).Warn().Str("subject", m.Subject).Str("message_id", m.ID).Msg("broker did not acknowledge; event kept in the outbox for retry")
	return true, nil
}

func (o *Outbox) keep(e outboxEntry) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) >= o.capacity {
		return false
	}
	o.pending = append(o.pending, e)
	return true
}

// Pending is how many messages wait for the broker.
func (o *Outbox) Pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

func (o *Outbox) relay(ctx context.Context) {
	defer close(o.done)
	delay := 250 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		o.mu.Lock()
		batch := o.pending
		o.pending = nil
		o.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		var failed []outboxEntry
		for _, e := range batch {
			// Keep order: once one fails, the broker is still away.
			if len(failed) == 0 {
				pubCtx := trace.ContextWithSpanContext(ctx, e.parent)
				if _, err := o.pub.Publish(pubCtx, e.msg); err == nil {
					o.pub.tel.Log(pubCtx).Info().Str("subject", e.msg.Subject).Str("message_id", e.msg.ID).Int("tries", e.tries+1).Msg("outbox event published")
					continue
				}
			}
			e.tries++
			failed = append(failed, e)
		}
		if len(failed) > 0 {
			o.mu.Lock()
			o.pending = append(failed, o.pending...)
			o.mu.Unlock()
			delay = min(delay*2, 5*time.Second)
			delay = delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
		} else {
			delay = 250 * time.Millisecond
		}
	}
}

// Close stops the relay; messages still pending are reported as lost.
func (o *Outbox) Close() {
	o.stop()
	<-o.done
	if n := o.Pending(); n > 0 {
		o.pub.tel.Logger.Error().Int("events", n).Msg("outbox not empty at shutdown: these events were never published")
	}
}
