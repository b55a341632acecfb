package core_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// The security battery (docs/RELIABILITY.md §4): keys at rest, role
// separation, header hygiene, client-set base URLs and the no-log canary.

// dataDirContains reports which of needles occur in any file under dir,
// read raw (Pebble WAL, sstables, manifests, options).
func dataDirContains(t *testing.T, dir string, needles ...[]byte) map[int]string {
	t.Helper()
	found := map[int]string{}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for i, n := range needles {
			if bytes.Contains(b, n) {
				found[i] = path
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s", dir)
	}
	return found
}

// TestSecurityKeysHashedAtRest creates keys through the config, the admin
// API and the provisioning API, uses them, closes the stores and reads every
// file of the data dir: no key (nor the part of it the display label does
// not show) may be there; each key's SHA-256 must be.
func TestSecurityKeysHashedAtRest(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 4}}}, oneModel, "")
	inf, _ := e.issueKey("acme", false)
	mgmt, _ := e.issueKey("acme", true)
	r := acctCall(t, "POST", e.api+"/api/v1/keys", mgmt, `{"name":"svc","limit":5}`)
	created, _ := obj(t, r.body)["key"].(string)
	if r.status != http.StatusCreated || created == "" {
		t.Fatalf("create key: %d %s", r.status, r.body)
	}
	for _, k := range []string{testKey, inf, created} {
		paidChat(t, e, k)
	}
	dataList(t, acctCall(t, "GET", e.api+"/api/v1/keys", mgmt, ""))
	e.shutdown(5 * time.Second)
	if err := e.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	secrets := []string{testKey, inf, mgmt, created}
	var needles [][]byte
	for _, s := range secrets {
		// The label shows the first 12 and last 3 characters.
		needles = append(needles, []byte(s), []byte(s[12:len(s)-3]))
	}
	for _, s := range secrets {
		h := ledger.HashSecret([]byte(s))
		needles = append(needles, h[:], []byte(hex.EncodeToString(h[:])))
	}
	found := dataDirContains(t, e.cfg.Node.DataDir, needles...)
	for i, s := range secrets {
		if p, ok := found[2*i]; ok {
			t.Errorf("key %d found in clear in %s", i, p)
		}
		if p, ok := found[2*i+1]; ok {
			t.Errorf("secret part of key %d found in %s", i, p)
		}
		base := 2 * len(secrets)
		_, raw := found[base+2*i]
		_, hx := found[base+2*i+1]
		if !raw && !hx {
			t.Errorf("SHA-256 of key %d (%.12s…) not found in the data dir", i, s)
		}
	}
}

// TestSecurityRoleSeparation: management and admin keys cannot infer,
// inference keys cannot manage, and the admin API is not on the public
// listener.
func TestSecurityRoleSeparation(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 4}}}, oneModel, "")
	mgmt, _ := e.issueKey("acme", true)
	chat := func(key string) result {
		return e.post("/api/v1/chat/completions", acctChat, "Authorization", "Bearer "+key)
	}
	wantError(t, chat(mgmt), 403, "management keys cannot")
	wantError(t, chat(adminKey), 401, "")
	for _, p := range []string{"/api/v1/completions", "/api/v1/embeddings"} {
		body := `{"model":"acme/chat","prompt":"hi","input":"hi","max_tokens":5}`
		wantError(t, e.post(p, body, "Authorization", "Bearer "+mgmt), 403, "management keys cannot")
		wantError(t, e.post(p, body, "Authorization", "Bearer "+adminKey), 401, "")
	}
	msgs := `{"model":"acme/chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`
	for _, k := range []string{mgmt, adminKey} {
		r := e.post("/api/v1/messages", msgs, "Authorization", "", "x-api-key", k)
		if r.status != 403 && r.status != 401 {
			t.Fatalf("/messages with a non-inference key: %d %s", r.status, r.body)
		}
	}
	// Inference keys cannot manage.
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/keys", testKey, ""), 403, "management key")
	wantError(t, acctCall(t, "POST", e.api+"/api/v1/keys", testKey, `{"name":"x"}`), 403, "management key")
	wantError(t, acctCall(t, "POST", e.api+"/api/v1/analytics/query", testKey, `{}`), 403, "management key")
	// The admin API answers only the admin key, and only on its listener.
	for _, k := range []string{testKey, mgmt, ""} {
		if r := acctCall(t, "GET", e.admin+"/admin/v1/accounts", k, ""); r.status != 401 {
			t.Fatalf("admin API with key %.8q: %d %s", k, r.status, r.body)
		}
	}
	if r := acctCall(t, "GET", e.admin+"/admin/v1/accounts", adminKey+"x", ""); r.status != 401 {
		t.Fatalf("admin API with a longer admin key: %d", r.status)
	}
	for _, p := range []string{"/admin/v1/accounts", "/metrics", "/debug/pprof/", "/ui/", "/admin/v1/catalog"} {
		if r := acctCall(t, "GET", e.api+p, adminKey, ""); r.status != 404 {
			t.Fatalf("public listener serves %s: %d", p, r.status)
		}
	}
	// The catalog API cannot point a provider anywhere: base URLs live in
	// the config file only.
	r := e.adminDo("POST", "/admin/v1/catalog/endpoints",
		`{"model":"acme/chat","provider":"p1","upstream_model":"x","base_url":"http://169.254.169.254/"}`)
	if r.status != 400 {
		t.Fatalf("catalog endpoint with base_url: %d %s", r.status, r.body)
	}
}

// headerRecorder is an OpenAI-protocol upstream on loopback that keeps the
// headers of every request it gets.
type headerRecorder struct {
	mu   sync.Mutex
	seen []http.Header
	body [][]byte
}

func (h *headerRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.seen = append(h.seen, r.Header.Clone())
	h.body = append(h.body, b)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"id":"up-1","object":"chat.completion","created":1,"model":"up-chat","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
}

// TestSecurityHeaderHygiene: client credentials, cookies and hop-by-hop
// headers never reach the upstream; the provider's own key does. Header
// values with a bare CR are refused.
func TestSecurityHeaderHygiene(t *testing.T) {
	rec := &headerRecorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	e := newEnv(t, []mockSpec{{name: "p1", url: up.URL + "/v1", extra: `, api_key: sk-upstream-secret`}}, oneModel, "")
	const clientSecret = "client-secret-value-0123"
	hdr := []string{
		"x-api-key", clientSecret,
		"Proxy-Authorization", "Basic " + clientSecret,
		"Cookie", "session=" + clientSecret,
		"Connection", "keep-alive, X-Hop",
		"X-Hop", clientSecret,
		"Keep-Alive", "timeout=5",
		"TE", "trailers",
		"Upgrade", "h2c",
		"X-Forwarded-For", "203.0.113.9",
		"Forwarded", "for=203.0.113.9",
		"X-Real-IP", "203.0.113.9",
		"Proxy-Connection", "keep-alive",
		"X-Client-Custom", clientSecret,
	}
	r := e.post("/api/v1/chat/completions", acctChat, hdr...)
	if r.status != 200 {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	r = e.post("/api/v1/messages", `{"model":"acme/chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
		append([]string{"Authorization", "", "x-api-key", testKey, "anthropic-version", "2023-06-01"}, hdr[2:]...)...)
	if r.status != 200 {
		t.Fatalf("messages: %d %s", r.status, r.body)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 2 {
		t.Fatalf("upstream saw %d requests, want 2", len(rec.seen))
	}
	for i, h := range rec.seen {
		if got := h.Get("Authorization"); got != "Bearer sk-upstream-secret" {
			t.Errorf("request %d: upstream Authorization %q, want the provider key", i, got)
		}
		for name, vals := range h {
			v := strings.Join(vals, ",")
			if strings.Contains(v, clientSecret) || strings.Contains(v, testKey) || strings.Contains(v, "203.0.113.9") {
				t.Errorf("request %d: client value reached the upstream in %s: %q", i, name, v)
			}
		}
		for _, name := range []string{"X-Api-Key", "Proxy-Authorization", "Cookie", "X-Hop", "Keep-Alive", "Te", "Upgrade",
			"X-Forwarded-For", "Forwarded", "X-Real-Ip", "Proxy-Connection", "X-Client-Custom"} {
			if _, ok := h[name]; ok {
				t.Errorf("request %d: upstream got client header %s: %q", i, name, h.Get(name))
			}
		}
	}

	// CR or LF inside a header value (response splitting, smuggling).
	addr := strings.TrimPrefix(e.api, "http://")
	for _, raw := range []string{
		"X-Title: a\rInjected: b",
		"X-Title: a\r Injected: b",
		"Authorization: Bearer " + testKey + "\rX-Evil: 1",
		"X-Title: a\x00b",
	} {
		status := rawStatus(t, addr, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+testKey+
			"\r\nContent-Type: application/json\r\n"+raw+"\r\nContent-Length: "+fmt.Sprint(len(acctChat))+"\r\n\r\n"+acctChat)
		if status != 400 {
			t.Errorf("header %q: status %d, want 400", raw, status)
		}
	}
}

// rawStatus sends req on a fresh connection and returns the response's
// status code (0 when the gateway closed the connection without one).
func rawStatus(t *testing.T, addr, req string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSecurityClientCannotSetBaseURL: request members that name a base URL
// are not honoured: the request goes to the configured upstream and a
// listener named by the client sees no connection.
func TestSecurityClientCannotSetBaseURL(t *testing.T) {
	rec := &headerRecorder{}
	up := httptest.NewServer(rec)
	defer up.Close()
	trap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var trapped atomic.Int64
	go func() {
		for {
			c, err := trap.Accept()
			if err != nil {
				return
			}
			trapped.Add(1)
			c.Close()
		}
	}()
	defer trap.Close()
	e := newEnv(t, []mockSpec{{name: "p1", url: up.URL + "/v1"}}, oneModel, "")
	u := "http://" + trap.Addr().String() + "/v1"
	for _, extra := range []string{
		`"base_url":"` + u + `"`,
		`"api_base":"` + u + `"`,
		`"baseURL":"` + u + `"`,
		`"provider":{"base_url":"` + u + `"}`,
		`"provider":{"order":["p1"],"base_url":"` + u + `"}`,
	} {
		body := `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}],"max_tokens":5,` + extra + `}`
		r := e.post("/api/v1/chat/completions", body, "X-Base-URL", u, "X-Provider-Base-URL", u)
		// Unknown members are forwarded to the OpenAI-protocol upstream
		// (SPEC §2) or ignored; none of them changes where it goes.
		if r.status != 200 {
			t.Fatalf("%s: status %d %s", extra, r.status, r.body)
		}
	}
	if n := trapped.Load(); n != 0 {
		t.Fatalf("the gateway connected %d times to a client-named base URL", n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 5 {
		t.Fatalf("the configured upstream got %d requests, want 5", len(rec.seen))
	}
}

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// newLoggedEnv is newEnv with the gateway's and ledger's debug log going
// to w (newEnv discards it outside -v), and the config's log level debug.
func newLoggedEnv(t *testing.T, w io.Writer, mocks []mockSpec, models, extra string) *env {
	t.Helper()
	return newEnvLog(t, routing.Config{}, w, mocks, models, "log: {level: debug}\n"+extra)
}

// canaryUpstream answers chat requests in the OpenAI protocol with a
// completion and a tool call that carry the canary, streamed or not; with
// fail set it answers 400 echoing the request body, as some servers do.
func canaryUpstream(canary string, fail bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			msg, _ := json.Marshal("invalid request: " + string(b))
			fmt.Fprintf(w, `{"error":{"message":%s,"type":"invalid_request_error"}}`, msg)
			return
		}
		usage := `"usage":{"prompt_tokens":9,"completion_tokens":5,"total_tokens":14}`
		if !bytes.Contains(b, []byte(`"stream":true`)) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"up-1","object":"chat.completion","created":1,"model":"up-chat","choices":[{"index":0,"message":{"role":"assistant","content":"the word is %s","tool_calls":[{"id":"call_1","type":"function","function":{"name":"note","arguments":"{\"w\":\"%s\"}"}}]},"finish_reason":"tool_calls"}],%s}`, canary, canary, usage)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"id\":\"up-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up-chat\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"the word is %s\"}}]}\n\n", canary)
		fmt.Fprintf(w, "data: {\"id\":\"up-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up-chat\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"note\",\"arguments\":\"{\\\"w\\\":\\\"%s\\\"}\"}}]}}]}\n\n", canary)
		fmt.Fprintf(w, "data: {\"id\":\"up-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up-chat\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n")
		fmt.Fprintf(w, "data: {\"id\":\"up-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"up-chat\",\"choices\":[],%s}\n\ndata: [DONE]\n\n", usage)
	}
}

// TestSecurityNoLogCanary sends a unique canary in the prompt, the system
// message, a tool call's arguments and a tool result, gets it back in the
// completion and a tool call, streamed and not, with a zdr provider and
// data_collection: deny, at log level debug — and through a provider that
// echoes the prompt in its error — then looks for it in the logs, every
// file of the data dir, /metrics, /generation, /activity and analytics.
func TestSecurityNoLogCanary(t *testing.T) {
	canary := fmt.Sprintf("CANARY%dZQX", time.Now().UnixNano())
	good := httptest.NewServer(canaryUpstream(canary, false))
	defer good.Close()
	bad := httptest.NewServer(canaryUpstream(canary, true))
	defer bad.Close()
	var logs lockedBuffer
	models := `models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: zdr, upstream_model: up-chat, pricing: {prompt: 1, completion: 2}}
  - id: acme/echo
    context_length: 8192
    endpoints:
      - {provider: echo, upstream_model: up-echo, pricing: {prompt: 1, completion: 2}}
`
	e := newLoggedEnv(t, &logs, []mockSpec{
		{name: "zdr", url: good.URL + "/v1", extra: `, data_policy: {zdr: true}`},
		{name: "echo", url: bad.URL + "/v1", extra: `, data_policy: {zdr: true}`},
	}, models, "")
	mgmt, _ := e.issueKey("acme", true)
	msgs := `[{"role":"system","content":"secret ` + canary + `"},{"role":"user","content":"say ` + canary + `"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"c0","type":"function","function":{"name":"note","arguments":"{\"w\":\"` + canary + `\"}"}}]},` +
		`{"role":"tool","tool_call_id":"c0","content":"` + canary + `"}]`
	tools := `"tools":[{"type":"function","function":{"name":"note","description":"` + canary + `","parameters":{"type":"object"}}}]`
	var gens []string
	for _, stream := range []string{"false", "true"} {
		body := `{"model":"acme/chat","stream":` + stream + `,"max_tokens":20,"provider":{"zdr":true,"data_collection":"deny"},"messages":` + msgs + `,` + tools + `}`
		r := e.post("/api/v1/chat/completions", body)
		if r.status != 200 || !strings.Contains(string(r.body), canary) {
			t.Fatalf("stream %s: %d %s", stream, r.status, r.body)
		}
		gens = append(gens, r.header.Get("X-Generation-Id"))
	}
	r := e.post("/api/v1/chat/completions", `{"model":"acme/echo","max_tokens":20,"provider":{"zdr":true},"messages":`+msgs+`}`)
	if r.status < 400 || r.status >= 500 && r.status != 502 {
		t.Fatalf("echoing provider: %d %s", r.status, r.body)
	}
	gens = append(gens, r.header.Get("X-Generation-Id"))
	r = e.post("/api/v1/messages", `{"model":"acme/chat","max_tokens":20,"system":"`+canary+`","messages":[{"role":"user","content":"`+canary+`"}]}`,
		"Authorization", "", "x-api-key", testKey)
	if r.status != 200 {
		t.Fatalf("messages: %d %s", r.status, r.body)
	}
	if err := e.ledger.Flush(); err != nil {
		t.Fatal(err)
	}

	where := map[string][]byte{"logs": nil}
	for _, id := range gens {
		if id == "" {
			// Error answers carry no X-Generation-Id; their record is
			// still covered by the data-dir scan below.
			continue
		}
		g := acctCall(t, "GET", e.api+"/api/v1/generation?id="+id, testKey, "")
		if g.status != 200 {
			t.Fatalf("generation %s: %d %s", id, g.status, g.body)
		}
		where["/generation "+id] = g.body
	}
	where["/metrics"] = e.get(e.admin, "/metrics").body
	where["/activity"] = acctCall(t, "GET", e.api+"/api/v1/activity", mgmt, "").body
	where["/analytics/query"] = acctCall(t, "POST", e.api+"/api/v1/analytics/query", mgmt, `{"group_by":["model","provider","tag","app","user"]}`).body
	e.shutdown(5 * time.Second)
	if err := e.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	where["logs"] = logs.Bytes()
	if len(where["logs"]) == 0 {
		t.Fatal("no log output captured at level debug")
	}
	for name, b := range where {
		if bytes.Contains(b, []byte(canary)) {
			i := bytes.Index(b, []byte(canary))
			t.Errorf("canary found in %s: …%s…", name, b[max(0, i-200):min(len(b), i+60)])
		}
	}
	if p, ok := dataDirContains(t, e.cfg.Node.DataDir, []byte(canary))[0]; ok {
		t.Errorf("canary found in the data dir: %s", p)
	}
}
