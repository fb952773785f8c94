package httpx

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// ServedByHeader names, on every response, the processes that served the
// request: this one first ("service/instance", instance being
// service.instance.id), then those of the calls it made, in the order
// their answers came:
//
//	X-Served-By: gateway/gateway-1, auth/auth-1, order/order-2, payment/payment-1
//
// With replicas behind a service, it tells a client (the load generator's
// per-instance table, a person with curl) which replica answered, without
// opening the trace.
const ServedByHeader = "X-Served-By"

type servedByKey struct{}

// servedBy collects the X-Served-By entries of the peers a request called.
type servedBy struct {
	mu      sync.Mutex
	entries []string
}

func withServedBy(ctx context.Context) (context.Context, *servedBy) {
	sb := &servedBy{}
	return context.WithValue(ctx, servedByKey{}, sb), sb
}

// recordServedBy adds the X-Served-By values of a peer's response to the
// request in ctx, if it collects them.
func recordServedBy(ctx context.Context, values []string) {
	sb, ok := ctx.Value(servedByKey{}).(*servedBy)
	if !ok || len(values) == 0 {
		return
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, v := range values {
		for _, entry := range strings.Split(v, ",") {
			if entry = strings.TrimSpace(entry); entry != "" && !slices.Contains(sb.entries, entry) {
				sb.entries = append(sb.entries, entry)
			}
		}
	}
}

// header is the X-Served-By value: self, then the peers.
func (sb *servedBy) header(self string) string {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return strings.Join(append([]string{self}, sb.entries...), ", ")
}

// ParseServedBy splits an X-Served-By value into its "service/instance"
// entries.
func ParseServedBy(value string) []string {
	var out []string
	for _, entry := range strings.Split(value, ",") {
		if entry = strings.TrimSpace(entry); entry != "" {
			out = append(out, entry)
		}
	}
	return out
}
