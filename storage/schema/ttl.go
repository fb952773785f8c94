package schema

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTTL parses a retention: a Go duration whose units may include d
// (24h), e.g. "7d", "1d12h", "90m"; "0" keeps data forever.
func ParseTTL(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New("empty TTL (use 0 to keep data forever)")
	}
	invalid := fmt.Errorf("invalid TTL %q: want e.g. 7d, 36h or 1d12h (0 keeps data forever)", s)
	rest := in
	var days time.Duration
	if i := strings.Index(rest, "d"); i >= 0 {
		n, err := strconv.ParseUint(rest[:i], 10, 16)
		if err != nil {
			return 0, invalid
		}
		days = time.Duration(n) * 24 * time.Hour
		rest = rest[i+1:]
		if rest == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil || d < 0 {
		return 0, invalid
	}
	return days + d, nil
}

// FormatTTL prints a retention the way ParseTTL reads it.
func FormatTTL(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}
