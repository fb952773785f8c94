package embedded

import (
	"context"
	"io"
	"net/http"
	"os"
)

// The HTTP interface, file by file: crosssite.go refuses what a browser
// sends on behalf of another site, auth.go checks credentials, request.go
// parses a request, compression.go and decompress.go undo compression
// (capped) and apply it, guard.go (with lexer.go and deny.go) decides what
// a client statement may do, insert.go spools insert data, session.go
// applies per-request database and settings, drop.go works around the DROP
// statements the engine hangs on, response.go sends results and errors the
// way ClickHouse does, hello.go answers clickhouse-go's handshake.

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "Ok.\n") })
	mux.HandleFunc("/replicas_status", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "Ok.\n") })
	mux.HandleFunc("/", s.serveQuery)
	return s.refuseCrossSite(mux)
}

func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := s.authenticate(r); err != nil {
		writeError(w, err)
		return
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes)
	defer body.Close()
	req, err := parseRequest(r, body, s.cfg.MaxRequestBytes)
	if err != nil {
		writeError(w, s.sizeAware(err))
		return
	}
	if req == nil { // GET / without a query: ClickHouse's liveness answer
		io.WriteString(w, "Ok.\n")
		return
	}
	defer req.close()
	if req.queryID != "" {
		w.Header().Set("X-ClickHouse-Query-Id", req.queryID)
	}
	// Only POST may change anything: GET is read-only in ClickHouse, and
	// HEAD, PUT or any other method has no business writing either.
	if err := req.check(r.Method != http.MethodPost); err != nil && !s.unguarded.Load() {
		writeError(w, err)
		return
	}
	if isHello(req.sql) {
		s.answerHello(w, req)
		return
	}
	if err := s.run(r.Context(), w, req); err != nil {
		setRetryAfter(w, err)
		writeError(w, s.sizeAware(err))
	}
}

// run executes a request with its database and settings applied, when the
// scheduler gives it the engine, holding the engine's session so that no
// other request sees them. ctx is the client's: a request whose client has
// gone never starts, and a read stops when its client goes.
func (s *Server) run(ctx context.Context, w http.ResponseWriter, req *request) error {
	var spooled string
	if req.insertTarget != "" {
		// Spool before taking the session: reading the body may be slow.
		path, err := s.spool(req)
		if err != nil {
			return err
		}
		defer os.Remove(path)
		spooled = path
	}

	kind := classify(req)
	if kind == classRead {
		s.readLimits(req)
	}
	release, err := s.sched.acquire(ctx, kind)
	if err != nil {
		return err
	}
	defer release()
	s.session.Lock()
	defer s.session.Unlock()
	if err := s.applySession(req); err != nil {
		return err
	}
	if sessionStatement(req.sql) {
		return s.writeResult(w, req, nil)
	}
	if spooled != "" {
		sql := insertFromFile(req.insertTarget, req.insertFormat, spooled)
		if _, err := s.engine.Query(sql, req.format, req.params...); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	req.sql = withoutSync(req.sql)
	if db, ok := dropDatabaseTarget(req.sql); ok {
		if err := s.dropTablesOf(db); err != nil {
			return err
		}
	}
	if !returnsRows(req.sql) {
		// Answers with little or nothing: buffered whole, sent with its length.
		out, err := s.engine.Query(req.sql, req.format, req.params...)
		if err != nil {
			return err
		}
		return s.writeResult(w, req, out)
	}
	return s.stream(ctx, w, req)
}
