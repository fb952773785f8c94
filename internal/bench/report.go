package main

import (
	"fmt"
	"runtime"
	"time"
)

// printTable prints the bench's one table: insert rates, trace-by-id
// latency (when lookups ran) and bytes on disk per span.
func printTable(ins insertStats, lat []time.Duration, disk uint64, total, batchSize int) {
	fmt.Printf("\n| measure (embedded engine, %d cores) | value |\n|---|---|\n", runtime.NumCPU())
	fmt.Printf("| Native batch insert, Send only, median of %d batches of %d rows | %.0f rows/s |\n", len(ins.sendRates), batchSize, ins.sendRates[len(ins.sendRates)/2])
	fmt.Printf("| Native batch insert, Send only, total | %.0f rows/s |\n", float64(total)/ins.sendTime.Seconds())
	fmt.Printf("| Native batch insert, end to end incl. building batches | %.0f rows/s |\n", float64(total)/ins.wall.Seconds())
	fmt.Printf("| rows per CPU-second of the process (engine + client; robust to a busy machine) | %.0f |\n", float64(total)/ins.cpu.Seconds())
	if len(lat) > 0 {
		fmt.Printf("| trace by id at %d spans, p50 | %.1f ms |\n", total, ms(lat[len(lat)/2]))
		fmt.Printf("| trace by id at %d spans, p99 | %.1f ms |\n", total, ms(lat[len(lat)*99/100]))
	}
	fmt.Printf("| bytes on disk per span (spans + trace_index, before merges settle) | %.1f |\n", float64(disk)/float64(total))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
