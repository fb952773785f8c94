package api

import (
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/tracehouse/tracehouse/query"
	"github.com/tracehouse/tracehouse/storage/reader"
)

// defaultAttributeRange is the range of attribute discovery without
// start: the keys of the last day, which the hourly summary answers as
// cheaply as the last hour.
const defaultAttributeRange = 24 * time.Hour

type attributeKeyJSON struct {
	Scope    string `json:"scope"`
	Key      string `json:"key"`
	Type     string `json:"type"`
	Count    uint64 `json:"count"`
	Distinct uint64 `json:"distinct"`
}

type attributeValueJSON struct {
	Value string `json:"value"`
	Count uint64 `json:"count"`
	// Error bounds how much Count may be overestimated (0: exact).
	Error uint64 `json:"error,omitempty"`
}

type attributeValuesJSON struct {
	Signal   string               `json:"signal"`
	Scope    string               `json:"scope"`
	Key      string               `json:"key"`
	Count    uint64               `json:"count"`
	Distinct uint64               `json:"distinct"`
	Types    []string             `json:"types"`
	Capped   bool                 `json:"capped"`
	Values   []attributeValueJSON `json:"values"`
}

func (s *server) attributeQuery(c *fiber.Ctx) (query.AttributeQuery, error) {
	r, err := parseRange(c.Query("start"), c.Query("end"), s.svc.Now(), defaultAttributeRange)
	if err != nil {
		return query.AttributeQuery{}, err
	}
	limit, err := parseLimit("limit", c.Query("limit"), query.DefaultAttributeLimit)
	if err != nil {
		return query.AttributeQuery{}, err
	}
	return query.AttributeQuery{Signal: c.Query("signal"), Scope: c.Query("scope"), Service: c.Query("service"),
		Key: c.Query("key"), Prefix: c.Query("prefix"), Range: r, Limit: limit}, nil
}

// attributeKeys is GET /api/v1/attributes: the keys seen in a range.
func (s *server) attributeKeys(c *fiber.Ctx) error {
	q, err := s.attributeQuery(c)
	if err != nil {
		return err
	}
	keys, err := s.svc.AttributeKeys(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]attributeKeyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, attributeKeyJSON(k))
	}
	return respond(c, out, len(out))
}

// attributeValues is GET /api/v1/attributes/values: one key's frequent
// values.
func (s *server) attributeValues(c *fiber.Ctx) error {
	q, err := s.attributeQuery(c)
	if err != nil {
		return err
	}
	v, err := s.svc.AttributeValues(c.UserContext(), q)
	if err != nil {
		return err
	}
	signal, scope := q.Signal, q.Scope
	if signal == "" {
		signal = "span"
	}
	if scope == "" {
		scope = "attribute"
	}
	out := attributeValuesJSON{Signal: signal, Scope: scope, Key: q.Key, Count: v.Count, Distinct: v.Distinct, Types: v.Types,
		Capped: v.Distinct > reader.TopValuesCapacity, Values: make([]attributeValueJSON, 0, len(v.Values))}
	for _, x := range v.Values {
		out.Values = append(out.Values, attributeValueJSON(x))
	}
	return respond(c, out, len(out.Values))
}

type operationJSON struct {
	Name     string `json:"name"`
	SpanKind string `json:"spanKind"`
	Calls    uint64 `json:"calls"`
}

// operations is GET /api/v1/operations?service=&spanKind=: a service's
// operations with their spans (calls), the busiest first, for lists a
// user picks from (Jaeger's /api/operations sorts by name and has no
// counts).
func (s *server) operations(c *fiber.Ctx) error {
	ops, err := s.serviceOperations(c)
	if err != nil {
		return err
	}
	out := make([]operationJSON, 0, len(ops))
	for _, op := range ops {
		out = append(out, operationJSON{Name: op.Name, SpanKind: jaegerKind(op.Kind), Calls: op.Calls})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Calls > out[j].Calls })
	return respond(c, out, len(out))
}

type sampledLogJSON struct {
	Time      string `json:"time"`
	Service   string `json:"service"`
	Level     string `json:"level"`
	Body      string `json:"body"`
	Truncated bool   `json:"truncated,omitempty"`
	TraceID   string `json:"traceID,omitempty"`
	SpanID    string `json:"spanID,omitempty"`
}

type patternJSON struct {
	Pattern   string         `json:"pattern"`
	Filter    string         `json:"filter"`
	Count     uint64         `json:"count"`
	Sampled   int            `json:"sampled"`
	Errors    int            `json:"errors"`
	ErrorRate float64        `json:"errorRate"`
	FirstSeen string         `json:"firstSeen"`
	LastSeen  string         `json:"lastSeen"`
	Sparkline []uint64       `json:"sparkline"`
	Example   sampledLogJSON `json:"example"`
}

type patternsJSON struct {
	Patterns    []patternJSON `json:"patterns"`
	Total       uint64        `json:"total"`
	Sampled     int           `json:"sampled"`
	Exact       bool          `json:"exact"`
	Clusters    int           `json:"clusters"`
	StepSeconds float64       `json:"stepSeconds"`
	Start       string        `json:"start"`
	End         string        `json:"end"`
}

// logPatterns is GET /api/v1/logs/patterns: the templates of the records
// a logs query matches, mined from a sample of them.
func (s *server) logPatterns(c *fiber.Ctx) error {
	r, err := parseRange(c.Query("start"), c.Query("end"), s.svc.Now(), defaultLogRange)
	if err != nil {
		return err
	}
	limit, err := parseLimit("limit", c.Query("limit"), query.DefaultPatterns)
	if err != nil {
		return err
	}
	sample, err := parseLimit("sample", c.Query("sample"), query.DefaultPatternSample)
	if err != nil {
		return err
	}
	res, err := s.svc.Patterns(c.UserContext(), query.PatternQuery{Query: c.Query("q"), Range: r, Limit: limit, Sample: sample})
	if err != nil {
		return err
	}
	out := patternsJSON{Patterns: make([]patternJSON, 0, len(res.Patterns)), Total: res.Total, Sampled: res.Sampled, Exact: res.Exact,
		Clusters: res.Clusters, StepSeconds: res.Step.Seconds(), Start: formatTime(r.Start), End: formatTime(r.End)}
	for _, p := range res.Patterns {
		e := p.Example
		out.Patterns = append(out.Patterns, patternJSON{Pattern: p.Template, Filter: p.Filter, Count: p.Count, Sampled: p.Sampled, Errors: p.Errors,
			ErrorRate: round(float64(p.Errors) / float64(p.Sampled)), FirstSeen: formatTime(p.FirstSeen), LastSeen: formatTime(p.LastSeen), Sparkline: p.Sparkline,
			Example: sampledLogJSON{Time: formatTime(e.Time), Service: e.Service, Level: levelName(plog.SeverityNumber(e.Severity)), Body: e.Body,
				Truncated: e.Truncated, TraceID: e.TraceID, SpanID: e.SpanID}})
	}
	return respond(c, out, len(out.Patterns))
}
