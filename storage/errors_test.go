package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func TestIsPermanent(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("spans: %w", ErrInvalidData), true},
		{fmt.Errorf("insert: %w", &clickhouse.Exception{Code: 53, Name: "TYPE_MISMATCH"}), true},
		{&clickhouse.Exception{Code: 27}, true},
		{&clickhouse.Exception{Code: 252, Name: "TOO_MANY_PARTS"}, false},
		{&clickhouse.Exception{Code: 60, Name: "UNKNOWN_TABLE"}, false},
		{context.DeadlineExceeded, false},
		{errors.New("connection refused"), false},
	} {
		if got := IsPermanent(c.err); got != c.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
