// Package chdb loads the ClickHouse engine shipped as libchdb.so (the npm
// package @chdb/lib-linux-x64-gnu) with purego, without cgo, and runs SQL on
// it. The engine allows one connection per process and one statement at a
// time, so an Engine serialises every call.
package chdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LibraryEnv names the environment variable that points at libchdb.so.
const LibraryEnv = "CHDB_LIB_PATH"

// InstallDir is where `make deps` puts the library, relative to the checkout.
const InstallDir = ".deps/chdb"

// ErrLibraryNotFound is returned when libchdb.so is neither named by
// CHDB_LIB_PATH nor installed in the checkout.
var ErrLibraryNotFound = errors.New("libchdb.so not found: run `make deps` in the Tracehouse checkout (installs it into " + InstallDir + ") or set " + LibraryEnv + " to its path")

// FindLibrary returns the path of libchdb.so: CHDB_LIB_PATH if set, else
// .deps/chdb/libchdb.so in the working directory, the executable's directory
// or any of their parents (so tests in sub-packages and built binaries in
// bin/ both find the checkout's copy).
func FindLibrary() (string, error) {
	if p := os.Getenv(LibraryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", LibraryEnv, p, err)
		}
		return p, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			candidate := filepath.Join(dir, InstallDir, "libchdb.so")
			if _, err := os.Stat(candidate); err == nil {
				return candidate, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", ErrLibraryNotFound
}
