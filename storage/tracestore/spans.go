package tracestore

import (
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/schema"
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
	traceID       fixedColumn
	spanID        fixedColumn
	parentSpanID  fixedColumn
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

	eventTime     nested[time.Time]
	eventName     nested[string]
	eventAttrs    nested[string]
	eventDropped  nested[uint32]
	droppedEvents []uint32

	linkTraceID    nestedFixed
	linkSpanID     nestedFixed
	linkTraceState nested[string]
	linkFlags      nested[uint32]
	linkAttrs      nested[string]
	linkDropped    nested[uint32]
	droppedLinks   []uint32

	// edges are the parent/child facts of every span, for the service graph.
	edges []edgeSpan

	enc  valueEncoder
	dict strDict // for the LowCardinality(String) columns, one at a time

	block, edgeBlock blockEncoder // the Native blocks sent, kept with the buffers
}

func newSpanColumns(maxDepth int) *spanColumns {
	c := &spanColumns{enc: valueEncoder{maxDepth: maxDepth}}
	c.traceID.size = 16
	c.spanID.size = 8
	c.parentSpanID.size = 8
	c.linkTraceID.ids.size = 16
	c.linkSpanID.ids.size = 8
	return c
}

func (c *spanColumns) reset() {
	c.rows = 0
	c.timestamp = c.timestamp[:0]
	c.traceID.reset()
	c.spanID.reset()
	c.parentSpanID.reset()
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
	c.eventTime.reset()
	c.eventName.reset()
	c.eventAttrs.reset()
	c.eventDropped.reset()
	c.droppedEvents = c.droppedEvents[:0]
	c.linkTraceID.reset()
	c.linkSpanID.reset()
	c.linkTraceState.reset()
	c.linkFlags.reset()
	c.linkAttrs.reset()
	c.linkDropped.reset()
	c.droppedLinks = c.droppedLinks[:0]
	clear(c.edges)
	c.edges = c.edges[:0]
	c.enc.sanitized, c.enc.truncated = 0, 0
	c.dict.reset()
}

// retainedBytes estimates what the buffers hold on to, so a pool can drop a
// buffer that one huge batch blew up.
func (c *spanColumns) retainedBytes() int {
	return cap(c.attrs.str.keys)*32 + cap(c.attrs.other.keys)*32 + cap(c.timestamp)*24*8 +
		cap(c.eventAttrs.flat)*16 + cap(c.enc.buf) + c.block.retainedBytes() + c.edgeBlock.retainedBytes()
}

// reserve grows the largest buffers, once, to what td needs, when they are
// smaller: a batch larger than any before (every batch, for fresh buffers)
// would otherwise grow them in append's steps, each a copy of all so far
// (in the ingest bench, the first 50k-span batches of a collector spent
// more CPU in growslice and memmove than in converting the spans).
func (c *spanColumns) reserve(td ptrace.Traces) {
	rows := c.rows + td.SpanCount()
	if cap(c.timestamp) >= rows {
		return
	}
	attrs := len(c.attrs.str.keys)
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, span := range ss.Spans().All() {
				attrs += span.Attributes().Len()
			}
		}
	}
	growAll(rows, &c.timestamp)
	c.traceID.reserve(rows)
	c.spanID.reserve(rows)
	c.parentSpanID.reserve(rows)
	growAll(rows, &c.traceState, &c.name, &c.statusMessage, &c.serviceName)
	c.origin.reserve(rows)
	c.attrs.str.reserve(rows, attrs) // most attributes are strings
}

// add appends every storable span of td. Spans that can never be stored
// are skipped and counted in st.
func (c *spanColumns) add(td ptrace.Traces, st *WriteStats, services *interner) {
	c.reserve(td)
	enc := &c.enc
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource()
		service := serviceName(res.Attributes(), enc)
		internedService := services.intern(service)
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
				if start > maxTimestamp {
					st.reject("span start time is after 2262-04-11, the last instant DateTime64(9) can hold")
					continue
				}
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
				c.traceID.add(tid[:])
				c.spanID.add(sid[:])
				c.parentSpanID.add(pid[:])
				c.traceState = append(c.traceState, cleanString(span.TraceState().AsRaw(), &enc.sanitized))
				c.flags = append(c.flags, span.Flags())
				c.name = append(c.name, cleanString(span.Name(), &enc.sanitized))
				c.kind = append(c.kind, kind)
				c.duration = append(c.duration, duration)
				c.statusCode = append(c.statusCode, code)
				c.statusMessage = append(c.statusMessage, cleanString(span.Status().Message(), &enc.sanitized))
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
					c.eventTime.add(time.Unix(0, int64(min(ev.Timestamp(), maxTimestamp))))
					c.eventName.add(cleanString(ev.Name(), &enc.sanitized))
					c.eventAttrs.add(enc.attributes(ev.Attributes()))
					c.eventDropped.add(ev.DroppedAttributesCount())
				}
				c.eventTime.endRow()
				c.eventName.endRow()
				c.eventAttrs.endRow()
				c.eventDropped.endRow()
				c.droppedEvents = append(c.droppedEvents, span.DroppedEventsCount())

				links := span.Links()
				for l := 0; l < links.Len(); l++ {
					link := links.At(l)
					ltid, lsid := link.TraceID(), link.SpanID()
					c.linkTraceID.add(ltid[:])
					c.linkSpanID.add(lsid[:])
					c.linkTraceState.add(cleanString(link.TraceState().AsRaw(), &enc.sanitized))
					c.linkFlags.add(link.Flags())
					c.linkAttrs.add(enc.attributes(link.Attributes()))
					c.linkDropped.add(link.DroppedAttributesCount())
				}
				c.linkTraceID.endRow()
				c.linkSpanID.endRow()
				c.linkTraceState.endRow()
				c.linkFlags.endRow()
				c.linkAttrs.endRow()
				c.linkDropped.endRow()
				c.droppedLinks = append(c.droppedLinks, span.DroppedLinksCount())

				c.edges = append(c.edges, edgeSpan{
					key:       makeSpanKey(tid, sid),
					parent:    makeSpanKey(tid, pid),
					hasParent: !pid.IsEmpty(),
					service:   internedService,
					start:     int64(start),
					duration:  duration,
					isError:   code == int8(ptrace.StatusCodeError),
				})
			}
		}
	}
	st.Rows += c.rows
	st.Sanitized += enc.sanitized
	st.Truncated += enc.truncated
}

// columns pairs each column of the INSERT with its values, in the order of
// schema.SpansColumns (a test checks).
func (c *spanColumns) columns() []namedColumn {
	cols := []namedColumn{
		{"Timestamp", c.timestamp},
		{"TraceId", c.traceID.finish()},
		{"SpanId", c.spanID.finish()},
		{"ParentSpanId", c.parentSpanID.finish()},
		{"TraceState", c.traceState},
		{"Flags", c.flags},
		{"SpanName", lowCardStrings{c.name, &c.dict}},
		{"SpanKind", c.kind},
		{"Duration", c.duration},
		{"StatusCode", c.statusCode},
		{"StatusMessage", c.statusMessage},
		{"ServiceName", lowCardStrings{c.serviceName, &c.dict}},
	}
	cols = c.origin.appendTo(cols, &c.dict)
	cols = appendAttrColumns(cols, c.attrs.values())
	return append(cols,
		namedColumn{"DroppedAttributesCount", c.dropped},
		namedColumn{"Events.Timestamp", &c.eventTime},
		namedColumn{"Events.Name", &c.eventName},
		namedColumn{"Events.Attributes", &c.eventAttrs},
		namedColumn{"Events.DroppedAttributesCount", &c.eventDropped},
		namedColumn{"DroppedEventsCount", c.droppedEvents},
		namedColumn{"Links.TraceId", &c.linkTraceID},
		namedColumn{"Links.SpanId", &c.linkSpanID},
		namedColumn{"Links.TraceState", &c.linkTraceState},
		namedColumn{"Links.Flags", &c.linkFlags},
		namedColumn{"Links.Attributes", &c.linkAttrs},
		namedColumn{"Links.DroppedAttributesCount", &c.linkDropped},
		namedColumn{"DroppedLinksCount", c.droppedLinks},
	)
}

// namedColumn is one column of an INSERT and the slice appended to it.
type namedColumn struct {
	name   string
	values any
}

// appendAttrColumns adds the five typed attribute maps (schema.Attrs).
func appendAttrColumns(cols []namedColumn, values []any) []namedColumn {
	for i, name := range schema.Attrs.Names() {
		cols = append(cols, namedColumn{name, values[i]})
	}
	return cols
}

// serviceName is the resource's service.name as text.
func serviceName(attrs pcommon.Map, enc *valueEncoder) string {
	v, ok := attrs.Get("service.name")
	if !ok {
		return DefaultServiceName
	}
	if v.Type() == pcommon.ValueTypeStr {
		if s := v.Str(); s != "" {
			return cleanString(s, &enc.sanitized)
		}
		return DefaultServiceName
	}
	return cleanString(v.AsString(), &enc.sanitized)
}
