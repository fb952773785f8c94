package demo

import (
	"testing"

	"github.com/tracehouse/tracehouse/storage/embedded"
)

// The demo names the engine's password file without linking the engine.
func TestPasswordFileIsTheEngines(t *testing.T) {
	if clickHousePasswordFile != embedded.PasswordFileName {
		t.Fatalf("demo says %q, the engine writes %q", clickHousePasswordFile, embedded.PasswordFileName)
	}
}
