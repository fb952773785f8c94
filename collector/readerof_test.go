package collector

import (
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage/reader"
)

// readerOf reads back what a test wrote to db.
func readerOf(t testing.TB, conn driver.Conn, db string) *reader.Reader {
	t.Helper()
	r, err := reader.New(conn, reader.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
