package flagenv

import (
	"testing"
	"time"
)

func TestGiven(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   string // value of TEST_FLAGENV_TTL; "" leaves it unset
		args  []string
		given bool
		value time.Duration
	}{
		{name: "default", given: false, value: time.Hour},
		{name: "flag", args: []string{"--ttl", "2h"}, given: true, value: 2 * time.Hour},
		{name: "flag equal to the default", args: []string{"--ttl", "1h"}, given: true, value: time.Hour},
		{name: "env", env: "3h", given: true, value: 3 * time.Hour},
		{name: "flag beats env", env: "3h", args: []string{"--ttl", "4h"}, given: true, value: 4 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("TEST_FLAGENV_TTL", tc.env)
			}
			s := New("test")
			ttl := s.Duration("ttl", "TEST_FLAGENV_TTL", time.Hour, "retention")
			s.Bool("other", "TEST_FLAGENV_OTHER", false, "another flag")
			if err := s.Parse(append(tc.args, "--other")); err != nil {
				t.Fatal(err)
			}
			if got := s.Given("ttl", "TEST_FLAGENV_TTL"); got != tc.given {
				t.Errorf("Given = %v, want %v", got, tc.given)
			}
			if *ttl != tc.value {
				t.Errorf("value %v, want %v", *ttl, tc.value)
			}
		})
	}
}
