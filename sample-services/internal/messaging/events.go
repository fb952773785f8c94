package messaging

import (
	"encoding/json"
	"fmt"
	"time"
)

// OrderEvent is the body of order.confirmed and order.cancelled, JSON: the
// contract between the order service and its consumers.
type OrderEvent struct {
	OrderID     string      `json:"order_id"`
	User        string      `json:"user"`
	Items       []OrderItem `json:"items"`
	AmountCents int64       `json:"amount_cents"`
	Currency    string      `json:"currency"`
	// Status is the order's status: confirmed or failed.
	Status   string `json:"status"`
	ChargeID string `json:"charge_id,omitempty"`
	// Reason is why a cancelled order failed.
	Reason     string    `json:"reason,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
}

// OrderItem is one line of an order.
type OrderItem struct {
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"price_cents"`
}

// OrderMessage is the message of an order event on subject: its id is
// subject and order id, so each order has at most one of each event in
// the stream however often it is published.
func OrderMessage(subject string, ev OrderEvent) (Message, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s event of order %s: %w", subject, ev.OrderID, err)
	}
	return Message{Subject: subject, ID: subject + ":" + ev.OrderID, Data: data}, nil
}
