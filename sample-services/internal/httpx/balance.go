package httpx

import (
	"context"
	"errors"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// ProbeInterval is how often a Client with several replicas asks each of
// them /readyz. A replica that refuses a connection is taken out of
// rotation at once, without waiting for the probe; the probe is what
// brings it back, and what takes out one that drains (SIGTERM) or hangs.
const ProbeInterval = time.Second

// endpoint is one replica of the peer.
type endpoint struct {
	url  string
	down atomic.Bool
}

// replicas is the peer's replicas and which of them take traffic.
type replicas struct {
	peer      string
	endpoints []*endpoint
	next      atomic.Uint64 // round robin for requests without affinity
	log       zerolog.Logger

	stop      context.CancelFunc
	probeDone chan struct{}
	stopOnce  sync.Once
}

func newReplicas(peer string, urls []string, log zerolog.Logger) *replicas {
	r := &replicas{peer: peer, log: log}
	for _, u := range urls {
		r.endpoints = append(r.endpoints, &endpoint{url: u})
	}
	if len(r.endpoints) > 1 {
		ctx, cancel := context.WithCancel(context.Background())
		r.stop, r.probeDone = cancel, make(chan struct{})
		go r.probeLoop(ctx)
	}
	return r
}

// order is the replicas to try for one request, best first. With an
// affinity key, rendezvous hashing: every client ranks the replicas the
// same way for the same key, so the requests of one order reach the replica
// that holds it (and a retried charge the payment replica that remembers
// its idempotency key); when that replica is down only its keys move.
// Without one, round robin. Replicas out of rotation go last rather than
// nowhere: the probe may be behind, and trying costs one refused dial.
func (r *replicas) order(affinity string) []*endpoint {
	eps := slices.Clone(r.endpoints)
	if affinity != "" {
		weight := func(e *endpoint) uint64 {
			h := fnv.New64a()
			io.WriteString(h, affinity)
			h.Write([]byte{0})
			io.WriteString(h, e.url)
			return h.Sum64()
		}
		slices.SortFunc(eps, func(a, b *endpoint) int {
			wa, wb := weight(a), weight(b)
			switch {
			case wa > wb:
				return -1
			case wa < wb:
				return 1
			}
			return 0
		})
	} else if n := len(eps); n > 1 {
		start := int(r.next.Add(1) % uint64(n))
		eps = append(eps[start:], eps[:start]...)
	}
	slices.SortStableFunc(eps, func(a, b *endpoint) int {
		da, db := a.down.Load(), b.down.Load()
		switch {
		case da == db:
			return 0
		case db:
			return -1
		}
		return 1
	})
	return eps
}

// markDown takes e out of rotation after a failed connection; the probe
// puts it back once it answers /readyz again.
func (r *replicas) markDown(e *endpoint, err error) {
	if len(r.endpoints) > 1 && !e.down.Swap(true) {
		r.log.Warn().Str("peer", r.peer).Str("replica", e.url).AnErr("reason", err).Msg("replica out of rotation, failing over")
	}
}

func (r *replicas) probeLoop(ctx context.Context) {
	defer close(r.probeDone)
	// A plain client: probe requests are not traced (they would flood the
	// trace store) and do not share the traced client's connections.
	client := &http.Client{Timeout: ProbeInterval}
	defer client.CloseIdleConnections()
	ticker := time.NewTicker(ProbeInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		for _, e := range r.endpoints {
			err := probe(ctx, client, e.url+"/readyz")
			switch {
			case ctx.Err() != nil:
				return
			case err == nil && e.down.Swap(false):
				r.log.Info().Str("peer", r.peer).Str("replica", e.url).Msg("replica ready, back in rotation")
			case err != nil && !e.down.Swap(true):
				r.log.Warn().Str("peer", r.peer).Str("replica", e.url).AnErr("reason", err).Msg("replica not ready, out of rotation")
			}
		}
	}
}

// probe GETs url and wants a 200.
func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(url + " answered " + resp.Status)
	}
	return nil
}

func (r *replicas) close() {
	r.stopOnce.Do(func() {
		if r.stop != nil {
			r.stop()
			<-r.probeDone
		}
	})
}

// failoverSafe says whether a request that failed with transport error err
// (no HTTP response) may be sent to another replica. A connection that
// was never made carried nothing, so any request may go elsewhere. A
// connection that broke after the request went out (the replica crashed
// mid-request) may have done the work: only a replayable request (see
// replayable) may be sent again. A timeout is neither: the replica may be
// slow rather than gone, and the caller's time budget is spent.
func failoverSafe(err error, replayable bool) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" && !opErr.Timeout() {
		return true
	}
	if !replayable {
		return false
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// replayable is net/http's own rule for sending a request again: an
// idempotent method, or an Idempotency-Key header, which promises that the
// peer answers a repeat with the first result instead of doing it twice.
func replayable(method string, header map[string]string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	_, ok := header[IdempotencyKeyHeader]
	return ok
}

// IdempotencyKeyHeader makes a POST replayable (see replayable).
const IdempotencyKeyHeader = "Idempotency-Key"
