package writer

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/pdata/plog"
)

// throughQueue is e as a persistent queue gives it back: its binary form
// read again.
func throughQueue(t *testing.T, e *Encoded) *Encoded {
	t.Helper()
	data, err := e.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalEncoded(data)
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// A batch encoded ahead (as it enters a persistent queue), stored and read
// back, is stored exactly as the writer stores the batch itself: the same
// spans, log records, views and edges; written again, or by a restarted
// writer, it is stored once.
func TestEncodedBatchStoresWhatTheBatchWould(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	id := traceID(0x80)
	td, ld := richTraces(id), richLogs(id)
	et, err := w.EncodeTraces(ctx, td, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	el, err := w.EncodeLogs(ctx, ld, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if et.Rows() != td.SpanCount() || el.Rows() != ld.LogRecordCount() {
		t.Fatalf("encoded %d spans and %d records, want %d and %d", et.Rows(), el.Rows(), td.SpanCount(), ld.LogRecordCount())
	}
	for attempt, writer := range []*Writer{w, w, NewWriter(conn, Options{Database: db})} {
		st, err := writer.WriteEncoded(ctx, throughQueue(t, et))
		// The writer that stored the batch knows its edge already; a
		// restarted one finds it again (and ClickHouse skips it).
		wantEdges := map[bool]int{true: 1, false: 0}[attempt != 1]
		if err != nil || st.Rows != td.SpanCount() || st.Edges != wantEdges {
			t.Fatalf("attempt %d: spans stats %+v, err %v; want %d rows and %d edges", attempt, st, err, td.SpanCount(), wantEdges)
		}
		if _, err := writer.WriteEncoded(ctx, throughQueue(t, el)); err != nil {
			t.Fatal(err)
		}
	}
	// Held plain (a queue in memory), the batch is the same block with the
	// same token: written as it is held, or through a persistent queue
	// (which stores it compressed), it adds nothing.
	plain, err := w.EncodeTraces(ctx, richTraces(id), EncodeOptions{Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	if plain.token != et.token || plain.Size() <= et.Size() {
		t.Fatalf("plain: token %s, %d bytes; compressed: token %s, %d bytes", plain.token, plain.Size(), et.token, et.Size())
	}
	t.Logf("%d spans held: %d bytes plain, %d compressed", td.SpanCount(), plain.Size(), et.Size())
	for _, e := range []*Encoded{plain, throughQueue(t, plain)} {
		if st, err := w.WriteEncoded(ctx, e); err != nil || st.Rows != td.SpanCount() {
			t.Fatalf("plain: stats %+v, err %v", st, err)
		}
	}
	want := tableCounts{spans: uint64(td.SpanCount()), logs: uint64(ld.LogRecordCount()),
		traceIndex: 1, redCalls: uint64(td.SpanCount()), edgeCalls: 1}
	if got := countTables(t, conn, db); got != want {
		t.Errorf("after one encoded batch written three times: %+v, want %+v", got, want)
	}
	r := readerOf(t, conn, db)
	got, err := r.GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	requireSameTraces(t, td, got)
}

// The rows of an encoded batch ClickHouse refuses because of one of them
// are split out of its block (decoded again): the bad one is rejected,
// the others are stored once, exactly, however often the batch comes back.
func TestEncodedBatchIsolatesTheBadItem(t *testing.T) {
	conn, db := newStore(t)
	ctx := context.Background()
	if err := conn.Exec(ctx, "ALTER TABLE "+db+".spans ADD CONSTRAINT no_poison CHECK SpanName != 'poison'"); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(conn, Options{Database: db})
	id := traceID(0x81)
	td := poisonTraces(id)
	rich := richTraces(id)
	rich.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	e, err := w.EncodeTraces(ctx, td, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The second attempt holds the block plain, as a memory queue does.
	plain, err := w.EncodeTraces(ctx, td, EncodeOptions{Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	for attempt, held := range []*Encoded{throughQueue(t, e), plain} {
		st, err := w.WriteEncoded(ctx, held)
		var rejected *RejectedError
		if !errors.As(err, &rejected) || rejected.Count != 1 || rejected.Dropped != 0 {
			t.Fatalf("attempt %d: err %v, want 1 span rejected", attempt, err)
		}
		if st.Rows != td.SpanCount()-1 || !strings.Contains(st.RejectReason, "VIOLATED_CONSTRAINT") {
			t.Errorf("attempt %d: stats %+v, want %d stored, 1 rejected for the constraint", attempt, st, td.SpanCount()-1)
		}
	}
	if n := count(t, conn, "SELECT count() FROM "+db+".spans"); n != uint64(td.SpanCount()-1) {
		t.Errorf("%d spans stored, want %d", n, td.SpanCount()-1)
	}
	// What was split out and encoded again reads back as what the writer
	// stores of the same batch given as pdata: every field, attribute
	// types and the keys' order.
	conn2, db2 := newStore(t)
	if err := conn2.Exec(ctx, "ALTER TABLE "+db2+".spans ADD CONSTRAINT no_poison CHECK SpanName != 'poison'"); err != nil {
		t.Fatal(err)
	}
	same := poisonTraces(id)
	richTraces(id).ResourceSpans().MoveAndAppendTo(same.ResourceSpans())
	if _, err := NewWriter(conn2, Options{Database: db2}).WriteTracesStats(ctx, same); !errors.Is(err, ErrInvalidData) {
		t.Fatalf("the pdata path: %v, want the poison span rejected", err)
	}
	want, err := readerOf(t, conn2, db2).GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readerOf(t, conn, db).GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want.SpanCount() != td.SpanCount()-1 {
		t.Fatalf("the pdata path stored %d spans, want %d", want.SpanCount(), td.SpanCount()-1)
	}
	requireSameTraces(t, want, got)
}

// A block that declares converted types to a server that refuses them is
// declared again with the table's own types: the first attempt fails in a
// way worth retrying, the retry stores the rows as they were.
func TestEncodedBatchOnServerThatDoesNotConvert(t *testing.T) {
	_, db := newStore(t)
	conn, refused := nonConvertingServer(t, db)
	ctx := context.Background()
	w := NewWriter(conn, Options{Database: db})
	id := traceID(0x82)
	want := richTraces(id)
	e, err := w.EncodeTraces(ctx, want, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.WriteEncoded(ctx, throughQueue(t, e))
	var ex *clickhouse.Exception
	if err == nil || errors.Is(err, ErrInvalidData) || errors.As(err, &ex) {
		t.Fatalf("first attempt through a server that does not convert: %v, want an error worth retrying", err)
	}
	if _, err := w.WriteEncoded(ctx, throughQueue(t, e)); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	got, err := readerOf(t, conn, db).GetTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	requireSameTraces(t, want, got)
	if n := refused.Load(); n != 1 {
		t.Errorf("the server refused %d inserts, want 1", n)
	}
}

// Bytes that are not an encoded batch, or one cut short or damaged
// anywhere, are refused with an error, never a panic.
func TestUnmarshalEncodedRefusesDamage(t *testing.T) {
	conn, db := newStore(t)
	w := NewWriter(conn, Options{Database: db})
	e, err := w.EncodeTraces(context.Background(), richTraces(traceID(0x83)), EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	good, err := e.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(good) {
		if _, err := UnmarshalEncoded(good[:n]); err == nil {
			t.Fatalf("the first %d of %d bytes were taken for a batch", n, len(good))
		}
	}
	for _, junk := range [][]byte{nil, []byte("\x0a\x05hello"), bytes.Repeat([]byte{0xff}, 64), append([]byte{encodedFormat, 1}, bytes.Repeat([]byte{0x80}, 40)...)} {
		if _, err := UnmarshalEncoded(junk); err == nil {
			t.Errorf("%q was taken for a batch", junk)
		}
	}
	// A flipped bit in the compressed block fails when it is written, as
	// data that cannot be stored (LZ4 frames carry a checksum).
	bad := bytes.Clone(good)
	bad[len(bad)-10] ^= 0x40
	if d, err := UnmarshalEncoded(bad); err == nil {
		if _, err := w.WriteEncoded(context.Background(), d); !errors.Is(err, ErrInvalidData) {
			t.Errorf("a damaged block: %v, want ErrInvalidData", err)
		}
	}
}

// Log records rejected at conversion are counted when the batch is
// written, as WriteLogsStats counts them.
func TestEncodedLogsCountWhatConversionLeftOut(t *testing.T) {
	conn, db := newStore(t)
	w := NewWriter(conn, Options{Database: db})
	ld := plog.NewLogs()
	r := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	r.SetTimestamp(ts(0))
	r.Body().SetStr("kept")
	bad := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	bad.SetTimestamp(maxTimestamp + 1)
	bad.SetObservedTimestamp(maxTimestamp + 1)
	e, err := w.EncodeLogs(context.Background(), ld, EncodeOptions{Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := w.WriteEncoded(context.Background(), throughQueue(t, e))
	if !errors.Is(err, ErrInvalidData) || st.Rows != 1 || st.Rejected != 1 {
		t.Errorf("stats %+v, err %v; want 1 stored, 1 rejected", st, err)
	}
}
