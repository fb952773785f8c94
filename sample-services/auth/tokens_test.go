package auth

import (
	"errors"
	"testing"
	"time"
)

func TestTokensVerifyOnlyWhenSignedAndFresh(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := signer{secret: []byte("k1")}
	token := s.issue("ann.o'neil@example.com", now.Add(time.Hour))

	claims, err := s.verify(token, now)
	if err != nil || claims.User != "ann.o'neil@example.com" || !claims.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("verify fresh token: %+v, %v", claims, err)
	}
	if _, err := s.verify(token, now.Add(time.Hour)); !errors.Is(err, errExpiredToken) {
		t.Errorf("expired token: err = %v", err)
	}
	if _, err := (signer{secret: []byte("k2")}).verify(token, now); !errors.Is(err, errBadSignature) {
		t.Errorf("token from another secret: err = %v", err)
	}
	tampered := s.issue("bob", now.Add(time.Hour))
	tampered = token[:len(token)-64] + tampered[len(tampered)-64:]
	if _, err := s.verify(tampered, now); !errors.Is(err, errBadSignature) {
		t.Errorf("tampered token: err = %v", err)
	}
	if _, err := s.verify("garbage", now); !errors.Is(err, errMalformedToken) {
		t.Errorf("garbage token: err = %v", err)
	}
}
