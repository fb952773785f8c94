package query

import (
	"context"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/tracehouse/tracehouse/storage/reader"
)

// AttributeReader reads the attribute summary kept at ingest
// (attributes_1h): which keys exist and their frequent values.
type AttributeReader interface {
	AttributeKeys(ctx context.Context, f reader.AttributeKeysFilter) ([]reader.AttributeKey, error)
	AttributeValues(ctx context.Context, f reader.AttributeValuesFilter) (*reader.AttributeValues, error)
}

// Limits of attribute discovery.
const (
	// DefaultAttributeLimit is how many keys or values a request returns
	// when it names no limit; MaxAttributeLimit the most it may ask for.
	DefaultAttributeLimit = 50
	MaxAttributeLimit     = 1000
	// MaxAttributeText bounds a key or a prefix (the summary caps values at
	// 128 bytes; keys are names, not documents).
	MaxAttributeText = 512
)

// AttributeQuery asks for the keys (Key empty) or the values of one key
// (Key set) of spans or logs.
type AttributeQuery struct {
	// Signal is "span" or "log"; empty means span.
	Signal string
	// Scope is "attribute", "resource", "field" or empty (keys: all three;
	// values: "attribute").
	Scope string
	// Service, when set, keeps what that service sent.
	Service string
	Key     string
	Prefix  string
	Range   TimeRange
	// Limit; 0 means DefaultAttributeLimit.
	Limit int
}

func (s *Service) checkAttributeQuery(q *AttributeQuery, values bool) error {
	if q.Signal == "" {
		q.Signal = "span"
	}
	if !slices.Contains(reader.AttributeSignals, q.Signal) {
		return inputError("signal", "unknown signal %q: use span or log", q.Signal)
	}
	if q.Scope != "" && !slices.Contains(reader.AttributeScopes, q.Scope) {
		return inputError("scope", "unknown scope %q: use %s", q.Scope, strings.Join(reader.AttributeScopes, ", "))
	}
	if values && q.Scope == "" {
		q.Scope = "attribute"
	}
	if values && q.Key == "" {
		return inputError("key", "give the attribute key whose values you want (key=http.route)")
	}
	for _, f := range []struct{ name, v string }{{"key", q.Key}, {"prefix", q.Prefix}, {"service", q.Service}} {
		if len(f.v) > MaxAttributeText {
			return inputError(f.name, "%s is %d bytes long; the limit is %d", f.name, len(f.v), MaxAttributeText)
		}
		if !utf8.ValidString(f.v) {
			return inputError(f.name, "%s is not valid UTF-8", f.name)
		}
	}
	if q.Limit == 0 {
		q.Limit = DefaultAttributeLimit
	}
	if q.Limit < 0 || q.Limit > MaxAttributeLimit {
		return inputError("limit", "limit must be between 1 and %d", MaxAttributeLimit)
	}
	// The summary is hourly and small: it may cover what the aggregates do.
	return checkRange(q.Range, s.limits.MaxAggregateRange)
}

// AttributeKeys lists the keys of spans or logs seen in the range, the
// most frequent first.
func (s *Service) AttributeKeys(ctx context.Context, q AttributeQuery) ([]reader.AttributeKey, error) {
	if q.Key != "" {
		return nil, inputError("key", "a key list takes no key; ask for its values instead")
	}
	if err := s.checkAttributeQuery(&q, false); err != nil {
		return nil, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	keys, err := s.store.AttributeKeys(ctx, reader.AttributeKeysFilter{Signal: q.Signal, Scope: q.Scope, Service: q.Service,
		Start: q.Range.Start, End: q.Range.End, Prefix: q.Prefix, Limit: q.Limit})
	return keys, classify(err, nil)
}

// AttributeValues reads the most frequent values of one key.
func (s *Service) AttributeValues(ctx context.Context, q AttributeQuery) (*reader.AttributeValues, error) {
	if err := s.checkAttributeQuery(&q, true); err != nil {
		return nil, err
	}
	release, err := s.limiter.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	v, err := s.store.AttributeValues(ctx, reader.AttributeValuesFilter{Signal: q.Signal, Scope: q.Scope, Key: q.Key, Service: q.Service,
		Start: q.Range.Start, End: q.Range.End, Prefix: q.Prefix, Limit: q.Limit})
	if err != nil {
		return nil, classify(err, nil)
	}
	return v, nil
}
