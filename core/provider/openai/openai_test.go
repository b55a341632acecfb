package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/provider/providertest"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/routing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata/ from the current output")

const (
	testGenID   = "gen-1747219999-Xk3pQ9mZ2vR7tL1wB8nC"
	testCreated = 1747219999
)

// testRequest is the client body behind every call of these tests.
const testRequest = `{"model":"openai/gpt-4o","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"What's the weather in Paris and Tokyo?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"temperature":0,"stream":true}`

func openAIEndpoint() *routing.Endpoint {
	return &routing.Endpoint{
		Provider: "openai", Model: "openai/gpt-4o", UpstreamModel: "gpt-4o-2024-08-06",
		// $2.50 and $10 per million tokens.
		Pricing: routing.Pricing{Prompt: 2_500_000_000, Completion: 10_000_000_000},
	}
}

func deepSeekEndpoint() *routing.Endpoint {
	return &routing.Endpoint{
		Provider: "deepseek", Model: "deepseek/deepseek-r1", UpstreamModel: "deepseek-reasoner",
		Pricing: routing.Pricing{Prompt: 550_000_000, Completion: 2_190_000_000},
	}
}

// newCall builds the Call core/api would make for reqBody against ep.
func newCall(t testing.TB, reqBody string, ep *routing.Endpoint, up *provider.Upstream) *provider.Call {
	t.Helper()
	var chat peek.Chat
	if err := peek.ParseChat([]byte(reqBody), &chat); err != nil {
		t.Fatalf("cannot parse test request: %v", err)
	}
	if up == nil {
		up = &provider.Upstream{Name: ep.Provider, Adapter: Adapter{}}
	}
	return &provider.Call{
		Body: []byte(reqBody), Chat: &chat, Upstream: up, Endpoint: ep,
		GenID: testGenID, Created: testCreated, Stream: chat.Stream,
	}
}

// relay feeds an upstream SSE transcript through the adapter's stream and
// ends it the way core/api does: FinishStream on success, an error chunk
// and [DONE] on failure.
func relay(t testing.TB, c *provider.Call, wire []byte) ([]byte, *provider.Result) {
	t.Helper()
	s := Adapter{}.NewStream(c)
	sc := sse.NewScanner(bytes.NewReader(wire), 0)
	out := []byte{}
	var failure *provider.Failure
	for sc.Next() {
		var err error
		if out, err = s.Event(out, sc.Event()); err != nil {
			if !errors.As(err, &failure) {
				t.Fatalf("Event returned %T %v, want a *provider.Failure", err, err)
			}
			break
		}
		if res := s.Result(); res.Err != nil {
			failure = res.Err
			break
		} else if res.Done {
			break
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("cannot scan transcript: %v", err)
	}
	res := s.Result()
	if failure != nil {
		code := failure.Status
		if code < 400 {
			code = fasthttp.StatusBadGateway
		}
		out = provider.AppendErrorChunk(out, c, code, failure.Message)
		return sse.AppendDone(out), res
	}
	if !res.HaveUsage {
		res.Usage.PromptTokens = provider.EstimateTokens(len(c.Chat.Messages))
		res.Usage.CompletionTokens = provider.EstimateTokens(res.OutputBytes)
	}
	return provider.FinishStream(out, c, &res.Usage, c.Endpoint.Pricing.Cost(res.Usage)), res
}

type streamCase struct {
	name   string
	ep     func() *routing.Endpoint
	quirks provider.Quirks
	inBand bool // the transcript carries an in-band error
	finish string
	native string
	usage  routing.Usage
}

var streamCases = []streamCase{
	{
		name: "stream_full", ep: openAIEndpoint, finish: "tool_calls", native: "tool_calls",
		usage: routing.Usage{PromptTokens: 82, CompletionTokens: 57, CachedTokens: 64},
	},
	{
		name: "stream_usage_in_last_choice", ep: openAIEndpoint, finish: "length", native: "length",
		usage: routing.Usage{PromptTokens: 25, CompletionTokens: 3},
	},
	{
		name: "stream_inband_error", ep: openAIEndpoint, inBand: true,
	},
	{
		name: "stream_deepseek_reasoning", ep: deepSeekEndpoint, quirks: provider.Quirks{ReasoningContent: true},
		finish: "stop", native: "stop",
		usage: routing.Usage{PromptTokens: 10, CompletionTokens: 17, ReasoningTokens: 12},
	},
}

func TestStreamGolden(t *testing.T) {
	for _, tc := range streamCases {
		t.Run(tc.name, func(t *testing.T) {
			ep := tc.ep()
			c := newCall(t, testRequest, ep, &provider.Upstream{Name: ep.Provider, Adapter: Adapter{}, Quirks: tc.quirks})
			out, res := relay(t, c, readTestdata(t, tc.name+".sse"))
			checkStreamShape(t, c, out, tc.inBand)

			if tc.inBand {
				if res.Err == nil || res.Err.Message == "" || res.Err.Type != "server_error" {
					t.Fatalf("in-band error not surfaced: %+v", res.Err)
				}
			} else {
				if res.Err != nil || !res.Done || !res.HaveUsage {
					t.Fatalf("result %+v: want done, usage, no error", res)
				}
				if res.Finish != tc.finish || res.Native != tc.native || res.Usage != tc.usage {
					t.Fatalf("result finish=%q native=%q usage=%+v; want %q %q %+v", res.Finish, res.Native, res.Usage, tc.finish, tc.native, tc.usage)
				}
			}
			golden := "-- result --\n" + describeResult(res, ep.Pricing.Cost(res.Usage)) + "-- output --\n" + string(out)
			checkGolden(t, tc.name+".golden", []byte(golden))
		})
	}
}

// checkStreamShape checks what every client SDK relies on: SSE frames of
// JSON chunks with one id, object "chat.completion.chunk" and choices;
// normalised finish reasons with the native one beside; exactly one usage
// chunk (with cost) at the end, then [DONE]. A failed stream ends with one
// error chunk instead.
func checkStreamShape(t *testing.T, c *provider.Call, out []byte, failed bool) {
	t.Helper()
	var chunks []map[string]json.RawMessage
	sc := sse.NewScanner(bytes.NewReader(out), 0)
	done := false
	for sc.Next() {
		ev := sc.Event()
		if done {
			t.Fatalf("event after [DONE]: %q", ev.Data)
		}
		if len(ev.Name) != 0 {
			t.Fatalf("named event %q: OpenAI streams use the default type", ev.Name)
		}
		if sse.IsDone(ev.Data) {
			done = true
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			t.Fatalf("chunk is not a JSON object: %v\n%s", err, ev.Data)
		}
		chunks = append(chunks, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("client stream does not parse as SSE: %v", err)
	}
	if !done {
		t.Fatalf("client stream does not end with [DONE]")
	}
	if len(chunks) < 2 {
		t.Fatalf("only %d chunks", len(chunks))
	}
	str := func(m map[string]json.RawMessage, k string) string {
		var s string
		if err := json.Unmarshal(m[k], &s); err != nil {
			t.Fatalf("chunk member %q = %s is not a string", k, m[k])
		}
		return s
	}
	finishes, usages := 0, 0
	for i, m := range chunks {
		if id := str(m, "id"); id != c.GenID {
			t.Fatalf("chunk %d has id %q, want %q", i, id, c.GenID)
		}
		if obj := str(m, "object"); obj != "chat.completion.chunk" {
			t.Fatalf("chunk %d has object %q", i, obj)
		}
		if str(m, "model") != c.Endpoint.Model || str(m, "provider") != c.Upstream.Name || string(m["created"]) != fmt.Sprint(c.Created) {
			t.Fatalf("chunk %d head: model %s provider %s created %s", i, m["model"], m["provider"], m["created"])
		}
		var choices []map[string]json.RawMessage
		if err := json.Unmarshal(m["choices"], &choices); err != nil || m["choices"] == nil {
			t.Fatalf("chunk %d: choices %s is not an array: %v", i, m["choices"], err)
		}
		for _, ch := range choices {
			fr, ok := ch["finish_reason"]
			if !ok || string(fr) == "null" {
				if _, ok := ch["native_finish_reason"]; ok {
					t.Fatalf("chunk %d: native_finish_reason without finish_reason", i)
				}
				continue
			}
			finishes++
			switch f := str(ch, "finish_reason"); f {
			case "stop", "length", "tool_calls", "content_filter", "error":
			default:
				t.Fatalf("chunk %d: finish_reason %q is not normalised", i, f)
			}
			if _, ok := ch["native_finish_reason"]; !ok {
				t.Fatalf("chunk %d: finish_reason without native_finish_reason", i)
			}
			if c.Upstream.Quirks.ReasoningContent && bytes.Contains(ch["delta"], []byte(`"reasoning_content"`)) {
				t.Fatalf("chunk %d: reasoning_content not renamed", i)
			}
		}
		if _, ok := m["usage"]; ok {
			usages++
			if i != len(chunks)-1 || len(choices) != 0 {
				t.Fatalf("usage in chunk %d of %d with %d choices: only the last chunk, with no choices, may carry it", i, len(chunks), len(choices))
			}
			var u struct {
				Prompt     *int     `json:"prompt_tokens"`
				Completion *int     `json:"completion_tokens"`
				Total      *int     `json:"total_tokens"`
				Cost       *float64 `json:"cost"`
			}
			if err := json.Unmarshal(m["usage"], &u); err != nil || u.Prompt == nil || u.Completion == nil || u.Total == nil || u.Cost == nil {
				t.Fatalf("usage %s lacks tokens or cost: %v", m["usage"], err)
			}
			if *u.Total != *u.Prompt+*u.Completion {
				t.Fatalf("usage %s: total is not the sum", m["usage"])
			}
		}
		if _, ok := m["error"]; ok && (!failed || i != len(chunks)-1) {
			t.Fatalf("error member in chunk %d", i)
		}
	}
	last := chunks[len(chunks)-1]
	if failed {
		if usages != 0 || last["error"] == nil {
			t.Fatalf("a failed stream must end with an error chunk and no usage chunk")
		}
		return
	}
	if usages != 1 {
		t.Fatalf("%d usage chunks, want exactly 1", usages)
	}
	if finishes != 1 {
		t.Fatalf("%d chunks carry a finish_reason, want 1", finishes)
	}
}

func TestReadChatGolden(t *testing.T) {
	f := func(name string, ep *routing.Endpoint, quirks provider.Quirks, wantFinish, wantNative string, wantUsage routing.Usage) {
		t.Helper()
		c := newCall(t, testRequest, ep, &provider.Upstream{Name: ep.Provider, Adapter: Adapter{}, Quirks: quirks})
		c.Stream = false
		out, res, err := Adapter{}.ReadChat([]byte("keep"), readTestdata(t, name+".json"), c)
		if err != nil {
			t.Fatalf("ReadChat(%s): %v", name, err)
		}
		if !bytes.HasPrefix(out, []byte("keep")) {
			t.Fatalf("ReadChat overwrote dst")
		}
		out = out[len("keep"):]
		checkCompletionShape(t, c, out)
		if res.Finish != wantFinish || res.Native != wantNative || res.Usage != wantUsage || !res.Done || res.Err != nil {
			t.Fatalf("%s: result %+v; want finish %q native %q usage %+v", name, res, wantFinish, wantNative, wantUsage)
		}
		golden := "-- result --\n" + describeResult(res, ep.Pricing.Cost(res.Usage)) + "-- output --\n" + string(out) + "\n"
		checkGolden(t, name+".golden", []byte(golden))
	}
	f("nonstream_tool_calls", openAIEndpoint(), provider.Quirks{}, "tool_calls", "tool_calls",
		routing.Usage{PromptTokens: 82, CompletionTokens: 51})
	// No usage reported: estimated at 4 bytes a token from the request's
	// messages (125 bytes) and the raw content and tool_calls (35 bytes).
	f("nonstream_no_usage", openAIEndpoint(), provider.Quirks{}, "stop", "eos",
		routing.Usage{PromptTokens: 32, CompletionTokens: 9})
}

// checkCompletionShape checks a rewritten chat.completion body.
func checkCompletionShape(t *testing.T, c *provider.Call, out []byte) {
	t.Helper()
	var got struct {
		ID       string `json:"id"`
		Object   string `json:"object"`
		Created  int64  `json:"created"`
		Model    string `json:"model"`
		Provider string `json:"provider"`
		Choices  []struct {
			Message      json.RawMessage `json:"message"`
			FinishReason *string         `json:"finish_reason"`
			Native       *string         `json:"native_finish_reason"`
		} `json:"choices"`
		Usage struct {
			Total *int     `json:"total_tokens"`
			Cost  *float64 `json:"cost"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("ReadChat output is not JSON: %v\n%s", err, out)
	}
	if got.ID != c.GenID || got.Object != "chat.completion" || got.Created != c.Created || got.Model != c.Endpoint.Model || got.Provider != c.Upstream.Name {
		t.Fatalf("ReadChat head: %+v", got)
	}
	if len(got.Choices) == 0 || got.Choices[0].FinishReason == nil || got.Choices[0].Native == nil {
		t.Fatalf("ReadChat choices: %s", out)
	}
	if got.Usage.Total == nil || got.Usage.Cost == nil {
		t.Fatalf("ReadChat usage lacks total or cost: %s", out)
	}
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(out, &keys)
	if n := bytes.Count(out, []byte(`"usage"`)); n != 1 {
		t.Fatalf("%d usage members", n)
	}
}

func TestReadChatCases(t *testing.T) {
	c := newCall(t, testRequest, openAIEndpoint(), nil)
	c.Stream = false
	f := func(body, want string) {
		t.Helper()
		out, res, err := Adapter{}.ReadChat(nil, []byte(body), c)
		if err != nil {
			t.Fatalf("ReadChat(%s): %v", body, err)
		}
		if !json.Valid(out) {
			t.Fatalf("ReadChat(%s) = invalid JSON %s", body, out)
		}
		const head = `{"id":"` + testGenID + `","object":"chat.completion","created":1747219999,"model":"openai/gpt-4o","provider":"openai"`
		if !bytes.HasPrefix(out, []byte(head)) {
			t.Fatalf("ReadChat(%s) head: %s", body, out)
		}
		rest := string(out[len(head):])
		if i := strings.LastIndex(rest, `,"usage":`); i >= 0 {
			rest = rest[:i]
		}
		if rest != want {
			t.Fatalf("ReadChat(%s):\ngot  %s\nwant %s", body, rest, want)
		}
		_ = res
	}
	// Upstream head members are replaced; others pass through.
	f(`{"id":"x","object":"chat.completion","created":1,"model":"m","provider":"p","choices":[],"system_fingerprint":"fp"}`,
		`,"choices":[],"system_fingerprint":"fp"`)
	// Absent choices are written as [] for SDKs that need the field.
	f(`{"id":"x"}`, `,"choices":[]`)
	f(`{"choices":null}`, `,"choices":[]`)
	// finish_reason normalised, native beside it, an upstream native dropped.
	f(`{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"native_finish_reason":"x","finish_reason":"end_turn"}]}`,
		`,"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop","native_finish_reason":"end_turn"}]`)
	f(`{"choices":[{"finish_reason":null,"index":0}]}`, `,"choices":[{"finish_reason":null,"index":0}]`)
	f(`{"choices":[{"fin\u0069sh_reason":"MAX_TOKENS"}]}`, `,"choices":[{"finish_reason":"length","native_finish_reason":"MAX_TOKENS"}]`)
	f(`{"choices":[{"finish_reason":"we\"ird"}]}`, `,"choices":[{"finish_reason":"stop","native_finish_reason":"we\"ird"}]`)
	f(`{"choices":[1,{"index":1}]}`, `,"choices":[1,{"index":1}]`)
	// A finished completion with an empty reason still reports one.
	f(`{"choices":[{"finish_reason":""}]}`, `,"choices":[{"finish_reason":"stop","native_finish_reason":""}]`)

	// In-band error in a 200 body.
	_, res, err := Adapter{}.ReadChat(nil, []byte(`{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}`), c)
	if err != nil || res.Err == nil || !res.Err.ContextLength || res.Err.Type != "invalid_request_error" {
		t.Fatalf("in-band error: err=%v res.Err=%+v", err, res.Err)
	}
	// Malformed bodies are errors, not panics.
	for _, body := range []string{``, `{`, `[]`, `{"choices":[{]}`, `{"choices":[]} x`, "{\"choices\":\"\xff\"}"} {
		if _, _, err := (Adapter{}).ReadChat(nil, []byte(body), c); err == nil {
			t.Fatalf("ReadChat(%q) accepted a malformed body", body)
		}
	}
}

func TestStreamEvent(t *testing.T) {
	const head = `data: {"id":"` + testGenID + `","object":"chat.completion.chunk","created":1747219999,"model":"openai/gpt-4o","provider":"openai"`
	f := func(data, want string) {
		t.Helper()
		c := newCall(t, testRequest, openAIEndpoint(), nil)
		s := Adapter{}.NewStream(c)
		out, err := s.Event([]byte("prev"), &sse.Event{Data: []byte(data)})
		if err != nil {
			t.Fatalf("Event(%s): %v", data, err)
		}
		got := strings.TrimPrefix(string(out), "prev")
		if want != "" {
			want = head + want + "}\n\n"
		}
		if got != want {
			t.Fatalf("Event(%s):\ngot  %q\nwant %q", data, got, want)
		}
	}
	f(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}`,
		`,"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]`)
	f(`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_use"}]}`,
		`,"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls","native_finish_reason":"tool_use"}]`)
	f(`{"choices":[{"index":0,"delta":{},"finish_reason":"content_filter","native_finish_reason":"SAFETY"}]}`,
		`,"choices":[{"index":0,"delta":{},"finish_reason":"content_filter","native_finish_reason":"content_filter"}]`)
	// Dropped: usage-only, empty and choice-less chunks, blank data, [DONE].
	f(`{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}`, "")
	f(`{"id":"c"}`, "")
	f(`{"choices":null}`, "")
	f(``, "")
	f(" \n ", "")
	f(`[DONE]`, "")
	// An empty finish_reason mid-stream (Ollama, SGLang) means unfinished.
	f(`{"id":"chatcmpl-693","object":"chat.completion.chunk","created":1715427619,"model":"mistral:latest","system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":" Hello"},"finish_reason":""}]}`,
		`,"system_fingerprint":"fp_ollama","choices":[{"index":0,"delta":{"role":"assistant","content":" Hello"},"finish_reason":null}]`)
	// Data sent on several "data:" lines is joined with "\n": outside
	// strings that is whitespace, and it must not end the client's line.
	f("{\"choices\":\n[{\"index\":0,\n\"delta\":{\"content\":\"a\\nb\"}}],\n\"x\": [1,\n2]}",
		`,"choices":[{"index":0,"delta":{"content":"a\nb"}}],"x": [1, 2]`)
	// Escaped keys are recognised; the rewritten ones come out plain.
	f(`{"ch\u006fices":[{"index":0,"delta":{"content":"x"},"finish\u005freason":"stop"}],"us\u0061ge":{"prompt_tokens":1},"m\u006fdel":"m"}`,
		`,"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop","native_finish_reason":"stop"}]`)
	// Unknown members pass through unchanged.
	f(`{"choices":[{"index":0,"delta":{"content":""},"logprobs":{"content":[]}}],"x_groq":{"id":"req_1"}}`,
		`,"choices":[{"index":0,"delta":{"content":""},"logprobs":{"content":[]}}],"x_groq":{"id":"req_1"}`)

	// Malformed data fails the stream with a Failure, leaving dst as it was.
	for _, data := range []string{`{`, `hello`, `[1]`, `{"choices":[}`, "{\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}", `{"a":1}{"b":2}`} {
		c := newCall(t, testRequest, openAIEndpoint(), nil)
		out, err := Adapter{}.NewStream(c).Event([]byte("prev"), &sse.Event{Data: []byte(data)})
		var fl *provider.Failure
		if !errors.As(err, &fl) || !strings.HasPrefix(fl.Message, "upstream sent malformed stream data") || string(out) != "prev" {
			t.Fatalf("Event(%q) = %q, %v; want a malformed-data Failure and dst unchanged", data, out, err)
		}
	}
}

func TestStreamResult(t *testing.T) {
	c := newCall(t, testRequest, openAIEndpoint(), nil)
	s := Adapter{}.NewStream(c)
	ev := func(data string) {
		t.Helper()
		if _, err := s.Event(nil, &sse.Event{Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
	}
	ev(`{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`)
	if r := s.Result(); !r.Started || r.Finish != "" || r.Done {
		t.Fatalf("after the role delta: %+v", r)
	}
	ev(`{"choices":[{"index":0,"delta":{"content":"abcd","refusal":null}}]}`)
	ev(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}`)
	// Some vendors repeat cumulative usage: the last report wins.
	ev(`{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}`)
	ev(`{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2,"cache_write_tokens":1},"completion_tokens_details":{"reasoning_tokens":1}}}`)
	ev(`[DONE]`)
	r := s.Result()
	want := routing.Usage{PromptTokens: 5, CompletionTokens: 3, CachedTokens: 2, CacheWriteTokens: 1, ReasoningTokens: 1}
	if !r.Done || !r.HaveUsage || r.Usage != want || r.Finish != "stop" || r.Native != "stop" {
		t.Fatalf("result %+v, want usage %+v", r, want)
	}
	// content "abcd" (6 raw bytes) + tool_calls array.
	if want := len(`""`) + len(`"abcd"`) + len(`[{"index":0,"function":{"arguments":"{}"}}]`); r.OutputBytes != want {
		t.Fatalf("OutputBytes = %d, want %d", r.OutputBytes, want)
	}
}

func TestWriteChat(t *testing.T) {
	client, err := upstream.New(upstream.Config{BaseURL: "http://127.0.0.1:1/v1"})
	if err != nil {
		t.Fatal(err)
	}
	const body = `{"model":"openai/gpt-4o","models":["openai/gpt-4o","x/y"],"messages":[{"role":"user","content":"hi"}],"temperature":0,"top_p":1.0,"seed":-0,"stream":STREAM,"provider":{"sort":"price"},"usage":{"include":true},"frequency_penalty":1e-7}`
	f := func(stream bool, quirks provider.Quirks, clientOpts, wantBody string) {
		t.Helper()
		b := strings.Replace(body, "STREAM", fmt.Sprint(stream), 1)
		if clientOpts != "" {
			b = strings.TrimSuffix(b, "}") + `,"stream_options":` + clientOpts + `}`
		}
		up := &provider.Upstream{Name: "openai", Adapter: Adapter{}, Client: client, APIKey: "sk-test-123", Quirks: quirks,
			Headers: [][2]string{{"OpenAI-Organization", "org-1"}}}
		c := newCall(t, b, openAIEndpoint(), up)
		c.Scratch = make([]byte, 0, 16)
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		for range 2 { // a retry reuses the Call and its scratch buffer
			req.Reset()
			if err := (Adapter{}).WriteChat(req, c); err != nil {
				t.Fatalf("WriteChat: %v", err)
			}
			if got := string(req.URI().FullURI()); got != "http://127.0.0.1:1/v1/chat/completions" {
				t.Fatalf("URI %s", got)
			}
			accept := "application/json"
			if stream {
				accept = "text/event-stream"
			}
			h := &req.Header
			if string(h.Method()) != "POST" || string(h.ContentType()) != "application/json" || string(h.Peek("Accept")) != accept ||
				string(h.Peek("Authorization")) != "Bearer sk-test-123" || string(h.Peek("OpenAI-Organization")) != "org-1" {
				t.Fatalf("headers:\n%s", h.Header())
			}
			if got := string(req.Body()); got != wantBody {
				t.Fatalf("body:\ngot  %s\nwant %s", got, wantBody)
			}
			if !json.Valid(req.Body()) {
				t.Fatalf("upstream body is not valid JSON: %s", req.Body())
			}
		}
	}
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	const params = `"temperature":0,"top_p":1.0,"seed":-0`
	// Strict upstream, streaming: extensions dropped, usage requested.
	f(true, provider.Quirks{}, "",
		`{"model":"gpt-4o-2024-08-06",`+msgs+`,`+params+`,"stream":true,"frequency_penalty":1e-7,"stream_options":{"include_usage":true}}`)
	// The client's own options are kept beside the forced include_usage.
	f(true, provider.Quirks{}, `{"include_usage":false,"include_obfuscation":false}`,
		`{"model":"gpt-4o-2024-08-06",`+msgs+`,`+params+`,"stream":true,"frequency_penalty":1e-7,"stream_options":{"include_obfuscation":false,"include_usage":true}}`)
	// The client already asked for usage: its options go as sent.
	f(true, provider.Quirks{}, `{"include_usage":true}`,
		`{"model":"gpt-4o-2024-08-06",`+msgs+`,`+params+`,"stream":true,"frequency_penalty":1e-7,"stream_options":{"include_usage":true}}`)
	// Not streaming: stream_options is not added.
	f(false, provider.Quirks{}, "",
		`{"model":"gpt-4o-2024-08-06",`+msgs+`,`+params+`,"stream":false,"frequency_penalty":1e-7}`)
	// An upstream that rejects stream_options.
	f(true, provider.Quirks{NoStreamOptions: true}, "",
		`{"model":"gpt-4o-2024-08-06",`+msgs+`,`+params+`,"stream":true,"frequency_penalty":1e-7}`)
	// A router upstream keeps the extensions.
	f(true, provider.Quirks{KeepExtensions: true}, "",
		`{"model":"gpt-4o-2024-08-06","models":["openai/gpt-4o","x/y"],`+msgs+`,`+params+`,"stream":true,"provider":{"sort":"price"},"usage":{"include":true},"frequency_penalty":1e-7,"stream_options":{"include_usage":true}}`)
}

func TestReadError(t *testing.T) {
	f := func(status int, retryAfter, body string, want provider.Failure) {
		t.Helper()
		var h fasthttp.ResponseHeader
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		got := Adapter{}.ReadError(status, &h, []byte(body))
		wantRaw := body
		if len(wantRaw) > 4096 {
			wantRaw = wantRaw[:4096]
		}
		if string(got.Raw) != wantRaw {
			t.Fatalf("ReadError(%d, %.40s): Raw %.40q", status, body, got.Raw)
		}
		got.Raw = nil
		if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", want) {
			t.Fatalf("ReadError(%d, %.60s):\ngot  %+v\nwant %+v", status, body, *got, want)
		}
	}
	f(429, "2", `{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}`,
		provider.Failure{Status: 429, Type: "requests", Message: "Rate limit reached for gpt-4o", RetryAfterMs: 2000})
	f(400, "", `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 200000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
		provider.Failure{Status: 400, Type: "invalid_request_error", Message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 200000 tokens.", ContextLength: true})
	f(401, "", `{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}`,
		provider.Failure{Status: 401, Type: "invalid_api_key", Message: "Incorrect API key provided"})
	f(404, "", `{"error":"model not found"}`, provider.Failure{Status: 404, Message: "model not found"})
	f(503, "1.5", `upstream connect error`, provider.Failure{Status: 503, Message: "upstream returned HTTP 503 Service Unavailable", RetryAfterMs: 1500})
	f(502, "", `<html>Bad Gateway</html>`, provider.Failure{Status: 502, Message: "upstream returned HTTP 502 Bad Gateway"})
	f(500, "", ``, provider.Failure{Status: 500, Message: "upstream returned HTTP 500 Internal Server Error"})
	f(400, "", `prompt is too long: 250000 tokens > 200000 maximum`, provider.Failure{Status: 400, Message: "upstream returned HTTP 400 Bad Request", ContextLength: true})
	f(500, "", `{"error":{"code":500,"message":"internal"}}`, provider.Failure{Status: 500, Message: "internal"})
	f(500, "", strings.Repeat("x", 5000), provider.Failure{Status: 500, Message: "upstream returned HTTP 500 Internal Server Error"})
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	return providertest.ReadTestdata(t, name)
}

func describeResult(res *provider.Result, cost int64) string {
	return providertest.DescribeResult(res, cost)
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	providertest.CheckGolden(t, *rewrite, name, got)
}

// TestReasoningEffort: OpenRouter's reasoning object reaches a strict
// OpenAI upstream as reasoning_effort; a router upstream gets it as sent.
func TestReasoningEffort(t *testing.T) {
	f := func(reasoning, extra string, quirks provider.Quirks, want string) {
		t.Helper()
		body := `{"model":"acme/chat","messages":[{"role":"user","content":"hi"}]` + extra
		if reasoning != "" {
			body += `,"reasoning":` + reasoning
		}
		body += `}`
		client, err := upstream.New(upstream.Config{BaseURL: "http://127.0.0.1:1/v1"})
		if err != nil {
			t.Fatal(err)
		}
		up := &provider.Upstream{Name: "p1", Adapter: Adapter{}, Client: client, Quirks: quirks}
		c := newCall(t, body, openAIEndpoint(), up)
		var req fasthttp.Request
		if err := (Adapter{}).WriteChat(&req, c); err != nil {
			t.Fatal(err)
		}
		got := req.Body()
		if !json.Valid(got) {
			t.Fatalf("%s: upstream body is not JSON: %s", reasoning, got)
		}
		var m map[string]any
		_ = json.Unmarshal(got, &m)
		eff, _ := m["reasoning_effort"].(string)
		if eff != want {
			t.Fatalf("reasoning %s%s: reasoning_effort %q, want %q (body %s)", reasoning, extra, eff, want, got)
		}
	}
	strict := provider.Quirks{}
	f(``, ``, strict, "")
	f(`{"effort":"high"}`, ``, strict, "high")
	f(`{"effort":"LOW","exclude":true}`, ``, strict, "low")
	f(`{"effort":"xhigh"}`, ``, strict, "high")
	f(`{"enabled":true}`, ``, strict, "medium")
	f(`{"max_tokens":2000}`, ``, strict, "medium")
	f(`{"enabled":false,"effort":"high"}`, ``, strict, "")
	f(`{}`, ``, strict, "")
	f(`null`, ``, strict, "")
	// The client's own reasoning_effort wins.
	f(`{"effort":"high"}`, `,"reasoning_effort":"minimal"`, strict, "minimal")
	// A router upstream (OpenRouter) understands "reasoning" itself.
	f(`{"effort":"high"}`, ``, provider.Quirks{KeepExtensions: true}, "")
}
