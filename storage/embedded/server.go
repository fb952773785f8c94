package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/storage/chdb"
	"github.com/tracehouse/tracehouse/storage/internal/inprocess"
)

// Server is the embedded ClickHouse engine and its HTTP interface.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	password string // the one clients must send: Config.Password or the password file's
	// passwordFile is the absolute path of the password file, or "" when
	// the password was given.
	passwordFile string
	engine       *chdb.Engine
	http         *http.Server
	listener     net.Listener
	spoolDir     string
	spoolSeq     atomic.Uint64
	served       chan error

	// sched decides which request runs next on the engine.
	sched *scheduler
	// unguarded switches the statement guard off. Only the package's
	// tests set it (export_test.go), for the scheduler tests that stall
	// the engine on url() reads of a test server.
	unguarded atomic.Bool
	// session guards the engine's process-wide state (current database and
	// settings) across the statements of one request.
	session  sync.Mutex
	database string            // the engine's current database
	settings map[string]string // settings the engine runs with beyond its defaults
	hello    serverInfo

	// inProcess serves clients of this process without a socket
	// (inprocess.go); unregister takes it off the address.
	inProcess  *inProcess
	unregister func()
}

type serverInfo struct{ displayName, version, timezone string }

// Start opens the engine on cfg.DataDir and serves its HTTP interface until
// Shutdown. It returns once the server accepts connections.
func Start(cfg Config) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dataDir, err := absDir(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("data folder %s: %w", cfg.DataDir, err)
	}
	password, passwordFile := cfg.Password, ""
	if password == "" {
		passwordFile = filepath.Join(dataDir, PasswordFileName)
		var fixed bool
		if password, fixed, err = loadOrCreatePassword(passwordFile); err != nil {
			return nil, err
		}
		if fixed {
			cfg.Logger.Warn().Str("password_file", passwordFile).Msg("the password file was readable by other users; it is now private (0600)")
		}
	}
	if cfg.AllowRemote && password == "" {
		return nil, fmt.Errorf("--allow-remote needs a password: an open ClickHouse on the network would accept any query")
	}
	spoolDir, err := os.MkdirTemp(cfg.SpoolDir, "tracehouse-spool-")
	if err != nil {
		return nil, fmt.Errorf("spool folder in %s: %w", cfg.SpoolDir, err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		os.RemoveAll(spoolDir)
		return nil, fmt.Errorf("listen on %s: %w (is another ClickHouse or Tracehouse running? choose another port with --listen)", cfg.Listen, err)
	}
	indexCache := max(cfg.IndexCacheSize, 0) // negative: none
	engine, err := chdb.OpenWith(cfg.LibPath, dataDir, chdb.Options{MaxServerMemoryUsage: cfg.MemoryLimit, IndexUncompressedCacheSize: indexCache})
	if err != nil {
		ln.Close()
		os.RemoveAll(spoolDir)
		return nil, err
	}
	log := cfg.Logger.With().Str("component", "clickhouse").Logger()
	s := &Server{
		cfg:          cfg,
		log:          log,
		sched:        newScheduler(cfg.ReadQueue, cfg.ReadQueueWait, log),
		password:     password,
		passwordFile: passwordFile,
		engine:       engine,
		listener:     ln,
		spoolDir:     spoolDir,
		served:       make(chan error, 1),
		database:     "default",
		settings:     map[string]string{},
	}
	if err := s.readServerInfo(); err != nil {
		s.closeEngine()
		ln.Close()
		return nil, err
	}
	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	s.inProcess = &inProcess{s: s}
	s.unregister = inprocess.Register(s.Addr(), s.inProcess)
	go func() { s.served <- s.http.Serve(ln) }()
	ready := s.log.Info().Str("listen", s.Addr()).Str("data", dataDir).Str("version", s.hello.version).Str("user", cfg.User).
		Int64("memory_limit", cfg.MemoryLimit).Int("read_queue", cfg.ReadQueue).Dur("read_queue_wait", cfg.ReadQueueWait).
		Dur("read_timeout", cfg.ReadTimeout).Int64("read_max_memory", cfg.ReadMaxMemory).
		Int64("index_cache", indexCache)
	if passwordFile != "" {
		ready = ready.Str("password_file", passwordFile)
	}
	ready.Msg("embedded ClickHouse ready")
	return s, nil
}

func (s *Server) readServerInfo() error {
	out, err := s.engine.Query("SELECT version(), timezone()", "TabSeparated")
	if err != nil {
		return fmt.Errorf("embedded engine does not answer: %w", err)
	}
	fields := strings.Split(strings.TrimSpace(string(out)), "\t")
	if len(fields) != 2 {
		return fmt.Errorf("embedded engine: unexpected version answer %q", out)
	}
	s.hello = serverInfo{displayName: "tracehouse-embedded", version: fields[0], timezone: fields[1]}
	return nil
}

// Addr is the address the HTTP interface listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// DSN is a clickhouse-go DSN for this server with the password in it, for
// clients in this process. It is a secret: never log or print it
// (ShareableDSN is the one to show).
func (s *Server) DSN() string {
	u := url.URL{Scheme: "http", User: url.UserPassword(s.cfg.User, s.password), Host: s.Addr(), Path: "/default"}
	return u.String()
}

// ShareableDSN is a DSN for this server that names the password file
// instead of holding the password (storage.ParseDSN reads it): safe to
// print and to put in configuration. Without a password file (the password
// was given) it holds the user only.
func (s *Server) ShareableDSN() string {
	u := url.URL{Scheme: "http", User: url.User(s.cfg.User), Host: s.Addr(), Path: "/default"}
	if s.passwordFile != "" {
		u.RawQuery = "password_file=" + url.QueryEscape(s.passwordFile)
	}
	return u.String()
}

// User is the user clients authenticate as.
func (s *Server) User() string { return s.cfg.User }

// PasswordFile is the absolute path of the file holding the password, or
// "" when the password was given in Config.
func (s *Server) PasswordFile() string { return s.passwordFile }

// Engine gives direct access to the engine, for tools that run in-process.
func (s *Server) Engine() *chdb.Engine { return s.engine }

// Done is closed with the serve error once the server stops.
func (s *Server) Done() <-chan error { return s.served }

// Shutdown stops accepting requests, lets the ones in flight finish (or ctx
// end), and then closes the engine so the data folder is left consistent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.unregister()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.log.Warn().Msg("requests still running at shutdown deadline; closing anyway")
		s.http.Close()
	}
	if perr := s.inProcess.close(ctx); perr != nil {
		// Their statements end before the engine closes (closeEngine
		// takes the session); later ones fail with ErrClosed.
		s.log.Warn().Msg("in-process requests still running at shutdown deadline; closing anyway")
		if err == nil {
			err = perr
		}
	}
	s.closeEngine()
	s.log.Info().Msg("embedded ClickHouse stopped")
	return err
}

func (s *Server) closeEngine() {
	// Take the session so no statement is running while the engine closes.
	s.session.Lock()
	defer s.session.Unlock()
	s.engine.Close()
	os.RemoveAll(s.spoolDir)
}

// MaxRequestBytes is the largest request body the server accepts.
func (s *Server) MaxRequestBytes() int64 { return s.cfg.MaxRequestBytes }
