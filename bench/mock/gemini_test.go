package mock

import (
	"strings"
	"testing"
)

const geminiBody = `{"contents":[{"role":"user","parts":[{"text":"Hello there"}]}],"generationConfig":{"temperature":0}}`

func geminiPrompt() float64 {
	return float64(tokensFor([]byte(`[{"role":"user","parts":[{"text":"Hello there"}]}]`)))
}

func TestGeminiGenerate(t *testing.T) {
	s := start(t, Config{Tokens: 5, ReasoningTokens: 2})
	r := post(t, s, "/v1beta/models/gemini-test:generateContent", geminiBody)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := obj(t, r.body)
	c := path(t, m, "candidates", 0)
	if path(t, c, "content", "role") != "model" || path(t, c, "finishReason") != "STOP" || path(t, c, "index") != 0.0 ||
		path(t, c, "content", "parts", 0, "text") != string(textGen{}.appendText(nil, 5)) {
		t.Fatalf("candidate %v", c)
	}
	u := path(t, m, "usageMetadata")
	if path(t, u, "promptTokenCount") != geminiPrompt() || path(t, u, "candidatesTokenCount") != 5.0 ||
		path(t, u, "thoughtsTokenCount") != 2.0 || path(t, u, "totalTokenCount") != geminiPrompt()+7 {
		t.Fatalf("usage %v", u)
	}
	if m["modelVersion"] != "gemini-test" || m["responseId"] == "" {
		t.Fatalf("response %s", r.body)
	}

	capped := `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":3}}`
	m = obj(t, post(t, s, "/v1/models/gemini-test:generateContent", capped).body)
	if path(t, m, "candidates", 0, "finishReason") != "MAX_TOKENS" || path(t, m, "usageMetadata", "candidatesTokenCount") != 1.0 {
		t.Fatalf("capped %v", m)
	}
}

func TestGeminiErrorsAndAuth(t *testing.T) {
	s := start(t, Config{APIKey: "g-key"})
	f := func(url, body string, hdr []string, wantStatus int, wantState string) {
		t.Helper()
		r := post(t, s, url, body, hdr...)
		if r.status != wantStatus {
			t.Fatalf("%s %v: %d %s", url, hdr, r.status, r.body)
		}
		if wantState == "" {
			return
		}
		e := path(t, obj(t, r.body), "error")
		if path(t, e, "code") != float64(wantStatus) || path(t, e, "status") != wantState || path(t, e, "message") == "" {
			t.Fatalf("%s %v: %s", url, hdr, r.body)
		}
	}
	const gen = "/v1beta/models/g:generateContent"
	key := []string{"x-goog-api-key", "g-key"}
	f(gen, geminiBody, nil, 401, "UNAUTHENTICATED")
	f(gen, geminiBody, []string{"x-goog-api-key", "bad"}, 401, "UNAUTHENTICATED")
	f(gen, geminiBody, key, 200, "")
	f(gen+"?key=g-key", geminiBody, nil, 200, "")
	f(gen, `{"contents":[]}`, key, 400, "INVALID_ARGUMENT")
	f(gen, `{"contents":`, key, 400, "INVALID_ARGUMENT")
	f("/v1beta/models/g:streamGenerateContent", geminiBody, key, 400, "INVALID_ARGUMENT")
	f(gen, geminiBody, append([]string{"X-Mock-Status", "503"}, key...), 503, "UNAVAILABLE")
	f(gen, geminiBody, append([]string{"X-Mock-Status", "429"}, key...), 429, "RESOURCE_EXHAUSTED")
}

func TestGeminiStream(t *testing.T) {
	s := start(t, Config{Tokens: 4})
	r, evs := streamReq(t, s, "/v1beta/models/gemini-test:streamGenerateContent?alt=sse", geminiBody)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("%d %v", r.status, r.header)
	}
	evs = dataEvents(evs)
	if len(evs) != 4 {
		t.Fatalf("%d chunks", len(evs))
	}
	text := ""
	var id any
	for i, e := range evs {
		m := obj(t, []byte(e.data))
		c := path(t, m, "candidates", 0)
		text += path(t, c, "content", "parts", 0, "text").(string)
		if has(c, "finishReason") != (i == 3) {
			t.Fatalf("chunk %d finishReason: %s", i, e.data)
		}
		if got := path(t, m, "usageMetadata", "candidatesTokenCount"); got != float64(i+1) {
			t.Fatalf("chunk %d: cumulative candidates %v", i, got)
		}
		if i == 0 {
			id = m["responseId"]
		} else if m["responseId"] != id || m["modelVersion"] != "gemini-test" {
			t.Fatalf("chunk %d: %s", i, e.data)
		}
	}
	if text != string(textGen{}.appendText(nil, 4)) {
		t.Fatalf("text %q", text)
	}
	eventually(t, settle, "stream accounted", func() bool {
		st := s.Stats()
		return st.StreamsCompleted == 1 && st.Reported.Responses == 1 && st.Reported.CompletionTokens == 4
	})

	_, evs = streamReq(t, s, "/v1beta/models/g:streamGenerateContent?alt=sse", geminiBody, "X-Mock-Error-After", "2")
	if evs = dataEvents(evs); len(evs) != 3 || path(t, obj(t, []byte(evs[2].data)), "error", "status") != "INTERNAL" {
		t.Fatalf("in-band error: %v", evs)
	}
}

func TestGeminiFunctionCalls(t *testing.T) {
	s := start(t, Config{ToolCalls: 2})
	body := `{"contents":[{"role":"user","parts":[{"text":"weather?"}]}],` +
		`"tools":[{"functionDeclarations":[{"name":"get_weather"},{"name":"search"}]}]}`
	m := obj(t, post(t, s, "/v1beta/models/g:generateContent", body).body)
	parts := path(t, m, "candidates", 0, "content", "parts").([]any)
	if len(parts) != 2 || path(t, parts[1], "functionCall", "name") != "search" ||
		path(t, parts[1], "functionCall", "args", "index") != 1.0 || has(path(t, parts[0], "functionCall"), "id") {
		t.Fatalf("parts %v", parts)
	}
	_, evs := streamReq(t, s, "/v1beta/models/g:streamGenerateContent?alt=sse", body)
	evs = dataEvents(evs)
	if len(evs) != 1 || len(path(t, obj(t, []byte(evs[0].data)), "candidates", 0, "content", "parts").([]any)) != 2 {
		t.Fatalf("stream %v", evs)
	}
	after := `{"contents":[{"role":"user","parts":[{"text":"w"}]},{"role":"model","parts":[{"functionCall":{"name":"search","args":{}}}]},` +
		`{"role":"user","parts":[{"functionResponse":{"name":"search","response":{"r":"sunny"}}}]}],` +
		`"tools":[{"functionDeclarations":[{"name":"search"}]}]}`
	m = obj(t, post(t, s, "/v1beta/models/g:generateContent", after).body)
	if !has(path(t, m, "candidates", 0, "content", "parts", 0), "text") {
		t.Fatalf("after functionResponse: %v", m)
	}
}
