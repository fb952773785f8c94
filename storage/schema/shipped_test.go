package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// shippedChecksums pins the SHA-256 of every migration file as it shipped.
// Databases recorded these checksums when they applied the files, and
// Migrate refuses to run when an applied file no longer matches, so an edit
// here would lock those databases out; and the edit would never reach them
// anyway, since an applied migration is not run again. A new migration adds
// its line; no line ever changes. (Earlier texts of 0001, from before it
// shipped, are accepted through supersededChecksums.)
var shippedChecksums = map[string]string{
	"0001_spans.sql":                     "c668746d89ca3bf5b392632cf1c942962ea8c55c9d9f0e67bf3f2bb554b18108",
	"0002_trace_index.sql":               "86f615f31290659d88f63d64cbe7b7f9f74747996dd4663412914390466e0875",
	"0003_logs.sql":                      "10f47745645761f2ae5d63c02be5a4e457ee6878f95b38afeb07a3a7b83cf387",
	"0004_red_1m.sql":                    "8d19cc845304f2a5fd3e12e97acc5000b0e021e9f87b10efb568ef32103584a5",
	"0005_service_edges.sql":             "cfe80456f50d1c8ddf3a6a9c9aaa81e3042c58e2db9a094832ae070985c537af",
	"0006_spans_trace_id_index.sql":      "a5187f35c0d2c2f3f6b26310e257602c08def911d9ba7445dfb00e0ea886f5a3",
	"0007_spans_compact_parts.sql":       "b2578864ecb9108fae7af2df1073c33ae2f4ab824381cd61f681ec41a9873162",
	"0008_insert_deduplication.sql":      "e8912126cc473862094c5d61ce478c161592b182429087b187af835124b3a0f2",
	"0009_peer_calls_and_log_search.sql": "c3cd409e651cd69cac9a7c896bde0560116f80178a230569c24c3cdf9c6b4992",
	"0010_attributes_1h.sql":             "0f3690c1dae1cc741b05bf8eae1d939803e8076d870b468e3c556acbcfeabe91",
	"0011_saved_views.sql":               "d2aac34af4e009f55eda4e5bba8250c106a89453b2e16b77570b1251c897982d",
	"0012_async_paths.sql":               "94d78c991acd84e71822d6c948b01f39b66c1b95393c44f982e47561c9da38ae",
	"0013_attr_values_filter.sql":        "e7fedf5b3a28b8bcd19aae7896fad49da286fd23a7cc1c0a0e635e4a50efa84c",
}

const shippedRule = "a shipped migration is never edited; add a new migration instead"

func TestShippedMigrationsUnchanged(t *testing.T) {
	// The files on disk: what a commit changes.
	paths, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, p := range paths {
		name := filepath.Base(p)
		onDisk = append(onDisk, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		got := hex.EncodeToString(sum[:])
		want, pinned := shippedChecksums[name]
		switch {
		case !pinned:
			t.Errorf("migrations/%s has no pinned checksum: a new migration adds its line to shippedChecksums (sha256 %s); renaming a shipped one counts as editing it: %s", name, got, shippedRule)
		case got != want:
			t.Errorf("migrations/%s has sha256 %s, shipped as %s: %s (restore the file and put the change in the next migration)", name, got, want, shippedRule)
		}
	}
	for name := range shippedChecksums {
		if !slices.Contains(onDisk, name) {
			t.Errorf("migrations/%s shipped and is gone: databases recorded it; %s", name, shippedRule)
		}
	}

	// The embedded files and the checksums Migrate records: the same
	// numbers, so a change in how the checksum is taken shows here too.
	embedded, err := fs.Glob(files, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(embedded) != len(onDisk) {
		t.Errorf("%d migrations embedded, %d on disk", len(embedded), len(onDisk))
	}
	migrations, err := Render(DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations {
		name := m.ID() + ".sql"
		if want, ok := shippedChecksums[name]; ok && m.Checksum != want {
			t.Errorf("Migrate records checksum %s for %s, shipped as %s: %s", m.Checksum, name, want, shippedRule)
		}
	}
}
