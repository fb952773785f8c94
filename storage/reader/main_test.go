package reader

import (
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/internal/storetest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// mustNew is a Reader of db.
func mustNew(t testing.TB, conn driver.Conn, db string) *Reader {
	t.Helper()
	r, err := New(conn, Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

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
