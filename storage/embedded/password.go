package embedded

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The embedded engine always requires a password. Unless one is given, it
// is generated on the first start into the data folder, readable by its
// owner only, and reused on every later start, so that clients configured
// once keep working. In-process clients (all-in-one's exporter and query
// service, the test helpers) get it from Server.DSN; other processes read
// the file (storage.ParseDSN's password_file parameter). It never appears
// in a log line or on the terminal: `tracehouse clickhouse` says where the
// file is.

// passwordBytes of randomness make a password of twice as many hex digits.
const passwordBytes = 24

// loadOrCreatePassword returns the password kept in path, creating the
// file with a new random password when there is none. A file others may
// read is tightened to 0600 (fixed reports that).
func loadOrCreatePassword(path string) (password string, fixed bool, err error) {
	for attempt := 0; attempt < 2; attempt++ {
		password, fixed, err = readPasswordFile(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return password, fixed, err
		}
		err = createPasswordFile(path)
		if err != nil && !errors.Is(err, fs.ErrExist) { // ErrExist: another process won the race
			return "", false, err
		}
	}
	return readPasswordFile(path)
}

func readPasswordFile(path string) (string, bool, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", false, err
	}
	fixed := false
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", false, fmt.Errorf("password file %s is readable by others and cannot be made private: %w", path, err)
		}
		fixed = true
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("read the password file %s: %w", path, err)
	}
	password := strings.TrimRight(string(data), "\r\n")
	if password == "" {
		return "", false, fmt.Errorf("password file %s is empty: delete it to have a new password generated on the next start, or give one with --password", path)
	}
	return password, fixed, nil
}

// createPasswordFile writes a new password to a private temporary file and
// links it into place, so that the file appears whole or not at all and an
// existing one is never replaced.
func createPasswordFile(path string) error {
	var b [passwordBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*") // mode 0600
	if err != nil {
		return fmt.Errorf("create the password file in %s: %w", filepath.Dir(path), err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(b[:]) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write the password file %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("create the password file %s: %w", path, err)
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}
