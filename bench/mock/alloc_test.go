//go:build !race

package mock

import "testing"

// The race detector allocates on its own; this runs without it.
func TestChatHandlerAllocs(t *testing.T) {
	s := New(Config{APIKey: "sk-bench"})
	defer s.Close()
	f := func(body string, hdr ...string) {
		t.Helper()
		ctx := handlerCtx(body)
		for i := 0; i+1 < len(hdr); i += 2 {
			ctx.Request.Header.Set(hdr[i], hdr[i+1])
		}
		run := func() {
			ctx.Response.Reset()
			s.handle(ctx)
		}
		run()
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		if n := testing.AllocsPerRun(500, run); n != 0 {
			t.Fatalf("%s %v: %v allocations per request", body, hdr, n)
		}
	}
	f(chatBody)
	f(chatBody, "X-Mock-Tokens", "40", "X-Mock-Cached-Tokens", "2")
	f(`{"model":"m","max_tokens":3,"temperature":0,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`)
}
