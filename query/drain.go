package query

import (
	"strings"

	"github.com/tracehouse/tracehouse/storage/logquery"
)

// Drain groups log bodies into templates: He, Zhu, Zheng and Lyu, "Drain:
// An Online Log Parsing Approach with Fixed Depth Tree" (ICWS 2017). A
// body is cut into pieces by logquery's template grammar (so that a
// template found here is a pattern:"…" filter that selects exactly the
// bodies it stands for); pieces holding a digit are variables from the
// start (ids, numbers, times: Drain's preprocessing); bodies are then
// routed by their shape (number of pieces, which end in '=', which are
// glued, whether the body goes on) and their first constant piece, and
// join the most similar cluster there when at least SimThreshold of their
// pieces equal its template's, which then turns the pieces that differ
// into placeholders; otherwise they start a cluster of their own.
type Drain struct {
	// SimThreshold is the share of equal pieces for a body to join a
	// cluster (the paper's st; 0.5 unless set).
	SimThreshold float64
	// MaxClusters bounds the clusters per leaf (the paper's maxChild for
	// the leaves): a leaf full of clusters adds a body to its most similar
	// one, however dissimilar, so that memory stays bounded on bodies
	// that are all different.
	MaxClusters int

	leaves map[string]*drainLeaf
	// Clusters in the order they were created.
	Clusters []*DrainCluster
}

type drainLeaf struct {
	clusters []*DrainCluster
}

// DrainCluster is a template and the bodies that formed it.
type DrainCluster struct {
	Template logquery.Template
	// Size is how many bodies joined it.
	Size int
	// shape is the key of the cluster's group: only bodies of the same
	// shape can match its template.
	shape string
}

// NewDrain returns an empty Drain with the paper's defaults.
func NewDrain() *Drain {
	return &Drain{SimThreshold: 0.5, MaxClusters: 100, leaves: map[string]*drainLeaf{}}
}

// Shape is the key of a template's group: its length, which of its pieces
// are Eq or Glued, and whether it has Rest. Two templates of different
// shapes match no body in common.
func Shape(t logquery.Template) string {
	var b strings.Builder
	for _, p := range t.Pieces {
		switch {
		case p.Eq && p.Glued:
			b.WriteByte('G')
		case p.Eq:
			b.WriteByte('E')
		case p.Glued:
			b.WriteByte('g')
		default:
			b.WriteByte('w')
		}
	}
	if t.Rest {
		b.WriteByte('+')
	}
	return b.String()
}

// hasDigit tells a piece that is a variable whatever the other bodies say.
func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			return true
		}
	}
	return false
}

// masked is a body's tokens with the pieces that hold digits made
// placeholders (an Eq piece, a key, keeps its text).
func masked(t logquery.Template) logquery.Template {
	out := logquery.Template{Pieces: make([]logquery.Piece, len(t.Pieces)), Rest: t.Rest}
	for i, p := range t.Pieces {
		if !p.Eq && hasDigit(p.Text) {
			p = logquery.Piece{Wild: true, Glued: p.Glued}
		}
		out.Pieces[i] = p
	}
	return out
}

// leafKey routes a body: its shape, then its first piece when constant.
func leafKey(shape string, t logquery.Template) string {
	first := "<*>"
	if len(t.Pieces) > 0 && !t.Pieces[0].Wild {
		first = t.Pieces[0].Text
	}
	return shape + "\x00" + first
}

// similarity is the share of the template's pieces that the body has, and
// how many placeholders the template has (a tie goes to the cluster with
// more constants).
func similarity(tmpl, body logquery.Template) (float64, int) {
	if len(tmpl.Pieces) == 0 {
		return 1, 0
	}
	same, wild := 0, 0
	for i, p := range tmpl.Pieces {
		switch {
		case p.Wild:
			wild++
		case !body.Pieces[i].Wild && body.Pieces[i].Text == p.Text:
			same++
		}
	}
	return float64(same) / float64(len(tmpl.Pieces)), wild
}

// Add puts a body's tokens into its cluster and returns that cluster.
func (d *Drain) Add(tokens logquery.Template) *DrainCluster {
	body := masked(tokens)
	shape := Shape(body)
	key := leafKey(shape, body)
	leaf := d.leaves[key]
	if leaf == nil {
		leaf = &drainLeaf{}
		d.leaves[key] = leaf
	}
	var best *DrainCluster
	bestSim, bestWild := -1.0, 0
	for _, c := range leaf.clusters {
		sim, wild := similarity(c.Template, body)
		if sim > bestSim || (sim == bestSim && wild < bestWild) {
			best, bestSim, bestWild = c, sim, wild
		}
	}
	if best == nil || (bestSim < d.SimThreshold && len(leaf.clusters) < d.MaxClusters) {
		c := &DrainCluster{Template: cloneTemplate(body), Size: 1, shape: shape}
		leaf.clusters = append(leaf.clusters, c)
		d.Clusters = append(d.Clusters, c)
		return c
	}
	for i, p := range best.Template.Pieces {
		if !p.Wild && (body.Pieces[i].Wild || body.Pieces[i].Text != p.Text) {
			best.Template.Pieces[i] = logquery.Piece{Wild: true, Eq: p.Eq, Glued: p.Glued}
		}
	}
	best.Size++
	return best
}

func cloneTemplate(t logquery.Template) logquery.Template {
	return logquery.Template{Pieces: append([]logquery.Piece(nil), t.Pieces...), Rest: t.Rest}
}

// Matches tells whether a body's tokens (unmasked) are one of the
// template's bodies: what pattern:"…" selects, piece by piece. Both must
// have the same shape.
func Matches(tmpl, tokens logquery.Template) bool {
	if len(tmpl.Pieces) != len(tokens.Pieces) || tmpl.Rest != tokens.Rest {
		return false
	}
	for i, p := range tmpl.Pieces {
		q := tokens.Pieces[i]
		if p.Eq != q.Eq || p.Glued != q.Glued {
			return false
		}
		if !p.Wild && p.Text != q.Text {
			return false
		}
	}
	return true
}
