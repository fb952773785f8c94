package api

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/query"
)

// Jaeger's defaults.
const (
	defaultSearchLookback     = time.Hour
	defaultDependencyLookback = 24 * time.Hour
)

func (s *server) jaegerServices(c *fiber.Ctx) error {
	services, err := s.svc.Services(c.UserContext())
	if err != nil {
		return err
	}
	return respond(c, services, len(services))
}

// spanKindParam reads spanKind; empty means any.
func spanKindParam(c *fiber.Ctx) (*ptrace.SpanKind, error) {
	v := c.Query("spanKind")
	if v == "" {
		return nil, nil
	}
	k, ok := query.ParseSpanKind(v)
	if !ok {
		return nil, badParam("spanKind", "%q is not a span kind: use server, client, producer, consumer, internal or unspecified", v)
	}
	return &k, nil
}

// spanKindsParam is spanKind for the RED and instances routes, which also
// take spanKind=all (every kind counted).
func spanKindsParam(c *fiber.Ctx) (kind *ptrace.SpanKind, all bool, err error) {
	if c.Query("spanKind") == "all" {
		return nil, true, nil
	}
	kind, err = spanKindParam(c)
	return kind, false, err
}

// jaegerServiceOperations is Jaeger's legacy endpoint: operation names only.
func (s *server) jaegerServiceOperations(c *fiber.Ctx) error {
	kind, err := spanKindParam(c)
	if err != nil {
		return err
	}
	ops, err := s.svc.Operations(c.UserContext(), c.Params("service"), kind)
	if err != nil {
		return err
	}
	names := []string{}
	for _, op := range ops {
		if len(names) == 0 || names[len(names)-1] != op.Name {
			names = append(names, op.Name)
		}
	}
	return respond(c, names, len(names))
}

// serviceOperations reads ?service= (required) and ?spanKind= and returns
// that service's operations: both operation lists answer from it.
func (s *server) serviceOperations(c *fiber.Ctx) ([]query.Operation, error) {
	service := c.Query("service")
	if service == "" {
		return nil, badParam("service", "parameter 'service' is required")
	}
	kind, err := spanKindParam(c)
	if err != nil {
		return nil, err
	}
	return s.svc.Operations(c.UserContext(), service, kind)
}

func (s *server) jaegerOperations(c *fiber.Ctx) error {
	ops, err := s.serviceOperations(c)
	if err != nil {
		return err
	}
	data := make([]jaegerOperation, 0, len(ops))
	for _, op := range ops {
		data = append(data, jaegerOperation{Name: op.Name, SpanKind: jaegerKind(op.Kind)})
	}
	return respond(c, data, len(data))
}

func multi(c *fiber.Ctx, key string) []string {
	var out []string
	for _, v := range c.Context().QueryArgs().PeekMulti(key) {
		out = append(out, string(v))
	}
	return out
}

// jaegerSearch is GET /api/traces: Jaeger's search, or traces by id with
// ?traceID=….
func (s *server) jaegerSearch(c *fiber.Ctx) error {
	now := s.svc.Now()
	if ids := multi(c, "traceID"); len(ids) > 0 {
		return s.jaegerTracesByID(c, ids)
	}
	q := query.TraceQuery{Service: c.Query("service"), Operation: c.Query("operation"), Attributes: map[string]string{},
		Instance: c.Query("instance")}
	if q.Service == "" {
		return badParam("service", "parameter 'service' is required")
	}
	for _, t := range multi(c, "tag") {
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			return badParam("tag", "malformed 'tag' parameter %q, expecting key:value", t)
		}
		q.Attributes[k] = v
	}
	for _, t := range multi(c, "tags") {
		var m map[string]any
		if err := json.Unmarshal([]byte(t), &m); err != nil {
			return badParam("tags", "malformed 'tags' parameter, expecting a JSON object such as {\"http.status_code\":\"500\"}: %v", err)
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				q.Attributes[k] = v
			case float64, bool:
				q.Attributes[k] = fmt.Sprint(v)
			default:
				return badParam("tags", "tag %q: the value must be a string, number or boolean", k)
			}
		}
	}
	var err error
	if d := c.Query("minDuration"); d != "" {
		if q.MinDuration, err = parseDuration("minDuration", d); err != nil {
			return err
		}
	}
	if d := c.Query("maxDuration"); d != "" {
		if q.MaxDuration, err = parseDuration("maxDuration", d); err != nil {
			return err
		}
	}
	if q.Limit, err = parseLimit("limit", c.Query("limit"), query.DefaultTraceLimit); err != nil {
		return err
	}
	q.Range.End = now
	if v := c.Query("end"); v != "" {
		if q.Range.End, err = parseUnix("end", v, time.Microsecond); err != nil {
			return err
		}
	}
	lookback := defaultSearchLookback
	if v := c.Query("lookback"); v != "" && v != "custom" {
		if lookback, err = parseDuration("lookback", v); err != nil {
			return err
		}
	}
	q.Range.Start = q.Range.End.Add(-lookback)
	if v := c.Query("start"); v != "" {
		if q.Range.Start, err = parseUnix("start", v, time.Microsecond); err != nil {
			return err
		}
	}
	traces, err := s.svc.FindTraces(c.UserContext(), q)
	if err != nil {
		return err
	}
	data := make([]jaegerTrace, 0, len(traces))
	for _, td := range traces {
		data = append(data, toJaeger(td).withCompleteness(s.svc.Completeness(td)))
	}
	return respond(c, data, 0)
}

// jaegerTracesByID answers ?traceID=…&traceID=…: repeats once, at most
// Limits.MaxTraceIDs distinct ids, all the traces together at most the
// store's span limit.
func (s *server) jaegerTracesByID(c *fiber.Ctx, raw []string) error {
	ids, err := parseTraceIDs("traceID", raw, s.svc.Limits().MaxTraceIDs)
	if err != nil {
		return err
	}
	found, err := s.svc.GetTraces(c.UserContext(), ids)
	if err != nil {
		return err
	}
	data := make([]jaegerTrace, 0, len(found.Traces))
	for _, td := range found.Traces {
		data = append(data, toJaeger(td).withCompleteness(s.svc.Completeness(td)))
	}
	var missing []apiError
	for _, id := range found.Missing {
		missing = append(missing, apiError{Msg: (&query.NotFoundError{What: "trace " + hex.EncodeToString(id[:])}).Error(), TraceID: jaegerTraceID(id)})
	}
	return c.JSON(envelope{Data: data, Errors: missing})
}

func (s *server) jaegerTrace(c *fiber.Ctx) error {
	id, err := parseTraceID("traceID", c.Params("traceID"))
	if err != nil {
		return err
	}
	td, err := s.svc.GetTrace(c.UserContext(), id)
	if err != nil {
		return err
	}
	return respond(c, []jaegerTrace{toJaeger(td).withCompleteness(s.svc.Completeness(td))}, 0)
}

func (s *server) jaegerDependencies(c *fiber.Ctx) error {
	end := s.svc.Now()
	var err error
	if v := c.Query("endTs"); v != "" {
		if end, err = parseUnix("endTs", v, time.Millisecond); err != nil {
			return err
		}
	}
	lookback := defaultDependencyLookback
	if v := c.Query("lookback"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return badParam("lookback", "%q is not a lookback: give a positive number of milliseconds", v)
		}
		lookback = time.Duration(n) * time.Millisecond
	}
	deps, err := s.svc.Dependencies(c.UserContext(), query.TimeRange{Start: end.Add(-lookback), End: end})
	if err != nil {
		return err
	}
	service := c.Query("service")
	data := make([]jaegerDependency, 0, len(deps))
	for _, d := range deps {
		if service == "" || d.Parent == service || d.Child == service {
			data = append(data, jaegerDependency{Parent: d.Parent, Child: d.Child, CallCount: d.Calls})
		}
	}
	sort.SliceStable(data, func(i, j int) bool {
		if data[i].Parent != data[j].Parent {
			return data[i].Parent < data[j].Parent
		}
		return data[i].Child < data[j].Child
	})
	return respond(c, data, 0)
}
