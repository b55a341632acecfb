package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/upstream"
)

func testUpstream(t testing.TB, base string) *provider.Upstream {
	t.Helper()
	cl, err := upstream.New(upstream.Config{BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdle)
	return &provider.Upstream{Name: "anthropic", Adapter: Adapter{}, Client: cl, APIKey: "sk-ant-test",
		Headers: [][2]string{{"anthropic-beta", "prompt-caching-2024-07-31"}}}
}

// writeChat translates body and returns the upstream request.
func writeChat(t testing.TB, body string) (*fasthttp.Request, error) {
	t.Helper()
	c := newCall(t, body, claudeEndpoint())
	c.Upstream = testUpstream(t, "https://api.anthropic.com/v1")
	req := fasthttp.AcquireRequest()
	t.Cleanup(func() { fasthttp.ReleaseRequest(req) })
	return req, Adapter{}.WriteChat(req, c)
}

func describeRequest(req *fasthttp.Request) string {
	var hs []string
	for k, v := range req.Header.All() {
		hs = append(hs, strings.ToLower(string(k))+": "+string(v))
	}
	sort.Strings(hs)
	return fmt.Sprintf("%s %s\n%s\n\n%s\n", req.Header.Method(), req.URI().FullURI(), strings.Join(hs, "\n"), req.Body())
}

// TestWriteChatGolden translates feature-rich OpenAI requests into the
// exact Messages API requests.
func TestWriteChatGolden(t *testing.T) {
	for _, name := range []string{"basic", "tools", "reasoning", "json_object", "thinking_budget"} {
		t.Run(name, func(t *testing.T) {
			body := string(readTestdata(t, "request_"+name+".json"))
			req, err := writeChat(t, body)
			if err != nil {
				t.Fatalf("WriteChat: %v", err)
			}
			if !json.Valid(req.Body()) {
				t.Fatalf("upstream body is not JSON: %s", req.Body())
			}
			checkSDKRoundTrip(t, req.Body())
			checkGolden(t, "request_"+name+".golden", []byte(describeRequest(req)))
		})
	}
}

// checkSDKRoundTrip decodes the body with the official Anthropic SDK's
// request type and encodes it again: a member the SDK does not know (a
// misspelt field) or a value of the wrong shape would not survive.
func checkSDKRoundTrip(t *testing.T, body []byte) {
	t.Helper()
	var p sdk.MessageNewParams
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("the Anthropic SDK cannot decode the request: %v", err)
	}
	again, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var want, got map[string]any
	_ = json.Unmarshal(body, &want)
	_ = json.Unmarshal(again, &got)
	delete(want, "stream") // the SDK sets stream by the method called
	delete(got, "stream")
	normaliseToolResults(want)
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("the Anthropic SDK does not round-trip the request:\nsent %s\nsdk  %s", body, again)
	}
}

// normaliseToolResults rewrites a tool_result's string content as the one
// text block the SDK turns it into (both forms mean the same to the API).
func normaliseToolResults(req map[string]any) {
	msgs, _ := req["messages"].([]any)
	for _, m := range msgs {
		blocks, _ := m.(map[string]any)["content"].([]any)
		for _, b := range blocks {
			blk := b.(map[string]any)
			if s, ok := blk["content"].(string); ok && blk["type"] == "tool_result" {
				blk["content"] = []any{map[string]any{"type": "text", "text": s}}
			}
		}
	}
}

// TestExplicitZeros: an explicit temperature 0 and top_p 0 reach the
// upstream.
func TestExplicitZeros(t *testing.T) {
	req, err := writeChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0,"top_p":0,"top_k":0}`)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Temperature *float64 `json:"temperature"`
		TopP        *float64 `json:"top_p"`
		TopK        *int     `json:"top_k"`
	}
	if err := json.Unmarshal(req.Body(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Temperature == nil || *got.Temperature != 0 || got.TopP == nil || *got.TopP != 0 || got.TopK == nil || *got.TopK != 0 {
		t.Fatalf("explicit zeros lost: %s", req.Body())
	}
}

func TestWriteChatCases(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		req, err := writeChat(t, body)
		if err != nil {
			t.Fatalf("WriteChat(%s): %v", body, err)
		}
		if got := string(req.Body()); got != want {
			t.Fatalf("WriteChat(%s):\ngot  %s\nwant %s", body, got, want)
		}
	}
	const head = `{"model":"claude-sonnet-4-5-20250929","max_tokens":`
	// max_tokens: the client's, else the endpoint's (8192 in these tests).
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`,
		head+`5,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`)
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		head+`8192,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`)
	// Empty text parts and empty assistant turns are dropped; same-role
	// turns merge.
	f(`{"model":"m","messages":[{"role":"user","content":""},{"role":"assistant","content":null},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":""}]},{"role":"user","content":"b"}]}`,
		head+`8192,"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`)
	// An assistant prefill stays last; refusal parts are text.
	f(`{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]}`,
		head+`8192,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":[{"type":"text","text":"no"}]}]}`)
	// tool_choice none; parallel_tool_calls false without a choice.
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false}`,
		head+`8192,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"}}`)
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false}`,
		head+`8192,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`)
	// tool_choice without tools is dropped (the API rejects it).
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}`,
		head+`8192,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`)
	// Thinking stays off when the last assistant turn called tools: the
	// API wants its signed thinking block back, which OpenAI clients lack.
	f(`{"model":"m","max_tokens":4000,"reasoning":{"effort":"high"},"messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}],"temperature":0.2}`,
		head+`4000,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":[{"type":"tool_use","id":"c1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"c1","content":"ok"}]}],"temperature":0.2}`)
	// reasoning.enabled false and effort none keep thinking off; a
	// budget that cannot fit under max_tokens (min 1024) too.
	f(`{"model":"m","max_tokens":4000,"reasoning":{"effort":"high","enabled":false},"messages":[{"role":"user","content":"hi"}]}`,
		head+`4000,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`)
	f(`{"model":"m","max_tokens":4000,"reasoning":{"effort":"none"},"messages":[{"role":"user","content":"hi"}]}`,
		head+`4000,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`)
	f(`{"model":"m","max_tokens":1000,"reasoning":{"effort":"high"},"messages":[{"role":"user","content":"hi"}]}`,
		head+`1000,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}`)
	f(`{"model":"m","max_tokens":4000,"reasoning":{"enabled":true},"messages":[{"role":"user","content":"hi"}]}`,
		head+`4000,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"thinking":{"type":"enabled","budget_tokens":2000}}`)
	// A PDF file part is a document block; a bare-string image_url works.
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0="}},{"type":"image_url","image_url":"https://x.test/a.png"}]}]}`,
		head+`8192,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},{"type":"image","source":{"type":"url","url":"https://x.test/a.png"}}]}]}`)
	// Tool results with images; an empty tool result has no content.
	f(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]},{"role":"tool","tool_call_id":"a","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"data:image/gif;base64,R0lG"}}]},{"role":"tool","tool_call_id":"a","content":""}]}`,
		head+`8192,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"text","text":"see"},{"type":"image","source":{"type":"base64","media_type":"image/gif","data":"R0lG"}}]},{"type":"tool_result","tool_use_id":"a"}]}]}`)
}

func TestWriteChatRejects(t *testing.T) {
	f := func(body, wantMsg string) {
		t.Helper()
		_, err := writeChat(t, body)
		var br *peek.BadRequest
		if !errors.As(err, &br) || !strings.Contains(br.Msg, wantMsg) {
			t.Fatalf("WriteChat(%s) = %v, want a BadRequest containing %q", body, err, wantMsg)
		}
	}
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"parallel_tool_calls":"yes"}`, "invalid request body")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"x","format":"wav"}}]}]}`, `"input_audio" is not supported`)
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,raw"}}]}]}`, "base64")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/a.png"}}]}]}`, "http(s)")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, "image_url.url")
	f(`{"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`, "file_data")
	f(`{"model":"m","messages":[{"role":"function","content":"x"}]}`, `role "function"`)
	f(`{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "tool_call_id")
	f(`{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}`, "system messages")
	f(`{"model":"m","messages":[{"role":"user","content":42}]}`, "content must be")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"web_search"}]}`, `tool type "web_search"`)
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{}}]}`, "function.name")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, "tool_choice")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function"}}`, "tool_choice.function.name")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":[1]}`, "stop")
	f(`{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning":{"effort":"extreme"}}`, "reasoning.effort")
	f(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{}}]}]}`, "function.name")
}

// TestWriteChatHeaders: the key goes as x-api-key with anthropic-version;
// configured headers are added and may override the version.
func TestWriteChatHeaders(t *testing.T) {
	c := newCall(t, `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}`, claudeEndpoint())
	c.Upstream = testUpstream(t, "http://127.0.0.1:9/anthropic/v1/")
	c.Upstream.Headers = append(c.Upstream.Headers, [2]string{"anthropic-version", "2099-01-01"})
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	if err := (Adapter{}).WriteChat(req, c); err != nil {
		t.Fatal(err)
	}
	if got := string(req.URI().FullURI()); got != "http://127.0.0.1:9/anthropic/v1/messages" {
		t.Fatalf("URL %s", got)
	}
	for k, want := range map[string]string{"x-api-key": "sk-ant-test", "anthropic-version": "2099-01-01", "accept": "text/event-stream", "anthropic-beta": "prompt-caching-2024-07-31", "content-type": "application/json"} {
		if got := string(req.Header.Peek(k)); got != want {
			t.Fatalf("header %s = %q, want %q", k, got, want)
		}
	}
	if len(req.Header.Peek("authorization")) != 0 {
		t.Fatalf("an Authorization header was sent")
	}
	if !bytes.Contains(req.Body(), []byte(`"stream":true`)) {
		t.Fatalf("stream not requested: %s", req.Body())
	}
}

func TestThinkingBudget(t *testing.T) {
	i64 := func(n int64) *int64 { return &n }
	yes, no := true, false
	f := func(r *reasoning, top string, maxTokens, want int64) {
		t.Helper()
		got, err := thinkingBudget(r, top, maxTokens)
		if err != nil || got != want {
			t.Fatalf("thinkingBudget(%+v, %q, %d) = %d, %v; want %d", r, top, maxTokens, got, err, want)
		}
	}
	f(nil, "", 4096, 0)
	f(&reasoning{}, "", 4096, 0)                     // {} alone does not turn thinking on
	f(&reasoning{Exclude: true}, "", 4096, 0)        // neither does exclude
	f(&reasoning{Effort: "high"}, "", 10000, 8000)   // 80 %
	f(&reasoning{Effort: "medium"}, "", 10000, 5000) // 50 %
	f(&reasoning{Effort: "low"}, "", 10000, 2000)    // 20 %
	f(&reasoning{Effort: "low"}, "", 4096, 1024)     // at least 1024
	f(&reasoning{Effort: "high"}, "", 64000, 32000)  // at most 32000
	f(&reasoning{Effort: "high"}, "", 1024, 0)       // no room under max_tokens
	f(nil, "medium", 8192, 4096)                     // top-level reasoning_effort
	f(&reasoning{Enabled: &yes}, "", 8192, 4096)     // enabled: medium
	f(&reasoning{Effort: "high", Enabled: &no}, "", 8192, 0)
	f(&reasoning{MaxTokens: i64(2000)}, "", 8192, 2000)
	f(&reasoning{MaxTokens: i64(9000)}, "", 8192, 8191) // below max_tokens
	f(&reasoning{MaxTokens: i64(500)}, "", 8192, 0)     // under the API's minimum
	f(&reasoning{MaxTokens: i64(0)}, "", 8192, 0)
}
