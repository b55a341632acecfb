package gemini

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/routing"
)

const mockKey = "AIza-mock"

// startMock runs bench/mock on loopback and returns an Upstream for its
// Gemini endpoint (base URL …/v1beta, key as x-goog-api-key).
func startMock(t *testing.T, cfg mock.Config) (*mock.Server, *provider.Upstream) {
	t.Helper()
	cfg.APIKey = mockKey
	srv := mock.New(cfg)
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	cl, err := upstream.New(upstream.Config{BaseURL: "http://" + srv.Addr() + "/v1beta"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.CloseIdle()
		if err := srv.Close(); err != nil {
			t.Errorf("mock Close: %v", err)
		}
	})
	return srv, &provider.Upstream{Name: "google", Adapter: Adapter{}, Client: cl, APIKey: mockKey}
}

// outcome is what one call through the adapter produced.
type outcome struct {
	status  int
	out     []byte
	res     *provider.Result
	failure *provider.Failure
}

// roundTrip does what core/api does with one candidate: WriteChat,
// Client.Do, then ReadError, ReadChat or the stream translation.
func roundTrip(t *testing.T, up *provider.Upstream, body string, headers ...[2]string) (*provider.Call, outcome) {
	t.Helper()
	c := newCall(t, body, geminiEndpoint())
	u := *up
	u.Headers = append(append([][2]string(nil), up.Headers...), headers...)
	c.Upstream = &u
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := u.Adapter.WriteChat(req, c); err != nil {
		t.Fatalf("WriteChat: %v", err)
	}
	if err := u.Client.Do(req, resp, c.Stream); err != nil {
		t.Fatalf("Do: %v", err)
	}
	o := outcome{status: resp.StatusCode()}
	if o.status < 200 || o.status > 299 {
		body := resp.Body()
		if bs := resp.BodyStream(); c.Stream && bs != nil {
			body, _ = io.ReadAll(bs)
			_ = resp.CloseBodyStream()
		}
		o.failure = u.Adapter.ReadError(o.status, &resp.Header, body)
		return c, o
	}
	if c.Stream {
		o.out, o.res = relayStream(t, u.Adapter.NewStream(c), c, resp.BodyStream())
		_ = resp.CloseBodyStream()
		o.failure = o.res.Err
		return c, o
	}
	var err error
	o.out, o.res, err = u.Adapter.ReadChat(nil, resp.Body(), c)
	if err != nil {
		t.Fatalf("ReadChat: %v\n%s", err, resp.Body())
	}
	return c, o
}

func reported(srv *mock.Server) routing.Usage {
	r := srv.Stats().Reported
	return routing.Usage{PromptTokens: int(r.PromptTokens), CompletionTokens: int(r.CompletionTokens), CachedTokens: int(r.CachedTokens)}
}

const toolsRequest = `{"model":"google/gemini-2.5-flash","messages":[{"role":"user","content":"Weather in Paris and Tokyo?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}},{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}}}}}]`

func TestMockEndToEnd(t *testing.T) {
	srv, up := startMock(t, mock.Config{})

	t.Run("text", func(t *testing.T) {
		srv.ResetStats()
		_, o := roundTrip(t, up, `{"model":"google/gemini-2.5-flash","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there, how are you today?"}],"max_tokens":10,"temperature":0}`,
			[2]string{"X-Mock-Cached-Tokens", "4"}, [2]string{"X-Mock-Reasoning-Tokens", "7"})
		var comp oai.ChatCompletion
		if o.status != 200 || json.Unmarshal(o.out, &comp) != nil || comp.Choices[0].Message.Content == "" {
			t.Fatalf("status %d: %s", o.status, o.out)
		}
		want := reported(srv)
		// Thoughts count inside max_tokens: 7 of them leave 3 visible.
		if u := o.res.Usage; u.PromptTokens != want.PromptTokens || u.CompletionTokens != 3+7 || u.ReasoningTokens != 7 || u.CachedTokens != 4 || want.CompletionTokens != 10 {
			t.Fatalf("usage %+v, mock reported %+v", u, want)
		}
		if o.res.Finish != "length" || o.res.Native != "MAX_TOKENS" {
			t.Fatalf("finish %q %q", o.res.Finish, o.res.Native)
		}
	})

	t.Run("stream", func(t *testing.T) {
		srv.ResetStats()
		c, o := roundTrip(t, up, `{"model":"google/gemini-2.5-flash","messages":[{"role":"user","content":"Tell me a story."}],"stream":true}`,
			[2]string{"X-Mock-Tokens", "6"}, [2]string{"X-Mock-Reasoning-Tokens", "3"})
		checkStreamShape(t, c, o.out, false)
		acc, _ := accumulate(t, o.out)
		if acc.Choices[0].Message.Content == "" || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("accumulated %+v", acc.Choices[0])
		}
		// usageMetadata came with every chunk: counted once, the last.
		want := reported(srv)
		if u := o.res.Usage; u.PromptTokens != want.PromptTokens || u.CompletionTokens != 6+3 || u.ReasoningTokens != 3 || !o.res.Done {
			t.Fatalf("usage %+v, mock reported %+v", u, want)
		}
		if acc.Usage.PromptTokens != int64(want.PromptTokens) || acc.Usage.CompletionTokens != 9 {
			t.Fatalf("client usage %+v", acc.Usage)
		}
	})

	t.Run("stream tool calls", func(t *testing.T) {
		c, o := roundTrip(t, up, toolsRequest+`,"stream":true}`, [2]string{"X-Mock-Tool-Calls", "2"})
		checkStreamShape(t, c, o.out, false)
		acc, _ := accumulate(t, o.out)
		calls := acc.Choices[0].Message.ToolCalls
		if len(calls) != 2 || acc.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("accumulated %+v", acc.Choices[0])
		}
		for _, tc := range calls {
			if !callIDs.MatchString(tc.ID) || tc.Function.Name == "" || !json.Valid([]byte(tc.Function.Arguments)) {
				t.Fatalf("tool call %+v", tc)
			}
		}
	})

	t.Run("tool calls", func(t *testing.T) {
		_, o := roundTrip(t, up, toolsRequest+`}`, [2]string{"X-Mock-Tool-Calls", "2"})
		var comp oai.ChatCompletion
		if err := json.Unmarshal(o.out, &comp); err != nil {
			t.Fatal(err)
		}
		if calls := comp.Choices[0].Message.ToolCalls; len(calls) != 2 || comp.Choices[0].FinishReason != "tool_calls" || !json.Valid([]byte(calls[1].Function.Arguments)) {
			t.Fatalf("completion %s", o.out)
		}
	})

	t.Run("tool loop", func(t *testing.T) {
		// The second turn of a tool loop: the calls and results go back as
		// functionCall and functionResponse parts, and the model answers.
		_, o := roundTrip(t, up, `{"model":"m","messages":[{"role":"user","content":"Weather?"},{"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`,
			[2]string{"X-Mock-Tool-Calls", "2"})
		var comp oai.ChatCompletion
		if err := json.Unmarshal(o.out, &comp); err != nil || comp.Choices[0].Message.Content == "" || comp.Choices[0].FinishReason != "stop" {
			t.Fatalf("completion %s: %v", o.out, err)
		}
	})

	t.Run("rate limited", func(t *testing.T) {
		_, o := roundTrip(t, up, testRequest, [2]string{"X-Mock-Status", "429"}, [2]string{"X-Mock-Retry-After", "3"})
		if f := o.failure; f == nil || f.Status != 429 || f.Type != "RESOURCE_EXHAUSTED" || f.RetryAfterMs != 3000 {
			t.Fatalf("failure %+v", f)
		}
	})

	t.Run("unavailable", func(t *testing.T) {
		_, o := roundTrip(t, up, testRequest, [2]string{"X-Mock-Status", "503"})
		if f := o.failure; o.status != 503 || f == nil || f.Status != 503 || f.Type != "UNAVAILABLE" {
			t.Fatalf("status %d failure %+v", o.status, f)
		}
	})

	t.Run("in-band error", func(t *testing.T) {
		c, o := roundTrip(t, up, testRequest, [2]string{"X-Mock-Error-After", "3"})
		checkStreamShape(t, c, o.out, true)
		if f := o.failure; f == nil || f.Status != 500 || f.Type != "INTERNAL" {
			t.Fatalf("failure %+v", f)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		c, o := roundTrip(t, up, testRequest, [2]string{"X-Mock-Malformed-After", "2"})
		checkStreamShape(t, c, o.out, true)
		if o.failure == nil && !bytes.Contains(o.out, []byte("malformed stream data")) {
			t.Fatalf("malformed data passed: %s", o.out)
		}
	})

	t.Run("bad key", func(t *testing.T) {
		bad := *up
		bad.APIKey = "wrong"
		_, o := roundTrip(t, &bad, testRequest)
		if f := o.failure; o.status != 401 || f == nil || f.Type != "UNAUTHENTICATED" {
			t.Fatalf("status %d failure %+v", o.status, f)
		}
	})
}

func TestMockContextLength(t *testing.T) {
	_, up := startMock(t, mock.Config{ContextLength: 50})
	for _, stream := range []bool{false, true} {
		_, o := roundTrip(t, up, `{"model":"m","messages":[{"role":"user","content":"hello"}],"max_tokens":100,"stream":`+strconv.FormatBool(stream)+`}`)
		if f := o.failure; o.status != 400 || f == nil || !f.ContextLength {
			t.Fatalf("stream=%v: status %d failure %+v", stream, o.status, f)
		}
	}
}
