package writer

import (
	"strconv"
	"strings"

	"github.com/tracehouse/tracehouse/storage"
)

// One bad item must not cost its whole batch: a batch holds up to the
// exporter's max batch size of items, merged from many senders' requests.
// When ClickHouse refuses a batch with an error about the data itself
// (storage.IsPermanent), the writer splits it in halves and inserts each on
// its own, splitting again whichever half fails the same way, down to
// single items: those are rejected, everything else is stored. Each part
// is its own block with its own deduplication token, so a retry of the
// batch (after a timeout in the middle of the splitting) stores no part
// twice: the same batch splits the same way.
//
// k bad items among n cost about 2·k·log2(n/k) extra INSERTs. An error
// that is not about particular items (every part fails) would cost 2·n:
// maxFailedSplits bounds it, and the items not isolated by then are
// dropped as a whole (WriteStats.Dropped), with the error.

// maxFailedSplits is how many parts of one batch may fail permanently
// before the writer stops splitting it.
const maxFailedSplits = 64

// maxReasonLen bounds a ClickHouse error kept as a rejection's reason.
const maxReasonLen = 300

// bisect stores items [0, n) of a batch whose INSERT failed with the
// permanent error first. store(lo, hi) inserts items [lo, hi) as one part
// and returns its error. A non-permanent error ends the splitting and is
// returned: the caller retries the batch.
func bisect(n int, first error, st *WriteStats, store func(lo, hi int) error) error {
	budget := maxFailedSplits
	var split func(lo, hi int, failed error) error
	split = func(lo, hi int, failed error) error {
		if hi-lo == 1 {
			st.reject(1, reasonOf(failed))
			return nil
		}
		if budget == 0 {
			st.drop(hi-lo, "not isolated after "+strconv.Itoa(maxFailedSplits)+" failed parts: "+reasonOf(failed))
			return nil
		}
		budget--
		mid := lo + (hi-lo)/2
		for _, part := range [2][2]int{{lo, mid}, {mid, hi}} {
			err := store(part[0], part[1])
			switch {
			case err == nil:
			case storage.IsPermanent(err):
				if err := split(part[0], part[1], err); err != nil {
					return err
				}
			default:
				return err
			}
		}
		return nil
	}
	return split(0, n, first)
}

func reasonOf(err error) string {
	s := err.Error()
	if len(s) > maxReasonLen {
		s = strings.ToValidUTF8(s[:maxReasonLen], "") + "…"
	}
	return s
}
