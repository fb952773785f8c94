package reader

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/tracehouse/tracehouse/storage/logquery"
)

// A search for a rare attribute value (a user id, an order id), of traces
// or of logs, reads the whole range in one statement instead of in windows
// from the newest: the windows would find nothing in the newest minutes
// and cost a statement each before the search reads the rest at once
// anyway (searchWindows). Whether a value is rare comes from the attribute
// catalogue (attributes_1h, migration 0010), which already counts, per
// service, key and hour, the spans or records carrying the key, its
// distinct values and its most frequent values:
//
//   - the key's values are rare when an average value is on fewer items
//     than the search's limit (Count ÷ Distinct < limit): every trace or
//     record that holds it is then likely needed, from the whole range;
//   - but not a value known to be frequent: one whose count in the top
//     values, less its error, is at least the limit (an "anonymous" among
//     user ids), which the windows find in the newest minutes.
//
// One statement over the catalogue's few rows answers it; the answer is
// kept for rarityTTL per signal, service, key and hours, so a user
// searching one id after another pays it once.

// rarityTTL is how long a key's catalogue figures are reused.
const rarityTTL = time.Minute

// rarityCacheSize bounds the keys remembered; past it, expired ones are
// dropped, and if none has expired, all of them.
const rarityCacheSize = 1024

type rarityKey struct {
	signal, service, scope, key string    // service: empty for every service
	from, to                    time.Time // whole hours
}

// keyStats is what the catalogue says of one key over whole hours.
type keyStats struct {
	count, distinct uint64
	// frequent are the top values' guaranteed counts (count less error),
	// those above zero.
	frequent map[string]uint64
	read     time.Time
}

// rare says whether value is a rare value of the key for a search that
// wants limit traces or records. A key no item carries is rare: nothing
// will match, and one statement says so as cheaply as the first window.
func (k keyStats) rare(value string, limit int) bool {
	if k.frequent[value] >= uint64(limit) {
		return false
	}
	return k.count < uint64(limit)*max(k.distinct, 1)
}

type rarityCache struct {
	mu sync.Mutex
	m  map[rarityKey]keyStats
}

func (c *rarityCache) get(k rarityKey, now time.Time) (keyStats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.m[k]
	return s, ok && now.Sub(s.read) < rarityTTL
}

func (c *rarityCache) put(k rarityKey, s keyStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[rarityKey]keyStats{}
	}
	if len(c.m) >= rarityCacheSize {
		for key, v := range c.m {
			if s.read.Sub(v.read) >= rarityTTL {
				delete(c.m, key)
			}
		}
		if len(c.m) >= rarityCacheSize {
			clear(c.m)
		}
	}
	c.m[k] = s
}

// matchScopes are the catalogue scopes an attribute match compares; nil
// for the fields that are not attributes.
func matchScopes(f SpanField) []string {
	switch f {
	case SpanAttr:
		return []string{"attribute"}
	case ResourceAttr:
		return []string{"resource"}
	case SpanOrResourceAttr:
		return []string{"attribute", "resource"}
	}
	return nil
}

// rareSearch says whether one of the search's attribute matches is on a
// rare value (the search can find no more traces than that match holds).
// A match on span or resource attributes is rare when its value is rare in
// both.
func (r *Reader) rareSearch(ctx context.Context, s TraceSearch) (bool, error) {
	for _, m := range s.Matches {
		scopes := matchScopes(m.Field)
		if scopes == nil || m.Negate {
			continue
		}
		rare, err := r.rareValue(ctx, "span", s.Service, scopes, m.Key, m.Text, s.Start, s.End, max(s.Limit, 1))
		if rare || err != nil {
			return rare, err
		}
	}
	return false, nil
}

// rareLogSearch says the same of a log search's query: of its field:value
// terms that every match has (logquery.Equalities), an attribute or
// resource attribute whose value is rare, in the service the query names
// if it names one, else in every service.
func (r *Reader) rareLogSearch(ctx context.Context, q logquery.Expr, start, end time.Time, limit int) (bool, error) {
	eqs := logquery.Equalities(q)
	service := ""
	for _, e := range eqs {
		if e.Field == "service" || e.Field == "service.name" {
			service = e.Value
		}
	}
	for _, e := range eqs {
		var scope, key string
		switch {
		case strings.HasPrefix(e.Field, "attr.") || strings.HasPrefix(e.Field, "attributes."):
			scope, key = "attribute", e.Field[strings.IndexByte(e.Field, '.')+1:]
		case strings.HasPrefix(e.Field, "resource."):
			scope, key = "resource", strings.TrimPrefix(e.Field, "resource.")
		default:
			continue
		}
		rare, err := r.rareValue(ctx, "log", service, []string{scope}, key, e.Value, start, end, limit)
		if rare || err != nil {
			return rare, err
		}
	}
	return false, nil
}

// rareValue says whether value of key is rare in every one of scopes over
// the hours [start, end) touches, for a search that wants limit items.
func (r *Reader) rareValue(ctx context.Context, signal, service string, scopes []string, key, value string, start, end time.Time, limit int) (bool, error) {
	// The hours the range touches: hourRange's rows.
	from := start.Truncate(time.Hour)
	to := end.Add(-time.Nanosecond).Truncate(time.Hour).Add(time.Hour)
	for _, scope := range scopes {
		k := rarityKey{signal: signal, service: service, scope: scope, key: key, from: from, to: to}
		st, ok := r.rarity.get(k, time.Now())
		if !ok {
			var err error
			if st, err = r.keyStats(ctx, k); err != nil {
				return false, err
			}
			r.rarity.put(k, st)
		}
		if !st.rare(value, limit) {
			return false, nil
		}
	}
	return true, nil
}

// keyStats reads one key's figures from the catalogue, through the same
// read as attribute discovery (AttributeValues): every value type together
// (a search's text matches several types, chsql.ParseValue), and the top
// values without a prefix.
func (r *Reader) keyStats(ctx context.Context, k rarityKey) (keyStats, error) {
	v, err := r.AttributeValues(ctx, AttributeValuesFilter{
		Signal: k.signal, Scope: k.scope, Key: k.key, Service: k.service,
		Start: k.from, End: k.to, Limit: TopValuesCapacity,
	})
	if err != nil {
		return keyStats{}, err
	}
	st := keyStats{count: v.Count, distinct: v.Distinct, frequent: map[string]uint64{}, read: time.Now()}
	for _, tv := range v.Values {
		if tv.Count > tv.Error {
			st.frequent[tv.Value] = tv.Count - tv.Error
		}
	}
	return st, nil
}
