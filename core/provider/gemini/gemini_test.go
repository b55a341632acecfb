package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/provider/providertest"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/routing"
)

func TestReadChatGolden(t *testing.T) {
	f := func(name, wantFinish, wantNative string, wantUsage routing.Usage) {
		t.Helper()
		c := newCall(t, testRequest, geminiEndpoint())
		c.Stream = false
		out, res, err := Adapter{}.ReadChat([]byte("keep"), readTestdata(t, name+".json"), c)
		if err != nil {
			t.Fatalf("ReadChat(%s): %v", name, err)
		}
		if !bytes.HasPrefix(out, []byte("keep")) {
			t.Fatalf("ReadChat overwrote dst")
		}
		out = out[len("keep"):]
		var comp oai.ChatCompletion
		if err := json.Unmarshal(out, &comp); err != nil {
			t.Fatalf("openai-go cannot decode the completion: %v\n%s", err, out)
		}
		if comp.ID != testGenID || comp.Model != c.Endpoint.Model || len(comp.Choices) != 1 || string(comp.Choices[0].FinishReason) != wantFinish {
			t.Fatalf("%s: completion %s", name, out)
		}
		if res.Finish != wantFinish || res.Native != wantNative || res.Usage != wantUsage || !res.Done || !res.HaveUsage || res.Err != nil {
			t.Fatalf("%s: result %+v; want finish %q native %q usage %+v", name, res, wantFinish, wantNative, wantUsage)
		}
		if comp.Usage.CompletionTokensDetails.ReasoningTokens != int64(wantUsage.ReasoningTokens) || comp.Usage.PromptTokensDetails.CachedTokens != int64(wantUsage.CachedTokens) {
			t.Fatalf("%s: usage %s", name, comp.Usage.RawJSON())
		}
		golden := "-- result --\n" + describeResult(res, c.Endpoint.Pricing.Cost(res.Usage)) + "-- output --\n" + string(out) + "\n"
		checkGolden(t, name+".golden", []byte(golden))
	}
	// Thoughts are reasoning tokens inside completion_tokens.
	f("response_text", "stop", "STOP", routing.Usage{PromptTokens: 42, CompletionTokens: 114, CachedTokens: 16, ReasoningTokens: 100})
	f("response_function_call", "tool_calls", "STOP", routing.Usage{PromptTokens: 58, CompletionTokens: 26})
	f("response_safety", "content_filter", "SAFETY", routing.Usage{PromptTokens: 19})
	f("response_blocked", "content_filter", "PROHIBITED_CONTENT", routing.Usage{PromptTokens: 12})
}

func TestReadChatMessage(t *testing.T) {
	c := newCall(t, testRequest, geminiEndpoint())
	out, _, err := Adapter{}.ReadChat(nil, readTestdata(t, "response_function_call.json"), c)
	if err != nil {
		t.Fatal(err)
	}
	var comp oai.ChatCompletion
	if err := json.Unmarshal(out, &comp); err != nil {
		t.Fatal(err)
	}
	msg := comp.Choices[0].Message
	if msg.Content != "" || len(msg.ToolCalls) != 2 {
		t.Fatalf("message %+v", msg)
	}
	ids := map[string]bool{}
	for i, want := range [][2]string{{"get_weather", `{"city": "Paris"}`}, {"get_weather", `{"city": "Tōkyō", "units": "metric"}`}} {
		tc := msg.ToolCalls[i]
		if !callIDs.MatchString(tc.ID) || len(tc.ID) != len("call_")+24 || tc.Type != "function" || tc.Function.Name != want[0] || tc.Function.Arguments != want[1] {
			t.Fatalf("tool call %d = %+v", i, tc)
		}
		ids[tc.ID] = true
	}
	if len(ids) != 2 {
		t.Fatalf("tool-call ids repeat")
	}
	out, _, _ = Adapter{}.ReadChat(nil, readTestdata(t, "response_text.json"), c)
	var raw struct {
		Choices []struct {
			Message struct {
				Content   string `json:"content"`
				Reasoning string `json:"reasoning"`
			} `json:"message"`
		} `json:"choices"`
	}
	_ = json.Unmarshal(out, &raw)
	if m := raw.Choices[0].Message; m.Content != "Paris is sunny and 21 °C.\nEnjoy \"la vie\"!" || m.Reasoning != "**Checking the forecast**\nThe user asks about Paris." {
		t.Fatalf("message %+v", m)
	}
	// reasoning.exclude hides the thoughts, not their tokens.
	c = newCall(t, `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning":{"effort":"low","exclude":true}}`, geminiEndpoint())
	out, res, _ := Adapter{}.ReadChat(nil, readTestdata(t, "response_text.json"), c)
	if bytes.Contains(out, []byte(`"reasoning"`)) || res.Usage.ReasoningTokens != 100 {
		t.Fatalf("excluded reasoning shown: %s", out)
	}
}

func TestReadChatCases(t *testing.T) {
	c := newCall(t, testRequest, geminiEndpoint())
	_, res, err := Adapter{}.ReadChat(nil, []byte(`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`), c)
	if err != nil || res.Err == nil || res.Err.Status != 429 || res.Err.Type != "RESOURCE_EXHAUSTED" {
		t.Fatalf("in-band error: %v %+v", err, res.Err)
	}
	// No usage: estimated.
	_, res, err = Adapter{}.ReadChat(nil, []byte(`{"candidates":[{"content":{"parts":[{"text":"abcdefgh"}]},"finishReason":"STOP"}]}`), c)
	if err != nil || res.HaveUsage || res.Usage.CompletionTokens != 2 {
		t.Fatalf("no usage: %v %+v", err, res)
	}
	for native, want := range map[string]string{"MAX_TOKENS": "length", "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
		"PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter", "LANGUAGE": "content_filter", "MALFORMED_FUNCTION_CALL": "error",
		"OTHER": "error", "FINISH_REASON_UNSPECIFIED": "stop"} {
		_, res, err := Adapter{}.ReadChat(nil, []byte(`{"candidates":[{"finishReason":"`+native+`"}]}`), c)
		if err != nil || res.Finish != want || res.Native != native {
			t.Fatalf("finishReason %s: %v %+v", native, err, res)
		}
	}
	for _, body := range []string{``, `{`, `[]`, `{"candidates":{}}`, `{}`, `{"candidates":[]}`} {
		if _, _, err := (Adapter{}).ReadChat(nil, []byte(body), c); err == nil {
			t.Fatalf("ReadChat(%q) accepted a malformed body", body)
		}
	}
}

type streamCase struct {
	name   string
	failed bool
	finish string
	native string
	usage  routing.Usage
}

var streamCases = []streamCase{
	// usageMetadata repeats in every chunk: the last one counts.
	{name: "stream_tools", finish: "tool_calls", native: "STOP",
		usage: routing.Usage{PromptTokens: 58, CompletionTokens: 71, CachedTokens: 32, ReasoningTokens: 44}},
	{name: "stream_text", finish: "length", native: "MAX_TOKENS", usage: routing.Usage{PromptTokens: 9, CompletionTokens: 3}},
	{name: "stream_blocked", finish: "content_filter", native: "SAFETY", usage: routing.Usage{PromptTokens: 14}},
	{name: "stream_error", failed: true},
}

func TestStreamGolden(t *testing.T) {
	for _, tc := range streamCases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCall(t, testRequest, geminiEndpoint())
			out, res := relay(t, c, readTestdata(t, tc.name+".sse"))
			checkStreamShape(t, c, out, tc.failed)
			if tc.failed {
				if res.Err == nil || res.Err.Status != 503 || res.Err.Type != "UNAVAILABLE" {
					t.Fatalf("in-band error not surfaced: %+v", res.Err)
				}
			} else if !res.Done || !res.HaveUsage || res.Err != nil || res.Finish != tc.finish || res.Native != tc.native || res.Usage != tc.usage {
				t.Fatalf("result %+v; want finish %q native %q usage %+v", res, tc.finish, tc.native, tc.usage)
			}
			golden := "-- result --\n" + describeResult(res, c.Endpoint.Pricing.Cost(res.Usage)) + "-- output --\n" + string(out)
			checkGolden(t, tc.name+".golden", []byte(golden))
		})
	}
}

// TestStreamOpenAIGoAccumulator feeds the client side of each transcript
// to openai-go's accumulator: every chunk accepted, usage counted once,
// the message whole.
func TestStreamOpenAIGoAccumulator(t *testing.T) {
	type call struct{ name, args string }
	f := func(name, body, content, reasoning, finish string, calls []call, usage [3]int64) {
		t.Helper()
		c := newCall(t, body, geminiEndpoint())
		out, _ := relay(t, c, readTestdata(t, name+".sse"))
		acc, gotReasoning := accumulate(t, out)
		if acc.ID != testGenID || len(acc.Choices) != 1 {
			t.Fatalf("%s: accumulated id %q, %d choices", name, acc.ID, len(acc.Choices))
		}
		ch := acc.Choices[0]
		if ch.Message.Content != content || gotReasoning != reasoning || ch.FinishReason != finish || ch.Message.Role != "assistant" {
			t.Fatalf("%s: content %q reasoning %q finish %q role %q", name, ch.Message.Content, gotReasoning, ch.FinishReason, ch.Message.Role)
		}
		if len(ch.Message.ToolCalls) != len(calls) {
			t.Fatalf("%s: %d tool calls, want %d", name, len(ch.Message.ToolCalls), len(calls))
		}
		for i, w := range calls {
			g := ch.Message.ToolCalls[i]
			if !callIDs.MatchString(g.ID) || g.Type != "function" || g.Function.Name != w.name || g.Function.Arguments != w.args {
				t.Fatalf("%s: tool call %d = %+v, want %+v", name, i, g, w)
			}
		}
		if got := [3]int64{acc.Usage.PromptTokens, acc.Usage.CompletionTokens, acc.Usage.TotalTokens}; got != usage {
			t.Fatalf("%s: accumulated usage %v, want %v", name, got, usage)
		}
	}
	calls := []call{{"get_weather", `{"city": "Paris"}`}, {"get_weather", `{"city": "Tokyo"}`}}
	f("stream_tools", testRequest, `Let me check both "cities".`, "**Planning**\nThe user wants the weather in two cities.", "tool_calls", calls, [3]int64{58, 71, 129})
	f("stream_tools", `{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning":{"effort":"low","exclude":true},"stream":true}`,
		`Let me check both "cities".`, "", "tool_calls", calls, [3]int64{58, 71, 129})
	f("stream_text", testRequest, "Bonjour !\n", "", "length", nil, [3]int64{9, 3, 12})
	f("stream_blocked", testRequest, "", "", "content_filter", nil, [3]int64{14, 0, 14})

	c := newCall(t, testRequest, geminiEndpoint())
	out, _ := relay(t, c, readTestdata(t, "stream_error.sse"))
	acc, _ := accumulate(t, out)
	if acc.Choices[0].Message.Content != "Once upon" || acc.Choices[0].FinishReason != "error" {
		t.Fatalf("accumulated %+v", acc.Choices)
	}
}

func TestStreamEvent(t *testing.T) {
	c := newCall(t, testRequest, geminiEndpoint())
	s := Adapter{}.NewStream(c)
	ev := func(data string) string {
		t.Helper()
		out, err := s.Event([]byte("prev"), &sse.Event{Data: []byte(data)})
		if err != nil {
			t.Fatalf("Event(%s): %v", data, err)
		}
		return strings.TrimPrefix(string(out), "prev")
	}
	// Blank data and chunks with only usage send nothing.
	if out := ev(" "); out != "" {
		t.Fatalf("blank data: %q", out)
	}
	if out := ev(`{"usageMetadata":{"promptTokenCount":5}}`); out != "" || !s.Result().HaveUsage || s.Result().Usage.PromptTokens != 5 {
		t.Fatalf("usage-only chunk: %q %+v", out, s.Result())
	}
	// The finish chunk; nothing after it.
	if out := ev(`{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1}}`); strings.Count(out, "data: ") != 2 || !strings.Contains(out, `"role":"assistant","content":"a"`) {
		t.Fatalf("finish chunk: %q", out)
	}
	if out := ev(`{"candidates":[{"content":{"parts":[{"text":"late"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":2}}`); out != "" || s.Result().Usage.CompletionTokens != 2 {
		t.Fatalf("after the finish: %q %+v", out, s.Result())
	}
	for _, data := range []string{`{`, `hello`, `[1]`, `{"candidates":{}}`, `{"candidates":[{"content":{"parts":[{"text":7}]}}]}`} {
		c := newCall(t, testRequest, geminiEndpoint())
		out, err := Adapter{}.NewStream(c).Event([]byte("prev"), &sse.Event{Data: []byte(data)})
		var fl *provider.Failure
		if !errors.As(err, &fl) || !strings.HasPrefix(fl.Message, "upstream sent malformed stream data") || string(out) != "prev" {
			t.Fatalf("Event(%q) = %q, %v; want a malformed-data Failure and dst unchanged", data, out, err)
		}
	}
}

func TestReadError(t *testing.T) {
	f := func(status int, retryAfter, file string, want provider.Failure) {
		t.Helper()
		var h fasthttp.ResponseHeader
		if retryAfter != "" {
			h.Set("retry-after", retryAfter)
		}
		body := readTestdata(t, file)
		got := Adapter{}.ReadError(status, &h, body)
		if got.Status != want.Status || got.Type != want.Type || got.Message != want.Message || got.RetryAfterMs != want.RetryAfterMs ||
			got.ContextLength != want.ContextLength || !bytes.Equal(got.Raw, body) {
			t.Fatalf("ReadError(%d, %s) = %+v, want %+v", status, file, got, want)
		}
	}
	// RetryInfo's delay stands in for a missing Retry-After.
	f(429, "", "error_rate_limit.json", provider.Failure{Status: 429, Type: "RESOURCE_EXHAUSTED", RetryAfterMs: 36000,
		Message: "You exceeded your current quota, please check your plan and billing details."})
	f(429, "2", "error_rate_limit.json", provider.Failure{Status: 429, Type: "RESOURCE_EXHAUSTED", RetryAfterMs: 2000,
		Message: "You exceeded your current quota, please check your plan and billing details."})
	f(400, "", "error_context.json", provider.Failure{Status: 400, Type: "INVALID_ARGUMENT", ContextLength: true,
		Message: "The input token count (1201543) exceeds the maximum number of tokens allowed (1048576)."})
	f(503, "", "error_array.json", provider.Failure{Status: 503, Type: "UNAVAILABLE", Message: "The model is overloaded. Please try again later."})
	f(502, "", "error_html.txt", provider.Failure{Status: 502, Message: "upstream returned HTTP 502 Bad Gateway"})
}

func accumulate(t *testing.T, out []byte) (oai.ChatCompletionAccumulator, string) {
	t.Helper()
	return providertest.Accumulate(t, out)
}
