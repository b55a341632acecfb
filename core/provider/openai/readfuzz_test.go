package openai

import (
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/routing"
)

// FuzzReadChat: no upstream body panics ReadChat; what it accepts comes
// out as one JSON object with Tollgate's id and a usage whose numbers are
// not negative.
func FuzzReadChat(f *testing.F) {
	f.Add([]byte(`{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`))
	f.Add([]byte(`{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":18446744073709551617}}`))
	f.Add([]byte(`{"error":{"message":"overloaded","code":529}}`))
	f.Add([]byte(`{"choices":[{"message":{"reasoning_content":"r","content":"a"}}],"usage":{"completion_tokens":-5,"prompt_tokens_details":{"cached_tokens":1e400}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := newCall(t, testRequest, openAIEndpoint(), nil)
		out, res, err := Adapter{}.ReadChat(nil, body, c)
		if err != nil || res.Err != nil {
			return
		}
		var comp struct {
			ID    string `json:"id"`
			Usage struct {
				Prompt     int64 `json:"prompt_tokens"`
				Completion int64 `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(out, &comp); err != nil || comp.ID != testGenID {
			t.Fatalf("ReadChat(%q) = %s: %v", body, out, err)
		}
		if comp.Usage.Prompt < 0 || comp.Usage.Completion < 0 {
			t.Fatalf("ReadChat(%q): negative usage %s", body, out)
		}
	})
}

// FuzzReadError: no error body panics ReadError; the failure always has a
// message and at most 4 KiB of raw body.
func FuzzReadError(f *testing.F) {
	f.Add(400, []byte(`{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}`))
	f.Add(429, []byte(`{"error":"rate limited"}`))
	f.Add(500, []byte(`<html>oops</html>`))
	f.Add(502, []byte(`{"error":{"message":"","code":"x","status":"abc"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var h fasthttp.ResponseHeader
		h.Set("Retry-After", "7")
		fl := Adapter{}.ReadError(status, &h, body)
		if fl == nil || fl.Message == "" || fl.Status != status || len(fl.Raw) > 4096 || fl.RetryAfterMs < 0 {
			t.Fatalf("ReadError(%d, %q) = %+v", status, body, fl)
		}
	})
}

// FuzzWriteChat: every client body the peeker accepts is forwarded as
// valid JSON naming the upstream model, with and without the Mistral
// tool-call id rewrite.
func FuzzWriteChat(f *testing.F) {
	f.Add([]byte(testRequest), false)
	f.Add([]byte(`{"model":"x","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123XYZ_long-id","type":"function","function":{"name":"w","arguments":"{}"}}]},{"role":"tool","tool_call_id":"call_abc123XYZ_long-id","content":"sunny"}],"provider":{"order":["a"]},"stream":true,"stream_options":{"include_usage":false}}`), true)
	f.Add([]byte(`{"model":"x","model":"y","messages":[]}`), true)
	f.Add([]byte(`{"models":["a","b"],"messages":[{"role":"tool","tool_call_id":"\u00e9\ud83d\ude00","content":"x"}],"temperature":0}`), true)
	cl, err := upstream.New(upstream.Config{BaseURL: "http://127.0.0.1:1/v1"})
	if err != nil {
		f.Fatal(err)
	}
	ep := &routing.Endpoint{Provider: "up", Model: "m/x", UpstreamModel: "up-model"}
	f.Fuzz(func(t *testing.T, body []byte, mistral bool) {
		var chat peek.Chat
		if peek.ParseChat(body, &chat) != nil {
			return
		}
		c := &provider.Call{Body: body, Chat: &chat, Endpoint: ep, Stream: chat.Stream,
			Upstream: &provider.Upstream{Name: "up", Adapter: Adapter{}, Client: cl, Quirks: provider.Quirks{MistralToolIDs: mistral}}}
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		if err := (Adapter{}).WriteChat(req, c); err != nil {
			return
		}
		var v struct {
			Model string `json:"model"`
		}
		if err := json.Unmarshal(req.Body(), &v); err != nil || v.Model != "up-model" {
			t.Fatalf("WriteChat(%q) = %s: %v", body, req.Body(), err)
		}
	})
}
