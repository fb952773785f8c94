// Package loadgen drives the gateway with a mix of checkouts, order lookups
// and logins at a steady rate, prints a progress line every second and a
// summary table at the end: enough traffic, with enough variety, to fill
// Tracehouse with traces and logs worth looking at.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tracehouse/tracehouse/sample-services/internal/cards"
	"github.com/tracehouse/tracehouse/sample-services/internal/httpx"
)

// ErrUnreachable is returned when the target does not answer at start.
var ErrUnreachable = errors.New("target unreachable")

// Run sends the load described by cfg, writing progress to progress and the
// summary table to out. It returns the report when the run ends (bound
// reached or ctx cancelled, e.g. by Ctrl-C) and an error wrapping
// ErrUnreachable if the gateway does not answer at start.
func Run(ctx context.Context, cfg Config, out, progress io.Writer) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	target := strings.TrimRight(cfg.Target, "/")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.Concurrency
	client := &http.Client{Transport: transport, Timeout: cfg.Timeout}
	defer transport.CloseIdleConnections()

	if err := preflight(ctx, client, target, progress); err != nil {
		return Report{}, err
	}

	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = &worker{id: i, user: fmt.Sprintf("loadgen-%d", i), target: target, client: client}
		// A token per worker up front, outside the counted requests, so
		// checkouts and lookups work from the first request on.
		if err := workers[i].login(ctx); err != nil {
			return Report{}, fmt.Errorf("log in as %s before the run: %w", workers[i].user, err)
		}
	}

	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}

	start := time.Now()
	rec := newRecorder(start)
	jobs := make(chan string)
	go dispatch(runCtx, cfg, jobs)

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for kind := range jobs {
				// In-flight requests finish even when the run's time is up,
				// so every dispatched request is counted with its outcome.
				began := time.Now()
				errKind := w.do(context.WithoutCancel(runCtx), kind)
				rec.record(kind, time.Since(began), errKind, w.servedBy)
			}
		})
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	showProgress(done, rec, cfg.ProgressInterval, progress)

	rep := rec.report(time.Now())
	if err := rep.WriteTable(out); err != nil {
		return rep, fmt.Errorf("write summary: %w", err)
	}
	return rep, nil
}

// preflight fails the run early, with a hint, when nothing answers at
// target, and warns when the gateway is up but its dependencies are not.
func preflight(ctx context.Context, client *http.Client, target string, progress io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	status, body, err := get(ctx, client, target+"/healthz")
	if err != nil {
		return fmt.Errorf("%w: gateway at %s does not answer (%v); start it with `go run ./sample-services gateway` or point --target at it", ErrUnreachable, target, err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("%w: %s/healthz answered %d; is --target the gateway?", ErrUnreachable, target, status)
	}
	if status, body, err = get(ctx, client, target+"/readyz"); err == nil && status != http.StatusOK {
		fmt.Fprintf(progress, "warning: gateway is up but not ready (%s); expect errors\n", strings.TrimSpace(string(body)))
	}
	return nil
}

func get(ctx context.Context, client *http.Client, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, body, nil
}

// dispatch hands out request kinds at cfg.RPS until the request or time
// bound is reached. Sends are scheduled against the start time rather than
// the previous send, so a stall is caught up and the average rate holds.
func dispatch(ctx context.Context, cfg Config, jobs chan<- string) {
	defer close(jobs)
	pick := picker(cfg.Mix)
	start := time.Now()
	var interval time.Duration
	if cfg.RPS > 0 {
		interval = time.Duration(float64(time.Second) / cfg.RPS)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for sent := 0; cfg.Requests == 0 || sent < cfg.Requests; sent++ {
		if interval > 0 {
			timer.Reset(time.Until(start.Add(time.Duration(sent) * interval)))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
		}
		select {
		case jobs <- pick():
		case <-ctx.Done():
			return
		}
	}
}

func picker(mix Mix) func() string {
	total := 0
	for _, w := range mix {
		total += w
	}
	return func() string {
		n := rand.IntN(total)
		for _, kind := range Kinds {
			if n < mix[kind] {
				return kind
			}
			n -= mix[kind]
		}
		return Kinds[0] // unreachable: n < total
	}
}

func showProgress(done <-chan struct{}, rec *recorder, every time.Duration, w io.Writer) {
	// On a terminal the line is rewritten in place; in a log file every
	// line stays.
	overwrite := isTerminal(w)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-done:
			if overwrite {
				fmt.Fprintln(w)
			}
			return
		case now := <-ticker.C:
			line := rec.progressLine(now)
			if overwrite {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// worker is one logged-in user sending requests one at a time.
type worker struct {
	id     int
	user   string
	target string
	client *http.Client
	token  string
	// orders this worker created, for lookups: the gateway only shows a
	// user their own orders.
	orders []string
	// relogin is set after a 401 (say, auth restarted with a new secret).
	relogin bool
	// servedBy is the X-Served-By entries of the last response: which
	// instance of each service served it.
	servedBy []string
}

const maxRememberedOrders = 64

var skus = []string{"sku-apple", "sku-banana", "sku-cherry", "sku-durian", "sku-elderberry", "sku-fig", "sku-grape", "sku-honeydew"}

// do sends one request of kind and classifies the outcome: "" for success,
// otherwise the error kind.
func (w *worker) do(ctx context.Context, kind string) string {
	if w.relogin {
		if err := w.login(ctx); err == nil {
			w.relogin = false
		}
	}
	var status int
	var body []byte
	var err error
	switch kind {
	case KindLogin:
		status, body, err = w.send(ctx, http.MethodPost, "/api/login", map[string]string{"user": w.user, "password": "loadgen"})
		if err == nil && status == http.StatusOK {
			w.rememberToken(body)
		}
	case KindCheckout:
		status, body, err = w.send(ctx, http.MethodPost, "/api/checkout", w.checkoutBody())
		if err == nil && status == http.StatusCreated {
			w.rememberOrder(body)
		}
	case KindOrder:
		status, body, err = w.send(ctx, http.MethodGet, "/api/orders/"+w.anOrderID(), nil)
	}
	if err != nil {
		return transportErrorKind(err)
	}
	if status >= 200 && status < 300 {
		return ""
	}
	if status == http.StatusUnauthorized {
		w.relogin = true
	}
	return httpErrorKind(status, body)
}

func (w *worker) login(ctx context.Context) error {
	status, body, err := w.send(ctx, http.MethodPost, "/api/login", map[string]string{"user": w.user, "password": "loadgen"})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("POST /api/login answered %d: %s", status, strings.TrimSpace(string(body)))
	}
	if !w.rememberToken(body) {
		return fmt.Errorf("POST /api/login answered without a token: %s", body)
	}
	return nil
}

func (w *worker) send(ctx context.Context, method, path string, payload any) (int, []byte, error) {
	var reqBody io.Reader
	if payload != nil {
		encoded, err := json.Marshal(payload)
		if err != nil {
			return 0, nil, err
		}
		reqBody = bytes.NewReader(encoded)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.target+path, reqBody)
	if err != nil {
		return 0, nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	w.servedBy = nil
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	w.servedBy = httpx.ParseServedBy(resp.Header.Get(httpx.ServedByHeader))
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

func (w *worker) checkoutBody() map[string]any {
	lines := 1 + rand.IntN(3)
	items := make([]map[string]any, lines)
	for i := range items {
		items[i] = map[string]any{
			"sku":   skus[rand.IntN(len(skus))],
			"qty":   1 + rand.IntN(3),
			"price": float64(100+rand.IntN(9900)) / 100,
		}
	}
	return map[string]any{"user": w.user, "items": items, "card": cards.Approved}
}

func (w *worker) rememberToken(body []byte) bool {
	var issued struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(body, &issued) != nil || issued.Token == "" {
		return false
	}
	w.token = issued.Token
	return true
}

func (w *worker) rememberOrder(body []byte) {
	var created struct {
		OrderID string `json:"order_id"`
	}
	if json.Unmarshal(body, &created) != nil || created.OrderID == "" {
		return
	}
	if len(w.orders) == maxRememberedOrders {
		w.orders = w.orders[1:]
	}
	w.orders = append(w.orders, created.OrderID)
}

// anOrderID is one of this worker's orders; before its first checkout it
// asks for an id that does not exist, which shows up as not_found.
func (w *worker) anOrderID() string {
	if len(w.orders) == 0 {
		return "ord_none_yet"
	}
	return w.orders[rand.IntN(len(w.orders))]
}

func httpErrorKind(status int, body []byte) string {
	var envelope struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &envelope) == nil && envelope.Error.Code != "" {
		return envelope.Error.Code
	}
	return fmt.Sprintf("http_%d", status)
}

func transportErrorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	default:
		return "connection"
	}
}
