package api

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tracehouse/tracehouse/query"
)

// metrics are the query service's own Prometheus metrics, in a registry of
// their own (no package globals): requests per route, their latency, and the
// ClickHouse query slots.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(svc *query.Service) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tracehouse_query_http_requests_total",
		Help: "HTTP requests served, by route, method and status code.",
	}, []string{"route", "method", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tracehouse_query_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request (for streams: until the handler returned), by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method"})
	lim := svc.Limiter()
	m.registry.MustRegister(m.requests, m.latency,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tracehouse_query_clickhouse_queries_in_flight",
			Help: "ClickHouse queries running now.",
		}, func() float64 { return float64(lim.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tracehouse_query_clickhouse_queries_waiting",
			Help: "ClickHouse queries waiting for a slot now.",
		}, func() float64 { return float64(lim.Waiting()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tracehouse_query_clickhouse_query_slots",
			Help: "How many ClickHouse queries may run at once.",
		}, func() float64 { return float64(lim.Capacity()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tracehouse_query_clickhouse_queries_rejected_total",
			Help: "Queries that gave up waiting for a slot (answered 429).",
		}, func() float64 { return float64(lim.Rejected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tracehouse_query_live_tails",
			Help: "Live tails running now (at most the service's MaxTails; more are answered 429).",
		}, func() float64 { return float64(svc.Tails()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) observe(route, method string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}
