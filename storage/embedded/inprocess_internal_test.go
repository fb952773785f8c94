package embedded

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// inProcessFor is the in-process transport of a server with only a
// handler: enough for what happens around the handler.
func inProcessFor(t *testing.T, handler http.Handler) *inProcess {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &inProcess{s: &Server{listener: ln, log: zerolog.Nop(), http: &http.Server{Handler: handler}}}
}

// After shutdown an in-process client is refused as a TCP one is, so that
// it is treated alike (retried, or 503 while the engine restarts).
func TestInProcessAfterShutdownIsConnectionRefused(t *testing.T) {
	p := inProcessFor(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ran") }))
	if err := p.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.s.listener.Addr().String()+"/", strings.NewReader("SELECT 1"))
	resp, err := p.RoundTrip(req)
	var op *net.OpError
	if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("after shutdown: %v %v, want a dial error with ECONNREFUSED", resp, err)
	}
}

// A handler that panics fails its request, not the process.
func TestInProcessHandlerPanicIsAnError(t *testing.T) {
	for _, wrote := range []bool{false, true} {
		p := inProcessFor(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if wrote {
				w.Write(make([]byte, inProcessBuffer+1)) // the status line is out
			}
			panic("boom")
		}))
		req, _ := http.NewRequest(http.MethodPost, "http://"+p.s.listener.Addr().String()+"/", strings.NewReader("SELECT 1"))
		resp, err := p.RoundTrip(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("wrote=%v: a panicking handler gave %v, want an error naming the panic", wrote, err)
		}
	}
}
