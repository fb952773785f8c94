// Package securitytest attacks the real binaries: it builds tracehouse,
// starts `tracehouse all-in-one` (with and without tokens) and `tracehouse
// query` as their own processes on free loopback ports, seeds them through
// the ingest ports, and then
//   - sends every port no token, a wrong token and the right one, and
//     asserts (and prints) the status each answers: the auth matrix;
//   - opens a page of another origin in headless Chromium that tries DROP
//     TABLE on the embedded ClickHouse (an <img>, a form post, fetch, with
//     and without the password, and through DNS rebinding) and posts log
//     lines and spans to the ingest ports: every table keeps its rows and
//     nothing is added;
//   - runs each denial-of-service case of issue 15 (repeated trace ids,
//     old and too many live tails, a stalled NDJSON reader, compression
//     bombs, an over-long JSON line, an unbounded read) and asserts a 4xx
//     or a bounded answer while another client is still served.
//
// The package has tests only; `go test ./internal/securitytest` runs them
// (a minute or two). They need what `make test` installs: the embedded
// engine, Node.js with web/tests' playwright-core, and Chromium.
package securitytest
