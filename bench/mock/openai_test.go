package mock

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
)

func TestChatNonStreamShape(t *testing.T) {
	s := start(t, Config{})
	r := post(t, s, "/v1/chat/completions", chatBody)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	m := obj(t, r.body)
	id, _ := m["id"].(string)
	if !strings.HasPrefix(id, "chatcmpl-") || len(id) != len("chatcmpl-")+29 {
		t.Fatalf("id %q", id)
	}
	if m["object"] != "chat.completion" || m["model"] != "gpt-test" || m["system_fingerprint"] != fingerprint {
		t.Fatalf("header fields: %v", m)
	}
	if c, ok := m["created"].(float64); !ok || c < 1.7e9 {
		t.Fatalf("created %v", m["created"])
	}
	choices := path(t, m, "choices").([]any)
	if len(choices) != 1 {
		t.Fatalf("%d choices", len(choices))
	}
	ch := choices[0]
	if path(t, ch, "index") != 0.0 || path(t, ch, "logprobs") != nil || path(t, ch, "finish_reason") != "stop" {
		t.Fatalf("choice: %v", ch)
	}
	msg := path(t, ch, "message")
	if path(t, msg, "role") != "assistant" || path(t, msg, "refusal") != nil || !has(msg, "refusal") {
		t.Fatalf("message: %v", msg)
	}
	want := string(textGen{}.appendText(nil, DefaultTokens))
	if path(t, msg, "content") != want {
		t.Fatalf("content %q, want %q", path(t, msg, "content"), want)
	}
	u := path(t, m, "usage")
	prompt := float64((len(`[{"role":"user","content":"Hello there"}]`) + 3) / 4)
	if path(t, u, "prompt_tokens") != prompt || path(t, u, "completion_tokens") != 16.0 ||
		path(t, u, "total_tokens") != prompt+16 ||
		path(t, u, "prompt_tokens_details", "cached_tokens") != 0.0 ||
		path(t, u, "completion_tokens_details", "reasoning_tokens") != 0.0 {
		t.Fatalf("usage: %v", u)
	}
}

func TestChatPathsAndFasthttpClient(t *testing.T) {
	s := start(t, Config{})
	fc := fastClient(t)
	for _, p := range []string{"/v1/chat/completions", "/chat/completions", "/api/v1/chat/completions"} {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + s.Addr() + p)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.SetBodyString(chatBody)
		if err := fc.Do(req, resp); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if resp.StatusCode() != 200 || !strings.Contains(string(resp.Body()), `"object":"chat.completion"`) {
			t.Fatalf("%s: %d %s", p, resp.StatusCode(), resp.Body())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	r := post(t, s, "/v1/nope", "{}")
	if r.status != 404 || path(t, obj(t, r.body), "error", "code") != "unknown_url" {
		t.Fatalf("unknown path: %d %s", r.status, r.body)
	}
	r = do(t, s, "GET", "/v1/chat/completions", "")
	if r.status != 405 {
		t.Fatalf("GET chat: %d", r.status)
	}
}

// checkTranscript checks the invariants every chat stream keeps and returns
// the content, the finish reason and the usage chunk (nil if none).
func checkTranscript(t *testing.T, evs []sseEvent, usageNull bool) (content, finish string, usage map[string]any) {
	t.Helper()
	evs = dataEvents(evs)
	if len(evs) < 3 || evs[len(evs)-1].data != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %v", evs)
	}
	var id string
	var created float64
	finishAt := -1
	for i, e := range evs[:len(evs)-1] {
		m := obj(t, []byte(e.data))
		if m["object"] != "chat.completion.chunk" || m["model"] != "gpt-test" || m["system_fingerprint"] != fingerprint {
			t.Fatalf("chunk %d: %s", i, e.data)
		}
		if i == 0 {
			id, created = m["id"].(string), m["created"].(float64)
			if !strings.HasPrefix(id, "chatcmpl-") {
				t.Fatalf("id %q", id)
			}
		} else if m["id"] != id || m["created"] != created {
			t.Fatalf("chunk %d: id/created %v/%v differ from %v/%v", i, m["id"], m["created"], id, created)
		}
		if has(m, "usage") != (usageNull || m["usage"] != nil) {
			t.Fatalf("chunk %d: usage presence: %s", i, e.data)
		}
		choices := path(t, m, "choices").([]any)
		if len(choices) == 0 {
			if i != len(evs)-2 || finishAt < 0 {
				t.Fatalf("chunk %d: choices [] is not the last chunk after finish: %s", i, e.data)
			}
			usage = path(t, m, "usage").(map[string]any)
			continue
		}
		if m["usage"] != nil {
			usage = m["usage"].(map[string]any)
		}
		ch := choices[0]
		delta := path(t, ch, "delta").(map[string]any)
		if i == 0 {
			if delta["role"] != "assistant" || delta["content"] != "" {
				t.Fatalf("first delta %v", delta)
			}
			continue
		}
		if fr := path(t, ch, "finish_reason"); fr != nil {
			if finishAt >= 0 || len(delta) != 0 {
				t.Fatalf("chunk %d: second finish or non-empty finish delta: %s", i, e.data)
			}
			finishAt, finish = i, fr.(string)
			continue
		}
		if finishAt >= 0 {
			t.Fatalf("chunk %d: choice chunk after finish_reason", i)
		}
		content += delta["content"].(string)
	}
	if finishAt < 0 {
		t.Fatal("no finish_reason")
	}
	return content, finish, usage
}

func TestChatStreamTranscript(t *testing.T) {
	s := start(t, Config{})
	f := func(includeUsage bool) {
		t.Helper()
		r, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(includeUsage))
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") ||
			r.header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("status %d headers %v", r.status, r.header)
		}
		content, finish, u := checkTranscript(t, evs, includeUsage)
		if want := string(textGen{}.appendText(nil, DefaultTokens)); content != want {
			t.Fatalf("content %q, want %q", content, want)
		}
		if finish != "stop" {
			t.Fatalf("finish %q", finish)
		}
		if (u != nil) != includeUsage {
			t.Fatalf("usage chunk %v with include_usage=%v", u, includeUsage)
		}
		if u != nil && (u["completion_tokens"] != 16.0 || u["total_tokens"] != u["prompt_tokens"].(float64)+16) {
			t.Fatalf("usage %v", u)
		}
		if n := len(dataEvents(evs)); n != 1+16+1+map[bool]int{true: 1}[includeUsage]+1 {
			t.Fatalf("%d events", n)
		}
	}
	f(false)
	f(true)
}

func TestMaxTokensCapping(t *testing.T) {
	s := start(t, Config{Tokens: 10})
	f := func(extra string, wantTokens int, wantFinish string) {
		t.Helper()
		body := `{"model":"gpt-test",` + extra + `"messages":[{"role":"user","content":"x"}]}`
		r := post(t, s, "/v1/chat/completions", body)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", extra, r.status, r.body)
		}
		m := obj(t, r.body)
		if got := path(t, m, "usage", "completion_tokens"); got != float64(wantTokens) {
			t.Fatalf("%s: completion_tokens %v, want %d", extra, got, wantTokens)
		}
		if got := path(t, m, "choices", 0, "finish_reason"); got != wantFinish {
			t.Fatalf("%s: finish %v, want %s", extra, got, wantFinish)
		}
		if got := path(t, m, "choices", 0, "message", "content"); got != string(textGen{}.appendText(nil, wantTokens)) {
			t.Fatalf("%s: content %q", extra, got)
		}
		// The stream agrees.
		sb := `{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},` + extra + `"messages":[{"role":"user","content":"x"}]}`
		_, evs := streamReq(t, s, "/v1/chat/completions", sb)
		_, finish, u := checkTranscript(t, evs, true)
		if finish != wantFinish || u["completion_tokens"] != float64(wantTokens) {
			t.Fatalf("%s: stream finish %s usage %v", extra, finish, u)
		}
	}
	f(``, 10, "stop")
	f(`"max_tokens":4,`, 4, "length")
	f(`"max_tokens":10,`, 10, "stop")
	f(`"max_tokens":null,`, 10, "stop")
	f(`"max_completion_tokens":3,`, 3, "length")
	f(`"max_completion_tokens":5,"max_tokens":2,`, 5, "length")
	f(`"max_tokens":2,"max_completion_tokens":7,`, 7, "length")
	f(`"max_tokens":100,`, 10, "stop")
}

func TestReasoningAndCachedTokens(t *testing.T) {
	s := start(t, Config{Tokens: 5, ReasoningTokens: 7, CachedTokens: 3})
	m := obj(t, post(t, s, "/v1/chat/completions", chatBody).body)
	u := path(t, m, "usage")
	if path(t, u, "completion_tokens") != 12.0 || path(t, u, "completion_tokens_details", "reasoning_tokens") != 7.0 ||
		path(t, u, "prompt_tokens_details", "cached_tokens") != 3.0 {
		t.Fatalf("usage %v", u)
	}
	m = obj(t, post(t, s, "/v1/chat/completions", `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"x"}]}`,
		"X-Mock-Cached-Tokens", "1000").body)
	u = path(t, m, "usage")
	if path(t, u, "completion_tokens") != 9.0 || path(t, m, "choices", 0, "finish_reason") != "length" ||
		path(t, u, "prompt_tokens_details", "cached_tokens") != path(t, u, "prompt_tokens") {
		t.Fatalf("capped usage %v", m)
	}
}

func TestBadRequests(t *testing.T) {
	s := start(t, Config{})
	f := func(body string, wantParam any, hdr ...string) {
		t.Helper()
		r := post(t, s, "/v1/chat/completions", body, hdr...)
		if r.status != 400 {
			t.Fatalf("%s: status %d %s", body, r.status, r.body)
		}
		e := path(t, obj(t, r.body), "error")
		if path(t, e, "type") != "invalid_request_error" || path(t, e, "param") != wantParam ||
			path(t, e, "message") == "" || !has(e, "code") {
			t.Fatalf("%s: error %v", body, e)
		}
	}
	f(`{"model":`, nil)
	f(`[1]`, nil)
	f(`{"messages":[{"role":"user","content":"x"}]}`, "model")
	f(`{"model":"m"}`, "messages")
	f(`{"model":"m","messages":[]}`, "messages")
	f(`{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, "n")
	f(`{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}`, "max_tokens")
	f(`{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"x"}]}`, "max_tokens")
	f(`{"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]}`, "stream")
	f(`{"model":"m","stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`, "stream_options")
	f(`{"model":"m","tools":[{"type":"function"}],"messages":[{"role":"user","content":"x"}]}`, "tools")
	f(chatBody, nil, "X-Mock-TTFT", "soon")
	f(chatBody, nil, "X-Mock-Frobnicate", "1")
	f(chatBody, nil, "X-Mock-Tokens", "-1")
}

func TestContextLength(t *testing.T) {
	s := start(t, Config{ContextLength: 20})
	r := post(t, s, "/v1/chat/completions", `{"model":"m","max_tokens":15,"messages":[{"role":"user","content":"Hello there"}]}`)
	if r.status != 400 || path(t, obj(t, r.body), "error", "code") != "context_length_exceeded" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	r = post(t, s, "/v1/chat/completions", `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"Hello there"}]}`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

func TestModelOverride(t *testing.T) {
	s := start(t, Config{Model: "served-model"})
	if m := obj(t, post(t, s, "/v1/chat/completions", chatBody).body); m["model"] != "served-model" {
		t.Fatalf("model %v", m["model"])
	}
	m := obj(t, post(t, s, "/v1/chat/completions", chatBody, "X-Mock-Model", `we"ird`).body)
	if m["model"] != `we"ird` {
		t.Fatalf("model %v", m["model"])
	}
	// A requested model with escapes is echoed as sent.
	s2 := start(t, Config{})
	m = obj(t, post(t, s2, "/v1/chat/completions", `{"model":"a\"b\u00e9","messages":[{"role":"user","content":"x"}]}`).body)
	if m["model"] != `a"bé` {
		t.Fatalf("model %v", m["model"])
	}
}

func TestResponseBytes(t *testing.T) {
	s := start(t, Config{ResponseBytes: 100_000})
	m := obj(t, post(t, s, "/v1/chat/completions", chatBody).body)
	content := path(t, m, "choices", 0, "message", "content").(string)
	if n := len(content); n < 95_000 || n > 105_000 {
		t.Fatalf("content is %d bytes", n)
	}
	_, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(false))
	streamed, _, _ := checkTranscript(t, evs, false)
	if streamed != content {
		t.Fatalf("streamed content (%d bytes) differs from non-stream (%d bytes)", len(streamed), len(content))
	}
}

func TestToolCalls(t *testing.T) {
	s := start(t, Config{ToolCalls: 2, TokenGap: 0})
	tools := `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{}}},{"type":"function","function":{"name":"search"}}]`
	body := `{"model":"gpt-test",` + tools + `,"messages":[{"role":"user","content":"weather?"}]}`

	m := obj(t, post(t, s, "/v1/chat/completions", body).body)
	if path(t, m, "choices", 0, "finish_reason") != "tool_calls" || path(t, m, "choices", 0, "message", "content") != nil {
		t.Fatalf("choice %v", path(t, m, "choices", 0))
	}
	calls := path(t, m, "choices", 0, "message", "tool_calls").([]any)
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	for i, c := range calls {
		id := path(t, c, "id").(string)
		if !strings.HasPrefix(id, "call_") || path(t, c, "type") != "function" ||
			path(t, c, "function", "name") != []string{"get_weather", "search"}[i] {
			t.Fatalf("call %d: %v", i, c)
		}
		var args map[string]any
		if err := json.Unmarshal([]byte(path(t, c, "function", "arguments").(string)), &args); err != nil {
			t.Fatalf("call %d arguments: %v", i, err)
		}
	}

	// Streamed: per index, the first delta carries id, type, name and ""
	// arguments; then only argument fragments.
	sb := strings.Replace(body, `"model":"gpt-test",`, `"model":"gpt-test","stream":true,`, 1)
	_, evs := streamReq(t, s, "/v1/chat/completions", sb)
	evs = dataEvents(evs)
	type acc struct {
		id, name, args string
	}
	got := map[int]*acc{}
	finish := ""
	for i, e := range evs[:len(evs)-1] {
		m := obj(t, []byte(e.data))
		ch := path(t, m, "choices", 0)
		if i == 0 {
			if path(t, ch, "delta", "role") != "assistant" {
				t.Fatalf("first chunk %s", e.data)
			}
			continue
		}
		if fr := path(t, ch, "finish_reason"); fr != nil {
			finish = fr.(string)
			continue
		}
		tcs := path(t, ch, "delta", "tool_calls").([]any)
		if len(tcs) != 1 {
			t.Fatalf("chunk %d: %s", i, e.data)
		}
		tc := tcs[0].(map[string]any)
		idx := int(tc["index"].(float64))
		a := got[idx]
		if a == nil {
			a = &acc{}
			got[idx] = a
			if !strings.HasPrefix(tc["id"].(string), "call_") || tc["type"] != "function" ||
				path(t, tc, "function", "arguments") != "" {
				t.Fatalf("first delta of call %d: %s", idx, e.data)
			}
			a.id, a.name = tc["id"].(string), path(t, tc, "function", "name").(string)
			continue
		}
		if has(tc, "id") || has(tc, "type") || has(tc["function"], "name") {
			t.Fatalf("later delta of call %d repeats its header: %s", idx, e.data)
		}
		a.args += path(t, tc, "function", "arguments").(string)
	}
	if finish != "tool_calls" || len(got) != 2 || got[0].name != "get_weather" || got[1].name != "search" ||
		got[0].id == got[1].id {
		t.Fatalf("finish %q calls %+v %+v", finish, got[0], got[1])
	}
	for i, a := range got {
		var args map[string]any
		if err := json.Unmarshal([]byte(a.args), &args); err != nil || args["index"] != float64(i) {
			t.Fatalf("call %d arguments %q: %v", i, a.args, err)
		}
	}

	// No tool calls when the last message is not the user's.
	nb := `{"model":"gpt-test",` + tools + `,"messages":[{"role":"user","content":"w"},{"role":"tool","tool_call_id":"call_1","content":"sunny"}]}`
	if m := obj(t, post(t, s, "/v1/chat/completions", nb).body); path(t, m, "choices", 0, "finish_reason") != "stop" {
		t.Fatalf("after a tool result: %v", m)
	}
}

func TestLegacyCompletions(t *testing.T) {
	s := start(t, Config{Tokens: 6})
	r := post(t, s, "/v1/completions", `{"model":"davinci","prompt":"Say this is a test","max_tokens":4}`)
	m := obj(t, r.body)
	if r.status != 200 || m["object"] != "text_completion" || !strings.HasPrefix(m["id"].(string), "cmpl-") ||
		path(t, m, "choices", 0, "text") != string(textGen{}.appendText(nil, 4)) ||
		path(t, m, "choices", 0, "finish_reason") != "length" || path(t, m, "usage", "completion_tokens") != 4.0 ||
		path(t, m, "usage", "prompt_tokens") != float64(tokensFor([]byte(`"Say this is a test"`))) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	_, evs := streamReq(t, s, "/v1/completions", `{"model":"davinci","prompt":"x","stream":true,"stream_options":{"include_usage":true}}`)
	evs = dataEvents(evs)
	if evs[len(evs)-1].data != "[DONE]" || len(evs) != 6+1+1+1 {
		t.Fatalf("%d events: %v", len(evs), evs)
	}
	text := ""
	for _, e := range evs[:6] {
		m := obj(t, []byte(e.data))
		if m["object"] != "text_completion" || path(t, m, "choices", 0, "finish_reason") != nil {
			t.Fatalf("token chunk %s", e.data)
		}
		text += path(t, m, "choices", 0, "text").(string)
	}
	if text != string(textGen{}.appendText(nil, 6)) {
		t.Fatalf("text %q", text)
	}
	if m := obj(t, []byte(evs[6].data)); path(t, m, "choices", 0, "finish_reason") != "stop" {
		t.Fatalf("finish chunk %s", evs[6].data)
	}
	if m := obj(t, []byte(evs[7].data)); len(m["choices"].([]any)) != 0 || path(t, m, "usage", "completion_tokens") != 6.0 {
		t.Fatalf("usage chunk %s", evs[7].data)
	}
}

func TestEmbeddings(t *testing.T) {
	s := start(t, Config{EmbeddingDims: 8})
	f := func(body string, wantN, wantDims int) {
		t.Helper()
		r := post(t, s, "/v1/embeddings", body)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
		m := obj(t, r.body)
		data := m["data"].([]any)
		if m["object"] != "list" || len(data) != wantN || m["model"] != "emb" ||
			path(t, m, "usage", "prompt_tokens") != path(t, m, "usage", "total_tokens") {
			t.Fatalf("%s: %s", body, r.body)
		}
		for i, d := range data {
			if path(t, d, "object") != "embedding" || path(t, d, "index") != float64(i) {
				t.Fatalf("%s: item %d %v", body, i, d)
			}
			switch v := path(t, d, "embedding").(type) {
			case []any:
				var norm float64
				for _, x := range v {
					norm += x.(float64) * x.(float64)
				}
				if len(v) != wantDims || norm < 0.999 || norm > 1.001 {
					t.Fatalf("%s: vector of %d, norm² %v", body, len(v), norm)
				}
			case string:
				raw, err := base64.StdEncoding.DecodeString(v)
				if err != nil || len(raw) != 4*wantDims {
					t.Fatalf("%s: base64 vector: %v, %d bytes", body, err, len(raw))
				}
			}
		}
	}
	f(`{"model":"emb","input":"hello"}`, 1, 8)
	f(`{"model":"emb","input":["a","b","c"]}`, 3, 8)
	f(`{"model":"emb","input":[1,2,3]}`, 1, 8)
	f(`{"model":"emb","input":[[1,2],[3]]}`, 2, 8)
	f(`{"model":"emb","input":"x","dimensions":4}`, 1, 4)
	f(`{"model":"emb","input":"x","encoding_format":"base64"}`, 1, 8)
	for _, bad := range []string{`{"model":"emb"}`, `{"model":"emb","input":""}`, `{"model":"emb","input":[]}`, `{"model":"emb","input":{}}`} {
		if r := post(t, s, "/v1/embeddings", bad); r.status != 400 {
			t.Fatalf("%s: %d", bad, r.status)
		}
	}
}

func TestModels(t *testing.T) {
	s := start(t, Config{Models: []string{"a", "b/c"}})
	r := do(t, s, "GET", "/v1/models", "")
	m := obj(t, r.body)
	if r.status != 200 || m["object"] != "list" || len(m["data"].([]any)) != 2 ||
		path(t, m, "data", 1, "id") != "b/c" || path(t, m, "data", 0, "object") != "model" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := do(t, s, "GET", "/v1/models/b/c", ""); r.status != 200 || obj(t, r.body)["id"] != "b/c" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := do(t, s, "GET", "/v1/models/zzz", ""); r.status != 404 || path(t, obj(t, r.body), "error", "code") != "model_not_found" {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
