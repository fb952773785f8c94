package writer

import (
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
)

// logColumns is one INSERT INTO logs batch under construction.
type logColumns struct {
	rows int

	timestamp    []time.Time
	observed     []time.Time
	traceID      nativeblock.FixedColumn
	spanID       nativeblock.FixedColumn
	traceFlags   []uint32
	severityText []string
	severityNum  []uint8
	serviceName  []string
	body         []string
	bodyType     []int8
	eventName    []string

	origin originColumns

	attrs   typedAttrs
	dropped []uint32

	enc  anyvalue.Encoder
	dict nativeblock.StrDict // for the LowCardinality(String) columns, one at a time

	block nativeblock.Encoder // the Native block sent, kept with the buffers
}

func newLogColumns(maxDepth int) *logColumns {
	return &logColumns{
		enc:     anyvalue.NewEncoder(maxDepth),
		traceID: nativeblock.NewFixedColumn(16),
		spanID:  nativeblock.NewFixedColumn(8),
	}
}

func (c *logColumns) reset() {
	c.rows = 0
	c.timestamp = c.timestamp[:0]
	c.observed = c.observed[:0]
	c.traceID.Reset()
	c.spanID.Reset()
	c.traceFlags = c.traceFlags[:0]
	clear(c.severityText)
	c.severityText = c.severityText[:0]
	c.severityNum = c.severityNum[:0]
	clear(c.serviceName)
	c.serviceName = c.serviceName[:0]
	clear(c.body)
	c.body = c.body[:0]
	c.bodyType = c.bodyType[:0]
	clear(c.eventName)
	c.eventName = c.eventName[:0]
	c.origin.reset()
	c.attrs.reset()
	c.dropped = c.dropped[:0]
	c.enc.Sanitized, c.enc.Truncated = 0, 0
	c.dict.Reset()
}

func (c *logColumns) retainedBytes() int {
	return c.attrs.str.Cap()*32 + c.attrs.other.Cap()*32 + cap(c.body)*16*8 + c.enc.RetainedBytes() + c.block.RetainedBytes()
}

// reserve grows the largest buffers once to what ld needs (see
// spanColumns.reserve).
func (c *logColumns) reserve(ld plog.Logs) {
	rows := c.rows + ld.LogRecordCount()
	if cap(c.timestamp) >= rows {
		return
	}
	attrs := c.attrs.str.Len()
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, rec := range sl.LogRecords().All() {
				attrs += rec.Attributes().Len()
			}
		}
	}
	growAll(rows, &c.timestamp, &c.observed)
	c.traceID.Reserve(rows)
	c.spanID.Reserve(rows)
	growAll(rows, &c.severityText, &c.serviceName, &c.body, &c.eventName)
	c.origin.reserve(rows)
	c.attrs.str.Reserve(rows, attrs)
}

// add appends every record of ld, which holds only storable ones, each
// with a time (StorableLogs). A record without a Timestamp is stored at
// its ObservedTimestamp, so that time-range searches find it (the table is
// ordered and expired by Timestamp).
func (c *logColumns) add(ld plog.Logs, st *WriteStats) {
	c.reserve(ld)
	enc := &c.enc
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := rl.Resource()
		service := serviceName(res.Attributes(), enc)
		resOrigin := resourceOrigin(res, rl.SchemaUrl(), enc)
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := sl.Scope()
			origin := resOrigin.withScope(scope, sl.SchemaUrl(), enc)
			records := sl.LogRecords()
			for k := 0; k < records.Len(); k++ {
				rec := records.At(k)
				ts, observed := rec.Timestamp(), rec.ObservedTimestamp()
				if ts == 0 {
					ts = observed
				}
				sev := rec.SeverityNumber()
				if sev < 0 || sev > 255 {
					sev = 0
					st.Clamped++
				}

				c.rows++
				c.timestamp = append(c.timestamp, time.Unix(0, int64(ts)))
				c.observed = append(c.observed, time.Unix(0, int64(observed)))
				tid, sid := rec.TraceID(), rec.SpanID()
				c.traceID.Add(tid[:])
				c.spanID.Add(sid[:])
				c.traceFlags = append(c.traceFlags, uint32(rec.Flags()))
				c.severityText = append(c.severityText, enc.CleanString(rec.SeverityText()))
				c.severityNum = append(c.severityNum, uint8(sev))
				c.serviceName = append(c.serviceName, service)
				body := rec.Body()
				c.body = append(c.body, enc.Body(body))
				c.bodyType = append(c.bodyType, int8(body.Type()))
				c.eventName = append(c.eventName, enc.CleanString(rec.EventName()))

				c.origin.add(&origin)

				c.attrs.addRow(c.attrs.add(rec.Attributes(), enc))
				c.dropped = append(c.dropped, rec.DroppedAttributesCount())
			}
		}
	}
	st.Rows += c.rows
	st.Sanitized += enc.Sanitized
	st.Truncated += enc.Truncated
}

// columns pairs each column with its values, in schema.LogsColumns order.
func (c *logColumns) columns() []nativeblock.Column {
	cols := []nativeblock.Column{
		{Name: "Timestamp", Values: c.timestamp},
		{Name: "ObservedTimestamp", Values: c.observed},
		{Name: "TraceId", Values: c.traceID.Finish()},
		{Name: "SpanId", Values: c.spanID.Finish()},
		{Name: "TraceFlags", Values: c.traceFlags},
		{Name: "SeverityText", Values: nativeblock.LowCardStrings{Values: c.severityText, Dict: &c.dict}},
		{Name: "SeverityNumber", Values: c.severityNum},
		{Name: "ServiceName", Values: nativeblock.LowCardStrings{Values: c.serviceName, Dict: &c.dict}},
		{Name: "Body", Values: c.body},
		{Name: "BodyType", Values: c.bodyType},
		{Name: "EventName", Values: nativeblock.LowCardStrings{Values: c.eventName, Dict: &c.dict}},
	}
	cols = c.origin.appendTo(cols, &c.dict)
	cols = c.attrs.appendColumns(cols)
	return append(cols, nativeblock.Column{Name: "DroppedAttributesCount", Values: c.dropped})
}
