// Package embedded runs the in-process ClickHouse engine (storage/chdb)
// behind ClickHouse's HTTP interface, so that clickhouse-go/v2 with
// Protocol HTTP, curl and every other HTTP client of ClickHouse work
// unchanged against it.
package embedded

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// Config says where the engine keeps its data and how the server listens.
type Config struct {
	// DataDir is the engine's data folder; it survives restarts.
	DataDir string
	// Listen is the address of the HTTP interface (default 127.0.0.1:8123).
	// Port 0 picks a free port; Server.Addr tells which.
	Listen string
	// AllowRemote permits a non-loopback Listen address. Off by default: the
	// embedded engine is a single-machine store.
	AllowRemote bool
	// User and Password are required from every client (X-ClickHouse-User
	// and X-ClickHouse-Key headers, basic auth or user and password URL
	// parameters). User defaults to DefaultUser. An empty Password means
	// the one in the data folder's PasswordFileName file, which the first
	// start generates (random, mode 0600) and later starts reuse: the
	// engine is never open to whoever can reach its port.
	User, Password string
	// AllowedHosts are host names, besides this machine's addresses and
	// localhost, that a request's Host header may carry (crosssite.go).
	AllowedHosts []string
	// MaxRequestBytes caps a request body (query text or insert data).
	MaxRequestBytes int64
	// LibPath is libchdb.so; empty means chdb.FindLibrary.
	LibPath string
	// SpoolDir holds insert bodies while the engine reads them; a tmpfs
	// folder (/dev/shm) by default.
	SpoolDir string
	Logger   zerolog.Logger

	// The engine runs one statement at a time; writes go first and reads
	// queue (scheduler.go).

	// ReadQueue is how many reads may wait for the engine; more are refused
	// with 503 and Retry-After.
	ReadQueue int
	// ReadQueueWait is how long a read may wait for the engine before it is
	// refused with 503 and Retry-After.
	ReadQueueWait time.Duration
	// ReadTimeout is the max_execution_time of a read whose client sets
	// none (0: DefaultReadTimeout; negative: no limit).
	ReadTimeout time.Duration
	// ReadMaxMemory is the max_memory_usage (bytes) of a read whose client
	// sets none (0: DefaultReadMaxMemory, or half of MemoryLimit when that
	// is less; negative: bounded by MemoryLimit alone).
	ReadMaxMemory int64
	// MemoryLimit caps the engine's memory (max_server_memory_usage, bytes):
	// past it statements fail rather than grow the process. 0 is the
	// engine's own default, 90% of the machine's memory.
	MemoryLimit int64
	// IndexCacheSize is the engine's cache of decompressed skip-index
	// blocks, in bytes (0: DefaultIndexCacheSize, or a sixteenth of
	// MemoryLimit when that is less; negative: none). Every attribute
	// search tests the spans' bloom filter of attribute values, about
	// 0.75 bytes per span, which the engine otherwise reads and
	// decompresses again for each statement.
	IndexCacheSize int64
}

// Defaults for Config fields left empty.
const (
	DefaultListen          = "127.0.0.1:8123"
	DefaultMaxRequestBytes = 1 << 30
	DefaultUser            = "tracehouse"
	// PasswordFileName is the file in the data folder that holds the
	// generated password.
	PasswordFileName = "clickhouse.password"
	// DefaultReadQueue and DefaultReadQueueWait: a screenful of panels may
	// wait behind a burst of inserts; a read that waited longer than a
	// person would is refused.
	DefaultReadQueue     = 64
	DefaultReadQueueWait = 15 * time.Second
	// DefaultReadTimeout and DefaultReadMaxMemory bound reads whose client
	// sets no limit of its own (the query service sets 30s).
	DefaultReadTimeout   = 60 * time.Second
	DefaultReadMaxMemory = 2 << 30
	// DefaultIndexCacheSize holds the attribute filters of about 170M
	// spans.
	DefaultIndexCacheSize = 128 << 20
)

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.User == "" {
		c.User = DefaultUser
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.ReadQueue <= 0 {
		c.ReadQueue = DefaultReadQueue
	}
	if c.ReadQueueWait <= 0 {
		c.ReadQueueWait = DefaultReadQueueWait
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ReadMaxMemory == 0 {
		c.ReadMaxMemory = DefaultReadMaxMemory
		if c.MemoryLimit > 0 && c.MemoryLimit/2 < c.ReadMaxMemory {
			c.ReadMaxMemory = c.MemoryLimit / 2
		}
	}
	if c.IndexCacheSize == 0 {
		c.IndexCacheSize = DefaultIndexCacheSize
		if c.MemoryLimit > 0 && c.MemoryLimit/16 < c.IndexCacheSize {
			c.IndexCacheSize = c.MemoryLimit / 16
		}
	}
	if c.SpoolDir == "" {
		c.SpoolDir = os.TempDir()
		if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
			c.SpoolDir = "/dev/shm"
		}
	}
}

// Validate reports what is wrong with the configuration.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return fmt.Errorf("data folder is required (--data)")
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w (want host:port, e.g. %s)", c.Listen, err, DefaultListen)
	}
	if !c.AllowRemote && !isLoopback(host) {
		return fmt.Errorf("listen address %q is not a loopback address; the embedded engine only serves this machine unless --allow-remote is given", c.Listen)
	}
	if c.MemoryLimit < 0 {
		return fmt.Errorf("memory limit %d is negative (0: the engine's default)", c.MemoryLimit)
	}
	if c.MemoryLimit > 0 && c.ReadMaxMemory > c.MemoryLimit {
		return fmt.Errorf("read memory limit %d is above the engine's memory limit %d: lower --read-max-memory or raise --memory-limit", c.ReadMaxMemory, c.MemoryLimit)
	}
	if strings.ContainsAny(c.User, ":@/?#") {
		return fmt.Errorf("user %q: a user name may not contain : @ / ? or #", c.User)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func absDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return abs, os.MkdirAll(abs, 0o755)
}
