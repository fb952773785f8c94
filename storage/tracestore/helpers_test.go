package tracestore

import (
	"testing"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/internal/storetest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// The fixtures shared with the writer's tests.
var (
	newStore          = storetest.NewStore
	baseTime          = storetest.BaseTime
	ts                = storetest.TS
	traceID           = storetest.TraceID
	spanID            = storetest.SpanID
	richTraces        = storetest.RichTraces
	richLogs          = storetest.RichLogs
	requireSameTraces = storetest.RequireSameTraces
	unorderedLogs     = storetest.UnorderedLogs
)
