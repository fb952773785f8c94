package writer

import (
	"testing"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/internal/storetest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

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
