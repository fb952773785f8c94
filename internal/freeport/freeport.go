// Package freeport picks loopback addresses for servers that a test starts
// in another process, or starts later, and so cannot hand a listener to.
//
// The usual way, Listen on port 0 and close, picks from the kernel's
// ephemeral range: the range outgoing connections take their local ports
// from. Between the pick and the child's bind, any client on the machine
// can be given that port, and the child fails with "bind: address already
// in use" (CI saw this while the test packages ran side by side, each with
// engines and clients of its own). Ports below the ephemeral range are
// never given to clients, so there only another picker can collide, and a
// random pick among thousands, checked free, makes that rare.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the lowest port picked: above the ports services usually
// listen on.
const lowest = 15000

var (
	mu     sync.Mutex
	picked = map[int]bool{} // never hand out a port twice in one process
)

// Addr is a loopback address ("127.0.0.1:port") whose TCP port is free
// now and outside the ephemeral range.
func Addr() (string, error) { return pick(false) }

// TCPAndUDP is a loopback address whose port is free for both TCP and UDP
// (a syslog listener takes both).
func TCPAndUDP() (string, error) { return pick(true) }

func pick(udp bool) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	hi := ephemeralLow()
	for range 200 {
		port := lowest + rand.IntN(hi-lowest)
		if picked[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if !free(addr, udp) {
			continue
		}
		picked[port] = true
		return addr, nil
	}
	return "", fmt.Errorf("freeport: no free loopback port in %d-%d after 200 tries", lowest, hi-1)
}

func free(addr string, udp bool) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	if !udp {
		return true
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	pc.Close()
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range, or
// 32768 (Linux's default) when it cannot be read.
func ephemeralLow() int {
	const fallback = 32768
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	fields := strings.Fields(string(data))
	if len(fields) != 2 {
		return fallback
	}
	lo, err := strconv.Atoi(fields[0])
	if err != nil || lo <= lowest+1000 {
		return fallback
	}
	return lo
}
