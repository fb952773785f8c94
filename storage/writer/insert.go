package writer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/tracehouse/tracehouse/storage"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
)

// tableInsert is one table's INSERT statement and, after the first batch,
// its column types, so later batches skip the DESCRIBE TABLE round trip that
// clickhouse-go makes over HTTP.
type tableInsert struct {
	database, name string // unquoted
	table          string // quoted, qualified
	query          string // INSERT INTO … (columns)
	// statement is the query as the body of a Native block, with the
	// deduplication settings; its token is a placeholder that prepare
	// overwrites, at tokenAt, once the block is encoded.
	statement string
	tokenAt   int
	types     atomic.Pointer[insertTypes]
}

// insertTypes are the column types a batch declares.
type insertTypes struct {
	cols []clickhouse.ColumnNameAndType
	// converted: some differ from the table's (see Writer.wireType).
	converted bool
}

func newTableInsert(db, table string, columns []string) tableInsert {
	quoted := make([]string, len(columns))
	for i, c := range columns {
		quoted[i] = "`" + c + "`"
	}
	qualified := storage.QuoteIdent(db) + "." + table
	query := "INSERT INTO " + qualified + " (" + strings.Join(quoted, ", ") + ")"
	statement, tokenAt := insertStatement(query)
	return tableInsert{
		database:  db,
		name:      table,
		table:     qualified,
		query:     query,
		statement: statement,
		tokenAt:   tokenAt,
	}
}

// preparedInsert is one table's rows encoded as a Native block, with the
// block's deduplication token (salted with salt: see putBlockToken).
type preparedInsert struct {
	t     *tableInsert
	rows  int
	cols  []nativeblock.Column
	types *insertTypes
	// body is the statement and the block (valid until the encoder's next
	// Encode); token is in it, and in the settings of a native-protocol batch.
	body  []byte
	token string
}

// prepare encodes one table's rows (every column appended whole) into one
// Native block and takes its token. Over HTTP the block is what send
// sends (see nativeblock.Encoder for why the writer encodes it itself);
// over the native protocol, where clickhouse-go's batch sends the rows, it
// is encoded only for its token. enc is the reusable block of the caller's
// buffers. An error wrapping ErrInvalidData means the rows cannot be
// encoded as they are.
func (w *Writer) prepare(ctx context.Context, t *tableInsert, rows int, cols []nativeblock.Column, enc *nativeblock.Encoder, salt string) (preparedInsert, error) {
	p := preparedInsert{t: t, rows: rows, cols: cols}
	types := t.types.Load()
	if types == nil {
		var err error
		if types, err = w.describe(ctx, t, cols); err != nil {
			return p, err
		}
		t.types.Store(types)
	}
	p.types = types
	body, err := enc.Encode(t.statement, types.cols, rows, cols)
	if errors.Is(err, ErrInvalidData) {
		return p, fmt.Errorf("%s: %w", t.table, err)
	}
	if err != nil {
		t.types.Store(nil)
		return p, fmt.Errorf("insert into %s: %w", t.table, err)
	}
	tok := body[t.tokenAt : t.tokenAt+tokenHexLen]
	putBlockToken(tok, body[len(t.statement):], salt)
	p.body, p.token = body, string(tok)
	return p, nil
}

// send INSERTs a prepared block. sent is the size of the body over HTTP
// (compressed, when the DSN asks for it: what goes on the wire), 0 over the
// native protocol. After a failure the encoder forgets its buffers: the
// HTTP client may still be reading the body.
func (w *Writer) send(ctx context.Context, p preparedInsert, enc *nativeblock.Encoder) (sent int, err error) {
	if w.nativeProtocol {
		return 0, w.insertBatch(ctx, p)
	}
	body := p.body
	if w.frames != nil {
		// The token was taken from the plain block: the same rows keep
		// their token whatever the compression.
		if body, err = enc.Compress(p.body, w.frames); err != nil {
			return 0, fmt.Errorf("insert into %s: %w", p.t.table, err)
		}
		ctx = storage.CompressedExec(ctx)
	}
	if err := sendBlock(ctx, w.conn, body); err != nil {
		enc.Forget()
		return 0, w.sendFailed(p.t, p.types, p.rows, err)
	}
	return len(body), nil
}

// insert prepares and sends one table's rows; token is the block's.
func (w *Writer) insert(ctx context.Context, t *tableInsert, rows int, cols []nativeblock.Column, enc *nativeblock.Encoder, salt string) (sent int, token string, err error) {
	p, err := w.prepare(ctx, t, rows, cols, enc, salt)
	if err != nil {
		return 0, "", err
	}
	sent, err = w.send(ctx, p, enc)
	return sent, p.token, err
}

// describe asks the server for the types of the INSERT's columns, as the
// batch API does, and picks the types the writer declares for them
// (wireType).
func (w *Writer) describe(ctx context.Context, t *tableInsert, cols []nativeblock.Column) (*insertTypes, error) {
	rows, err := w.conn.Query(ctx, "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String}",
		clickhouse.Named("db", t.database), clickhouse.Named("table", t.name))
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", t.table, err)
	}
	defer rows.Close()
	have := map[string]string{}
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, fmt.Errorf("read the columns of %s: %w", t.table, err)
		}
		have[name] = typ
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", t.table, err)
	}
	types := &insertTypes{cols: make([]clickhouse.ColumnNameAndType, 0, len(cols))}
	for _, c := range cols {
		typ, ok := have[c.Name]
		if !ok {
			return nil, fmt.Errorf("insert into %s: the table has no column %s (run the schema migrations: tracehouse migrate)", t.table, c.Name)
		}
		wire := w.wireType(typ)
		types.converted = types.converted || wire != typ
		types.cols = append(types.cols, clickhouse.ColumnNameAndType{Name: c.Name, Type: wire})
	}
	return types, nil
}

// insertBatch sends a prepared insert through clickhouse-go's batch API,
// for the native protocol, with the block's token in the query's settings.
func (w *Writer) insertBatch(ctx context.Context, p preparedInsert) error {
	t := p.t
	batchCtx := clickhouse.Context(ctx,
		clickhouse.WithColumnNamesAndTypes(p.types.cols),
		clickhouse.WithSettings(dedupSettingsFor(p.token)))
	batch, err := w.conn.PrepareBatch(batchCtx, t.query)
	if err != nil {
		t.types.Store(nil)
		return fmt.Errorf("prepare insert into %s: %w", t.table, err)
	}
	defer batch.Close()
	driverCols := batch.Columns()
	if len(driverCols) != len(p.cols) {
		_ = batch.Abort()
		t.types.Store(nil)
		return fmt.Errorf("insert into %s: the driver has %d columns for the %d of the INSERT", t.table, len(driverCols), len(p.cols))
	}
	if err := nativeblock.AppendColumns(driverCols, p.cols); err != nil {
		_ = batch.Abort()
		return fmt.Errorf("%w: %s: %v", ErrInvalidData, t.table, err)
	}
	if err := batch.Send(); err != nil {
		// The native protocol sends the server's own types, converted
		// or not: a refusal is never about conversion.
		return w.sendFailed(t, nil, p.rows, err)
	}
	return nil
}

// dedupSettingsFor are dedupSettings and token as clickhouse-go settings.
func dedupSettingsFor(token string) clickhouse.Settings {
	return clickhouse.Settings{
		"insert_deduplicate": 1,
		"deduplicate_blocks_in_dependent_materialized_views": 1,
		"insert_deduplication_token":                         token,
	}
}

// sendFailed is the error of an INSERT the server did not take. The table
// is described again next time (it may have changed).
func (w *Writer) sendFailed(t *tableInsert, declared *insertTypes, rows int, err error) error {
	t.types.Store(nil)
	var ex *clickhouse.Exception
	if declared != nil && declared.converted && errors.As(err, &ex) && (ex.Code == codeTypeMismatch || ex.Code == codeCannotConvertType) {
		// The server refused a block declaring converted types as a type
		// error ("Cannot convert: Map(…, String) to Map(…,
		// LowCardinality(String))"): it may not convert (a profile can
		// turn input_format_native_allow_types_conversion off). Declare
		// the table's own types from now on, and do not let the error
		// look permanent: the retry sends the same rows without
		// conversion. Other refusals are about the rows and keep their
		// class (a constraint, say, is split out by bisect.go).
		w.noConvert.Store(true)
		return fmt.Errorf("insert %d rows into %s (declaring plain String attribute values, which is now turned off): %v", rows, t.table, err)
	}
	return fmt.Errorf("insert %d rows into %s: %w", rows, t.table, err)
}

// wireType is the type a column is declared with in the Native blocks of
// later batches (over HTTP; the native protocol ignores declared types and
// uses the server's). Attribute string values go as plain String into
// their Map(…, LowCardinality(String)) columns: the server converts them
// (input_format_native_allow_types_conversion, on by default), building the
// dictionary in C++, where clickhouse-go would build it in a Go map keyed
// by interface values, one entry per distinct value: for ids, nearly one per
// row, the largest allocation of a batch. Keys and the per-resource columns
// stay LowCardinality: few distinct values, a small block.
func (w *Writer) wireType(t string) string {
	if t != lcStringMap {
		return t
	}
	w.convertsOnce.Do(func() {
		v, err := w.conn.ServerVersion()
		w.converts = err == nil && v.Version.Major >= 24
	})
	if !w.converts || w.noConvert.Load() {
		return t
	}
	return plainValuesMap
}

// The errors a server that does not convert types answers with.
const (
	codeTypeMismatch      = 53
	codeCannotConvertType = 70
)

const (
	lcStringMap    = "Map(LowCardinality(String), LowCardinality(String))"
	plainValuesMap = "Map(LowCardinality(String), String)"
)

// sendBlock sends the body of an INSERT (its statement and a Native block,
// or both in compression frames with a context from storage.CompressedExec)
// through clickhouse-go's Exec, which posts it as is over HTTP, where
// ClickHouse reads the block after the statement as its data. (The
// statement cannot go in the URL's query parameter through Exec's settings:
// when Exec opens a new connection, its hello query carries the same
// settings.) The body is handed over as a string without copying; it is not
// read after Exec returns successfully (the server answers an INSERT only
// after reading all of it), and on failure the caller forgets the buffer.
func sendBlock(ctx context.Context, conn driver.Conn, body []byte) error {
	return conn.Exec(ctx, unsafe.String(unsafe.SliceData(body), len(body)))
}

// insertStatement is what precedes the block in the body: the INSERT with
// its deduplication settings, the token a placeholder at tokenAt. The
// settings go in the statement, not in the URL, so they stay with the
// INSERT wherever it is rewritten (the embedded server turns it into an
// INSERT … SELECT FROM file() and keeps the SETTINGS clause).
func insertStatement(insert string) (statement string, tokenAt int) {
	head := insert + " SETTINGS " + dedupSettings + ", insert_deduplication_token = '"
	return head + strings.Repeat("0", tokenHexLen) + "' FORMAT Native\n", len(head)
}
