package writer

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/chtest"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
)

// driverEncoding is the block clickhouse-go's batch would send for the
// same columns: every column appended to a new block, encoded whole.
func driverEncoding(t *testing.T, types []clickhouse.ColumnNameAndType, cols []nativeblock.Column) []byte {
	t.Helper()
	block := proto.NewBlock()
	for _, c := range types {
		if err := block.AddColumn(c.Name, column.Type(c.Type)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nativeblock.AppendColumns(block.Columns, cols); err != nil {
		t.Fatal(err)
	}
	var buf chproto.Buffer
	if err := block.Encode(&buf, 0); err != nil {
		t.Fatal(err)
	}
	return buf.Buf
}

// TestNativeEncodingMatchesDriver: the writer's own encoding of a batch
// (columns that encode themselves, a reused block) is byte for byte what
// clickhouse-go encodes, for the types the writer declares over HTTP and
// for the tables' own types, batch after batch.
func TestNativeEncodingMatchesDriver(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	if err := w.WriteTraces(ctx, richTraces(traceID(1))); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteLogs(ctx, richLogs(traceID(1))); err != nil {
		t.Fatal(err)
	}
	tableTypes := func(ti *tableInsert) *insertTypes {
		w.noConvert.Store(true)
		defer w.noConvert.Store(false)
		cols := newSpanColumns(anyvalue.DefaultMaxValueDepth).columns()
		if ti == &w.logs {
			cols = newLogColumns(anyvalue.DefaultMaxValueDepth).columns()
		}
		types, err := w.describe(ctx, ti, cols)
		if err != nil {
			t.Fatal(err)
		}
		return types
	}
	spanBatches := []ptrace.Traces{benchTraces(300, 1), richTraces(traceID(2)), benchTraces(5000, 2)}
	logBatches := []plog.Logs{richLogs(traceID(2)), richLogs(traceID(3))}
	for _, ti := range []*tableInsert{&w.spans, &w.logs} {
		for name, types := range map[string]*insertTypes{"wire": ti.types.Load(), "table": tableTypes(ti)} {
			var enc nativeblock.Encoder
			n := len(spanBatches)
			if ti == &w.logs {
				n = len(logBatches)
			}
			for i := range n {
				var rows int
				var cols func() []nativeblock.Column
				if ti == &w.spans {
					c := newSpanColumns(anyvalue.DefaultMaxValueDepth)
					var st WriteStats
					c.add(spanBatches[i], &st, w.services)
					rows, cols = c.rows, c.columns
				} else {
					c := newLogColumns(anyvalue.DefaultMaxValueDepth)
					var st WriteStats
					c.add(logBatches[i], &st)
					rows, cols = c.rows, c.columns
				}
				if native, all := nativeColumns(types, rows, cols()), len(types.cols); name == "wire" && native < all-12 {
					t.Fatalf("%s: %d of %d columns encode themselves, want all but the nested event and link arrays", ti.name, native, all)
				}
				got, err := enc.Encode("", types.cols, rows, cols())
				if err != nil {
					t.Fatalf("%s %s batch %d: %v", ti.name, name, i, err)
				}
				want := driverEncoding(t, types.cols, cols())
				if !bytes.Equal(got, want) {
					t.Fatalf("%s, %s types, batch %d: the writer encodes %d bytes, clickhouse-go %d; %s",
						ti.name, name, i, len(got), len(want), differingColumn(t, types, rows, cols))
				}
			}
		}
	}
}

func nativeColumns(types *insertTypes, rows int, cols []nativeblock.Column) int {
	n := 0
	for i, c := range cols {
		if nativeblock.EncodesNative(types.cols[i].Type, rows, c.Values) {
			n++
		}
	}
	return n
}

// differingColumn names the first column whose encodings differ.
func differingColumn(t *testing.T, types *insertTypes, rows int, cols func() []nativeblock.Column) string {
	for i, c := range types.cols {
		one := &insertTypes{cols: types.cols[i : i+1]}
		var enc nativeblock.Encoder
		got, err := enc.Encode("", one.cols, rows, cols()[i:i+1])
		if err != nil {
			return fmt.Sprintf("column %s: %v", c.Name, err)
		}
		got = append([]byte(nil), got...)
		if want := driverEncoding(t, one.cols, cols()[i:i+1]); !bytes.Equal(got, want) {
			return fmt.Sprintf("column %s %s: %d bytes against %d:\n got %q\nwant %q", c.Name, c.Type, len(got), len(want), got[:min(len(got), 200)], want[:min(len(want), 200)])
		}
	}
	return "no single column differs"
}

// TestConcurrentWritesOpenConnections: writes at once make clickhouse-go
// open new HTTP connections in the middle of an INSERT, each with its hello
// query. Every write must land once (an INSERT statement passed to Exec as
// a setting leaked into those hello queries and failed them).
func TestConcurrentWritesOpenConnections(t *testing.T) {
	_, db := newStore(t)
	conn := chtest.ConnTo(t, db) // fresh: one connection so far
	w := NewWriter(conn, Options{Database: db})
	const writers = 6
	errs := make(chan error, writers)
	for i := range writers {
		go func() { errs <- w.WriteTraces(context.Background(), benchTraces(2000, byte(i))) }()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, conn, "SELECT count() FROM `"+db+"`.spans"); n != writers*2000 {
		t.Errorf("%d spans stored, want %d", n, writers*2000)
	}
}

// TestLargeBatchBuffersAreKept: the buffers of a batch as large as the
// exporter's default largest (50k spans) go back to the pool, block and all.
func TestLargeBatchBuffersAreKept(t *testing.T) {
	conn, db := newStore(t)
	w := NewWriter(conn, Options{Database: db, EdgeCacheSize: -1})
	if err := w.WriteTraces(context.Background(), benchTraces(50_000, 3)); err != nil {
		t.Fatal(err)
	}
	if n := len(w.spanPool.free); n != 1 {
		t.Fatalf("%d span buffers pooled after a 50k-span batch, want 1", n)
	}
	if c := w.spanPool.free[0]; !c.block.Holds(w.spans.types.Load().cols) {
		t.Errorf("the pooled buffers lost their block")
	} else {
		t.Logf("a 50k-span batch retains about %d MiB", c.retainedBytes()>>20)
	}
}
