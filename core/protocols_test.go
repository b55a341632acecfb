package core_test

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/bench/mock"
)

// An OpenAI client talks to Anthropic and Gemini upstreams through the
// gateway and gets the OpenAI shape back, stream and not, with usage
// priced from what the upstream reported.
func TestTranslatedProtocolsEndToEnd(t *testing.T) {
	for _, proto := range []string{"anthropic", "gemini"} {
		t.Run(proto, func(t *testing.T) {
			e := newEnv(t, []mockSpec{{name: "p1", protocol: proto, cfg: mock.Config{Tokens: 7}}}, oneModel, "")
			r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","temperature":0,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}]}`)
			if r.status != 200 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			m := decode(t, r.body)
			ch := m["choices"].([]any)[0].(map[string]any)
			msg := ch["message"].(map[string]any)
			if m["object"] != "chat.completion" || msg["role"] != "assistant" || msg["content"] == "" || ch["finish_reason"] != "stop" {
				t.Fatalf("response: %s", r.body)
			}
			u := m["usage"].(map[string]any)
			if u["completion_tokens"].(float64) != 7 || u["cost"].(float64) <= 0 {
				t.Fatalf("usage: %v", u)
			}
			reqs := e.mocks["p1"].LastRequests()
			up := string(reqs[len(reqs)-1].Body)
			if !strings.Contains(up, `"temperature":0`) {
				t.Fatalf("explicit temperature 0 lost in translation: %s", up)
			}

			r = e.post("/api/v1/chat/completions", `{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hello"}]}`)
			data := dataFrames(readFrames(t, strings.NewReader(string(r.body))))
			if r.status != 200 || len(data) < 4 || data[len(data)-1] != "[DONE]" {
				t.Fatalf("stream: %d %q", r.status, data)
			}
			var content strings.Builder
			for i, d := range data[:len(data)-2] {
				c := decode(t, []byte(d))
				delta := c["choices"].([]any)[0].(map[string]any)["delta"].(map[string]any)
				if i == 0 && delta["role"] != "assistant" {
					t.Fatalf("first delta has no role: %s", d)
				}
				if s, ok := delta["content"].(string); ok {
					content.WriteString(s)
				}
			}
			last := decode(t, []byte(data[len(data)-2]))
			if u := last["usage"].(map[string]any); u["completion_tokens"].(float64) != 7 || content.Len() == 0 {
				t.Fatalf("usage chunk %v, content %q", u, content.String())
			}
		})
	}
}
