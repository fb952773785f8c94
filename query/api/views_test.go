package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tracehouse/tracehouse/internal/seed"
	"github.com/tracehouse/tracehouse/query"
)

// post sends a body as the UI does: same origin, JSON.
func (e *env) post(t *testing.T, target, contentType, body string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Host = "127.0.0.1:8080"
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.app.Test(req, 30_000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

type viewsEnvelope struct {
	Data   json.RawMessage `json:"data"`
	Errors []apiError      `json:"errors"`
}

func decodeView(t *testing.T, body []byte) viewJSON {
	t.Helper()
	var env viewsEnvelope
	var v viewJSON
	if err := json.Unmarshal(body, &env); err != nil || json.Unmarshal(env.Data, &v) != nil {
		t.Fatalf("not a view: %s", body)
	}
	return v
}

func TestSavedViews(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	e := newEnv(t, db, conn, query.Options{}, Options{})
	const route = "/logs?q=service:payment level:error&range=1h"

	resp, body := e.post(t, "/api/v1/views", "application/json", `{"name":" checkout failures, last hour ","route":"`+route+`"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("save: %d %s", resp.StatusCode, body)
	}
	v := decodeView(t, body)
	if len(v.ID) != 16 || v.Name != "checkout failures, last hour" || v.Route != route || v.Created != v.Updated {
		t.Fatalf("saved %+v", v)
	}
	_, body = e.post(t, "/api/v1/views", "application/json; charset=utf-8", `{"name":"Auth health","route":"/service/auth"}`)
	other := decodeView(t, body)

	// Listed by name, case aside; one by id.
	_, body = e.get(t, "/api/v1/views")
	var list struct {
		Data []viewJSON `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) != 2 || list.Data[0].ID != other.ID || list.Data[1].ID != v.ID {
		t.Fatalf("list: %s", body)
	}
	resp, body = e.get(t, "/api/v1/views/"+v.ID)
	if resp.StatusCode != 200 || decodeView(t, body).Route != route {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}

	// Saving again under its id replaces it and keeps its creation time.
	resp, body = e.post(t, "/api/v1/views", "application/json", `{"id":"`+v.ID+`","name":"checkout failures","route":"/logs?q=service:payment"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("replace: %d %s", resp.StatusCode, body)
	}
	_, body = e.get(t, "/api/v1/views/"+v.ID)
	if got := decodeView(t, body); got.Name != "checkout failures" || got.Route != "/logs?q=service:payment" || got.Created != v.Created {
		t.Fatalf("after replace: %+v (created %s before)", got, v.Created)
	}

	// Delete; then it is gone, and deleting again is 404.
	resp, body = e.post(t, "/api/v1/views/"+v.ID+"/delete", "application/json", `{}`)
	if resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.get(t, "/api/v1/views/"+v.ID); resp.StatusCode != 404 {
		t.Fatalf("deleted view: %d", resp.StatusCode)
	}
	if resp, _ := e.post(t, "/api/v1/views/"+v.ID+"/delete", "application/json", `{}`); resp.StatusCode != 404 {
		t.Fatalf("second delete: %d", resp.StatusCode)
	}
	_, body = e.get(t, "/api/v1/views")
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) != 1 || list.Data[0].ID != other.ID {
		t.Fatalf("list after delete: %s", body)
	}

	// Bad input, each refused with what was wrong.
	for _, c := range []struct {
		method, target, ct, body string
		status                   int
		msg                      string
	}{
		{"POST", "/api/v1/views", "application/json", `{"name":"","route":"/logs"}`, 400, "name: give the view a name"},
		{"POST", "/api/v1/views", "application/json", `{"name":"x","route":"javascript:alert(1)"}`, 400, "is not a page of the UI"},
		{"POST", "/api/v1/views", "application/json", `{"name":"x","route":"/trace/"}`, 400, "is not a page of the UI"},
		{"POST", "/api/v1/views", "application/json", `{"name":"x","route":"/logs","color":"red"}`, 400, `unknown field`},
		{"POST", "/api/v1/views", "application/json", `{"name":`, 400, "must be a JSON object"},
		{"POST", "/api/v1/views", "application/json", `{"name":"x","route":"/logs","id":"zz"}`, 400, "16 hexadecimal digits"},
		{"POST", "/api/v1/views", "application/json", `{"name":"x","route":"/logs","id":"0123456789abcdef"}`, 404, "not found"},
		{"POST", "/api/v1/views", "text/plain", `{"name":"x","route":"/logs"}`, 415, "application/json"},
		{"POST", "/api/v1/views", "application/x-www-form-urlencoded", `name=x&route=/logs`, 415, "application/json"},
		{"PUT", "/api/v1/views", "application/json", `{"name":"x","route":"/logs"}`, 405, "only GET and POST"},
		{"POST", "/api/v1/logs", "application/json", `{}`, 405, "read-only"},
		{"GET", "/api/v1/views/nothex", "", "", 400, "16 hexadecimal digits"},
	} {
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		req.Host = "127.0.0.1:8080"
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		resp, err := e.app.Test(req, 30_000)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(string(out), c.msg) {
			t.Errorf("%s %s %s: %d %s, want %d with %q", c.method, c.target, c.body, resp.StatusCode, out, c.status, c.msg)
		}
	}

	// A page of another origin cannot save or delete.
	resp, body = e.post(t, "/api/v1/views", "application/json", `{"name":"x","route":"/logs"}`, "Origin", "http://evil.example")
	if resp.StatusCode != 403 {
		t.Fatalf("cross-origin save: %d %s", resp.StatusCode, body)
	}
	// With --auth-token, saving needs the token too.
	locked := newEnv(t, db, conn, query.Options{}, Options{AuthToken: "s3cret"})
	if resp, _ := locked.post(t, "/api/v1/views", "application/json", `{"name":"x","route":"/logs"}`); resp.StatusCode != 401 {
		t.Fatalf("save without the token: %d", resp.StatusCode)
	}
	if resp, body := locked.post(t, "/api/v1/views", "application/json", `{"name":"x","route":"/logs"}`, "Authorization", "Bearer s3cret"); resp.StatusCode != 200 {
		t.Fatalf("save with the token: %d %s", resp.StatusCode, body)
	}
}

// TestViewOwners: a token from --auth-tokens-file names its user, and the
// views saved with it say who saved them; the shared token names no one.
func TestViewOwners(t *testing.T) {
	db, conn := seed.NewDatabase(t)
	users, err := ParseNamedTokens(strings.NewReader("# team\nalice  alice-token-0123456789\n\nbob\tbob-token-0123456789abc\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db, conn, query.Options{}, Options{AuthToken: "shared-s3cret", Users: users})
	save := func(token, name string) (int, viewJSON) {
		resp, body := e.post(t, "/api/v1/views", "application/json", `{"name":"`+name+`","route":"/logs"}`, "Authorization", "Bearer "+token)
		if resp.StatusCode != 200 {
			return resp.StatusCode, viewJSON{}
		}
		return 200, decodeView(t, body)
	}
	for _, c := range []struct{ token, name, owner string }{
		{"alice-token-0123456789", "a", "alice"},
		{"bob-token-0123456789abc", "b", "bob"},
		{"shared-s3cret", "c", ""},
	} {
		code, v := save(c.token, c.name)
		if code != 200 || v.Owner != c.owner {
			t.Errorf("saved %q with %s's token: %d, owner %q", c.name, c.owner, code, v.Owner)
		}
	}
	for _, bad := range []string{"", "alice", "alice-token-012345678", "alice-token-0123456789x"} {
		if code, _ := save(bad, "x"); code != 401 {
			t.Errorf("token %q: %d, want 401", bad, code)
		}
	}
	// Everyone with a token sees who saved what.
	req := httptest.NewRequest(http.MethodGet, "/api/v1/views", nil)
	req.Host = "127.0.0.1:8080"
	req.Header.Set("Authorization", "Bearer bob-token-0123456789abc")
	resp, err := e.app.Test(req, 30_000)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var list struct {
		Data []viewJSON `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) != 3 {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	owners := map[string]string{}
	for _, v := range list.Data {
		owners[v.Name] = v.Owner
	}
	if owners["a"] != "alice" || owners["b"] != "bob" || owners["c"] != "" {
		t.Errorf("owners listed: %v", owners)
	}

	// Named tokens alone (no shared token): an empty token is no token.
	only := newEnv(t, db, conn, query.Options{}, Options{Users: users})
	if resp, _ := only.post(t, "/api/v1/views", "application/json", `{"name":"x","route":"/logs"}`); resp.StatusCode != 401 {
		t.Errorf("no token with named tokens only: %d", resp.StatusCode)
	}
	if resp, _ := only.post(t, "/api/v1/views", "application/json", `{"name":"x","route":"/logs"}`, "Authorization", "Bearer "); resp.StatusCode != 401 {
		t.Errorf("empty bearer with named tokens only: %d", resp.StatusCode)
	}
}

func TestParseNamedTokensRefusesBadFiles(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"alice\n", "line 1: want \"user token\""},
		{"alice tok en-0123456789abcdef\n", "line 1: want \"user token\" (two fields), have 3"},
		{"alice short\n", "line 1: the token of alice is 5 characters long"},
		{"al ice-0123456789abcdef0\n", ""}, // two fields: user "al"
		{"alice/x token-0123456789abcdef\n", "line 1: the user name \"alice/x\" holds '/'"},
		{"alice token-0123456789abcdef\nalice token-0123456789abcdeg\n", "line 2: user alice is already given a token on line 1"},
		{"alice token-0123456789abcdef\n# x\nbob token-0123456789abcdef\n", "line 3: the token of bob is the same as line 1's"},
	} {
		_, err := ParseNamedTokens(strings.NewReader(c.file))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.file, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want %q", c.file, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789") {
			t.Errorf("%q: the error shows a token: %v", c.file, err)
		}
	}
}
