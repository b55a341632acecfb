package core_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/routing"
)

func fourEndpointModel(names ...string) string {
	var b strings.Builder
	b.WriteString("models:\n  - id: acme/chat\n    context_length: 8192\n    endpoints:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "      - {provider: %s, upstream_model: up-%s, pricing: {prompt: 1, completion: 2}}\n", n, n)
	}
	return b.String()
}

func (e *env) endpointStats(provider string) routing.EndpointStats {
	e.t.Helper()
	ep, ok := e.router.Snapshot().Endpoint(provider, "acme/chat")
	if !ok {
		e.t.Fatalf("no endpoint %s", provider)
	}
	return e.router.Stats(ep)
}

// Four providers of one model: one always 503, one always 429 with
// Retry-After, one hanging before headers, one healthy. Every request
// succeeds through the healthy one; the failing ones are cooled down or
// circuit-broken so they stop taking traffic, and are probed again later.
func TestRoutingAroundFailingProviders(t *testing.T) {
	rc := routing.Config{CircuitFailures: 2, CircuitOpenDelay: 800 * time.Millisecond, CircuitMaxOpenDelay: time.Second}
	e := newEnvRouting(t, rc, []mockSpec{
		{name: "down", cfg: mock.Config{ErrorRate: 1, ErrorStatus: 503}},
		{name: "limited", cfg: mock.Config{RateLimitRate: 1, RetryAfter: 2 * time.Second}},
		{name: "hang", cfg: mock.Config{HangBeforeHeaders: true, HangFor: 5 * time.Second}, extra: ", timeouts: {first_byte: 150ms}"},
		{name: "ok"},
	}, fourEndpointModel("down", "limited", "hang", "ok"), "")

	const n = 40
	for i := 0; i < n; i++ {
		stream := i%2 == 1
		r := e.post("/api/v1/chat/completions", fmt.Sprintf(`{"model":"acme/chat","stream":%v,"messages":[{"role":"user","content":"hi %d"}]}`, stream, i))
		if r.status != 200 || r.header.Get("X-Tollgate-Provider") != "ok" {
			t.Fatalf("request %d: status %d provider %q: %s", i, r.status, r.header.Get("X-Tollgate-Provider"), r.body)
		}
	}
	// The broken endpoints were tried only until their circuit opened or
	// their cooldown started, plus the odd half-open probe.
	down, limited, hang := e.mocks["down"].Stats().Requests, e.mocks["limited"].Stats().Requests, e.mocks["hang"].Stats().Requests
	if down > 6 || limited > 3 || hang > 6 {
		t.Fatalf("failing providers kept getting traffic: down=%d limited=%d hang=%d of %d", down, limited, hang, n)
	}
	if st := e.endpointStats("down"); st.Healthy || st.Circuit.String() == "closed" {
		t.Fatalf("down: %+v", st)
	}
	if st := e.endpointStats("limited"); st.CooldownUntil.IsZero() {
		t.Fatalf("limited has no cooldown: %+v", st)
	}

	// The provider recovers: after the open delay a half-open probe reaches
	// it, succeeds, and it takes traffic again.
	_ = e.mocks["down"].SetConfig(mock.Config{})
	before := e.mocks["down"].Stats().Requests
	eventually(t, 10*time.Second, "a probe to reach the recovered provider", func() bool {
		r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"again"}]}`)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		return e.mocks["down"].Stats().Requests > before && e.endpointStats("down").Circuit.String() == "closed"
	})
}

// A latency-sorted route follows a provider whose TTFT changes at run time.
func TestLatencySortFollowsTTFT(t *testing.T) {
	rc := routing.Config{TTFTHalfLife: 500 * time.Millisecond}
	e := newEnvRouting(t, rc, []mockSpec{
		{name: "a", cfg: mock.Config{Tokens: 2, TTFT: 10 * time.Millisecond, RoleAfterTTFT: true}},
		{name: "b", cfg: mock.Config{Tokens: 2, TTFT: 120 * time.Millisecond, RoleAfterTTFT: true}},
	}, fourEndpointModel("a", "b"), "")
	req := func(prov string) string {
		p := `"sort":"latency"`
		if prov != "" {
			p = `"only":["` + prov + `"]`
		}
		r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}],"provider":{`+p+`}}`)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		return r.header.Get("X-Tollgate-Provider")
	}
	for i := 0; i < 3; i++ { // both measured
		req("a")
		req("b")
	}
	for i := 0; i < 5; i++ {
		if got := req(""); got != "a" {
			t.Fatalf("sort=latency picked %q with a faster", got)
		}
	}
	_ = e.mocks["a"].SetConfig(mock.Config{Tokens: 2, TTFT: 400 * time.Millisecond, RoleAfterTTFT: true})
	start := time.Now()
	eventually(t, 8*time.Second, "the latency sort to move to b", func() bool { return req("") == "b" })
	t.Logf("latency sort moved to b %v after a slowed down", time.Since(start).Round(time.Millisecond))
}
