package embedded

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLexerSplitsAsTheEngine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // significant tokens
	}{
		{"SELECT 'a''b\\'c', \"q\"\"n\", `b\\`t`", []string{"SELECT", `'a''b\'c'`, ",", `"q""n"`, ",", "`b\\`t`"}},
		{"a /* x /* nested */ y */ b", []string{"a", "b"}},
		{"a -- c\nb // d\nc # e\nd #! f\ne", []string{"a", "b", "c", "d", "e"}},
		{"#x", []string{"#", "x"}},
		{"$$ a $$ $t$ b $t$ $x a$b", []string{"$$ a $$", "$t$ b $t$", "$x", "a$b"}},
		{"1$a$ x $a$", []string{"1", "$a$ x $a$"}},
		{".5 1file 0x1f 1e-5 .5 x.1.1", []string{".5", "1file", "0x1f", "1e-5", ".", "5", "x", ".", "1", ".", "1"}},
		{"x'41' b'01' X'zz'", []string{"x'41'", "b'01'", "X'zz'"}},
		{"\u2018s\u2019 \u201cn\u201d a\u2212b", []string{"\u2018s\u2019", "\u201cn\u201d", "a", "\u2212", "b"}},
		{"a\u00a0(", []string{"a", "("}},
		{"'unclosed", []string{"'unclosed"}},
		{"/* unclosed", []string{"/* unclosed"}},
		{"a::b <=> c || d", []string{"a", "::", "b", "<=>", "c", "||", "d"}},
	} {
		var got []string
		lx := newLexer(tc.in)
		for {
			tok, ok := lx.next()
			if !ok {
				break
			}
			got = append(got, tok.text)
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{
		"'a''b'": "a'b", `'a\'b'`: "a'b", `'\x66ile'`: "file", `'\n\t\\'`: "\n\t\\", "`fi``le`": "fi`le",
		`"x"`: "x", "$t$ body $t$": " body ", "\u201cfile\u201d": "file", `'\q'`: "q",
	} {
		lx := newLexer(in)
		tok, _ := lx.next()
		if got, _ := unquote(tok); got != want {
			t.Errorf("unquote(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	s := &Server{cfg: Config{AllowedHosts: []string{"tracehouse.internal", " ch.example:8123 "}}}
	for host, want := range map[string]bool{
		"": true, "127.0.0.1:8123": true, "[::1]:8123": true, "localhost": true, "LocalHost:1": true,
		"10.1.2.3:8123": true, "tracehouse.internal:8123": true, "TRACEHOUSE.internal": true, "ch.example": true,
		"evil.example:8123": false, "localhost.": false, "127.0.0.1.nip.io:8123": false, "tracehouse.internal.evil": false,
		"sub.localhost:8123": false,
	} {
		if got := s.hostAllowed(host); got != want {
			t.Errorf("hostAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestPasswordFileIsPrivateAndKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), PasswordFileName)
	first, fixed, err := loadOrCreatePassword(path)
	if err != nil || fixed || len(first) != 2*passwordBytes {
		t.Fatalf("first start: %q %v %v", first, fixed, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode())
	}
	again, _, err := loadOrCreatePassword(path)
	if err != nil || again != first {
		t.Fatalf("second start: a different password (%v)", err)
	}
	os.Chmod(path, 0o644)
	again, fixed, err = loadOrCreatePassword(path)
	if err != nil || !fixed || again != first {
		t.Fatalf("a file others may read: %v %v", fixed, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v after fixing, want 0600", st.Mode())
	}
	// Starts racing on an empty folder agree on one password.
	path = filepath.Join(t.TempDir(), PasswordFileName)
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _, err = loadOrCreatePassword(path)
		}()
	}
	wg.Wait()
	for _, p := range got {
		if p != got[0] || p == "" {
			t.Fatalf("racing starts got different passwords: %q", got)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestCapReaderStopsAtTheLimit(t *testing.T) {
	for size, wantErr := range map[int]bool{0: false, 99: false, 100: false, 101: true, 10000: true} {
		r := newCapReader(strings.NewReader(strings.Repeat("x", size)), 100)
		var got int
		buf := make([]byte, 7)
		var err error
		for err == nil {
			var n int
			n, err = r.Read(buf)
			got += n
		}
		_, tooLarge := err.(*errDecodedTooLarge)
		if tooLarge != wantErr || got > 100 {
			t.Errorf("%d bytes: read %d, err %v", size, got, err)
		}
	}
}

// BenchmarkCheckStatement: the guard's cost on a query the size of the
// query service's trace search, and per MB of Values data.
func BenchmarkCheckStatement(b *testing.B) {
	query := "SELECT TraceId, min(Timestamp) AS start, max(Timestamp + toIntervalNanosecond(Duration)) AS end, " +
		"groupArray(10)(tuple(ServiceName, SpanName, Duration)) AS spans FROM tracehouse.spans " +
		"WHERE Timestamp >= {start:DateTime64(9)} AND Timestamp < {end:DateTime64(9)} AND ServiceName = {service:String} " +
		"AND (AttrStr['http.route'] = {v0:String} OR hasToken(lower(SpanName), {t0:String})) /* search */ " +
		"GROUP BY TraceId ORDER BY start DESC LIMIT {limit:UInt32} SETTINGS max_execution_time = 30, max_result_bytes = 104857600"
	b.Run("query", func(b *testing.B) {
		b.SetBytes(int64(len(query)))
		for i := 0; i < b.N; i++ {
			if err := checkStatement(query, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	values := strings.Repeat("(1, 'a string with file( inside', [1, 2, 3], now()), ", 20000)
	b.Run("values", func(b *testing.B) {
		b.SetBytes(int64(len(values)))
		for i := 0; i < b.N; i++ {
			if err := checkInsertData(values); err != nil {
				b.Fatal(err)
			}
		}
	})
}
