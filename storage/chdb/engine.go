package chdb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// api holds the C functions of libchdb that Tracehouse uses.
type api struct {
	connect        func(argc int32, argv **byte) unsafe.Pointer
	closeConn      func(conn unsafe.Pointer)
	queryN         func(conn uintptr, query *byte, queryLen uintptr, format *byte, formatLen uintptr) uintptr
	queryParamsN   paramsQueryFunc
	streamParamsN  paramsQueryFunc
	streamFetch    func(conn uintptr, result uintptr) uintptr
	streamCancel   func(conn uintptr, result uintptr)
	destroyResult  func(result uintptr)
	resultBuffer   func(result uintptr) unsafe.Pointer
	resultLength   func(result uintptr) uintptr
	resultError    func(result uintptr) *byte
	resultRowsRead func(result uintptr) uint64
}

// paramsQueryFunc is the shape of chdb_query_with_params_n and
// chdb_stream_query_with_params_n: a statement, its output format and its
// {name:Type} parameters, each string with its length.
type paramsQueryFunc func(conn uintptr, query *byte, queryLen uintptr, format *byte, formatLen uintptr, names **byte, nameLens *uintptr, values **byte, valueLens *uintptr, count uintptr) uintptr

var (
	loadOnce   sync.Once
	loaded     *api
	loadErr    error
	openEngine *Engine
	openMu     sync.Mutex
)

func load(path string) (*api, error) {
	loadOnce.Do(func() {
		saved := saveSignalHandlers()
		lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			loadErr = fmt.Errorf("load %s: %w", path, err)
			return
		}
		a := &api{}
		purego.RegisterLibFunc(&a.connect, lib, "chdb_connect")
		purego.RegisterLibFunc(&a.closeConn, lib, "chdb_close_conn")
		purego.RegisterLibFunc(&a.queryN, lib, "chdb_query_n")
		purego.RegisterLibFunc(&a.queryParamsN, lib, "chdb_query_with_params_n")
		purego.RegisterLibFunc(&a.streamParamsN, lib, "chdb_stream_query_with_params_n")
		purego.RegisterLibFunc(&a.streamFetch, lib, "chdb_stream_fetch_result")
		purego.RegisterLibFunc(&a.streamCancel, lib, "chdb_stream_cancel_query")
		purego.RegisterLibFunc(&a.destroyResult, lib, "chdb_destroy_query_result")
		purego.RegisterLibFunc(&a.resultBuffer, lib, "chdb_result_buffer")
		purego.RegisterLibFunc(&a.resultLength, lib, "chdb_result_length")
		purego.RegisterLibFunc(&a.resultError, lib, "chdb_result_error")
		purego.RegisterLibFunc(&a.resultRowsRead, lib, "chdb_result_rows_read")
		loaded = a
		pendingSignalRestore = saved
	})
	return loaded, loadErr
}

// pendingSignalRestore holds the handlers to write back after the first
// connect, when the engine has installed all of its own.
var pendingSignalRestore *signalHandlers

// Engine is the one ClickHouse engine of this process, bound to a data folder.
type Engine struct {
	api  *api
	mu   sync.Mutex     // the engine runs one statement at a time
	conn uintptr        // chdb_connection (dereferenced)
	ref  unsafe.Pointer // chdb_connection* as returned by chdb_connect
	path string
}

// Options are the engine's process-wide server settings, fixed when it
// opens.
type Options struct {
	// MaxServerMemoryUsage caps the memory the engine tracks (its queries,
	// merges and caches), in bytes: past it a statement fails with
	// MEMORY_LIMIT_EXCEEDED instead of growing the process. 0 keeps the
	// engine's default, 90% of the machine's memory.
	MaxServerMemoryUsage int64
	// IndexUncompressedCacheSize is the cache of skip indexes' blocks,
	// decompressed (index_uncompressed_cache_size), in bytes. ClickHouse's
	// default, 0, reads and decompresses a bloom filter from disk for every
	// statement that uses it. 0 keeps that default.
	IndexUncompressedCacheSize int64
}

// args are the engine's command line: ClickHouse takes any server setting
// as --name=value.
func (o Options) args(dataPath string) []string {
	args := []string{"clickhouse", "--path=" + dataPath}
	if o.MaxServerMemoryUsage > 0 {
		args = append(args, "--max_server_memory_usage="+strconv.FormatInt(o.MaxServerMemoryUsage, 10))
	}
	if o.IndexUncompressedCacheSize > 0 {
		args = append(args, "--index_uncompressed_cache_size="+strconv.FormatInt(o.IndexUncompressedCacheSize, 10))
	}
	return args
}

// Open loads libchdb (found with FindLibrary when libPath is empty) and
// connects to the data folder at dataPath with the engine's default
// settings. Only one engine may be open per process; Close it before
// opening another folder.
func Open(libPath, dataPath string) (*Engine, error) {
	return OpenWith(libPath, dataPath, Options{})
}

// OpenWith is Open with server settings.
func OpenWith(libPath, dataPath string, opts Options) (*Engine, error) {
	openMu.Lock()
	defer openMu.Unlock()
	if openEngine != nil {
		return nil, fmt.Errorf("an embedded ClickHouse engine is already open on %s in this process", openEngine.path)
	}
	if libPath == "" {
		p, err := FindLibrary()
		if err != nil {
			return nil, err
		}
		libPath = p
	}
	a, err := load(libPath)
	if err != nil {
		return nil, err
	}
	args := opts.args(dataPath)
	argv := make([]*byte, len(args)+1)
	keep := make([][]byte, len(args))
	for i, s := range args {
		keep[i] = append([]byte(s), 0)
		argv[i] = &keep[i][0]
	}
	ref := a.connect(int32(len(args)), &argv[0])
	if pendingSignalRestore != nil {
		pendingSignalRestore.restore()
		pendingSignalRestore = nil
	}
	if ref == nil {
		return nil, fmt.Errorf("chdb_connect failed for data folder %s (is another process using it?)", dataPath)
	}
	conn := *(*uintptr)(ref)
	if conn == 0 {
		return nil, fmt.Errorf("chdb_connect returned no connection for %s", dataPath)
	}
	e := &Engine{api: a, conn: conn, ref: ref, path: dataPath}
	openEngine = e
	return e, nil
}

// Close closes the connection, flushing the engine's state to the folder.
func (e *Engine) Close() error {
	openMu.Lock()
	defer openMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ref == nil {
		return nil
	}
	e.api.closeConn(e.ref)
	e.ref, e.conn = nil, 0
	if openEngine == e {
		openEngine = nil
	}
	return nil
}

// Path is the engine's data folder.
func (e *Engine) Path() string { return e.path }

// Exception is an error reported by the engine, carrying ClickHouse's code.
type Exception struct {
	Code    int
	Message string // the whole text, "Code: N. DB::Exception: ..."
}

func (e *Exception) Error() string { return e.Message }

var codePrefix = regexp.MustCompile(`^Code: (\d+)\.`)

func newException(msg string) *Exception {
	code := 1000 // POCO_EXCEPTION, ClickHouse's code for "no code"
	if m := codePrefix.FindStringSubmatch(msg); m != nil {
		code, _ = strconv.Atoi(m[1])
	} else {
		msg = "Code: 1000. DB::Exception: " + msg
	}
	return &Exception{Code: code, Message: msg}
}

// ErrClosed is returned for calls on a closed engine.
var ErrClosed = errors.New("embedded ClickHouse engine is closed")

// Param is a value for a {name:Type} placeholder.
type Param struct{ Name, Value string }

// cArgs keeps the C views of a query, its format and parameters alive and in
// one place for a call.
type cArgs struct {
	query, format     []byte // NUL-terminated
	names, values     []*byte
	nameLens, valLens []uintptr
	count             int // parameters
	hold              [][]byte
}

func newCArgs(query, format string, params []Param) *cArgs {
	c := &cArgs{query: append([]byte(query), 0), format: append([]byte(format), 0), count: len(params)}
	for _, p := range params {
		n, v := append([]byte(p.Name), 0), append([]byte(p.Value), 0)
		c.hold = append(c.hold, n, v)
		c.names = append(c.names, &n[0])
		c.values = append(c.values, &v[0])
		c.nameLens = append(c.nameLens, uintptr(len(p.Name)))
		c.valLens = append(c.valLens, uintptr(len(p.Value)))
	}
	if len(params) == 0 { // the C side never reads them, but wants valid pointers
		var zero byte
		c.names, c.values = []*byte{&zero}, []*byte{&zero}
		c.nameLens, c.valLens = []uintptr{0}, []uintptr{0}
	}
	return c
}

// call hands the arguments to one of the engine's parameterised query
// functions; the lengths it passes leave out the terminating NULs.
func (c *cArgs) call(fn paramsQueryFunc, conn uintptr) uintptr {
	return fn(conn, &c.query[0], uintptr(len(c.query)-1), &c.format[0], uintptr(len(c.format)-1),
		&c.names[0], &c.nameLens[0], &c.values[0], &c.valLens[0], uintptr(c.count))
}

// Query runs one statement and returns its whole output in the given format.
func (e *Engine) Query(query, format string, params ...Param) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == 0 {
		return nil, ErrClosed
	}
	res := newCArgs(query, format, params).call(e.api.queryParamsN, e.conn)
	defer e.api.destroyResult(res)
	if err := e.resultErr(res); err != nil {
		return nil, err
	}
	return e.copyBuffer(res), nil
}

func (e *Engine) resultErr(res uintptr) error {
	if res == 0 {
		return newException("the engine returned no result")
	}
	if p := e.api.resultError(res); p != nil {
		if msg := goString(p); msg != "" {
			return newException(msg)
		}
	}
	return nil
}

func (e *Engine) copyBuffer(res uintptr) []byte {
	n := e.api.resultLength(res)
	if n == 0 {
		return nil
	}
	return append([]byte(nil), unsafe.Slice((*byte)(e.api.resultBuffer(res)), n)...)
}

// Stream runs one statement and hands its output to emit chunk by chunk as
// the engine produces it, so large results never sit in memory whole. The
// chunk is only valid during the call. If emit returns an error the query is
// cancelled and that error returned.
//
// ctx cancels the statement: it does not start when ctx is already done,
// and it is cancelled (chdb_stream_cancel_query) after the chunk during
// which ctx ended, returning context.Cause(ctx). The engine has no call
// that interrupts a statement inside a chunk: a statement that runs long
// without producing output (one big aggregation) is bounded by its
// max_execution_time, not by ctx. (The first chunk is always fetched:
// chdb 26.5 never returns from a cancel issued before the first fetch.)
func (e *Engine) Stream(ctx context.Context, query, format string, params []Param, emit func(chunk []byte) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conn == 0 {
		return ErrClosed
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	stream := newCArgs(query, format, params).call(e.api.streamParamsN, e.conn)
	defer e.api.destroyResult(stream)
	if err := e.resultErr(stream); err != nil {
		return err
	}
	for {
		chunk := e.api.streamFetch(e.conn, stream)
		if err := e.resultErr(chunk); err != nil {
			e.api.destroyResult(chunk)
			return err
		}
		n := e.api.resultLength(chunk)
		if n == 0 {
			e.api.destroyResult(chunk)
			return nil
		}
		err := emit(unsafe.Slice((*byte)(e.api.resultBuffer(chunk)), n))
		e.api.destroyResult(chunk)
		if err == nil && ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		if err != nil {
			e.api.streamCancel(e.conn, stream)
			return err
		}
	}
}

func goString(p *byte) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}
