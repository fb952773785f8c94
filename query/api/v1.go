package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tracehouse/tracehouse/query"
)

// Default ranges of Tracehouse's endpoints when start is not given.
const (
	defaultLogRange = time.Hour
	defaultMapRange = 15 * time.Minute
	defaultREDRange = time.Hour
)

func (s *server) requestPath(c *fiber.Ctx) error {
	id, err := parseTraceID("traceID", c.Params("traceID"))
	if err != nil {
		return err
	}
	rp, err := s.svc.RequestPath(c.UserContext(), id)
	if err != nil {
		return err
	}
	return respond(c, renderPath(rp), rp.Spans)
}

func (s *server) compareTraces(c *fiber.Ctx) error {
	if c.Query("a") == "" || c.Query("b") == "" {
		return badParam("a", "give the two trace ids to compare as ?a=…&b=…")
	}
	a, err := parseTraceID("a", c.Query("a"))
	if err != nil {
		return err
	}
	b, err := parseTraceID("b", c.Query("b"))
	if err != nil {
		return err
	}
	d, err := s.svc.CompareTraces(c.UserContext(), a, b)
	if err != nil {
		return err
	}
	return respond(c, renderDiff(d), len(d.Paths))
}

type logsJSON struct {
	Logs       []logJSON      `json:"logs"`
	NextCursor string         `json:"nextCursor,omitempty"`
	Histogram  *histogramJSON `json:"histogram,omitempty"`
}

// The envelope of GET /api/v1/logs: total is every record the query
// matches in [start, end) (what the UI shows as "N records"), not the size
// of this page (len(data.logs), at most limit).

func (s *server) logQuery(c *fiber.Ctx) (query.LogQuery, error) {
	r, err := parseRange(c.Query("start"), c.Query("end"), s.svc.Now(), defaultLogRange)
	if err != nil {
		return query.LogQuery{}, err
	}
	limit, err := parseLimit("limit", c.Query("limit"), query.DefaultLogLimit)
	if err != nil {
		return query.LogQuery{}, err
	}
	return query.LogQuery{Query: c.Query("q"), Range: r, Limit: limit, Cursor: c.Query("cursor")}, nil
}

func wantsNDJSON(c *fiber.Ctx) bool {
	return strings.Contains(c.Get(fiber.HeaderAccept), "application/x-ndjson")
}

// searchLogs is GET /api/v1/logs: JSON by default, NDJSON (one record per
// line, then a {"nextCursor": …} line when there is more) with Accept:
// application/x-ndjson. Both read the page whole (Limits.MaxLogs bounds
// it) and free the query slot before writing: a slow client holds no slot.
func (s *server) searchLogs(c *fiber.Ctx) error {
	q, err := s.logQuery(c)
	if err != nil {
		return err
	}
	page, err := s.svc.SearchLogsPage(c.UserContext(), q)
	if err != nil {
		return err
	}
	if wantsNDJSON(c) {
		return writeNDJSON(c, page)
	}
	out := logsJSON{Logs: make([]logJSON, 0, len(page.Entries)), NextCursor: page.NextCursor}
	for _, e := range page.Entries {
		out.Logs = append(out.Logs, renderLog(e))
	}
	var total uint64
	if on, _ := strconv.ParseBool(c.Query("histogram")); on {
		h, err := s.svc.LogHistogram(c.UserContext(), q)
		if err != nil {
			return err
		}
		out.Histogram = renderHistogram(h)
		total = h.Total
	} else if page.NextCursor == "" && q.Cursor == "" {
		total = uint64(len(out.Logs)) // one page holds every match
	} else if total, err = s.svc.CountLogs(c.UserContext(), q); err != nil {
		return err
	}
	limit := q.Limit
	if limit == 0 {
		limit = query.DefaultLogLimit
	}
	return c.JSON(envelope{Data: out, Total: int(total), Limit: limit})
}

// writeNDJSON writes a page as NDJSON: a line per record (each carries its
// own cursor), then a {"nextCursor": …} line when there is a next page.
func writeNDJSON(c *fiber.Ctx, page *query.LogPage) error {
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	enc := json.NewEncoder(c.Response().BodyWriter())
	for _, e := range page.Entries {
		if err := enc.Encode(renderLog(e)); err != nil {
			return err
		}
	}
	if page.NextCursor != "" {
		return enc.Encode(map[string]string{"nextCursor": page.NextCursor})
	}
	return nil
}

// tailLogs is GET /api/v1/logs/tail: Server-Sent Events, one "log" event per
// record (id: its cursor), a "skipped" event when records came faster than
// a poll shows, an "error" event if a poll fails, and a comment line on
// quiet polls so that a vanished client is noticed. limit=N ends the stream
// after N records. A tail over Limits.MaxTails is refused with 429, a start
// over Limits.TailMaxLookback back with 400, both before the stream starts.
func (s *server) tailLogs(c *fiber.Ctx) error {
	q := query.TailQuery{Query: c.Query("q")}
	if v := c.Query("start"); v != "" {
		t, err := parseTime("start", v, s.svc.Now())
		if err != nil {
			return err
		}
		q.Start = t
	}
	limit, err := parseLimit("limit", c.Query("limit"), 0)
	if err != nil {
		return err
	}
	tail, err := s.svc.OpenTail(q)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer tail.Close()
		defer s.recoverStream(c.Path())
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		// Every write gives the client StreamWriteTimeout more to take
		// what is sent (fasthttp's WriteTimeout would bound the whole
		// stream instead): a client that stops reading blocks the
		// connection's writes past the deadline, which ends the tail and
		// frees its place; one that reads keeps it going for as long as
		// the tail runs. The writer runs at most a few buffers ahead of
		// the connection, so the deadline follows the client closely.
		extend := func() {
			if conn != nil {
				conn.SetWriteDeadline(time.Now().Add(s.opts.StreamWriteTimeout))
			}
		}
		flush := func() error {
			extend()
			return w.Flush()
		}
		sent := 0
		errLimit := errors.New("limit reached")
		err := tail.Run(ctx, func(b query.TailBatch) error {
			for _, e := range b.Entries {
				data, err := json.Marshal(renderLog(e))
				if err != nil {
					return err
				}
				extend()
				w.WriteString("event: log\nid: " + e.Cursor + "\ndata: ")
				w.Write(data)
				w.WriteString("\n\n")
				if sent++; limit > 0 && sent >= limit {
					flush()
					return errLimit
				}
			}
			if b.Skipped {
				w.WriteString("event: skipped\ndata: {\"msg\":\"more records arrived than one poll shows; the tail skipped ahead. Narrow the query to see them all.\"}\n\n")
			}
			if len(b.Entries) == 0 && !b.Skipped {
				w.WriteString(":\n\n")
			}
			return flush()
		})
		if err != nil && !errors.Is(err, errLimit) {
			data, _ := json.Marshal(apiError{Msg: err.Error()})
			w.WriteString("event: error\ndata: ")
			w.Write(data)
			w.WriteString("\n\n")
		}
		w.WriteString("event: end\ndata: {}\n\n")
		flush()
	})
	return nil
}

// recoverStream keeps a panic in a stream writer, which runs on a
// goroutine of its own, from ending the process.
func (s *server) recoverStream(path string) {
	if r := recover(); r != nil {
		s.log.Error().Interface("panic", r).Str("path", path).Msg("stream writer panicked; the stream was cut")
	}
}

func (s *server) serviceMap(c *fiber.Ctx) error {
	r, err := parseRange(c.Query("start"), c.Query("end"), s.svc.Now(), defaultMapRange)
	if err != nil {
		return err
	}
	mq := query.ServiceMapQuery{Range: r}
	if v := c.Query("recent"); v != "" {
		if mq.Recent, err = parseDuration("recent", v); err != nil {
			return err
		}
	}
	m, err := s.svc.ServiceMap(c.UserContext(), mq)
	if err != nil {
		return err
	}
	return respond(c, renderServiceMap(m), len(m.Nodes))
}

func (s *server) red(c *fiber.Ctx) error {
	r, err := parseRange(c.Query("start"), c.Query("end"), s.svc.Now(), defaultREDRange)
	if err != nil {
		return err
	}
	q := query.REDQuery{Service: c.Query("service"), Operation: c.Query("operation"), Range: r, Instance: instanceParam(c)}
	if q.Service == "" {
		return badParam("service", "parameter 'service' is required")
	}
	if q.Kind, q.AllKinds, err = spanKindsParam(c); err != nil {
		return err
	}
	if v := c.Query("step"); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			q.Step = time.Duration(n) * time.Second
		} else if q.Step, err = parseDuration("step", v); err != nil {
			return err
		}
	}
	series, err := s.svc.RED(c.UserContext(), q)
	if err != nil {
		return err
	}
	return respond(c, renderRED(series), len(series.Points))
}

// instanceParam reads instance: absent means every instance; present, the
// one whose service.instance.id it names (empty: the spans without one).
func instanceParam(c *fiber.Ctx) *string {
	if !c.Context().QueryArgs().Has("instance") {
		return nil
	}
	v := c.Query("instance")
	return &v
}

// instances is GET /api/v1/metrics/instances: the processes
// (service.instance.id) of a service in a range, busiest first, with what
// each served. spanKind and operation select the spans as for RED.
func (s *server) instances(c *fiber.Ctx) error {
	r, err := parseRange(c.Query("start"), c.Query("end"), s.svc.Now(), defaultREDRange)
	if err != nil {
		return err
	}
	q := query.InstancesQuery{Service: c.Query("service"), Operation: c.Query("operation"), Range: r}
	if q.Service == "" {
		return badParam("service", "parameter 'service' is required")
	}
	if q.Kind, q.AllKinds, err = spanKindsParam(c); err != nil {
		return err
	}
	list, err := s.svc.Instances(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]instanceJSON, 0, len(list))
	for _, in := range list {
		out = append(out, instanceJSON{Instance: in.ID, statsJSON: renderStats(in.Stats), FirstSeen: formatTime(in.FirstSeen), LastSeen: formatTime(in.LastSeen)})
	}
	return respond(c, out, len(out))
}
