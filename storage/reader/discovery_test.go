package reader

import (
	"context"
	"testing"
	"time"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/storage/internal/storetest"
)

func keyCounts(keys []AttributeKey) map[string]uint64 {
	out := map[string]uint64{}
	for _, k := range keys {
		out[k.Scope+"/"+k.Key+"/"+k.Type] = k.Count
	}
	return out
}

func TestAttributeKeysAndValuesOfSeededData(t *testing.T) {
	db, conn := seed.Load(t)
	r := mustNew(t, conn, db)
	ctx := context.Background()
	start, end := seed.Base.Add(-time.Minute), seed.Base.Add(10*time.Minute)

	keys, err := r.AttributeKeys(ctx, AttributeKeysFilter{Signal: "span", Start: start, End: end, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := keyCounts(keys)
	// Every span carries span.kind, service.name and host.name once.
	spans := storetest.Count(t, conn, "SELECT count() FROM "+db+".spans")
	// Two checkouts: each has a root with user.id and an auth span with
	// it; three spans of payment in all (one charge, then two declined).
	want := map[string]uint64{
		"attribute/user.id/str":                   4,
		"attribute/http.request.method/str":       2,
		"attribute/http.response.status_code/int": 2 + 3 + 1, // roots, payment servers, health
		"attribute/token.cached/bool":             2,
		"attribute/payment.amount/float":          3,
		"attribute/payment.methods/other":         3,
		"field/span.kind/str":                     spans,
		"resource/service.name/str":               spans,
		"resource/host.name/str":                  spans,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("span key %s: count %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	for i := 1; i < len(keys); i++ {
		if keys[i].Count > keys[i-1].Count {
			t.Fatalf("keys are not sorted by count: %v before %v", keys[i-1], keys[i])
		}
	}

	// One service, a prefix in another case.
	keys, err = r.AttributeKeys(ctx, AttributeKeysFilter{Signal: "span", Service: "payment", Scope: "attribute", Prefix: "HTTP.", Start: start, End: end, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Key != "http.response.status_code" || keys[0].Count != 3 || keys[0].Distinct != 2 {
		t.Fatalf("payment's http. keys: %+v, want http.response.status_code ×3 with 2 distinct values", keys)
	}

	vals, err := r.AttributeValues(ctx, AttributeValuesFilter{Signal: "span", Scope: "attribute", Key: "http.response.status_code", Start: start, End: end, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if vals.Count != 6 || len(vals.Types) != 1 || vals.Types[0] != "int" {
		t.Fatalf("status code: count %d types %v, want 6 [int]", vals.Count, vals.Types)
	}
	wantVals := []AttributeValue{{Value: "200", Count: 3}, {Value: "402", Count: 3}}
	if len(vals.Values) != 2 {
		t.Fatalf("status code values: %+v, want %+v", vals.Values, wantVals)
	}
	seen := map[string]uint64{}
	for _, v := range vals.Values {
		seen[v.Value] = v.Count
		if v.Error != 0 {
			t.Errorf("value %q has error %d; a key with few values must be exact", v.Value, v.Error)
		}
	}
	for _, w := range wantVals {
		if seen[w.Value] != w.Count {
			t.Errorf("status %s: %d, want %d", w.Value, seen[w.Value], w.Count)
		}
	}

	// Logs: fields and attributes, a prefix on values.
	vals, err = r.AttributeValues(ctx, AttributeValuesFilter{Signal: "log", Scope: "field", Key: "level", Prefix: "ER", Start: start, End: end, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(vals.Values) != 1 || vals.Values[0] != (AttributeValue{Value: "error", Count: 4}) {
		t.Fatalf("log levels starting with ER: %+v, want error ×4 (two declined cards, the failed order, the failed checkout)", vals.Values)
	}
	vals, err = r.AttributeValues(ctx, AttributeValuesFilter{Signal: "log", Scope: "attribute", Key: "user.id", Service: "payment", Start: start, End: end, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(vals.Values) != 1 || vals.Values[0] != (AttributeValue{Value: "u-7", Count: 2}) {
		t.Fatalf("payment's log user.id: %+v, want u-7 ×2", vals.Values)
	}

	// Out of range: nothing.
	keys, err = r.AttributeKeys(ctx, AttributeKeysFilter{Signal: "log", Start: seed.Base.Add(24 * time.Hour), End: seed.Base.Add(25 * time.Hour), Limit: 10})
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys a day later: %v, %v; want none", keys, err)
	}
	vals, err = r.AttributeValues(ctx, AttributeValuesFilter{Signal: "log", Key: "nope", Start: start, End: end, Limit: 10})
	if err != nil || len(vals.Values) != 0 || vals.Count != 0 {
		t.Fatalf("values of an unknown key: %+v, %v; want none", vals, err)
	}
}

// A key with thousands of distinct values (an id) keeps at most
// TopValuesCapacity of them, and Distinct says how many there are.
func TestAttributeValuesAreCappedForHighCardinalityKeys(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	const n = 3000
	if err := seed.WriteManyLogs(context.Background(), conn, db, n); err != nil {
		t.Fatal(err)
	}
	r := mustNew(t, conn, db)
	start, end := seed.Base, seed.Base.Add(time.Duration(n)*100*time.Millisecond)
	vals, err := r.AttributeValues(context.Background(), AttributeValuesFilter{Signal: "log", Scope: "attribute", Key: "n", Start: start, End: end, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if vals.Count != n {
		t.Errorf("count %d, want %d", vals.Count, n)
	}
	if len(vals.Values) == 0 || len(vals.Values) > TopValuesCapacity {
		t.Errorf("%d values kept, want 1 to %d", len(vals.Values), TopValuesCapacity)
	}
	if vals.Distinct < n*95/100 || vals.Distinct > n*105/100 {
		t.Errorf("distinct %d, want about %d", vals.Distinct, n)
	}
	path, err := r.AttributeValues(context.Background(), AttributeValuesFilter{Signal: "log", Scope: "attribute", Key: "path", Start: start, End: end, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(path.Values) != 1 || path.Values[0] != (AttributeValue{Value: "/api/items", Count: n}) || path.Distinct != 1 {
		t.Fatalf("path: %+v, want /api/items ×%d exactly", path, n)
	}
	// The summary stays small: rows grow with hours × keys, not values.
	var rows uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM "+db+".attributes_1h FINAL WHERE Signal = 'log' AND Key = 'n'").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("attributes_1h holds %d rows for key n over one hour, want 1", rows)
	}
}
