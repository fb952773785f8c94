// Package query is Tracehouse's query service: trace search and trace by
// id, the reconstructed request path of a trace, trace comparison, log
// search with a small query language (query/logquery), live tail, the
// service map and RED metrics, all read from ClickHouse.
//
// The package speaks pdata (ptrace.Traces, plog records) and small result
// types and has no HTTP code; query/api serves it over HTTP (Jaeger's query
// API plus Tracehouse's own /api/v1).
//
// Every statement it runs is parameterized ({name:Type} query parameters),
// bounded (time range, rows, result bytes, max_execution_time) and admitted
// through a Limiter that caps concurrent ClickHouse queries; errors are typed
// (InputError, NotFoundError, BusyError, TimeoutError) so that callers can
// tell the user what to change.
package query
