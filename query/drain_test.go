package query

import (
	"testing"

	"github.com/tracehouse/tracehouse/storage/logquery"
)

func TestDrainClustersByShapeAndSimilarity(t *testing.T) {
	d := NewDrain()
	add := func(body string) string { return d.Add(logquery.Tokenize(body, false)).Template.String() }
	for _, b := range []string{"user alice logged in", "user bob logged in"} {
		add(b)
	}
	if got := add("user carol logged in"); got != "user <*> logged in" {
		t.Fatalf("got %q", got)
	}
	// Under the threshold: a cluster of its own (1 of 4 pieces equal).
	if got := add("user alice was deleted"); got != "user alice was deleted" {
		t.Fatalf("a dissimilar body joined a cluster: %q", got)
	}
	// Digits are variables from the first body on.
	if got := add("retry 3 of job j-17"); got != "retry <*> of job <*>" {
		t.Fatalf("got %q", got)
	}
	// key=value: a key stays a key, and only bodies of the same shape meet.
	if got := add("done status=ok"); got != "done status=ok" {
		t.Fatalf("got %q", got)
	}
	if got := add("done status=failed"); got != "done status=<*>" {
		t.Fatalf("got %q", got)
	}
	if got := add("done status ok"); got != "done status ok" {
		t.Fatalf("a body of another shape joined a key=value cluster: %q", got)
	}
	if len(d.Clusters) != 5 {
		t.Fatalf("%d clusters, want 5", len(d.Clusters))
	}
	// What a cluster counts is what its filter selects.
	tmpl := d.Clusters[0].Template
	for body, want := range map[string]bool{"user dave logged in": true, "user dave logged out": false, "user  dave logged in ": true, "user dave logged in now": false} {
		if got := Matches(tmpl, logquery.Tokenize(body, false)); got != want || tmpl.Matches(body) != want {
			t.Errorf("%q matches %q: %v (regexp %v), want %v", tmpl.String(), body, got, tmpl.Matches(body), want)
		}
	}
}

// A stream of all-different bodies keeps at most MaxClusters per leaf.
func TestDrainBoundsClusters(t *testing.T) {
	d := NewDrain()
	d.MaxClusters = 10
	words := []string{"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"}
	for i := 0; i < len(words); i++ {
		for j := 0; j < len(words); j++ {
			d.Add(logquery.Tokenize("x "+words[i]+" "+words[j]+" "+words[(i+j)%len(words)], false))
		}
	}
	if len(d.Clusters) > 10 {
		t.Fatalf("%d clusters in one leaf, want at most 10", len(d.Clusters))
	}
}
