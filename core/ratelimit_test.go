package core_test

import (
	"strconv"
	"testing"

	"github.com/tollgate/tollgate/bench/mock"
)

func TestFreeModelRateLimit(t *testing.T) {
	models := `models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: p1, upstream_model: up-chat, pricing: {prompt: 1, completion: 2}}
  - id: acme/free
    context_length: 8192
    endpoints:
      - {provider: p1, upstream_model: up-free, pricing: {prompt: 0, completion: 0}}
`
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 3}}}, models, "limits: {free_requests_per_minute: 3, free_requests_per_day: 100}\n")
	free := `{"model":"acme/free","messages":[{"role":"user","content":"hi"}]}`
	for i := 0; i < 3; i++ {
		if r := e.post("/api/v1/chat/completions", free); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
	}
	r := e.post("/api/v1/chat/completions", free)
	if code, _, _ := errorOf(t, r.body); r.status != 429 || code != 429 {
		t.Fatalf("4th free request: %d %s", r.status, r.body)
	}
	ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if ra < 1 || ra > 60 || r.header.Get("X-RateLimit-Limit") != "3" || r.header.Get("X-RateLimit-Remaining") != "0" || r.header.Get("X-RateLimit-Reset") == "" {
		t.Fatalf("rate limit headers: %v", r.header)
	}
	// Paid models are not limited by the free quota.
	if r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}`); r.status != 200 {
		t.Fatalf("paid request: %d %s", r.status, r.body)
	}
}

func TestKeyRequestsPerMinute(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 3}}}, oneModel, "limits: {key_requests_per_minute: 5}\n")
	n429 := 0
	for i := 0; i < 8; i++ {
		r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]}`)
		if r.status == 429 {
			n429++
		}
	}
	if n429 != 3 {
		t.Fatalf("%d of 8 requests limited with RPM 5, want 3", n429)
	}
}
