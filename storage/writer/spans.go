package writer

import (
	"math"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
	"github.com/tracehouse/tracehouse/storage/servicegraph"
)

// maxTimestamp is the last instant DateTime64(9) holds (2262-04-11): its
// ticks are an Int64 of nanoseconds.
const maxTimestamp = pcommon.Timestamp(math.MaxInt64)

// DefaultServiceName is stored in ServiceName when a resource has no
// service.name, as OpenTelemetry SDKs do. The resource attributes themselves
// are stored unchanged.
const DefaultServiceName = "unknown_service"

// spanColumns is one INSERT INTO spans batch under construction.
type spanColumns struct {
	rows int

	timestamp     []time.Time
	traceID       nativeblock.FixedColumn
	spanID        nativeblock.FixedColumn
	parentSpanID  nativeblock.FixedColumn
	traceState    []string
	flags         []uint32
	name          []string
	kind          []int8
	duration      []uint64
	statusCode    []int8
	statusMessage []string
	serviceName   []string

	origin originColumns

	attrs   typedAttrs
	dropped []uint32

	eventTime     nativeblock.Nested[time.Time]
	eventName     nativeblock.Nested[string]
	eventAttrs    nativeblock.Nested[string]
	eventDropped  nativeblock.Nested[uint32]
	droppedEvents []uint32

	linkTraceID    nativeblock.NestedFixed
	linkSpanID     nativeblock.NestedFixed
	linkTraceState nativeblock.Nested[string]
	linkFlags      nativeblock.Nested[uint32]
	linkAttrs      nativeblock.Nested[string]
	linkDropped    nativeblock.Nested[uint32]
	droppedLinks   []uint32

	// edges are the parent/child facts of every span, for the service graph.
	edges []servicegraph.Span

	enc  anyvalue.Encoder
	dict nativeblock.StrDict // for the LowCardinality(String) columns, one at a time

	block nativeblock.Encoder // the Native block sent, kept with the buffers
	edgeEncoders
}

// edgeEncoders encode the service-graph edges a batch completes. A batch
// of spans converted here brings its own (spanColumns); a batch from a
// queue takes them from the writer's edgePool, not a whole spanColumns,
// whose span buffers (megabytes, grown to the largest batch) would then be
// pinned in the pool for nothing.
type edgeEncoders struct {
	edgeBlock, brokerBlock nativeblock.Encoder
}

// reset is freeList's: there is nothing to clear, since each encoder
// starts its block afresh when it encodes.
func (*edgeEncoders) reset() {}

func newSpanColumns(maxDepth int) *spanColumns {
	return &spanColumns{
		enc:          anyvalue.NewEncoder(maxDepth),
		traceID:      nativeblock.NewFixedColumn(16),
		spanID:       nativeblock.NewFixedColumn(8),
		parentSpanID: nativeblock.NewFixedColumn(8),
		linkTraceID:  nativeblock.NewNestedFixed(16),
		linkSpanID:   nativeblock.NewNestedFixed(8),
	}
}

func (c *spanColumns) reset() {
	c.rows = 0
	c.timestamp = c.timestamp[:0]
	c.traceID.Reset()
	c.spanID.Reset()
	c.parentSpanID.Reset()
	clear(c.traceState)
	c.traceState = c.traceState[:0]
	c.flags = c.flags[:0]
	clear(c.name)
	c.name = c.name[:0]
	c.kind = c.kind[:0]
	c.duration = c.duration[:0]
	c.statusCode = c.statusCode[:0]
	clear(c.statusMessage)
	c.statusMessage = c.statusMessage[:0]
	clear(c.serviceName)
	c.serviceName = c.serviceName[:0]
	c.origin.reset()
	c.attrs.reset()
	c.dropped = c.dropped[:0]
	c.eventTime.Reset()
	c.eventName.Reset()
	c.eventAttrs.Reset()
	c.eventDropped.Reset()
	c.droppedEvents = c.droppedEvents[:0]
	c.linkTraceID.Reset()
	c.linkSpanID.Reset()
	c.linkTraceState.Reset()
	c.linkFlags.Reset()
	c.linkAttrs.Reset()
	c.linkDropped.Reset()
	c.droppedLinks = c.droppedLinks[:0]
	clear(c.edges)
	c.edges = c.edges[:0]
	c.enc.Sanitized, c.enc.Truncated = 0, 0
	c.dict.Reset()
}

// retainedBytes estimates what the buffers hold on to, so a pool can drop a
// buffer that one huge batch blew up.
func (c *spanColumns) retainedBytes() int {
	return c.attrs.str.Cap()*32 + c.attrs.other.Cap()*32 + cap(c.timestamp)*24*8 +
		c.eventAttrs.Cap()*16 + c.enc.RetainedBytes() + c.block.RetainedBytes() + c.edgeBlock.RetainedBytes() + c.brokerBlock.RetainedBytes()
}

// reserve grows the largest buffers, once, to what td needs, when they are
// smaller: a batch larger than any before (every batch, for fresh buffers)
// would otherwise grow them in append's steps, each a copy of all so far,
// which costs more than converting the spans (figures in
// bench/ingest/README.md).
func (c *spanColumns) reserve(td ptrace.Traces) {
	rows := c.rows + td.SpanCount()
	if cap(c.timestamp) >= rows {
		return
	}
	attrs := c.attrs.str.Len()
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				attrs += span.Attributes().Len()
			}
		}
	}
	growAll(rows, &c.timestamp)
	c.traceID.Reserve(rows)
	c.spanID.Reserve(rows)
	c.parentSpanID.Reserve(rows)
	growAll(rows, &c.traceState, &c.name, &c.statusMessage, &c.serviceName)
	c.origin.reserve(rows)
	c.attrs.str.Reserve(rows, attrs) // most attributes are strings
}

// add appends every span of td, which holds only storable ones
// (StorableTraces), and counts in st what it had to change.
func (c *spanColumns) add(td ptrace.Traces, st *WriteStats, services *servicegraph.Interner) {
	c.reserve(td)
	enc := &c.enc
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource()
		service := serviceName(res.Attributes(), enc)
		internedService := services.Intern(service)
		resOrigin := resourceOrigin(res, rs.SchemaUrl(), enc)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := ss.Scope()
			origin := resOrigin.withScope(scope, ss.SchemaUrl(), enc)
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				start, end := span.StartTimestamp(), span.EndTimestamp()
				var duration uint64
				if end >= start {
					duration = uint64(end - start)
				} else {
					st.Clamped++ // ends before it starts: stored with duration 0
				}
				kind := int8(span.Kind())
				if span.Kind() < 0 || span.Kind() > ptrace.SpanKindConsumer {
					kind = 0
					st.Clamped++
				}
				code := int8(span.Status().Code())
				if span.Status().Code() < 0 || span.Status().Code() > ptrace.StatusCodeError {
					code = 0
					st.Clamped++
				}

				c.rows++
				c.timestamp = append(c.timestamp, time.Unix(0, int64(start)))
				tid, sid, pid := span.TraceID(), span.SpanID(), span.ParentSpanID()
				c.traceID.Add(tid[:])
				c.spanID.Add(sid[:])
				c.parentSpanID.Add(pid[:])
				c.traceState = append(c.traceState, enc.CleanString(span.TraceState().AsRaw()))
				c.flags = append(c.flags, span.Flags())
				c.name = append(c.name, enc.CleanString(span.Name()))
				c.kind = append(c.kind, kind)
				c.duration = append(c.duration, duration)
				c.statusCode = append(c.statusCode, code)
				c.statusMessage = append(c.statusMessage, enc.CleanString(span.Status().Message()))
				c.serviceName = append(c.serviceName, service)

				c.origin.add(&origin)

				c.attrs.addRow(c.attrs.add(span.Attributes(), enc))
				c.dropped = append(c.dropped, span.DroppedAttributesCount())

				events := span.Events()
				for e := 0; e < events.Len(); e++ {
					ev := events.At(e)
					if ev.Timestamp() > maxTimestamp {
						st.Clamped++
					}
					c.eventTime.Add(time.Unix(0, int64(min(ev.Timestamp(), maxTimestamp))))
					c.eventName.Add(enc.CleanString(ev.Name()))
					c.eventAttrs.Add(enc.Attributes(ev.Attributes()))
					c.eventDropped.Add(ev.DroppedAttributesCount())
				}
				c.eventTime.EndRow()
				c.eventName.EndRow()
				c.eventAttrs.EndRow()
				c.eventDropped.EndRow()
				c.droppedEvents = append(c.droppedEvents, span.DroppedEventsCount())

				links := span.Links()
				for l := 0; l < links.Len(); l++ {
					link := links.At(l)
					ltid, lsid := link.TraceID(), link.SpanID()
					c.linkTraceID.Add(ltid[:])
					c.linkSpanID.Add(lsid[:])
					c.linkTraceState.Add(enc.CleanString(link.TraceState().AsRaw()))
					c.linkFlags.Add(link.Flags())
					c.linkAttrs.Add(enc.Attributes(link.Attributes()))
					c.linkDropped.Add(link.DroppedAttributesCount())
				}
				c.linkTraceID.EndRow()
				c.linkSpanID.EndRow()
				c.linkTraceState.EndRow()
				c.linkFlags.EndRow()
				c.linkAttrs.EndRow()
				c.linkDropped.EndRow()
				c.droppedLinks = append(c.droppedLinks, span.DroppedLinksCount())

				edge := servicegraph.Span{
					Key:       servicegraph.MakeSpanKey(tid, sid),
					Parent:    servicegraph.MakeSpanKey(tid, pid),
					HasParent: !pid.IsEmpty(),
					Service:   internedService,
					Start:     int64(start),
					Duration:  duration,
					IsError:   code == int8(ptrace.StatusCodeError),
				}
				switch span.Kind() {
				case ptrace.SpanKindProducer:
					edge.Kind = servicegraph.KindProducer
					edge.Messaging = messagingOf(span.Attributes(), services)
				case ptrace.SpanKindConsumer:
					edge.Kind = servicegraph.KindConsumer
					edge.Messaging = messagingOf(span.Attributes(), services)
					edge.Redelivery = isRedelivery(span.Attributes())
				}
				c.edges = append(c.edges, edge)
			}
		}
	}
	st.Rows += c.rows
	st.Sanitized += enc.Sanitized
	st.Truncated += enc.Truncated
}

// columns pairs each column of the INSERT with its values, in the order of
// schema.SpansColumns (a test checks).
func (c *spanColumns) columns() []nativeblock.Column {
	cols := []nativeblock.Column{
		{Name: "Timestamp", Values: c.timestamp},
		{Name: "TraceId", Values: c.traceID.Finish()},
		{Name: "SpanId", Values: c.spanID.Finish()},
		{Name: "ParentSpanId", Values: c.parentSpanID.Finish()},
		{Name: "TraceState", Values: c.traceState},
		{Name: "Flags", Values: c.flags},
		{Name: "SpanName", Values: nativeblock.LowCardStrings{Values: c.name, Dict: &c.dict}},
		{Name: "SpanKind", Values: c.kind},
		{Name: "Duration", Values: c.duration},
		{Name: "StatusCode", Values: c.statusCode},
		{Name: "StatusMessage", Values: c.statusMessage},
		{Name: "ServiceName", Values: nativeblock.LowCardStrings{Values: c.serviceName, Dict: &c.dict}},
	}
	cols = c.origin.appendTo(cols, &c.dict)
	cols = c.attrs.appendColumns(cols)
	return append(cols,
		nativeblock.Column{Name: "DroppedAttributesCount", Values: c.dropped},
		nativeblock.Column{Name: "Events.Timestamp", Values: &c.eventTime},
		nativeblock.Column{Name: "Events.Name", Values: &c.eventName},
		nativeblock.Column{Name: "Events.Attributes", Values: &c.eventAttrs},
		nativeblock.Column{Name: "Events.DroppedAttributesCount", Values: &c.eventDropped},
		nativeblock.Column{Name: "DroppedEventsCount", Values: c.droppedEvents},
		nativeblock.Column{Name: "Links.TraceId", Values: &c.linkTraceID},
		nativeblock.Column{Name: "Links.SpanId", Values: &c.linkSpanID},
		nativeblock.Column{Name: "Links.TraceState", Values: &c.linkTraceState},
		nativeblock.Column{Name: "Links.Flags", Values: &c.linkFlags},
		nativeblock.Column{Name: "Links.Attributes", Values: &c.linkAttrs},
		nativeblock.Column{Name: "Links.DroppedAttributesCount", Values: &c.linkDropped},
		nativeblock.Column{Name: "DroppedLinksCount", Values: c.droppedLinks},
	)
}

// messagingOf reads messaging.system and messaging.destination.name,
// interned: the edge cache keeps them.
func messagingOf(attrs pcommon.Map, names *servicegraph.Interner) servicegraph.Messaging {
	var m servicegraph.Messaging
	if v, ok := attrs.Get("messaging.system"); ok && v.Type() == pcommon.ValueTypeStr {
		m.System = names.Intern(strings.ToValidUTF8(v.Str(), "\uFFFD"))
	}
	if v, ok := attrs.Get("messaging.destination.name"); ok && v.Type() == pcommon.ValueTypeStr {
		m.Destination = names.Intern(strings.ToValidUTF8(v.Str(), "\uFFFD"))
	}
	return m
}

// isRedelivery says whether a consumer span is of a delivery other than
// the message's first. The conventions have no system-neutral attribute
// for it; the systems that report it name it
// messaging.<system>.message.delivery_count (Service Bus, and the sample
// services' NATS JetStream: 1 on the first delivery) or
// messaging.gcp_pubsub.message.delivery_attempt (1 on the first).
func isRedelivery(attrs pcommon.Map) bool {
	redelivered := false
	attrs.Range(func(k string, v pcommon.Value) bool {
		if !strings.HasPrefix(k, "messaging.") || !(strings.HasSuffix(k, ".message.delivery_count") || strings.HasSuffix(k, ".message.delivery_attempt")) {
			return true
		}
		var n int64
		switch v.Type() {
		case pcommon.ValueTypeInt:
			n = v.Int()
		case pcommon.ValueTypeDouble:
			n = int64(v.Double())
		case pcommon.ValueTypeStr:
			n, _ = strconv.ParseInt(v.Str(), 10, 64)
		}
		redelivered = n > 1
		return !redelivered
	})
	return redelivered
}

// serviceName is the resource's service.name as text.
func serviceName(attrs pcommon.Map, enc *anyvalue.Encoder) string {
	v, ok := attrs.Get("service.name")
	if !ok {
		return DefaultServiceName
	}
	if v.Type() == pcommon.ValueTypeStr {
		if s := v.Str(); s != "" {
			return enc.CleanString(s)
		}
		return DefaultServiceName
	}
	return enc.CleanString(v.AsString())
}
