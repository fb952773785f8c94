// Package tracestore rebuilds OpenTelemetry pdata from Tracehouse's
// ClickHouse rows (Reader): traces by id, log records by trace, service and
// time. Rows are written by storage/writer; attribute values are decoded
// with storage/anyvalue. A span's or record's own attributes come back
// grouped by type and sorted by key within each (they live in five typed
// maps); resource, scope, event and link attributes keep their order.
package tracestore
