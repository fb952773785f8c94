package web

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// The UI is served as written: every module it imports and every file
// index.html links must be in FS, or the page breaks only in a browser.
var (
	importRE = regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]`)
	linkRE   = regexp.MustCompile(`(?:src|href)="([^"#]+)"`)
	remoteRE = regexp.MustCompile(`(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/"'\s]`)
)

func TestEveryImportResolves(t *testing.T) {
	if _, err := fs.Stat(FS, "index.html"); err != nil {
		t.Fatalf("index.html: %v", err)
	}
	modules, imports := 0, 0
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		modules++
		src, err := fs.ReadFile(FS, p)
		if err != nil {
			return err
		}
		for _, m := range importRE.FindAllStringSubmatch(string(src), -1) {
			spec := m[1] + m[2]
			imports++
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of files in web/static work without a build step", p, spec)
				continue
			}
			target := path.Join(path.Dir(p), spec)
			if _, err := fs.Stat(FS, target); err != nil {
				t.Errorf("%s imports %q, which is not in FS (%s)", p, spec, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if modules < 10 || imports < 30 {
		t.Fatalf("found only %d modules and %d imports; is the embed pattern or importRE wrong?", modules, imports)
	}
	html, _ := fs.ReadFile(FS, "index.html")
	for _, m := range linkRE.FindAllStringSubmatch(string(html), -1) {
		if _, err := fs.Stat(FS, m[1]); err != nil {
			t.Errorf("index.html links %q, which is not in FS", m[1])
		}
	}
}

// Every asset is served by Tracehouse: no file refers to another host.
func TestNoRemoteReferences(t *testing.T) {
	fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, _ := fs.ReadFile(FS, p)
		text := strings.ReplaceAll(string(src), "http://www.w3.org/2000/svg", "")
		if loc := remoteRE.FindStringIndex(text); loc != nil {
			t.Errorf("%s refers to another host: %q", p, text[loc[0]:min(len(text), loc[1]+40)])
		}
		return nil
	})
}
