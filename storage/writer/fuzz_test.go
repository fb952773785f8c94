package writer

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/tracehouse/tracehouse/internal/golden"
	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
	"github.com/tracehouse/tracehouse/storage/servicegraph"
)

// The fuzz targets turn arbitrary bytes into OTLP requests (protobuf, as
// receivers unmarshal them), then into the columns and the Native block of
// an INSERT, without a server: the column types come from
// testdata/insert_types.json, which TestInsertTypesFile keeps equal to
// what the engine reports for the migrated tables.

// insertTypesFile holds, per table, the table's column types in INSERT
// order.
type insertTypesFile struct {
	Spans []clickhouse.ColumnNameAndType `json:"spans"`
	Logs  []clickhouse.ColumnNameAndType `json:"logs"`
}

func TestInsertTypesFile(t *testing.T) {
	conn, db := newStore(t)
	w := NewWriter(conn, Options{Database: db})
	w.noConvert.Store(true) // the tables' own types
	ctx := context.Background()
	spans, err := w.describe(ctx, &w.spans, newSpanColumns(anyvalue.DefaultMaxValueDepth).columns())
	if err != nil {
		t.Fatal(err)
	}
	logs, err := w.describe(ctx, &w.logs, newLogColumns(anyvalue.DefaultMaxValueDepth).columns())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(insertTypesFile{Spans: spans.cols, Logs: logs.cols}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "insert_types.json", string(b)+"\n")
}

// fuzzTypes are the declared types a target encodes with: the tables'
// own, and the ones the writer sends to a server that converts
// (wireType).
func fuzzTypes(f *testing.F, table string) map[string][]clickhouse.ColumnNameAndType {
	raw, err := os.ReadFile(filepath.Join("testdata", "insert_types.json"))
	if err != nil {
		f.Fatal(err)
	}
	var file insertTypesFile
	if err := json.Unmarshal(raw, &file); err != nil {
		f.Fatal(err)
	}
	cols := file.Spans
	if table == "logs" {
		cols = file.Logs
	}
	wire := make([]clickhouse.ColumnNameAndType, len(cols))
	for i, c := range cols {
		wire[i] = c
		if c.Type == lcStringMap {
			wire[i].Type = plainValuesMap
		}
	}
	return map[string][]clickhouse.ColumnNameAndType{"table": cols, "wire": wire}
}

// checkStats: every item is either a row or rejected, and the rows are
// what the columns hold.
func checkStats(t *testing.T, st WriteStats, rows, items int) {
	t.Helper()
	if st.Rows != rows || st.Rows+st.Rejected != items {
		t.Fatalf("stats %+v: %d rows in the columns, %d items in the request", st, rows, items)
	}
	if st.Rejected > 0 && st.RejectReason == "" {
		t.Fatalf("stats %+v: rejected without a reason", st)
	}
	if st.Sanitized < 0 || st.Truncated < 0 || st.Clamped < 0 {
		t.Fatalf("stats %+v: negative counts", st)
	}
}

// checkEncoding: the writer's Native block of the columns is the one
// clickhouse-go encodes, and says rows rows. The encoders are reused
// across inputs, one per declared types, as the writer reuses its own.
func checkEncoding(t *testing.T, types map[string][]clickhouse.ColumnNameAndType, encoders map[string]*nativeblock.Encoder, rows int, cols func() []nativeblock.Column) {
	t.Helper()
	for name, declared := range types {
		got, err := encoders[name].Encode("", declared, rows, cols())
		if err != nil {
			t.Fatalf("%s types: %v", name, err)
		}
		n, k := binary.Uvarint(got)
		if r, _ := binary.Uvarint(got[k:]); int(n) != len(declared) || int(r) != rows {
			t.Fatalf("%s types: the block says %d columns and %d rows, want %d and %d", name, n, r, len(declared), rows)
		}
		if want := driverEncoding(t, declared, cols()); !bytes.Equal(got, want) {
			t.Fatalf("%s types: the writer encodes %d bytes, clickhouse-go %d", name, len(got), len(want))
		}
	}
}

func FuzzTracesToColumns(f *testing.F) {
	for _, td := range []ptrace.Traces{ptrace.NewTraces(), richTraces(traceID(1)), benchTraces(8, 3)} {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	types := fuzzTypes(f, "spans")
	// Columns and encoders are reused from input to input, reset in
	// between, as the writer's pools reuse them from batch to batch: what
	// one batch leaves behind must not change the next.
	c := newSpanColumns(anyvalue.DefaultMaxValueDepth)
	encoders := map[string]*nativeblock.Encoder{"table": {}, "wire": {}}
	services := servicegraph.NewInterner(100)
	f.Fuzz(func(t *testing.T, data []byte) {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(data); err != nil {
			return // the receiver answers 400
		}
		all := req.Traces()
		td, rej := StorableTraces(all)
		c.reset()
		st := WriteStats{Rejected: rej.Count, RejectReason: rej.Reason}
		c.add(td, &st, services)
		checkStats(t, st, c.rows, all.SpanCount())
		if len(c.edges) != c.rows {
			t.Fatalf("%d service-graph spans for %d rows", len(c.edges), c.rows)
		}
		checkEncoding(t, types, encoders, c.rows, c.columns)
	})
}

func FuzzLogsToColumns(f *testing.F) {
	for _, ld := range []plog.Logs{plog.NewLogs(), richLogs(traceID(1))} {
		b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	types := fuzzTypes(f, "logs")
	c := newLogColumns(anyvalue.DefaultMaxValueDepth)
	encoders := map[string]*nativeblock.Encoder{"table": {}, "wire": {}}
	f.Fuzz(func(t *testing.T, data []byte) {
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(data); err != nil {
			return
		}
		all := req.Logs()
		ld, rej := StorableLogs(all, baseTime)
		c.reset()
		st := WriteStats{Rejected: rej.Count, RejectReason: rej.Reason}
		c.add(ld, &st)
		checkStats(t, st, c.rows, all.LogRecordCount())
		checkEncoding(t, types, encoders, c.rows, c.columns)
	})
}
