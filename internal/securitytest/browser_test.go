package securitytest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rebindHost is the attacker's name that resolves to this machine.
const rebindHost = "rebind.attacker.test"

// TestBrowserAttack opens pages of another origin in headless Chromium
// against a default all-in-one (no tokens: what a laptop user runs). They
// try DROP TABLE, TRUNCATE and CREATE TABLE on the embedded ClickHouse
// through <img>, form posts and fetch (without the password, and with it,
// as if it had leaked), read the query API, and post log lines and spans
// to the JSON-lines and OTLP HTTP ports; then the same again from pages
// whose name was rebound to 127.0.0.1. Every request reaches a port and is
// refused; afterwards every table has the rows it had and the receivers
// accepted nothing.
func TestBrowserAttack(t *testing.T) {
	chromium := findChromium(t)
	playwright := playwrightDir(t)
	a := open(t)

	attacker := serveAttacker(t, a)
	pages := []map[string]string{{"url": attacker + "/attacker/cross-site.html"}}
	for _, target := range []string{a.clickhouse, a.query, a.jsonl, a.otlpHTTP} {
		_, port, _ := net.SplitHostPort(target)
		pages = append(pages, map[string]string{
			"url":  "http://" + rebindHost + ":" + port + "/attacker/rebind.html",
			"html": attackPage(a, ""), // relative URLs: the page's own origin
		})
	}
	var ports []int
	for _, addr := range []string{a.clickhouse, a.query, a.jsonl, a.otlpHTTP} {
		_, p, _ := net.SplitHostPort(addr)
		n, _ := strconv.Atoi(p)
		ports = append(ports, n)
	}

	before := a.settledRows(t)
	acceptedBefore := acceptedItems(t, a)
	t.Logf("before the attack:\n%s", formatRows(before))

	resultFile := filepath.Join(t.TempDir(), "attack.json")
	pagesJSON, _ := json.Marshal(pages)
	portsJSON, _ := json.Marshal(ports)
	script, _ := filepath.Abs(filepath.Join("testdata", "attack.mjs"))
	cmd := exec.Command("node", script)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_DIR="+playwright, "CHROMIUM_PATH="+chromium,
		"ATTACK_PAGES="+string(pagesJSON), "TARGET_PORTS="+string(portsJSON), "REBIND_HOST="+rebindHost, "RESULT_FILE="+resultFile)
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the attack in Chromium: %v\n%s", err, out)
	}
	var report struct {
		Network []struct {
			URL, Method, Type, Code, Failure string
			Status                           int
		}
		Pages []struct {
			Page string
			Saw  []map[string]any
		}
	}
	data, err := os.ReadFile(resultFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatalf("%v: %s", err, data)
	}

	// Every port answered requests of both kinds of page: the browser sent
	// them, and it is the server that refuses them.
	names := map[string]string{a.clickhouse: "embedded ClickHouse", a.query: "query API", a.jsonl: "JSON-lines", a.otlpHTTP: "OTLP HTTP"}
	answered := map[string]int{}
	for _, r := range report.Network {
		if u, _ := url.Parse(r.URL); r.Status != 0 {
			answered[u.Host]++
		}
	}
	for addr, name := range names {
		_, port, _ := net.SplitHostPort(addr)
		for _, host := range []string{addr, rebindHost + ":" + port} {
			if answered[host] == 0 {
				t.Errorf("no request of the attack on %s reached the %s: the test attacks nothing there", host, name)
			}
		}
	}
	var log strings.Builder
	fmt.Fprintf(&log, "what the attacker's pages sent and got (%d requests):\n", len(report.Network))
	for _, r := range report.Network {
		u, _ := url.Parse(r.URL)
		target := u.Host
		for addr, name := range names {
			_, port, _ := net.SplitHostPort(addr)
			if u.Port() == port {
				target = name
			}
		}
		how := fmt.Sprint(r.Status)
		if r.Status == 0 {
			how = "blocked by the browser: " + r.Failure
		} else if r.Code != "" {
			how += " (ClickHouse code " + r.Code + ")"
		}
		fmt.Fprintf(&log, "  %-4s %-8s %-20s %-70.70s -> %s\n", r.Method, r.Type, target, u.Host+u.RequestURI(), how)
		if r.Status != 0 && r.Status < 400 {
			t.Errorf("%s %s (%s) answered %d: a web page got through", r.Method, r.URL, r.Type, r.Status)
		}
		if target == "embedded ClickHouse" && r.Status != 0 && (r.Status != http.StatusForbidden || r.Code != "497") {
			t.Errorf("%s %s: %d code %q, want 403 ACCESS_DENIED (497): the browser guard, whatever the credentials", r.Method, r.URL, r.Status, r.Code)
		}
	}
	t.Log(log.String())
	// A rebinding page reads what it is answered: it must hold no data.
	for _, p := range report.Pages {
		for _, saw := range p.Saw {
			if body, _ := saw["body"].(string); strings.Contains(body, "seed-") || strings.Contains(body, "frontend") {
				t.Errorf("%s read data: %v", p.Page, saw)
			}
		}
	}

	// Whatever a receiver had accepted would be in the tables within
	// seconds; none accepted anything.
	if after := acceptedItems(t, a); after != acceptedBefore {
		t.Errorf("the receivers accepted %.0f items during the attack", after-acceptedBefore)
	}
	after := a.tableRows(t)
	t.Logf("after the attack:\n%s", formatRows(after))
	for name, n := range before {
		if m, ok := after[name]; !ok {
			t.Errorf("table %s is gone", name)
		} else if m != n {
			t.Errorf("table %s: %d rows, had %d", name, m, n)
		}
		if n == 0 {
			t.Errorf("table %s was empty before the attack: the seed does not reach it", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("table %s was added", name)
		}
	}
	if t.Failed() {
		t.Logf("log records not seeded:\n%s", a.sql(t, "SELECT ServiceName, Body FROM default.logs WHERE ServiceName NOT LIKE 'seed-%' FORMAT TSV"))
	}
}

// serveAttacker serves the cross-site page from another loopback address
// (another site to the browser) until the test ends, and returns its
// origin.
func serveAttacker(t *testing.T, a *allInOne) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("the attacker's server on 127.0.0.2: %v", err)
	}
	mux := http.NewServeMux()
	page := attackPage(a, "cross-site")
	mux.HandleFunc("/attacker/cross-site.html", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// attackPage is the attacker's HTML. cross-site: it aims at the ports'
// addresses from its own origin; otherwise it is a DNS-rebinding page on
// one port's origin and uses relative URLs (same-origin to the browser).
func attackPage(a *allInOne, mode string) string {
	cfg := map[string]string{
		"ch": "", "api": "", "jsonl": "", "otlp": "",
		// As if the engine's password had leaked: the browser guard must
		// stop the request, not just the credentials.
		"creds": "user=tracehouse&password=" + url.QueryEscape(a.password),
	}
	if mode == "cross-site" {
		cfg["ch"], cfg["api"], cfg["jsonl"], cfg["otlp"] = "http://"+a.clickhouse, "http://"+a.query, "http://"+a.jsonl, "http://"+a.otlpHTTP
	}
	cfgJSON, _ := json.Marshal(cfg)
	return `<!doctype html><html><head><meta charset="utf-8"><title>cute cats</title></head><body>
<iframe name="sink" id="sink"></iframe>
<script>
const C = ` + string(cfgJSON) + `;
const crossSite = ` + strconv.Quote(mode) + ` === "cross-site";
window.__results = [];
const note = (what, r) => window.__results.push(Object.assign({ what }, r));
const q = (sql) => encodeURIComponent(sql);
// Forged records name the attempt that sent them.
const where = crossSite ? "cross-site" : "rebinding " + location.port;
const lines = (what) => JSON.stringify({ service: "attacker", msg: where + ": " + what }) + "\n" + JSON.stringify({ service: "attacker", msg: where + ": " + what + " (2)" }) + "\n";
const otlpJSON = (what) => JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: "service.name", value: { stringValue: "attacker" } }] },
  scopeLogs: [{ logRecords: [{ timeUnixNano: String(Date.now() * 1e6), body: { stringValue: where + ": " + what } }] }] }] });

async function tryFetch(what, url, opts) {
  try {
    const res = await fetch(url, opts);
    let body = "";
    try { body = (await res.text()).slice(0, 300); } catch (e) {}
    note(what, { type: res.type, status: res.status, body });
  } catch (e) { note(what, { error: String(e) }); }
}
function img(what, url) {
  return new Promise((done) => {
    const i = new Image();
    i.onload = () => { note(what, { loaded: true }); done(); };
    i.onerror = () => { note(what, { loaded: false }); done(); };
    i.src = url;
  });
}
// A form posted into the iframe; done when the iframe has loaded the
// answer (or after a while: a blocked navigation fires no load).
function form(what, action, enctype, fields) {
  return new Promise((done) => {
    const f = document.createElement("form");
    f.method = "POST"; f.action = action; f.enctype = enctype; f.target = "sink";
    for (const [k, v] of fields) { const i = document.createElement("input"); i.name = k; i.value = v; f.appendChild(i); }
    document.body.appendChild(f);
    const sink = document.getElementById("sink");
    const timer = setTimeout(() => { note(what, { loaded: "no load event" }); done(); }, 5000);
    sink.onload = () => { clearTimeout(timer); note(what, { loaded: true }); done(); };
    f.submit();
  });
}

(async () => {
  const ch = C.ch, creds = C.creds;
  // The embedded ClickHouse: an image, forms and fetch, with and without
  // the password.
  await img("img DROP", ch + "/?query=" + q("DROP TABLE default.spans"));
  await img("img DROP with password", ch + "/?" + creds + "&query=" + q("DROP TABLE default.logs"));
  await form("form text/plain DROP", ch + "/?" + creds + "&query=" + q("DROP TABLE default.trace_index"), "text/plain", [["x", "y"]]);
  await form("form text/plain body DROP", ch + "/?" + creds, "text/plain", [["DROP TABLE default.red_1m --", ""]]);
  await form("form urlencoded TRUNCATE", ch + "/?" + creds + "&query=" + q("TRUNCATE TABLE default.logs"), "application/x-www-form-urlencoded", [["a", "b"]]);
  await tryFetch("fetch no-cors DROP", ch + "/", { method: "POST", mode: "no-cors", body: "DROP TABLE default.spans" });
  await tryFetch("fetch no-cors DROP with password", ch + "/?" + creds, { method: "POST", mode: "no-cors", body: "DROP TABLE default.service_edges_1m" });
  await tryFetch("fetch no-cors CREATE with password", ch + "/?" + creds, { method: "POST", mode: "no-cors", body: "CREATE TABLE default.pwned (x UInt8) ENGINE = Memory" });
  await tryFetch("fetch read with password", ch + "/?" + creds + "&query=" + q("SELECT * FROM default.logs LIMIT 5"), {});
  if (!crossSite) {
    // Same origin after rebinding: custom headers need no preflight.
    await tryFetch("fetch DROP with headers", ch + "/", { method: "POST", body: "DROP TABLE default.peer_calls_1m",
      headers: { "X-ClickHouse-User": "tracehouse", "X-ClickHouse-Key": decodeURIComponent(creds.split("password=")[1]) } });
  }
  // The query API: read traces and logs.
  await tryFetch("fetch logs", C.api + "/api/v1/logs?limit=10", crossSite ? { mode: "no-cors" } : {});
  await tryFetch("fetch services", C.api + "/api/services", {});
  await img("img services", C.api + "/api/services");
  // The query API's only writes: saved views (JSON only).
  await form("form text/plain view", C.api + "/api/v1/views", "text/plain", [['{"name":"pwned","route":"/search","x":"', '"}']]);
  await tryFetch("fetch no-cors view", C.api + "/api/v1/views", { method: "POST", mode: "no-cors", body: JSON.stringify({ name: "pwned", route: "/search" }) });
  await tryFetch("fetch view as JSON", C.api + "/api/v1/views", { method: "POST", body: JSON.stringify({ name: "pwned", route: "/search" }), headers: { "Content-Type": "application/json" } });
  // The JSON-lines port: every way a page can post without asking first,
  // and with a JSON type (a preflight cross-site, none after rebinding).
  await tryFetch("fetch no-cors lines", C.jsonl + "/v1/logs/jsonl", { method: "POST", mode: "no-cors", body: lines("fetch no-cors") });
  await tryFetch("fetch no-cors lines as a Blob", C.jsonl + "/v1/logs/jsonl", { method: "POST", mode: "no-cors", body: new Blob([lines("fetch no-cors Blob")]) });
  await form("form text/plain line", C.jsonl + "/v1/logs/jsonl", "text/plain", [['{"service":"attacker","msg":"' + where + ': form","x":"', '"}']]);
  await tryFetch("fetch lines as x-ndjson", C.jsonl + "/v1/logs/jsonl", { method: "POST", body: lines("fetch x-ndjson"), headers: { "Content-Type": "application/x-ndjson" } });
  note("sendBeacon lines", { queued: navigator.sendBeacon(C.jsonl + "/v1/logs/jsonl", lines("sendBeacon")) });
  // The OTLP HTTP port.
  await tryFetch("fetch no-cors OTLP JSON", C.otlp + "/v1/logs", { method: "POST", mode: "no-cors", body: otlpJSON("OTLP fetch no-cors") });
  await form("form text/plain OTLP", C.otlp + "/v1/logs", "text/plain", [[otlpJSON("OTLP form").slice(0, -2) + ',"x":"', '"}']]);
  // Cross-site, a JSON post needs a preflight the receiver refuses; after
  // rebinding it is same-origin and needs none: the browserguard extension
  // in front of the receiver refuses its Origin and its Host.
  await tryFetch("fetch OTLP as JSON", C.otlp + "/v1/logs", { method: "POST", body: otlpJSON("OTLP fetch JSON"), headers: { "Content-Type": "application/json" } });
  window.__done = true;
})();
</script></body></html>`
}

// acceptedItems is the sum of the collector's otelcol_receiver_accepted_*
// counters (spans and log records of every receiver).
func acceptedItems(t *testing.T, a *allInOne) float64 {
	t.Helper()
	res, err := http.Get("http://" + a.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sum float64
	var lines int
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "otelcol_receiver_accepted_") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
		lines++
	}
	if lines == 0 {
		t.Fatal("the collector's metrics have no otelcol_receiver_accepted_* counters")
	}
	return sum
}

func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("the browser attack needs headless Chromium: apt-get install -y chromium (Debian), or set CHROMIUM_PATH")
	return ""
}

// playwrightDir is web/tests, with its node modules (playwright-core,
// which downloads no browser) installed when missing.
func playwrightDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "web", "tests"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("the browser attack needs Node.js 20+ (node and npm on PATH)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err == nil {
		return dir
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

// settledRows waits until the seed has reached every table (edges and
// rollups are written after the spans they come from) and two counts a
// second apart agree, then returns the counts.
func (a *allInOne) settledRows(t *testing.T) map[string]int64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	prev := a.tableRows(t)
	for {
		time.Sleep(time.Second)
		rows := a.tableRows(t)
		settled := maps.Equal(rows, prev)
		for _, n := range rows {
			if n == 0 {
				settled = false
			}
		}
		if settled || time.Now().After(deadline) {
			return rows
		}
		prev = rows
	}
}
