package core_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/bench/mock"
)

// Middle-out context compression: on by default for small contexts, it
// drops middle messages (keeping the first and the last) so the request
// fits; "transforms": [] turns it off.
func TestMiddleOutCompression(t *testing.T) {
	models := `models:
  - id: acme/small
    context_length: 2048
    endpoints:
      - {provider: p1, upstream_model: up-small, pricing: {prompt: 1, completion: 2}}
`
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 5}}}, models, "")
	var msgs []string
	msgs = append(msgs, `{"role":"system","content":"FIRST"}`)
	for i := 0; i < 40; i++ {
		msgs = append(msgs, fmt.Sprintf(`{"role":"user","content":"middle %d %s"}`, i, strings.Repeat("x", 400)))
	}
	msgs = append(msgs, `{"role":"user","content":"LAST"}`)
	body := func(extra string) string {
		return `{"model":"acme/small","max_tokens":100,"messages":[` + strings.Join(msgs, ",") + `]` + extra + `}`
	}
	r := e.post("/api/v1/chat/completions", body(""))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	reqs := e.mocks["p1"].LastRequests()
	up := string(reqs[len(reqs)-1].Body)
	if !strings.Contains(up, "FIRST") || !strings.Contains(up, "LAST") || strings.Contains(up, "middle 20 ") {
		t.Fatalf("middle-out kept the wrong messages (%d bytes)", len(up))
	}
	if len(up)/4 > 2048-100 {
		t.Fatalf("compressed prompt still ~%d tokens", len(up)/4)
	}
	// Turned off: the request does not fit any endpoint.
	if r := e.post("/api/v1/chat/completions", body(`,"transforms":[]`)); r.status != 404 {
		t.Fatalf("transforms: [] should disable compression: %d %s", r.status, r.body)
	}
}
