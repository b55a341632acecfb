package mock

import (
	"strings"
	"testing"

	"github.com/goccy/go-json"
)

const anthropicBody = `{"model":"claude-test","max_tokens":1024,"system":"Be brief.","messages":[{"role":"user","content":"Hello there"}]}`

var anthropicVersion = []string{"anthropic-version", "2023-06-01"}

func anthropicPrompt() float64 {
	return float64(tokensFor([]byte(`[{"role":"user","content":"Hello there"}]`)) + tokensFor([]byte(`"Be brief."`)))
}

func TestAnthropicNonStream(t *testing.T) {
	s := start(t, Config{Tokens: 5})
	r := post(t, s, "/v1/messages", anthropicBody, anthropicVersion...)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	m := obj(t, r.body)
	if id, _ := m["id"].(string); !strings.HasPrefix(id, "msg_01") || m["type"] != "message" ||
		m["role"] != "assistant" || m["model"] != "claude-test" || m["stop_reason"] != "end_turn" ||
		!has(m, "stop_sequence") || m["stop_sequence"] != nil {
		t.Fatalf("message %s", r.body)
	}
	if path(t, m, "content", 0, "type") != "text" || path(t, m, "content", 0, "text") != string(textGen{}.appendText(nil, 5)) {
		t.Fatalf("content %v", m["content"])
	}
	u := path(t, m, "usage")
	if path(t, u, "input_tokens") != anthropicPrompt() || path(t, u, "output_tokens") != 5.0 ||
		path(t, u, "cache_read_input_tokens") != 0.0 || path(t, u, "cache_creation_input_tokens") != 0.0 {
		t.Fatalf("usage %v", u)
	}

	// Capped, with cached tokens: input_tokens excludes the cache reads.
	r = post(t, s, "/v1/messages", strings.Replace(anthropicBody, "1024", "3", 1),
		append([]string{"X-Mock-Cached-Tokens", "2"}, anthropicVersion...)...)
	m = obj(t, r.body)
	if m["stop_reason"] != "max_tokens" || path(t, m, "usage", "output_tokens") != 3.0 ||
		path(t, m, "usage", "input_tokens") != anthropicPrompt()-2 || path(t, m, "usage", "cache_read_input_tokens") != 2.0 {
		t.Fatalf("capped %s", r.body)
	}
	if st := s.Stats(); st.Reported.PromptTokens != uint64(2*anthropicPrompt()) || st.Reported.CachedTokens != 2 {
		t.Fatalf("reported %+v", st.Reported)
	}
}

func TestAnthropicErrors(t *testing.T) {
	s := start(t, Config{APIKey: "sk-ant"})
	f := func(body string, hdr []string, wantStatus int, wantType string) {
		t.Helper()
		r := post(t, s, "/v1/messages", body, hdr...)
		if r.status != wantStatus {
			t.Fatalf("%v: %d %s", hdr, r.status, r.body)
		}
		m := obj(t, r.body)
		if m["type"] != "error" || path(t, m, "error", "type") != wantType || path(t, m, "error", "message") == "" {
			t.Fatalf("%v: %s", hdr, r.body)
		}
	}
	key := []string{"x-api-key", "sk-ant", "anthropic-version", "2023-06-01"}
	f(anthropicBody, anthropicVersion, 401, "authentication_error")
	f(anthropicBody, append([]string{"x-api-key", "nope"}, anthropicVersion...), 401, "authentication_error")
	f(anthropicBody, []string{"x-api-key", "sk-ant"}, 400, "invalid_request_error")
	f(`{"model":"c","messages":[{"role":"user","content":"x"}]}`, key, 400, "invalid_request_error")
	f(`{"model":"c","max_tokens":0,"messages":[]}`, key, 400, "invalid_request_error")
	f(`{"max_tokens":5,"messages":[]}`, key, 400, "invalid_request_error")
	f(anthropicBody, append([]string{"X-Mock-Status", "529"}, key...), 529, "overloaded_error")
	f(anthropicBody, append([]string{"X-Mock-Status", "500"}, key...), 500, "api_error")
	f(anthropicBody, append([]string{"X-Mock-Status", "429"}, key...), 429, "rate_limit_error")
	if r := post(t, s, "/v1/messages", anthropicBody, "Authorization", "Bearer sk-ant", "anthropic-version", "2023-06-01"); r.status != 200 {
		t.Fatalf("Bearer key: %d %s", r.status, r.body)
	}
	r := post(t, s, "/v1/messages/count_tokens", `{"model":"c","system":"Be brief.","messages":[{"role":"user","content":"Hello there"}]}`, key...)
	if r.status != 200 || obj(t, r.body)["input_tokens"] != anthropicPrompt() {
		t.Fatalf("count_tokens: %d %s", r.status, r.body)
	}
}

// checkAnthropicStream checks the event grammar and returns the text, the
// tool inputs by block, the stop reason and the final usage.
func checkAnthropicStream(t *testing.T, evs []sseEvent) (text string, inputs map[int]string, stop string, usage map[string]any) {
	t.Helper()
	evs = dataEvents(evs)
	inputs = map[int]string{}
	open := -1
	blocks := 0
	for i, e := range evs {
		m := obj(t, []byte(e.data))
		if e.name == "" || m["type"] != e.name {
			t.Fatalf("event %d: name %q, data type %v", i, e.name, m["type"])
		}
		switch {
		case i == 0:
			if e.name != "message_start" || path(t, m, "message", "role") != "assistant" ||
				len(path(t, m, "message", "content").([]any)) != 0 || path(t, m, "message", "stop_reason") != nil {
				t.Fatalf("first event %s", e.data)
			}
			usage = path(t, m, "message", "usage").(map[string]any)
		case e.name == "content_block_start":
			if open >= 0 || path(t, m, "index") != float64(blocks) {
				t.Fatalf("block start %s (open %d, %d blocks so far)", e.data, open, blocks)
			}
			open = blocks
			blocks++
		case e.name == "content_block_delta":
			if path(t, m, "index") != float64(open) {
				t.Fatalf("delta outside its block: %s", e.data)
			}
			switch d := path(t, m, "delta"); path(t, d, "type") {
			case "text_delta":
				text += path(t, d, "text").(string)
			case "input_json_delta":
				inputs[open] += path(t, d, "partial_json").(string)
			}
		case e.name == "content_block_stop":
			if path(t, m, "index") != float64(open) {
				t.Fatalf("stop of a block not open: %s", e.data)
			}
			open = -1
		case e.name == "message_delta":
			stop = path(t, m, "delta", "stop_reason").(string)
			for k, v := range path(t, m, "usage").(map[string]any) {
				usage[k] = v
			}
		case e.name == "message_stop":
			if i != len(evs)-1 || stop == "" {
				t.Fatalf("message_stop at %d of %d", i, len(evs))
			}
		case e.name == "ping":
		default:
			t.Fatalf("event %d: unexpected %s", i, e.data)
		}
	}
	if len(evs) == 0 || evs[len(evs)-1].name != "message_stop" {
		t.Fatal("no message_stop")
	}
	return text, inputs, stop, usage
}

func TestAnthropicStream(t *testing.T) {
	s := start(t, Config{Tokens: 6})
	sb := strings.Replace(anthropicBody, `"max_tokens"`, `"stream":true,"max_tokens"`, 1)
	r, evs := streamReq(t, s, "/v1/messages", sb, anthropicVersion...)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
	}
	text, _, stop, u := checkAnthropicStream(t, evs)
	if text != string(textGen{}.appendText(nil, 6)) || stop != "end_turn" || u["output_tokens"] != 6.0 ||
		u["input_tokens"] != anthropicPrompt() {
		t.Fatalf("text %q stop %q usage %v", text, stop, u)
	}
	eventually(t, settle, "stream accounted", func() bool {
		st := s.Stats()
		return st.StreamsCompleted == 1 && st.Reported.CompletionTokens == 6 && st.CompletionTokens == 6
	})

	// An in-band error is an "error" event and the stream ends.
	_, evs = streamReq(t, s, "/v1/messages", sb, append([]string{"X-Mock-Error-After", "2"}, anthropicVersion...)...)
	evs = dataEvents(evs)
	if len(evs) != 3 || evs[2].name != "error" || path(t, obj(t, []byte(evs[2].data)), "error", "type") != "overloaded_error" {
		t.Fatalf("events %v", evs)
	}
}

func TestAnthropicToolUse(t *testing.T) {
	s := start(t, Config{ToolCalls: 2})
	tools := `"tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"search","input_schema":{"type":"object"}}]`
	body := `{"model":"c","max_tokens":100,` + tools + `,"messages":[{"role":"user","content":"weather?"}]}`
	m := obj(t, post(t, s, "/v1/messages", body, anthropicVersion...).body)
	if m["stop_reason"] != "tool_use" || len(m["content"].([]any)) != 2 ||
		path(t, m, "content", 1, "type") != "tool_use" || path(t, m, "content", 1, "name") != "search" ||
		!strings.HasPrefix(path(t, m, "content", 0, "id").(string), "toolu_01") ||
		path(t, m, "content", 1, "input", "index") != 1.0 {
		t.Fatalf("tool use %v", m)
	}
	sb := strings.Replace(body, `"max_tokens"`, `"stream":true,"max_tokens"`, 1)
	_, evs := streamReq(t, s, "/v1/messages", sb, anthropicVersion...)
	_, inputs, stop, _ := checkAnthropicStream(t, evs)
	if stop != "tool_use" || len(inputs) != 2 {
		t.Fatalf("stop %q inputs %v", stop, inputs)
	}
	for i, in := range inputs {
		var v map[string]any
		if err := json.Unmarshal([]byte(in), &v); err != nil || v["index"] != float64(i) {
			t.Fatalf("block %d input %q: %v", i, in, err)
		}
	}
	// After a tool_result the model answers in text.
	after := `{"model":"c","max_tokens":100,` + tools + `,"messages":[{"role":"user","content":"w"},` +
		`{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"search","input":{}}]},` +
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"}]}]}`
	if m := obj(t, post(t, s, "/v1/messages", after, anthropicVersion...).body); m["stop_reason"] != "end_turn" {
		t.Fatalf("after tool_result: %v", m)
	}
}
