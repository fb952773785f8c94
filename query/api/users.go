package api

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
)

// NamedToken is a bearer token that names its user. A request that
// presents it is that user's: the views it saves record who saved them.
type NamedToken struct {
	User  string
	Token string
}

// Limits of a tokens file.
const (
	// MinNamedTokenLength refuses tokens short enough to guess: a team
	// hands these out, so one weak token opens everything.
	MinNamedTokenLength = 16
	maxUserName         = 64
)

// userKey is the fiber.Ctx local that holds the user a named token names.
const userKey = "tracehouse.user"

// ParseNamedTokens reads a tokens file: one "user token" pair per line,
// separated by spaces or tabs; blank lines and lines starting with # are
// skipped. A user name is letters, digits and ._@- (it is shown in the UI
// as is), up to 64 characters; a token at least MinNamedTokenLength
// characters without spaces. Users and tokens are unique: a token shared by
// two users would name neither. An error names the line, never a token.
func ParseNamedTokens(r io.Reader) ([]NamedToken, error) {
	var out []NamedToken
	users := map[string]int{}
	tokens := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want \"user token\" (two fields), have %d fields", n, len(fields))
		}
		user, token := fields[0], fields[1]
		if err := checkUserName(user); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if len(token) < MinNamedTokenLength {
			return nil, fmt.Errorf("line %d: the token of %s is %d characters long; use at least %d (e.g. openssl rand -hex 16)", n, user, len(token), MinNamedTokenLength)
		}
		if prev, ok := users[user]; ok {
			return nil, fmt.Errorf("line %d: user %s is already given a token on line %d", n, user, prev)
		}
		sum := sha256.Sum256([]byte(token))
		if prev, ok := tokens[sum]; ok {
			return nil, fmt.Errorf("line %d: the token of %s is the same as line %d's: a token names one user", n, user, prev)
		}
		users[user], tokens[sum] = n, n
		out = append(out, NamedToken{User: user, Token: token})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func checkUserName(user string) error {
	if len(user) > maxUserName {
		return fmt.Errorf("the user name %.20q… is longer than %d characters", user, maxUserName)
	}
	for _, r := range user {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._@-", r):
		default:
			return fmt.Errorf("the user name %q holds %q: use letters, digits and ._@-", user, r)
		}
	}
	return nil
}
