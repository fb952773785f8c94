package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Claims is what a valid token says.
type Claims struct {
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
}

// signer issues and verifies stateless tokens of the form
// base64url(user).expiryUnix.hex(hmac). Stateless, so validation needs no
// store and the cache in front of it is purely a latency saver.
type signer struct {
	secret []byte
}

var (
	errMalformedToken = errors.New("token is malformed; log in again with POST /api/login")
	errBadSignature   = errors.New("token signature does not match; it was not issued by this auth service (or auth restarted with a new secret); log in again")
	errExpiredToken   = errors.New("token expired; log in again with POST /api/login")
)

func (s signer) issue(user string, expiresAt time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString([]byte(user)) + "." + strconv.FormatInt(expiresAt.Unix(), 10)
	return payload + "." + s.sign(payload)
}

func (s signer) verify(token string, now time.Time) (Claims, error) {
	lastDot := strings.LastIndexByte(token, '.')
	if lastDot < 0 {
		return Claims{}, errMalformedToken
	}
	payload, sig := token[:lastDot], token[lastDot+1:]
	if !hmac.Equal([]byte(sig), []byte(s.sign(payload))) {
		return Claims{}, errBadSignature
	}
	userPart, expiryPart, ok := strings.Cut(payload, ".")
	if !ok {
		return Claims{}, errMalformedToken
	}
	user, err := base64.RawURLEncoding.DecodeString(userPart)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", errMalformedToken, err)
	}
	expiry, err := strconv.ParseInt(expiryPart, 10, 64)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", errMalformedToken, err)
	}
	claims := Claims{User: string(user), ExpiresAt: time.Unix(expiry, 0).UTC()}
	if !now.Before(claims.ExpiresAt) {
		return Claims{}, errExpiredToken
	}
	return claims, nil
}

func (s signer) sign(payload string) string {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(payload))
	return hex.EncodeToString(mac.Sum(nil))
}
