package order

import (
	"fmt"
	"strings"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
)

// orderStore keeps orders in memory, forgetting the least recently used
// when full. Orders are stored by value, so a reader never sees an order
// half-updated by the saga.
type orderStore struct {
	orders *lru.Cache[string, Order]
}

func newOrderStore(capacity int) (*orderStore, error) {
	orders, err := lru.New[string, Order](capacity)
	if err != nil {
		return nil, err
	}
	return &orderStore{orders: orders}, nil
}

func (s *orderStore) put(o Order)                 { s.orders.Add(o.ID, o) }
func (s *orderStore) get(id string) (Order, bool) { return s.orders.Get(id) }

// claim stores o unless an order with its id exists, which it returns.
// Atomic, so two requests with one order_id cannot both run the saga.
func (s *orderStore) claim(o Order) (existing Order, found bool) {
	existing, found, _ = s.orders.PeekOrAdd(o.ID, o)
	return existing, found
}

// fingerprint identifies what an order is for, to tell a repeated request
// from a different order under a reused id.
func (o Order) fingerprint() string {
	var b strings.Builder
	b.WriteString(o.User)
	for _, it := range o.Items {
		fmt.Fprintf(&b, "|%s*%d@%d", it.SKU, it.Qty, it.PriceCents)
	}
	return b.String()
}

// errOutOfStock is a reservation the inventory cannot satisfy.
type errOutOfStock struct {
	SKU       string
	Wanted    int
	Available int
}

func (e *errOutOfStock) Error() string {
	return fmt.Sprintf("sku %q: %d wanted, %d in stock", e.SKU, e.Wanted, e.Available)
}

// inventory tracks stock per SKU and the stock each pending order holds.
// A reservation is all-or-nothing across the order's items.
type inventory struct {
	mu           sync.Mutex
	initialStock int
	maxSKUs      int
	available    map[string]int
	held         map[string][]Item // by order id, until confirmed or released
}

func newInventory(initialStock, maxSKUs int) *inventory {
	return &inventory{
		initialStock: initialStock,
		maxSKUs:      maxSKUs,
		available:    map[string]int{},
		held:         map[string][]Item{},
	}
}

func (inv *inventory) reserve(orderID string, items []Item) error {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	wanted := map[string]int{}
	for _, it := range items {
		wanted[it.SKU] += it.Qty
	}
	for sku, qty := range wanted {
		stock, known := inv.available[sku]
		if !known {
			if len(inv.available) >= inv.maxSKUs {
				return fmt.Errorf("sku %q is unknown and the inventory already tracks %d SKUs (-max-skus)", sku, inv.maxSKUs)
			}
			stock = inv.initialStock
		}
		if stock < qty {
			return &errOutOfStock{SKU: sku, Wanted: qty, Available: stock}
		}
	}
	for sku, qty := range wanted {
		stock, known := inv.available[sku]
		if !known {
			stock = inv.initialStock
		}
		inv.available[sku] = stock - qty
	}
	inv.held[orderID] = items
	return nil
}

// release puts an order's held stock back (saga compensation). It reports
// how many units went back, zero if the order held nothing.
func (inv *inventory) release(orderID string) int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	units := 0
	for _, it := range inv.held[orderID] {
		inv.available[it.SKU] += it.Qty
		units += it.Qty
	}
	delete(inv.held, orderID)
	return units
}

// commit makes an order's reservation final.
func (inv *inventory) commit(orderID string) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	delete(inv.held, orderID)
}
