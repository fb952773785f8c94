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
// line, streamed as ClickHouse returns them) with Accept:
// application/x-ndjson.
func (s *server) searchLogs(c *fiber.Ctx) error {
	q, err := s.logQuery(c)
	if err != nil {
		return err
	}
	if wantsNDJSON(c) {
		return s.streamLogs(c, q)
	}
	page, err := s.svc.SearchLogsPage(c.UserContext(), q)
	if err != nil {
		return err
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

// streamLogs writes NDJSON. The query starts before the status line, so
// errors up to the first row are ordinary error responses; an error later
// ends the stream with a {"error": …} line. A last {"nextCursor": …} line
// says how to continue (every record carries its own cursor as well).
func (s *server) streamLogs(c *fiber.Ctx, q query.LogQuery) error {
	ctx, cancel := context.WithCancel(s.ctx)
	st, err := s.svc.SearchLogs(ctx, q)
	if err != nil {
		cancel()
		return err
	}
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		defer st.Close()
		enc := json.NewEncoder(w)
		n := 0
		for st.Next() {
			if err := enc.Encode(renderLog(st.Entry())); err != nil {
				return
			}
			if n++; n%64 == 0 {
				if w.Flush() != nil {
					return // the client went away
				}
			}
		}
		if err := st.Err(); err != nil {
			enc.Encode(map[string]any{"error": apiError{Msg: err.Error()}})
		} else if cur := st.NextCursor(); cur != "" {
			enc.Encode(map[string]string{"nextCursor": cur})
		}
		w.Flush()
	})
	return nil
}

// tailLogs is GET /api/v1/logs/tail: Server-Sent Events, one "log" event per
// record (id: its cursor), a "skipped" event when records came faster than
// a poll shows, an "error" event if a poll fails, and a comment line on
// quiet polls so that a vanished client is noticed. limit=N ends the stream
// after N records.
func (s *server) tailLogs(c *fiber.Ctx) error {
	q := query.TailQuery{Query: c.Query("q")}
	if err := s.svc.ValidateLogQuery(q.Query); err != nil {
		return err
	}
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
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		sent := 0
		errLimit := errors.New("limit reached")
		err := s.svc.TailLogs(ctx, q, func(b query.TailBatch) error {
			for _, e := range b.Entries {
				data, err := json.Marshal(renderLog(e))
				if err != nil {
					return err
				}
				w.WriteString("event: log\nid: " + e.Cursor + "\ndata: ")
				w.Write(data)
				w.WriteString("\n\n")
				if sent++; limit > 0 && sent >= limit {
					w.Flush()
					return errLimit
				}
			}
			if b.Skipped {
				w.WriteString("event: skipped\ndata: {\"msg\":\"more records arrived than one poll shows; the tail skipped ahead. Narrow the query to see them all.\"}\n\n")
			}
			if len(b.Entries) == 0 && !b.Skipped {
				w.WriteString(":\n\n")
			}
			return w.Flush()
		})
		if err != nil && !errors.Is(err, errLimit) {
			data, _ := json.Marshal(apiError{Msg: err.Error()})
			w.WriteString("event: error\ndata: ")
			w.Write(data)
			w.WriteString("\n\n")
		}
		w.WriteString("event: end\ndata: {}\n\n")
		w.Flush()
	})
	return nil
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
	q := query.REDQuery{Service: c.Query("service"), Operation: c.Query("operation"), Range: r}
	if q.Service == "" {
		return badParam("service", "parameter 'service' is required")
	}
	if v := c.Query("spanKind"); v == "all" {
		q.AllKinds = true
	} else if q.Kind, err = spanKindParam(c); err != nil {
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
