package securitytest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// credential is one column of the matrix.
type credential int

const (
	noToken credential = iota
	wrongToken
	rightToken
)

func (c credential) String() string { return [...]string{"no token", "wrong token", "right token"}[c] }

// port is one row: how to send a request with a credential, what it
// answers, and (for the ingest ports) the service name its data carries.
type port struct {
	name string
	want [3]string
	send func(t *testing.T, c credential, service string) string
}

// TestAuthMatrix sends every port of the secured all-in-one a request
// without a token, with a wrong one and with the right one, and asserts
// what each answers. Ingest requests carry a service name of their cell:
// after the right-token data is stored, nothing of the others is.
func TestAuthMatrix(t *testing.T) {
	a := secured(t)
	token := func(c credential, right string) string {
		switch c {
		case wrongToken:
			return right + "x"
		case rightToken:
			return right
		}
		return ""
	}
	bearer := func(c credential, right string) []string {
		if tok := token(c, right); tok != "" {
			return []string{"Authorization", "Bearer " + tok}
		}
		return nil
	}
	conn, err := grpc.NewClient(a.otlpGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ports := []port{
		{"query API (GET /api/services)", [3]string{"401", "401", "200"}, func(t *testing.T, c credential, _ string) string {
			code, _ := get(t, "http://"+a.query+"/api/services", token(c, queryToken))
			return fmt.Sprint(code)
		}},
		{"query API, a token that names a user (alice)", [3]string{"401", "401", "200"}, func(t *testing.T, c credential, _ string) string {
			code, _ := get(t, "http://"+a.query+"/api/services", token(c, aliceToken))
			return fmt.Sprint(code)
		}},
		{"query API live tail (?access_token=)", [3]string{"401", "401", "200"}, func(t *testing.T, c credential, _ string) string {
			url := "http://" + a.query + "/api/v1/logs/tail?limit=1&q=service:nobody"
			if tok := token(c, queryToken); tok != "" {
				url += "&access_token=" + tok
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("tail: %v", err)
			}
			res.Body.Close() // a tail streams; its status is what counts
			return fmt.Sprint(res.StatusCode)
		}},
		{"OTLP gRPC (traces Export)", [3]string{"Unauthenticated", "Unauthenticated", "OK"}, func(t *testing.T, c credential, service string) string {
			ctx := context.Background()
			if tok := token(c, ingestToken); tok != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
			}
			td, _ := frontendTrace(time.Now(), 1)
			td.ResourceSpans().At(0).Resource().Attributes().PutStr("service.name", service)
			_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
			return status.Code(err).String()
		}},
		{"OTLP HTTP (POST /v1/logs)", [3]string{"401", "401", "200"}, func(t *testing.T, c credential, service string) string {
			body := otlpLogsBody(t, service)
			code, _, _ := post(t, "http://"+a.otlpHTTP+"/v1/logs", body, append(bearer(c, ingestToken), "Content-Type", "application/x-protobuf")...)
			return fmt.Sprint(code)
		}},
		{"JSON-lines (POST /v1/logs/jsonl)", [3]string{"401", "401", "200"}, func(t *testing.T, c credential, service string) string {
			line := fmt.Sprintf(`{"service":%q,"msg":"matrix"}`+"\n", service)
			code, _, _ := post(t, "http://"+a.jsonl+"/v1/logs/jsonl", []byte(line), append(bearer(c, ingestToken), "Content-Type", "application/x-ndjson")...)
			return fmt.Sprint(code)
		}},
		{"embedded ClickHouse (POST / SELECT 1)", [3]string{"401", "403", "200"}, func(t *testing.T, c credential, _ string) string {
			req, _ := http.NewRequest(http.MethodPost, "http://"+a.clickhouse+"/", strings.NewReader("SELECT 1"))
			if c != noToken {
				req.SetBasicAuth("tracehouse", token(c, a.password))
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return fmt.Sprint(res.StatusCode)
		}},
	}

	var table strings.Builder
	fmt.Fprintf(&table, "auth matrix: tracehouse all-in-one --ingest-token T1 --auth-token T2 --auth-tokens-file F (engine: user tracehouse, generated password)\n")
	fmt.Fprintf(&table, "| port | %s | %s | %s |\n|---|---|---|---|\n", noToken, wrongToken, rightToken)
	for _, p := range ports {
		var got [3]string
		for c := noToken; c <= rightToken; c++ {
			got[c] = p.send(t, c, matrixService(p.name, c))
			if got[c] != p.want[c] {
				t.Errorf("%s, %s: %s, want %s", p.name, c, got[c], p.want[c])
			}
		}
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", p.name, got[0], got[1], got[2])
	}
	t.Log("\n" + table.String())

	// What the ingest ports accepted with the right token is stored; what
	// they refused is not, not even later.
	services := func(c credential) []string {
		var names []string
		for _, p := range ports {
			if strings.HasPrefix(p.name, "OTLP") || strings.HasPrefix(p.name, "JSON-lines") { // the ingest ports
				names = append(names, "'"+matrixService(p.name, c)+"'")
			}
		}
		return names
	}
	stored := func(c credential) int64 {
		in := strings.Join(services(c), ",")
		return a.count(t, "SELECT (SELECT count() FROM default.spans WHERE ServiceName IN ("+in+")) + (SELECT count() FROM default.logs WHERE ServiceName IN ("+in+"))")
	}
	waitFor(t, "the right-token requests stored", func() (bool, string) {
		n := stored(rightToken)
		return n == 1+1+1, fmt.Sprintf("%d of 3 items", n)
	})
	for _, c := range []credential{noToken, wrongToken} {
		if n := stored(c); n != 0 {
			t.Errorf("%s: %d items stored from requests that were refused", c, n)
		}
	}
}

// matrixService names the data sent to a port with a credential.
func matrixService(port string, c credential) string {
	name := strings.ToLower(strings.Fields(port)[0] + "-" + strings.Fields(port)[1])
	return "matrix-" + name + "-" + strings.ReplaceAll(c.String(), " ", "-")
}

// otlpLogsBody is an OTLP logs request of one record of service.
func otlpLogsBody(t *testing.T, service string) []byte {
	body, err := plogotlp.NewExportRequestFromLogs(logRecords(service, time.Now(), 1, "matrix")).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestNamedTokenOwnsViews: the real binary, started with --auth-tokens-file,
// records the user a token names as the owner of the views it saves.
func TestNamedTokenOwnsViews(t *testing.T) {
	a := secured(t)
	body := []byte(`{"name":"alice's checkout failures","route":"/logs?q=service:payment level:error"}`)
	code, _, answer := post(t, "http://"+a.query+"/api/v1/views", body, "Content-Type", "application/json", "Authorization", "Bearer "+aliceToken)
	if code != http.StatusOK {
		t.Fatalf("save with alice's token: %d %s", code, answer)
	}
	var saved struct {
		Data struct {
			ID    string `json:"id"`
			Owner string `json:"owner"`
		} `json:"data"`
	}
	if err := json.Unmarshal(answer, &saved); err != nil || saved.Data.Owner != "alice" {
		t.Fatalf("saved view %s: owner %q, want alice", answer, saved.Data.Owner)
	}
	// The shared token names no one.
	code, _, answer = post(t, "http://"+a.query+"/api/v1/views", []byte(`{"name":"shared","route":"/logs"}`), "Content-Type", "application/json", "Authorization", "Bearer "+queryToken)
	if code != http.StatusOK || strings.Contains(string(answer), `"owner"`) {
		t.Fatalf("save with the shared token: %d %s", code, answer)
	}
}
