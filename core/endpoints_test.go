package core_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/bench/mock"
)

func TestLegacyCompletionsAndEmbeddings(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 5}}}, oneModel, "")

	r := e.post("/api/v1/completions", `{"model":"acme/chat","prompt":"Once upon a time","max_tokens":5,"temperature":0}`)
	if r.status != 200 {
		t.Fatalf("completions: %d %s", r.status, r.body)
	}
	m := decode(t, r.body)
	ch := m["choices"].([]any)[0].(map[string]any)
	if m["object"] != "text_completion" || m["provider"] != "p1" || ch["text"] == "" || ch["finish_reason"] == nil {
		t.Fatalf("completion: %s", r.body)
	}
	if u := m["usage"].(map[string]any); u["completion_tokens"].(float64) != 5 || u["cost"] == nil {
		t.Fatalf("usage: %v", u)
	}
	reqs := e.mocks["p1"].LastRequests()
	if last := reqs[len(reqs)-1]; !strings.HasSuffix(last.URI, "/v1/completions") || !strings.Contains(string(last.Body), `"temperature":0`) {
		t.Fatalf("upstream request %s %s", last.URI, last.Body)
	}

	r = e.post("/v1/completions", `{"model":"acme/chat","prompt":"Once","stream":true}`)
	data := dataFrames(readFrames(t, strings.NewReader(string(r.body))))
	if r.status != 200 || data[len(data)-1] != "[DONE]" {
		t.Fatalf("completion stream: %d %q", r.status, data)
	}
	for _, d := range data[:len(data)-1] {
		if c := decode(t, []byte(d)); c["object"] != "text_completion" {
			t.Fatalf("chunk object: %s", d)
		}
	}
	if !strings.Contains(data[len(data)-2], `"usage":{`) {
		t.Fatalf("no usage chunk before [DONE]: %s", data[len(data)-2])
	}

	r = e.post("/api/v1/embeddings", `{"model":"acme/chat","input":["hello","world"]}`)
	if r.status != 200 {
		t.Fatalf("embeddings: %d %s", r.status, r.body)
	}
	m = decode(t, r.body)
	if m["object"] != "list" || len(m["data"].([]any)) != 2 || m["provider"] != "p1" || m["choices"] != nil {
		t.Fatalf("embeddings: %.300s", r.body)
	}
	if u := m["usage"].(map[string]any); u["prompt_tokens"].(float64) <= 0 || u["cost"] == nil {
		t.Fatalf("embedding usage: %v", u)
	}

	for _, c := range []struct{ path, body, want string }{
		{"/api/v1/completions", `{"model":"acme/chat"}`, "'prompt' is required"},
		{"/api/v1/embeddings", `{"model":"acme/chat"}`, "'input' is required"},
		{"/api/v1/embeddings", `{"model":"acme/chat","input":"x","stream":true}`, "cannot be streamed"},
	} {
		r := e.post(c.path, c.body)
		if _, msg, _ := errorOf(t, r.body); r.status != 400 || !strings.Contains(msg, c.want) {
			t.Fatalf("%s %s: %d %s", c.path, c.body, r.status, r.body)
		}
	}
}

// TestThinkingVariantTurnsReasoningOn: "model:thinking" without a reasoning
// object reaches an OpenAI upstream with reasoning_effort, an explicit
// reasoning object keeps its effort, and a plain request gets neither.
func TestThinkingVariantTurnsReasoningOn(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, "")
	f := func(model, reasoning, want string) {
		t.Helper()
		body := `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]` + reasoning + `}`
		if r := e.post("/api/v1/chat/completions", body); r.status != 200 {
			t.Fatalf("%s: status %d: %s", model, r.status, r.body)
		}
		reqs := e.mocks["p1"].LastRequests()
		var up map[string]any
		if err := json.Unmarshal(reqs[len(reqs)-1].Body, &up); err != nil {
			t.Fatal(err)
		}
		if got, _ := up["reasoning_effort"].(string); got != want {
			t.Fatalf("%s%s: upstream reasoning_effort %q, want %q (%s)", model, reasoning, got, want, reqs[len(reqs)-1].Body)
		}
		if _, ok := up["reasoning"]; ok {
			t.Fatalf("the OpenRouter reasoning object reached a strict upstream: %s", reqs[len(reqs)-1].Body)
		}
	}
	f("acme/chat:thinking", "", "medium")
	f("acme/chat:thinking", `,"reasoning":{"effort":"high"}`, "high")
	f("acme/chat", `,"reasoning":{"effort":"low"}`, "low")
	f("acme/chat", "", "")
}
