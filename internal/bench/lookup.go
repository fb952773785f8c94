package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// timeLookups reads each trace by id and returns the latencies sorted.
func timeLookups(ctx context.Context, conn driver.Conn, ids [][16]byte) ([]time.Duration, error) {
	var lat []time.Duration
	for _, id := range ids {
		t0 := time.Now()
		n, err := lookupTrace(ctx, conn, id)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("trace %x not found", id)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat, nil
}

// lookupTrace is the read documented in migrations/0002_trace_index.sql.
func lookupTrace(ctx context.Context, conn driver.Conn, id [16]byte) (int, error) {
	rows, err := conn.Query(ctx, `
WITH (SELECT (min(Start), max(End)) FROM trace_index WHERE TraceKey = cityHash64(unhex({trace_id:String}))) AS range
SELECT SpanId, ParentSpanId, ServiceName, SpanName, Timestamp, Duration FROM spans
WHERE TraceId = unhex({trace_id:String}) AND Timestamp >= toDateTime64(range.1, 9) AND Timestamp < toDateTime64(range.2 + 1, 9)
ORDER BY Timestamp`, clickhouse.Named("trace_id", hex.EncodeToString(id[:])))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	return n, rows.Err()
}
