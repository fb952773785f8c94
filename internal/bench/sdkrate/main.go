// Command sdkrate sends spans at a fixed rate from one OpenTelemetry Go SDK
// (the default batch span processor and the OTLP gRPC exporter, as an
// instrumented service has them) for a while, then says how many it made.
// Count what was stored (SELECT count() FROM spans WHERE ServiceName = …)
// to see how many the SDK dropped: its batch processor drops spans
// silently when its queue is full, which happens when each export waits
// longer than its batches take to fill.
//
//	go run ./internal/bench/sdkrate --addr 127.0.0.1:4317 --rate 3000 --dur 20s --service s3000
package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4317", "OTLP gRPC address of the collector")
	rate := flag.Int("rate", 3000, "spans per second")
	dur := flag.Duration("dur", 20*time.Second, "how long to send")
	svc := flag.String("service", "sdkrate", "service.name of the spans")
	flag.Parse()
	ctx := context.Background()
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(*addr), otlptracegrpc.WithInsecure())
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(*svc))))
	tr := tp.Tracer("sdkrate")
	start := time.Now()
	n := 0
	tick := time.NewTicker(10 * time.Millisecond)
	for time.Since(start) < *dur {
		<-tick.C
		want := int(time.Since(start).Seconds() * float64(*rate))
		for ; n < want; n++ {
			_, s := tr.Start(ctx, "op")
			s.End()
		}
	}
	t0 := time.Now()
	if err := tp.Shutdown(context.Background()); err != nil {
		fmt.Println("shutdown:", err)
	}
	fmt.Printf("made %d spans of service %s in %s (shutdown took %s); count what was stored to see what the SDK dropped\n", n, *svc, *dur, time.Since(t0))
}
