package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestAddrIsFreeAndOutOfTheEphemeralRange: every address can be bound,
// none is handed out twice, and none is where outgoing connections take
// their ports from.
func TestAddrIsFreeAndOutOfTheEphemeralRange(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		addr, err := Addr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
		_, portText, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portText)
		if port < lowest || port >= ephemeralLow() {
			t.Fatalf("%s is outside [%d, %d)", addr, lowest, ephemeralLow())
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("bind %s: %v", addr, err)
		}
		ln.Close()
	}
	addr, err := TCPAndUDP()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("bind udp %s: %v", addr, err)
	}
	pc.Close()
}
