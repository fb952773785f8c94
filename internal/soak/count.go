package main

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/tracehouse/tracehouse/storage"
)

// counts are one sender's totals at the end of a run, in items.
type counts struct {
	sent, acknowledged, stored, lost, duplicates, storedUnacked, rejected uint64
	// resentDuplicates are rows beyond the first of items whose request
	// the sender sent again after a try whose answer was lost: the
	// sender's at-least-once, which the collector cannot recognise.
	// duplicates are all the others: the collector's.
	resentDuplicates uint64
}

// safeService is what a sender's service name looks like; it goes into
// the counting SQL as a literal, so nothing else may.
var safeService = regexp.MustCompile(`^[a-z0-9-]+$`)

// perRequest is what is stored of each request of a sender: distinct items
// and rows.
func perRequest(ctx context.Context, conn storage.Conn, s *sender) (map[uint64][2]uint64, error) {
	if !safeService.MatchString(s.service) {
		return nil, fmt.Errorf("service name %q", s.service)
	}
	table := "spans"
	if s.signal == "logs" {
		table = "logs"
	}
	// Item ids are the SpanId, big-endian; the request is the sequence
	// number divided by the batch size.
	sql := fmt.Sprintf(`SELECT intDiv(bitAnd(reinterpretAsUInt64(reverse(SpanId)), %d), %d) AS req, uniqExact(SpanId), count()
FROM default.%s WHERE ServiceName = '%s' GROUP BY req`, uint64(idMask), s.batch, table, s.service)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[uint64][2]uint64{}
	for rows.Next() {
		var req, distinct, n uint64
		if err := rows.Scan(&req, &distinct, &n); err != nil {
			return nil, err
		}
		out[req] = [2]uint64{distinct, n}
	}
	return out, rows.Err()
}

// count compares what s had acknowledged with what is stored.
func count(ctx context.Context, conn storage.Conn, s *sender) (counts, error) {
	stored, err := perRequest(ctx, conn, s)
	if err != nil {
		return counts{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := uint64(s.batch)
	c := counts{sent: s.requests * b, acknowledged: uint64(len(s.ackedAt)) * b, rejected: uint64(len(s.rejects)) * b}
	for k := range s.ackedAt {
		c.lost += b - min(b, stored[k][0])
	}
	for k, st := range stored {
		c.stored += st[0]
		if s.resent[k] {
			c.resentDuplicates += st[1] - st[0]
		} else {
			c.duplicates += st[1] - st[0]
		}
		if _, ok := s.ackedAt[k]; !ok {
			c.storedUnacked += st[0]
		}
	}
	return c, nil
}

// waitStored waits until every acknowledged item is stored (the queue on
// disk drains after a crash) or nothing changes for a minute, within
// timeout.
func waitStored(ctx context.Context, conn storage.Conn, senders []*sender, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastLost uint64
	lastChange := time.Now()
	for {
		var lost uint64
		for _, s := range senders {
			c, err := count(ctx, conn, s)
			if err != nil {
				return err
			}
			lost += c.lost
		}
		if lost == 0 {
			return nil
		}
		if lost != lastLost {
			lastLost, lastChange = lost, time.Now()
		}
		if time.Now().After(deadline) || time.Since(lastChange) > time.Minute {
			return nil // the report shows what is missing
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
