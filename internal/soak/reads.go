package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// heavyReads searches 7 days of logs through the query API in a loop
// (full-text, newest first, with the histogram over the whole range): the
// reads that used to hold ingest up on the embedded engine.
type heavyReads struct {
	mu       sync.Mutex
	byStatus map[string]int
}

func (h *heavyReads) run(ctx context.Context, queryAddr string) {
	client := &http.Client{Timeout: 2 * time.Minute}
	for ctx.Err() == nil {
		now := time.Now().UTC()
		q := url.Values{
			"q": {"soak item"}, "histogram": {"1"}, "limit": {"100"},
			"start": {now.Add(-7 * 24 * time.Hour).Format(time.RFC3339)}, "end": {now.Format(time.RFC3339)},
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+queryAddr+"/api/v1/logs?"+q.Encode(), nil)
		key := "no answer"
		if res, err := client.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			key = strconv.Itoa(res.StatusCode)
		} else if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		h.byStatus[key]++
		h.mu.Unlock()
		if key == "no answer" || strings.HasPrefix(key, "5") {
			time.Sleep(500 * time.Millisecond) // restarting, or the engine is down
		}
	}
}

func (h *heavyReads) summary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	total := 0
	for k, n := range h.byStatus {
		keys = append(keys, k+": "+strconv.Itoa(n))
		total += n
	}
	sort.Strings(keys)
	return strconv.Itoa(total) + " (" + strings.Join(keys, ", ") + ")"
}

// visibility measures, once per probeEvery, how long the most recently
// acknowledged request of a sender takes to show in the query API.
type visibility struct {
	sender *sender
	mu     sync.Mutex
	lags   []time.Duration // acknowledgement to visible
	missed int             // never visible within probeTimeout
	spans  int             // samples that spanned a restart, left out
}

const (
	probeEvery   = time.Second
	probeTimeout = 2 * time.Minute
)

func (v *visibility) run(ctx context.Context, queryAddr string, restarts *restartLog) {
	client := &http.Client{Timeout: 30 * time.Second}
	var last uint64
	probed := false
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k, ackedAt, ok := v.sender.lastAcked()
		if !ok || (probed && k == last) {
			continue
		}
		last, probed = k, true
		tid := v.sender.traceID(k)
		id := hex.EncodeToString(tid[:])
		deadline := ackedAt.Add(probeTimeout)
		for ctx.Err() == nil && time.Now().Before(deadline) {
			if v.visible(ctx, client, queryAddr, id, ackedAt) {
				seen := time.Now()
				v.mu.Lock()
				if restarts.between(ackedAt, seen) {
					v.spans++
				} else {
					v.lags = append(v.lags, seen.Sub(ackedAt))
				}
				v.mu.Unlock()
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if ctx.Err() == nil && !time.Now().Before(deadline) {
			v.mu.Lock()
			v.missed++
			v.mu.Unlock()
		}
	}
}

func (v *visibility) visible(ctx context.Context, client *http.Client, queryAddr, traceID string, ackedAt time.Time) bool {
	var u string
	if v.sender.signal == "traces" {
		u = "http://" + queryAddr + "/api/traces/" + traceID
	} else {
		q := url.Values{
			"q": {"trace_id:" + traceID}, "limit": {"1"},
			"start": {ackedAt.Add(-time.Hour).UTC().Format(time.RFC3339)}, "end": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)},
		}
		u = "http://" + queryAddr + "/api/v1/logs?" + q.Encode()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode == http.StatusOK && strings.Contains(strings.ToLower(string(body)), traceID)
}

// percentiles are p50 and p99 of the measured lags.
func (v *visibility) percentiles() (p50, p99 time.Duration, n int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	lags := append([]time.Duration(nil), v.lags...)
	if len(lags) == 0 {
		return 0, 0, 0
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	at := func(p float64) time.Duration { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	return at(0.50), at(0.99), len(lags)
}

// restartLog remembers when all-in-one was down, so that visibility
// samples that waited for a restart are told apart.
type restartLog struct {
	mu    sync.Mutex
	spans [][2]time.Time
}

func (r *restartLog) add(from, to time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, [2]time.Time{from, to})
}

func (r *restartLog) between(from, to time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.spans {
		if s[0].Before(to) && s[1].After(from) {
			return true
		}
	}
	return false
}
