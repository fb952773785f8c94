package reader

import "time"

// Search windows: a search for the newest matches (trace ids, log records)
// reads its range in windows from the newest, firstSearchWindow first,
// then wider ones further back, until it has what it needs or has read the
// whole range.
//
// Why: one statement over the whole range reads the newest granules of
// every part that holds any of it (before merges, every part), and a
// statement ordered by time over a table whose sort key does not start
// with time (logs: ServiceName, Timestamp) reads every granule whose
// index does not exclude it, which for a common match is all of them. A
// window of a few minutes reads only those minutes' granules. A busy
// service fills the limit from the first window or two; after that, the
// matches found so far size the next window. Rare matches (nothing in two
// windows) read the rest of the range at once, so they pay two small
// statements more than one statement would; a search for an attribute
// value the catalogue says is rare reads the whole range at once from the
// start (rarity.go). internal/bench/README.md has the measurements.
const (
	firstSearchWindow = time.Minute
	// searchWindowGrowth bounds how much wider each window is than the
	// last.
	searchWindowGrowth = 4
)

// searchWindows walks [start, end) in windows from the newest.
type searchWindows struct {
	start, end time.Time // the whole range
	next       time.Time // the end of the next window
	width      time.Duration
	read       int // windows read so far
	done       bool
}

func newSearchWindows(start, end time.Time) *searchWindows {
	return &searchWindows{start: start, end: end, next: end, width: firstSearchWindow}
}

// readAtOnce makes the first window the whole range.
func (w *searchWindows) readAtOnce() { w.width = w.end.Sub(w.start) }

// window is the next window to read, [from, to); last says it reaches the
// range's start. ok is false once the range is read.
func (w *searchWindows) window() (from, to time.Time, last, ok bool) {
	if w.done {
		return time.Time{}, time.Time{}, false, false
	}
	to = w.next
	from = to.Add(-w.width)
	last = !from.After(w.start)
	if last {
		from = w.start
	}
	return from, to, last, true
}

// advance records a window read (its from, as window returned it), with
// found matches so far of the want the search needs, and sizes the next.
func (w *searchWindows) advance(from time.Time, found, want int) {
	w.read++
	if found >= want || !from.After(w.start) {
		w.done = true
		return
	}
	switch read := w.end.Sub(from); {
	case found == 0 && w.read >= 2:
		// Nothing in two windows: the matches are rare (an attribute
		// value, an error), and each further window would read little
		// but pay a statement's fixed cost; read the rest at once.
		w.width = from.Sub(w.start)
	case found == 0:
		// One empty window says little: a range often ends at "now",
		// after the newest item stored.
		w.width *= searchWindowGrowth
	default:
		// The matches so far predict how much more to read; half as
		// much again makes another window unlikely.
		need := time.Duration(float64(read) * float64(want-found) / float64(found) * 1.5)
		w.width = min(max(need, w.width), w.width*searchWindowGrowth)
	}
	w.next = from
}
