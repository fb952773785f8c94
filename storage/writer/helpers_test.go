package writer

import (
	"os"
	"slices"
	"testing"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/internal/storetest"
)

func TestMain(m *testing.M) {
	// A fuzz worker runs only a fuzz target, and the targets need no
	// engine (fuzz_test.go): each worker would start one otherwise.
	if slices.Contains(os.Args[1:], "-test.fuzzworker") || slices.Contains(os.Args[1:], "-test.fuzzworker=true") {
		os.Exit(m.Run())
	}
	chtest.Main(m)
}

// The fixtures shared with the reader's tests.
var (
	newStore          = storetest.NewStore
	count             = storetest.Count
	baseTime          = storetest.BaseTime
	ts                = storetest.TS
	traceID           = storetest.TraceID
	spanID            = storetest.SpanID
	richTraces        = storetest.RichTraces
	richLogs          = storetest.RichLogs
	requireSameTraces = storetest.RequireSameTraces
	unorderedLogs     = storetest.UnorderedLogs
)
