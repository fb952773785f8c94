// Package query is Tracehouse's query service: trace search and trace by
// id, the reconstructed request path of a trace, trace comparison, log
// search with a small query language (storage/logquery), live tail, the
// service map and RED metrics.
//
// It reads through small interfaces (TraceReader, LogReader,
// MetricsReader; storage/reader implements them on ClickHouse) and holds
// no SQL and no driver. It speaks pdata (ptrace.Traces, plog records) and
// small result types, and has no HTTP code: query/api serves it.
//
// The service bounds what one request may ask for (Limits: time ranges,
// page sizes, series points) and admits requests through a Limiter that
// caps how many run at once; what one statement may cost is the store's
// (reader.Limits). Errors are typed (InputError, NotFoundError, BusyError,
// TimeoutError) so that callers can tell the user what to change.
package query
