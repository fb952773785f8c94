package storage

import "testing"

func TestIdent(t *testing.T) {
	for name, valid := range map[string]bool{
		"default": true, "th_traces": true, "_x1": true,
		"": false, "1db": false, "a-b": false, "a.b": false, "a`b": false, "db; DROP": false, "ünï": false,
	} {
		if ValidIdent(name) != valid || (CheckIdent(name) == nil) != valid {
			t.Errorf("%q: ValidIdent %v, CheckIdent %v; want valid=%v", name, ValidIdent(name), CheckIdent(name), valid)
		}
	}
	for name, want := range map[string]string{"default": "`default`", "a`b": "`a``b`", "": "``"} {
		if got := QuoteIdent(name); got != want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", name, got, want)
		}
	}
}
