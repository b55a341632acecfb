package core_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

const adminKey = "test-admin-key"

// acctChat is a small paid request: max_tokens keeps its reservation low.
const acctChat = `{"model":"acme/chat","messages":[{"role":"user","content":"Hello there"}],"max_tokens":50}`

// acctCall sends one request; key "" sends no Authorization header.
func acctCall(t testing.TB, method, u, key, body string, hdr ...string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, b}
}

// obj decodes a JSON object keeping numbers exact (json.Number).
func obj(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

// dataObj returns the "data" object of a 2xx answer with the wanted status.
func dataObj(t testing.TB, r result, status int) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	d, ok := obj(t, r.body)["data"].(map[string]any)
	if !ok {
		t.Fatalf("no data object: %s", r.body)
	}
	return d
}

func dataList(t testing.TB, r result) []any {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	d, ok := obj(t, r.body)["data"].([]any)
	if !ok {
		t.Fatalf("no data list: %s", r.body)
	}
	return d
}

// nano reads a JSON number of USD as nano-USD, exactly.
func nano(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	x, err := routing.ParseUSD(string(n))
	if err != nil {
		t.Fatalf("%s: %v", n, err)
	}
	return x
}

func count(t testing.TB, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	x, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// wantError checks an error answer's status and that its message says sub.
func wantError(t *testing.T, r result, status int, sub string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	code, msg, _ := errorOf(t, r.body)
	if code != status || !strings.Contains(msg, sub) {
		t.Fatalf("error %d %q, want %d containing %q", code, msg, status, sub)
	}
}

// paidChat makes one request with key and returns its cost and generation id.
func paidChat(t testing.TB, e *env, key string, hdr ...string) (int64, string) {
	t.Helper()
	r := e.post("/api/v1/chat/completions", acctChat, append([]string{"Authorization", "Bearer " + key}, hdr...)...)
	if r.status != http.StatusOK {
		t.Fatalf("chat: status %d: %s", r.status, r.body)
	}
	cost, err := routing.ParseUSD(r.header.Get("X-Tollgate-Cost"))
	if err != nil || cost <= 0 {
		t.Fatalf("X-Tollgate-Cost %q: %v", r.header.Get("X-Tollgate-Cost"), err)
	}
	return cost, r.header.Get("X-Generation-Id")
}

func (e *env) adminDo(method, path, body string, hdr ...string) result {
	e.t.Helper()
	return acctCall(e.t, method, e.admin+path, adminKey, body, hdr...)
}

// issueKey creates a key for account through the admin API and returns
// its secret and hash.
func (e *env) issueKey(account string, management bool) (string, string) {
	e.t.Helper()
	body := `{"name":"issued","management":false}`
	if management {
		body = `{"name":"mgmt","management":true}`
	}
	r := e.adminDo("POST", "/admin/v1/accounts/"+url.PathEscape(account)+"/keys", body)
	d := dataObj(e.t, r, http.StatusCreated)
	secret, _ := obj(e.t, r.body)["key"].(string)
	prefix := ledger.InferenceKeyPrefix
	if management {
		prefix = ledger.ManagementKeyPrefix
	}
	if !strings.HasPrefix(secret, prefix) || d["management"] != management {
		e.t.Fatalf("issued key %q: %s", secret, r.body)
	}
	return secret, d["hash"].(string)
}

func newAcctEnv(t *testing.T) *env {
	return newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 16}}}, oneModel, "")
}

func TestAccountCurrentKeyAndCredits(t *testing.T) {
	e := newAcctEnv(t)
	for _, p := range []string{"/api/v1/key", "/v1/key", "/api/v1/auth/key", "/v1/auth/key"} {
		d := dataObj(t, acctCall(t, "GET", e.api+p, testKey, ""), http.StatusOK)
		if d["label"] == "" || d["limit"] != nil || d["limit_remaining"] != nil || d["limit_reset"] != nil ||
			d["is_provisioning_key"] != false || d["is_free_tier"] != false || nano(t, d["usage"]) != 0 ||
			d["hash"] != ledger.HashSecret([]byte(testKey)).String() || d["expires_at"] != nil {
			t.Fatalf("%s: %v", p, d)
		}
	}
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/key", "", ""), 401, "missing API key")
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/key", "sk-tg-v1-nope", ""), 401, "invalid API key")
	wantError(t, acctCall(t, "POST", e.api+"/api/v1/key", testKey, "{}"), 405, "method")
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/credits", "", ""), 401, "missing")

	d := dataObj(t, acctCall(t, "GET", e.api+"/api/v1/credits", testKey, ""), http.StatusOK)
	if nano(t, d["total_credits"]) != 100e9 || nano(t, d["total_usage"]) != 0 {
		t.Fatalf("credits before: %v", d)
	}
	c1, _ := paidChat(t, e, testKey)
	c2, _ := paidChat(t, e, testKey)
	d = dataObj(t, acctCall(t, "GET", e.api+"/v1/key", testKey, ""), http.StatusOK)
	for _, f := range []string{"usage", "usage_daily", "usage_weekly", "usage_monthly"} {
		if got := nano(t, d[f]); got != c1+c2 {
			t.Errorf("%s = %d nano, want %d", f, got, c1+c2)
		}
	}
	d = dataObj(t, acctCall(t, "GET", e.api+"/v1/credits", testKey, ""), http.StatusOK)
	if nano(t, d["total_credits"]) != 100e9 || nano(t, d["total_usage"]) != c1+c2 {
		t.Fatalf("credits after two requests costing %d: %v", c1+c2, d)
	}

	// Grants: by name and by id, idempotent per key.
	grant := func(ref, amount, idem string) result {
		hdr := []string{}
		if idem != "" {
			hdr = []string{"Idempotency-Key", idem}
		}
		return e.adminDo("POST", "/admin/v1/accounts/"+ref+"/credits", `{"amount":`+amount+`}`, hdr...)
	}
	g := dataObj(t, grant("acme", "5.5", "g1"), http.StatusOK)
	if nano(t, g["total_credits"]) != 105_500_000_000 || nano(t, g["amount"]) != 5_500_000_000 || g["idempotency_key"] != "g1" {
		t.Fatalf("grant: %v", g)
	}
	g = dataObj(t, grant(ledger.AccountID("acme"), `"5.50"`, "g1"), http.StatusOK) // same key, same amount: no-op
	if nano(t, g["total_credits"]) != 105_500_000_000 {
		t.Fatalf("repeated grant counted twice: %v", g)
	}
	wantError(t, grant("acme", "6", "g1"), 409, "another amount")
	wantError(t, grant("acme", "6", ""), 400, "Idempotency-Key")
	wantError(t, grant("acme", "0", "g2"), 400, "more than 0")
	wantError(t, grant("acme", "-1", "g2"), 400, "amount")
	wantError(t, grant("acme", `"lots"`, "g2"), 400, "amount")
	wantError(t, grant("nobody", "1", "g2"), 404, "no such account")
	wantError(t, e.adminDo("POST", "/admin/v1/accounts/acme/credits", `{}`, "Idempotency-Key", "g2"), 400, "amount is required")
	wantError(t, acctCall(t, "POST", e.admin+"/admin/v1/accounts/acme/credits", "", `{"amount":1}`, "Idempotency-Key", "g3"), 401, "admin")
	wantError(t, acctCall(t, "POST", e.admin+"/admin/v1/accounts/acme/credits", testKey, `{"amount":1}`, "Idempotency-Key", "g3"), 401, "admin")
	wantError(t, e.adminDo("PUT", "/admin/v1/accounts/acme/credits", `{"amount":1}`), 405, "method")

	d = dataObj(t, acctCall(t, "GET", e.api+"/api/v1/credits", testKey, ""), http.StatusOK)
	if nano(t, d["total_credits"]) != 105_500_000_000 {
		t.Fatalf("credits after grant: %v", d)
	}
	cr := dataObj(t, e.adminDo("GET", "/admin/v1/accounts/acme/credits", ""), http.StatusOK)
	grants, _ := cr["grants"].([]any)
	if len(grants) != 2 || nano(t, cr["balance"]) != 105_500_000_000-c1-c2 {
		t.Fatalf("admin credits: %v", cr)
	}
}

func TestAccountAdminAccounts(t *testing.T) {
	e := newAcctEnv(t)
	d := dataObj(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":"globex"}`), http.StatusCreated)
	if d["id"] != ledger.AccountID("globex") || d["name"] != "globex" || nano(t, d["total_credits"]) != 0 || count(t, d["keys"]) != 0 {
		t.Fatalf("created: %v", d)
	}
	wantError(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":"globex"}`), 409, "exists")
	wantError(t, e.adminDo("POST", "/admin/v1/accounts", `{}`), 400, "name is required")
	wantError(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":`), 400, "JSON object")
	wantError(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":7}`), 400, "name")
	wantError(t, e.adminDo("GET", "/admin/v1/nothing", ""), 404, "no such endpoint")
	wantError(t, e.adminDo("GET", "/admin/v1/accounts/globex/nothing", ""), 404, "no such endpoint")

	// Any character is fine in a name once escaped.
	dataObj(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":"team/a b"}`), http.StatusCreated)
	if d := dataObj(t, e.adminDo("GET", "/admin/v1/accounts/"+url.PathEscape("team/a b"), ""), http.StatusOK); d["name"] != "team/a b" {
		t.Fatalf("escaped name: %v", d)
	}

	list := dataList(t, e.adminDo("GET", "/admin/v1/accounts", ""))
	byName := map[string]map[string]any{}
	for _, v := range list {
		a := v.(map[string]any)
		byName[a["name"].(string)] = a
	}
	if len(list) != 3 || nano(t, byName["acme"]["balance"]) != 100e9 || count(t, byName["acme"]["keys"]) != 1 || byName["globex"] == nil {
		t.Fatalf("list: %s", list)
	}
	for _, ref := range []string{"globex", ledger.AccountID("globex")} {
		if d := dataObj(t, e.adminDo("GET", "/admin/v1/accounts/"+ref, ""), http.StatusOK); d["id"] != ledger.AccountID("globex") {
			t.Fatalf("%s: %v", ref, d)
		}
	}
	wantError(t, e.adminDo("GET", "/admin/v1/accounts/nope", ""), 404, "no such account")

	// A key issued by the operator works at once, within the account's credits.
	key, hash := e.issueKey("globex", false)
	r := e.post("/api/v1/chat/completions", acctChat, "Authorization", "Bearer "+key)
	wantError(t, r, 402, "can only afford")
	dataObj(t, e.adminDo("POST", "/admin/v1/accounts/globex/credits", `{"amount":1}`, "Idempotency-Key", "first"), http.StatusOK)
	cost, _ := paidChat(t, e, key)
	d = dataObj(t, e.adminDo("GET", "/admin/v1/keys/"+hash, ""), http.StatusOK)
	if nano(t, d["usage"]) != cost || d["account_id"] != ledger.AccountID("globex") {
		t.Fatalf("admin key view: %v", d)
	}
	keys := dataList(t, e.adminDo("GET", "/admin/v1/accounts/globex/keys", ""))
	if len(keys) != 1 || keys[0].(map[string]any)["hash"] != hash {
		t.Fatalf("keys: %v", keys)
	}
	d = dataObj(t, e.adminDo("PATCH", "/admin/v1/keys/"+hash, `{"disabled":true}`), http.StatusOK)
	if d["disabled"] != true || d["updated_at"] == nil {
		t.Fatalf("patched: %v", d)
	}
	wantError(t, e.post("/api/v1/chat/completions", acctChat, "Authorization", "Bearer "+key), 401, "disabled")
	if r := e.adminDo("DELETE", "/admin/v1/keys/"+hash, ""); r.status != 200 || obj(t, r.body)["deleted"] != true {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, e.adminDo("GET", "/admin/v1/keys/"+hash, ""), 404, "no such key")
	wantError(t, e.adminDo("GET", "/admin/v1/keys/xyz", ""), 400, "hash")
	wantError(t, e.adminDo("POST", "/admin/v1/accounts/globex/keys", `{"limit_reset":"yearly"}`), 400, "limit_reset")
}

func TestAccountProvisioningKeys(t *testing.T) {
	e := newAcctEnv(t)
	mgmt, _ := e.issueKey("acme", true)
	api := e.api + "/api/v1"

	// Inference keys cannot manage keys; management keys cannot infer.
	wantError(t, acctCall(t, "GET", api+"/keys", testKey, ""), 403, "management key")
	wantError(t, acctCall(t, "POST", api+"/keys", testKey, `{"name":"x"}`), 403, "management key")
	wantError(t, acctCall(t, "GET", api+"/keys", "", ""), 401, "missing")
	wantError(t, e.post("/api/v1/chat/completions", acctChat, "Authorization", "Bearer "+mgmt), 403, "management keys cannot")
	if d := dataObj(t, acctCall(t, "GET", api+"/key", mgmt, ""), http.StatusOK); d["is_provisioning_key"] != true {
		t.Fatalf("GET /key of a management key: %v", d)
	}

	// Create: 201, plaintext once, usable at once.
	r := acctCall(t, "POST", api+"/keys", mgmt, `{"name":"svc","limit":2.5,"limit_reset":"weekly","expires_at":"2999-01-01T00:00:00Z"}`)
	d := dataObj(t, r, http.StatusCreated)
	key, _ := obj(t, r.body)["key"].(string)
	hash, _ := d["hash"].(string)
	if !strings.HasPrefix(key, ledger.InferenceKeyPrefix) || hash != ledger.HashSecret([]byte(key)).String() ||
		d["name"] != "svc" || nano(t, d["limit"]) != 2_500_000_000 || nano(t, d["limit_remaining"]) != 2_500_000_000 ||
		d["limit_reset"] != "weekly" || d["expires_at"] != "2999-01-01T00:00:00Z" || d["disabled"] != false || d["updated_at"] != nil {
		t.Fatalf("created: %s", r.body)
	}
	if strings.Contains(string(dataList(t, acctCall(t, "GET", api+"/keys", mgmt, ""))[0].(map[string]any)["label"].(string)), key) {
		t.Fatal("the list shows a secret")
	}
	cost, _ := paidChat(t, e, key)
	d = dataObj(t, acctCall(t, "GET", api+"/key", key, ""), http.StatusOK)
	if nano(t, d["usage"]) != cost || nano(t, d["limit_remaining"]) != 2_500_000_000-cost || d["name"] != "svc" {
		t.Fatalf("GET /key after a request costing %d: %v", cost, d)
	}

	// List and get.
	list := dataList(t, acctCall(t, "GET", e.api+"/v1/keys", mgmt, ""))
	if len(list) != 3 { // the seeded key, the management key, svc
		t.Fatalf("list: %v", list)
	}
	d = dataObj(t, acctCall(t, "GET", api+"/keys/"+hash, mgmt, ""), http.StatusOK)
	if nano(t, d["usage"]) != cost {
		t.Fatalf("get: %v", d)
	}

	// PATCH disabled → 401 on inference; enabled again → 200.
	d = dataObj(t, acctCall(t, "PATCH", api+"/keys/"+hash, mgmt, `{"disabled":true,"name":"svc2"}`), http.StatusOK)
	if d["disabled"] != true || d["name"] != "svc2" || d["limit_reset"] != "weekly" {
		t.Fatalf("patched: %v", d)
	}
	wantError(t, e.post("/api/v1/chat/completions", acctChat, "Authorization", "Bearer "+key), 401, "disabled")
	dataObj(t, acctCall(t, "PATCH", api+"/keys/"+hash, mgmt, `{"disabled":false}`), http.StatusOK)
	paidChat(t, e, key)

	// A limit below what the request may cost → 402; null removes it.
	d = dataObj(t, acctCall(t, "PATCH", api+"/keys/"+hash, mgmt, `{"limit":"0.00001","limit_reset":null}`), http.StatusOK)
	if d["limit_reset"] != nil || nano(t, d["limit"]) != 10_000 || nano(t, d["limit_remaining"]) != 0 {
		t.Fatalf("limited: %v", d)
	}
	wantError(t, e.post("/api/v1/chat/completions", acctChat, "Authorization", "Bearer "+key), 402, "can only afford")
	d = dataObj(t, acctCall(t, "PATCH", api+"/keys/"+hash, mgmt, `{"limit":null}`), http.StatusOK)
	if d["limit"] != nil || d["limit_remaining"] != nil {
		t.Fatalf("unlimited: %v", d)
	}
	paidChat(t, e, key)

	// Bad input.
	for body, sub := range map[string]string{
		`{}`:                             "name is required",
		`{"name":""}`:                    "name is required",
		`{"name":"x","limit":-1}`:        "limit",
		`{"name":"x","limit":"ten"}`:     "limit",
		`{"name":"x","limit":true}`:      "limit",
		`{"name":"x","limit_reset":"y"}`: "limit_reset",
		`{"name":"x","expires_at":"2000-01-01T00:00:00Z"}`: "future",
		`{"name":"x","expires_at":"tomorrow"}`:             "expires_at",
		`{"name":"x","disabled":"yes"}`:                    "disabled",
		`[1,2]`:                                            "JSON object",
	} {
		wantError(t, acctCall(t, "POST", api+"/keys", mgmt, body), 400, sub)
	}
	wantError(t, acctCall(t, "POST", api+"/keys", mgmt, `{"name":"x","management":true}`), 403, "admin API")
	wantError(t, acctCall(t, "PATCH", api+"/keys/"+hash, mgmt, `{"limit":"x"}`), 400, "limit")
	wantError(t, acctCall(t, "GET", api+"/keys/not-a-hash", mgmt, ""), 400, "hash")
	wantError(t, acctCall(t, "GET", api+"/keys/"+strings.Repeat("0", 64), mgmt, ""), 404, "no such key")
	wantError(t, acctCall(t, "PUT", api+"/keys/"+hash, mgmt, "{}"), 405, "method")

	// Another account's management key sees none of acme's keys.
	dataObj(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":"globex"}`), http.StatusCreated)
	other, _ := e.issueKey("globex", true)
	if l := dataList(t, acctCall(t, "GET", api+"/keys", other, "")); len(l) != 1 {
		t.Fatalf("globex sees %d keys", len(l))
	}
	for _, m := range []string{"GET", "PATCH", "DELETE"} {
		wantError(t, acctCall(t, m, api+"/keys/"+hash, other, `{"disabled":true}`), 404, "no such key")
	}
	paidChat(t, e, key) // untouched by globex

	// Delete: gone for inference and for the API.
	if r := acctCall(t, "DELETE", api+"/keys/"+hash, mgmt, ""); r.status != 200 || obj(t, r.body)["deleted"] != true {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, e.post("/api/v1/chat/completions", acctChat, "Authorization", "Bearer "+key), 401, "invalid API key")
	wantError(t, acctCall(t, "GET", api+"/keys/"+hash, mgmt, ""), 404, "no such key")
}

func TestAccountGeneration(t *testing.T) {
	e := newAcctEnv(t)
	body := `{"model":"acme/chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":50,"user":"u-42","session_id":"s-1","metadata":{"tags":["feature:sum"]}}`
	r := e.post("/v1/chat/completions", body, "X-Title", "my-app", "HTTP-Referer", "https://example.com/",
		"X-Tollgate-Tags", "team:search, env:test")
	if r.status != 200 {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	id := r.header.Get("X-Generation-Id")
	cost, _ := routing.ParseUSD(r.header.Get("X-Tollgate-Cost"))

	d := dataObj(t, acctCall(t, "GET", e.api+"/api/v1/generation?id="+id, testKey, ""), http.StatusOK)
	if d["id"] != id || d["model"] != "acme/chat" || d["provider_name"] != "p1" || d["upstream_model"] != "up-chat" ||
		d["app"] != "my-app" || d["http_referer"] != "https://example.com/" || d["user"] != "u-42" || d["session_id"] != "s-1" ||
		d["streamed"] != false || d["cancelled"] != false || d["finish_reason"] != "stop" || d["api_type"] != "completions" ||
		d["node"] != "test-node" || count(t, d["tokens_completion"]) != 16 || count(t, d["native_tokens_completion"]) != 16 ||
		count(t, d["tokens_prompt"]) <= 0 || nano(t, d["total_cost"]) != cost || nano(t, d["usage"]) != cost ||
		d["key_hash"] != ledger.HashSecret([]byte(testKey)).String() {
		t.Fatalf("generation: %s", r.body)
	}
	if lat, _ := d["latency"].(json.Number).Float64(); lat <= 0 {
		t.Errorf("latency %v", d["latency"])
	}
	if _, err := time.Parse(time.RFC3339Nano, d["created_at"].(string)); err != nil {
		t.Errorf("created_at: %v", err)
	}
	tags := map[string]bool{}
	for _, v := range d["tags"].([]any) {
		tags[v.(string)] = true
	}
	if len(tags) != 3 || !tags["team:search"] || !tags["env:test"] || !tags["feature:sum"] {
		t.Errorf("tags: %v", d["tags"])
	}
	at := d["attempts"].([]any)
	if len(at) != 1 || at[0].(map[string]any)["provider"] != "p1" || count(t, at[0].(map[string]any)["status"]) != 200 {
		t.Errorf("attempts: %v", at)
	}

	// A streamed request is recorded once the stream ends.
	sr := e.post("/api/v1/chat/completions", strings.Replace(acctChat, `"max_tokens":50`, `"max_tokens":50,"stream":true`, 1))
	if sr.status != 200 {
		t.Fatalf("stream: %d %s", sr.status, sr.body)
	}
	sid := sr.header.Get("X-Generation-Id")
	var sd map[string]any
	eventually(t, 5*time.Second, "streamed generation", func() bool {
		r := acctCall(t, "GET", e.api+"/v1/generation?id="+sid, testKey, "")
		if r.status != 200 {
			return false
		}
		sd = obj(t, r.body)["data"].(map[string]any)
		return true
	})
	if sd["streamed"] != true || count(t, sd["tokens_completion"]) != 16 || nano(t, sd["total_cost"]) <= 0 {
		t.Fatalf("streamed generation: %v", sd)
	}

	// Errors.
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/generation", testKey, ""), 400, "id")
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/generation?id="+id, "", ""), 401, "missing")
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/generation?id=gen-test-node-0000000000000000x", testKey, ""), 404, "not found")
	r = acctCall(t, "GET", e.api+"/api/v1/generation?id=gen-far-node-00000000000000000", testKey, "")
	wantError(t, r, 404, `"far-node"`)
	if _, _, md := errorOf(t, r.body); md["node"] != "far-node" {
		t.Errorf("metadata: %v", md)
	}
	dataObj(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":"globex"}`), http.StatusCreated)
	otherKey, _ := e.issueKey("globex", false)
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/generation?id="+id, otherKey, ""), 404, "not found")
}

func TestAccountActivity(t *testing.T) {
	e := newAcctEnv(t)
	mgmt, _ := e.issueKey("acme", true)
	var total int64
	for range 3 {
		c, _ := paidChat(t, e, testKey)
		total += c
	}
	check := func(path string, wantRows int) {
		t.Helper()
		rows := dataList(t, acctCall(t, "GET", e.api+path, mgmt, ""))
		if len(rows) != wantRows {
			t.Fatalf("%s: %d rows: %v", path, len(rows), rows)
		}
		if wantRows == 0 {
			return
		}
		row := rows[0].(map[string]any)
		if row["date"] != time.Now().UTC().Format(time.DateOnly) || row["model"] != "acme/chat" || row["provider_name"] != "p1" ||
			count(t, row["requests"]) != 3 || count(t, row["completion_tokens"]) != 48 || nano(t, row["usage"]) != total {
			t.Fatalf("%s: %v (want usage %d)", path, row, total)
		}
	}
	check("/api/v1/activity", 1)
	check("/v1/activity?date="+time.Now().UTC().Format(time.DateOnly), 1)
	check("/v1/activity?date=2001-01-01", 0)
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/activity?date=01/02/2003", mgmt, ""), 400, "YYYY-MM-DD")
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/activity", testKey, ""), 403, "management key")
}

func TestAccountAnalyticsQuery(t *testing.T) {
	e := newAcctEnv(t)
	mgmt, _ := e.issueKey("acme", true)
	want := map[string]int64{}
	reqs := map[string]int64{}
	for _, tags := range []string{"team:search", "team:search,feature:x", "team:ads", ""} {
		hdr := []string{}
		if tags != "" {
			hdr = []string{"X-Tollgate-Tags", tags}
		}
		c, _ := paidChat(t, e, testKey, hdr...)
		for _, tag := range strings.Split(tags, ",") {
			want[tag] += c
			reqs[tag]++
		}
	}
	now := time.Now().UTC()
	from, to := now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Unix()
	query := func(key, base, body string, hdr ...string) result {
		return acctCall(t, "POST", base+"/analytics/query", key, body, hdr...)
	}
	body := `{"from":"` + from + `","to":` + jsonInt(to) + `,"granularity":"day","group_by":["tag"],"metrics":["requests","cost","latency_p50"]}`
	res := dataObj(t, query(mgmt, e.api+"/api/v1", body), http.StatusOK)
	got, gotReqs := map[string]int64{}, map[string]int64{}
	for _, v := range res["rows"].([]any) {
		row := v.(map[string]any)
		tag := row["group"].(map[string]any)["tag"].(string)
		st := row["stats"].(map[string]any)
		got[tag] += nano(t, st["cost"])
		gotReqs[tag] += count(t, st["requests"])
		if p50, _ := st["latency_p50"].(json.Number).Float64(); p50 <= 0 {
			t.Errorf("latency_p50 %v", st["latency_p50"])
		}
		if len(st) != 3 {
			t.Errorf("stats beyond the requested metrics: %v", st)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
	for tag, c := range want {
		if got[tag] != c || gotReqs[tag] != reqs[tag] {
			t.Errorf("tag %q: cost %d requests %d, want %d and %d", tag, got[tag], gotReqs[tag], c, reqs[tag])
		}
	}
	if res["per_tag"] != true || res["granularity"] != "day" {
		t.Errorf("result head: %v", res)
	}

	// A filter, by the admin across accounts, and as CSV.
	res = dataObj(t, query(adminKey, e.admin+"/admin/v1", `{"from":"`+from+`","granularity":"hour","filters":{"tag":"team:search"},"group_by":["account","model"]}`), http.StatusOK)
	var n int64
	for _, v := range res["rows"].([]any) {
		row := v.(map[string]any)
		if g := row["group"].(map[string]any); g["account"] != ledger.AccountID("acme") || g["model"] != "acme/chat" {
			t.Fatalf("group %v", g)
		}
		n += count(t, row["stats"].(map[string]any)["requests"])
	}
	if n != 2 {
		t.Fatalf("filtered requests %d, want 2", n)
	}
	csv := query(mgmt, e.api+"/v1", `{"from":"`+from+`","group_by":["tag"],"metrics":["requests","cost"]}`, "Accept", "text/csv")
	if csv.status != 200 || !strings.HasPrefix(csv.header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(string(csv.body), "bucket,tag,requests,cost\n") || !strings.Contains(string(csv.body), ",team:ads,1,") {
		t.Fatalf("csv: %d %s", csv.status, csv.body)
	}

	// Another account's management key sees nothing of acme; it cannot
	// name another account.
	dataObj(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":"globex"}`), http.StatusCreated)
	other, _ := e.issueKey("globex", true)
	if rows := dataObj(t, query(other, e.api+"/api/v1", `{"from":"`+from+`"}`), http.StatusOK)["rows"].([]any); len(rows) != 0 {
		t.Fatalf("globex sees %v", rows)
	}
	wantError(t, query(other, e.api+"/api/v1", `{"account":"acme"}`), 403, "own account")
	res = dataObj(t, query(adminKey, e.admin+"/admin/v1", `{"from":"`+from+`","account":"globex"}`), http.StatusOK)
	if rows := res["rows"].([]any); len(rows) != 0 {
		t.Fatalf("admin query of globex: %v", rows)
	}

	for b, sub := range map[string]string{
		`{"granularity":"week"}`:            "granularity",
		`{"group_by":["color"]}`:            `"color"`,
		`{"group_by":["tag","tag"]}`:        "twice",
		`{"filters":{"shade":["x"]}}`:       `"shade"`,
		`{"filters":{"tag":[]}}`:            "at least one",
		`{"metrics":["joy"]}`:               `"joy"`,
		`{"from":"yesterday"}`:              "from",
		`{"to":-5}`:                         "to",
		`{"from":"2030-01-01T00:00:00Z"}`:   "before",
		`{"granularity":"minute","from":0}`: "buckets",
		`{"group_by":7}`:                    "invalid analytics query",
		`not json`:                          "invalid analytics query",
	} {
		wantError(t, query(mgmt, e.api+"/api/v1", b), 400, sub)
	}
	wantError(t, query(testKey, e.api+"/api/v1", `{}`), 403, "management key")
	wantError(t, acctCall(t, "GET", e.api+"/api/v1/analytics/query", mgmt, ""), 405, "method")
	wantError(t, query(adminKey, e.admin+"/admin/v1", `{"account":"nobody"}`), 404, "no such account")
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestAccountGenerationAttempts(t *testing.T) {
	e := newEnv(t, []mockSpec{
		{name: "p1", cfg: mock.Config{ErrorRate: 1, ErrorStatus: 503}},
		{name: "p2", cfg: mock.Config{Tokens: 16}},
	}, twoProviderModel("p1", "p2"), "")
	body := `{"model":"acme/chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":50,"provider":{"order":["p1","p2"]}}`
	r := e.post("/api/v1/chat/completions", body)
	if r.status != 200 || r.header.Get("X-Tollgate-Attempts") != "2" {
		t.Fatalf("chat: %d %v %s", r.status, r.header, r.body)
	}
	d := dataObj(t, acctCall(t, "GET", e.api+"/api/v1/generation?id="+r.header.Get("X-Generation-Id"), testKey, ""), http.StatusOK)
	at := d["attempts"].([]any)
	if d["provider_name"] != "p2" || len(at) != 2 {
		t.Fatalf("generation: %v", d)
	}
	first, second := at[0].(map[string]any), at[1].(map[string]any)
	if first["provider"] != "p1" || count(t, first["status"]) != 503 || first["error"] == nil ||
		second["provider"] != "p2" || count(t, second["status"]) != 200 {
		t.Fatalf("attempts: %v", at)
	}
	if pr := d["provider_responses"].([]any); len(pr) != 2 {
		t.Fatalf("provider_responses: %v", pr)
	}
}
