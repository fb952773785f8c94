package reader

import (
	"testing"

	"github.com/tracehouse/tracehouse/storage/chtest"
)

func TestMain(m *testing.M) { chtest.Main(m) }
