// Package web is Tracehouse's user interface: plain ES modules, CSS and one
// HTML page, served as they are (no build step), so `go build` works on a
// fresh clone without npm.
//
// The query service mounts FS at "/": index.html is the whole application;
// it routes with the URL's fragment (#/search?…, #/trace/<id>…), so every
// view is a shareable link and the server needs no fallback route. Every
// asset the UI loads comes from FS: it makes no request to any other host.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS holds the UI's files with index.html at its root.
var FS fs.FS = mustSub(static, "static")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err) // the directory is embedded at compile time
	}
	return sub
}

// ContentSecurityPolicy is the policy the UI is written for: everything from
// the serving origin, nothing inline but style attributes set by scripts.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// Headers are the response headers the UI is written for: the policy
// above, nosniff, no referrer, and revalidation on every load (file names
// carry no content hash, so a new binary's files must replace cached ones
// at once). The query service sets them on every file of FS it serves.
func Headers() map[string]string {
	return map[string]string{
		"Content-Security-Policy": ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-cache",
	}
}
