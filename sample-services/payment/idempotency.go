package payment

import (
	"context"
	"net/http"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
)

// idempotencyKeys remembers the result of each idempotency key. The first
// request with a key processes the charge; a request with the same key that
// arrives while the first is still running waits for it, so concurrent
// retries cannot both charge.
type idempotencyKeys struct {
	entries *lru.Cache[string, *keyEntry]
}

type keyEntry struct {
	fingerprint string
	done        chan struct{} // closed once charge is set
	charge      Charge
}

func newIdempotencyKeys(capacity int) (*idempotencyKeys, error) {
	entries, err := lru.New[string, *keyEntry](capacity)
	if err != nil {
		return nil, err
	}
	return &idempotencyKeys{entries: entries}, nil
}

// claim returns the entry for key, running process first if the key is new.
// replayed is true when the result comes from an earlier request.
func (k *idempotencyKeys) claim(ctx context.Context, key, fingerprint string, process func() Charge) (entry *keyEntry, replayed bool, err error) {
	fresh := &keyEntry{fingerprint: fingerprint, done: make(chan struct{})}
	existing, found, _ := k.entries.PeekOrAdd(key, fresh)
	if !found {
		fresh.charge = process()
		close(fresh.done)
		return fresh, false, nil
	}
	select {
	case <-existing.done:
		return existing, true, nil
	case <-ctx.Done():
		return nil, false, &httpx.APIError{
			Status:  http.StatusConflict,
			Code:    "idempotency_key_in_progress",
			Message: "a request with this idempotency key is still being processed; retry shortly with the same key",
		}
	}
}
