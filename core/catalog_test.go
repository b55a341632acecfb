package core_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/routing"
)

func (e *env) adminReq(method, path, body string) result {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.admin+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer test-admin-key")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}
}

// Runtime catalog changes through the admin API take effect without a
// restart and are persisted (synced) in the node's catalog store.
func TestAdminCatalogChanges(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 10}}, {name: "p2", cfg: mock.Config{Tokens: 10}}}, oneModel, "")
	costOf := func() float64 {
		r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}`)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		return decode(t, r.body)["usage"].(map[string]any)["cost"].(float64)
	}
	before := costOf()
	// Price change: ten times the price.
	r := e.adminReq("PUT", "/admin/v1/catalog/prices", `{"model":"acme/chat","provider":"p1","pricing":{"prompt":10,"completion":20}}`)
	if r.status != 200 {
		t.Fatalf("price: %d %s", r.status, r.body)
	}
	if after := costOf(); after < before*9.99 || after > before*10.01 {
		t.Fatalf("cost %v after a 10× price change, before %v", after, before)
	}
	if m := e.get(e.api, "/api/v1/models"); !strings.Contains(string(m.body), `"prompt":"0.00001"`) {
		t.Fatalf("/models does not show the new price: %s", m.body)
	}
	// A new model with an endpoint on p2, live at once.
	if r := e.adminReq("POST", "/admin/v1/catalog/models", `{"id":"acme/new","name":"New","context_length":4096}`); r.status != 200 {
		t.Fatalf("model: %d %s", r.status, r.body)
	}
	if r := e.adminReq("POST", "/admin/v1/catalog/endpoints", `{"model":"acme/new","provider":"p2","upstream_model":"new-up","pricing":{"prompt":"0.5","completion":1}}`); r.status != 200 {
		t.Fatalf("endpoint: %d %s", r.status, r.body)
	}
	r = e.post("/api/v1/chat/completions", `{"model":"acme/new","messages":[{"role":"user","content":"hi"}]}`)
	if r.status != 200 || r.header.Get("X-Tollgate-Provider") != "p2" {
		t.Fatalf("new model: %d %s", r.status, r.body)
	}
	// Disabling the only provider of acme/chat leaves no endpoint.
	if r := e.adminReq("POST", "/admin/v1/catalog/providers/p1/disable", ""); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	r = e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}`)
	if r.status != 404 {
		t.Fatalf("disabled provider still served: %d %s", r.status, r.body)
	}
	// Bad input.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/admin/v1/catalog/endpoints", `{"model":"acme/new","provider":"nowhere","upstream_model":"x"}`},
		{"PUT", "/admin/v1/catalog/prices", `{"model":"acme/chat","provider":"p1","pricing":{"prompt":-1}}`},
		{"POST", "/admin/v1/catalog/models", `{"id":"no-slash"}`},
		{"POST", "/admin/v1/catalog/models", `{"id":"a/b","bogus":1}`},
	} {
		if r := e.adminReq(c.method, c.path, c.body); r.status != 400 {
			t.Fatalf("%s %s %s: %d %s", c.method, c.path, c.body, r.status, r.body)
		}
	}
	// Persisted: a fresh router replaying the store sees every change.
	recs, err := e.catalog.Load()
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d stored records (%v), want 4", len(recs), err)
	}
	fresh, err := routing.New(routing.Config{}, routing.Catalog{Providers: []routing.Provider{{Name: "p1"}, {Name: "p2"}}}, time.Now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.ApplyAll(recs); err != nil {
		t.Fatal(err)
	}
	if _, ok := fresh.Snapshot().Endpoint("p2", "acme/new"); !ok {
		t.Fatal("replayed catalog lacks the new endpoint")
	}
}
