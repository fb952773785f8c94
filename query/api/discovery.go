package api

import (
	"time"

	"github.com/gofiber/fiber/v2"

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
