// Package cards checks card numbers the way a checkout form would, and names
// the test cards the demo uses. The gateway rejects malformed numbers with a
// 400 before any service spends time on them; payment checks again because
// it is also reachable on its own.
package cards

import "fmt"

// Test cards, after the convention of public payment sandboxes.
const (
	// Approved is charged successfully unless payment's error rate says
	// otherwise.
	Approved = "4242424242424242"
	// AlwaysDeclined is declined with "card declined" whatever the faults:
	// a deterministic way to watch the saga compensate.
	AlwaysDeclined = "4000000000000002"
)

// Check returns an error saying what is wrong with number, or nil.
func Check(number string) error {
	if len(number) < 12 || len(number) > 19 {
		return fmt.Errorf("card must be 12 to 19 digits, got %d characters; test card %s", len(number), Approved)
	}
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		ch := number[i]
		if ch < '0' || ch > '9' {
			return fmt.Errorf("card must contain digits only, found %q; test card %s", ch, Approved)
		}
		d := int(ch - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	if sum%10 != 0 {
		return fmt.Errorf("card number fails the Luhn checksum (a typo?); test card %s", Approved)
	}
	return nil
}

// Last4 is the part of a card number that may be stored and logged.
func Last4(number string) string {
	if len(number) <= 4 {
		return number
	}
	return number[len(number)-4:]
}
