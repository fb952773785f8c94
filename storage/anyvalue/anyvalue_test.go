package anyvalue

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracehouse/tracehouse/storage/internal/storetest"
)

// Strings in stored JSON are byte-for-byte what encoding/json writes with
// SetEscapeHTML(false), so queries can build LIKE fragments with it.
func TestJSONStringsMatchEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "<html> & ampersand", "tab\tnewline\ncr\rbell\abs\bff\f",
		"\x00\x01\x1f\x7f", "ünïcödé ✓ 日本", "line\u2028sep\u2029para", "bad \xff\xfe bytes", "\xed\xa0\x80",
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		got := appendJSONString(nil, s, nil)
		if string(got) != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("%q: wrote %s, encoding/json writes %s", s, got, want.String())
		}
	}
}

func TestAttributesJSONFormat(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("host.name", "node-1")
	m.PutInt("process.pid", 42)
	e := NewEncoder(DefaultMaxValueDepth)
	if got, want := e.Attributes(m), `{"host.name":{"stringValue":"node-1"},"process.pid":{"intValue":"42"}}`; got != want {
		t.Errorf("attributes JSON %s, want %s (schema.AttrColumns)", got, want)
	}
	if got := e.Attributes(pcommon.NewMap()); got != "{}" {
		t.Errorf("empty attributes %q, want {}", got)
	}
	// Order is kept through a round trip.
	all := pcommon.NewMap()
	storetest.PutEveryType(all, "")
	all.PutDouble("nan", math.NaN())
	all.PutDouble("inf", math.Inf(-1))
	back := pcommon.NewMap()
	if err := DecodeAttributes(e.Attributes(all), back); err != nil {
		t.Fatal(err)
	}
	var wantKeys, gotKeys []string
	all.Range(func(k string, _ pcommon.Value) bool { wantKeys = append(wantKeys, k); return true })
	back.Range(func(k string, _ pcommon.Value) bool { gotKeys = append(gotKeys, k); return true })
	if strings.Join(wantKeys, ",") != strings.Join(gotKeys, ",") {
		t.Errorf("keys after a round trip %v, want %v", gotKeys, wantKeys)
	}
	nan, _ := back.Get("nan")
	inf, _ := back.Get("inf")
	if !math.IsNaN(nan.Double()) || !math.IsInf(inf.Double(), -1) {
		t.Errorf("NaN/-Inf read back as %v/%v", nan.AsRaw(), inf.AsRaw())
	}
	all.Remove("nan") // NaN != NaN
	back.Remove("nan")
	if !all.Equal(back) {
		t.Errorf("attributes after a round trip\n got %v\nwant %v", back.AsRaw(), all.AsRaw())
	}
}
