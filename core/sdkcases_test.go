package core_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	anthropic "github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/routing"
)

// structuredUpstream is an OpenAI-protocol provider on loopback whose
// answer to a chat completion is a JSON document that fits the request's
// response_format json_schema (or "{}" for json_object), streamed or not.
// bench/mock always generates the same words, which SDK helpers that parse
// structured output (generateObject, withStructuredOutput,
// chat.completions.parse) rightly reject; this upstream lets those helpers
// run end to end through the gateway.
func structuredUpstream(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/chat/completions") {
			http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
			return
		}
		var req struct {
			Model          string `json:"model"`
			Stream         bool   `json:"stream"`
			ResponseFormat *struct {
				Type       string `json:"type"`
				JSONSchema struct {
					Schema json.RawMessage `json:"schema"`
				} `json:"json_schema"`
			} `json:"response_format"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ResponseFormat == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"message":"this upstream answers only response_format requests","type":"invalid_request_error"}}`)
			return
		}
		var schema any = map[string]any{"type": "object"} // json_object
		if req.ResponseFormat.Type == "json_schema" {
			_ = json.Unmarshal(req.ResponseFormat.JSONSchema.Schema, &schema)
		}
		doc, _ := json.Marshal(schemaInstance(schema, 0))
		content, _ := json.Marshal(string(doc))
		const id = "chatcmpl-structured"
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":%q,"object":"chat.completion","created":1700000000,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%s},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30}}`, id, req.Model, content)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, chunk := range []string{
			`"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]`,
			`"choices":[{"index":0,"delta":{"content":` + string(content) + `},"finish_reason":null}]`,
			`"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]`,
			`"choices":[],"usage":{"prompt_tokens":20,"completion_tokens":10,"total_tokens":30}`,
		} {
			fmt.Fprintf(w, "data: {\"id\":%q,\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":%q,%s}\n\n", id, req.Model, chunk)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// schemaInstance returns a value that validates against a (decoded) JSON
// Schema: the first enum or const value, every property of an object,
// one item of an array, the first non-null branch of anyOf/oneOf.
func schemaInstance(schema any, depth int) any {
	s, _ := schema.(map[string]any)
	if s == nil || depth > 16 {
		return nil
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[k].([]any); ok {
			for _, alt := range alts {
				if m, _ := alt.(map[string]any); m != nil && m["type"] != "null" {
					return schemaInstance(m, depth+1)
				}
			}
		}
	}
	typ := s["type"]
	if ts, ok := typ.([]any); ok && len(ts) > 0 {
		typ = ts[0]
	}
	switch typ {
	case "object":
		out := map[string]any{}
		props, _ := s["properties"].(map[string]any)
		for name, p := range props {
			out[name] = schemaInstance(p, depth+1)
		}
		return out
	case "array":
		return []any{schemaInstance(s["items"], depth+1)}
	case "string":
		return "mock"
	case "integer":
		return 7
	case "number":
		return 21.5
	case "boolean":
		return true
	case "null":
		return nil
	}
	if _, ok := s["properties"]; ok {
		return schemaInstance(map[string]any{"type": "object", "properties": s["properties"]}, depth)
	}
	return "mock"
}

// sdkModels is the catalog the SDK tests share: a chat model per wire
// protocol, an embedding model, a structured-output model, and models
// whose only provider fails in one scripted way each.
const sdkModels = `models:
  - id: mock/gpt
    context_length: 32000
    modalities: {input: [text, image]}
    endpoints:
      - {provider: openai, upstream_model: gpt-mock, pricing: {prompt: 1, completion: 2}}
  - id: mock/claude
    context_length: 32000
    modalities: {input: [text, image]}
    endpoints:
      - {provider: anthropic, upstream_model: claude-mock, pricing: {prompt: 1, completion: 2}}
  - id: mock/gemini
    context_length: 32000
    modalities: {input: [text, image]}
    endpoints:
      - {provider: gemini, upstream_model: gemini-mock, pricing: {prompt: 1, completion: 2}}
  - id: mock/embed
    context_length: 8192
    endpoints:
      - {provider: openai, upstream_model: embed-mock, pricing: {prompt: 0.1, completion: 0}}
  - id: mock/json
    context_length: 32000
    endpoints:
      - {provider: structured, upstream_model: json-mock, pricing: {prompt: 1, completion: 2}}
  - id: mock/midstream-error
    context_length: 32000
    endpoints:
      - {provider: midstream, upstream_model: gpt-mock, pricing: {prompt: 1, completion: 2}}
  - id: mock/claude-midstream-error
    context_length: 32000
    endpoints:
      - {provider: anthropic-midstream, upstream_model: claude-mock, pricing: {prompt: 1, completion: 2}}
  - id: mock/ratelimited
    context_length: 32000
    endpoints:
      - {provider: ratelimited, upstream_model: gpt-mock, pricing: {prompt: 1, completion: 2}}
  - id: mock/broken
    context_length: 32000
    endpoints:
      - {provider: broken, upstream_model: gpt-mock, pricing: {prompt: 1, completion: 2}}
`

// sdkEnv is a gateway with the sdkModels catalog, the key of a funded
// account (testKey) and brokeKey, whose account holds less than any
// request reserves.
type sdkEnv struct {
	*env
	brokeKey string
}

// newSDKEnv starts mocks of all three protocols, the structured upstream
// and the failing providers behind one gateway. Circuits stay closed so
// that every test sees the failure it scripted rather than an open circuit
// left by an earlier one.
func newSDKEnv(t testing.TB) *sdkEnv {
	t.Helper()
	ok := mock.Config{Tokens: 8, ToolCalls: 2}
	mocks := []mockSpec{
		{name: "openai", cfg: ok},
		{name: "anthropic", protocol: "anthropic", cfg: ok},
		{name: "gemini", protocol: "gemini", cfg: ok},
		{name: "structured", url: structuredUpstream(t)},
		{name: "midstream", cfg: mock.Config{Tokens: 8, InBandErrorAfter: 3}},
		{name: "anthropic-midstream", protocol: "anthropic", cfg: mock.Config{Tokens: 8, InBandErrorAfter: 6}},
		{name: "ratelimited", cfg: mock.Config{RateLimitRate: 1, RetryAfter: time.Second}},
		{name: "broken", cfg: mock.Config{ErrorRate: 1, ErrorStatus: 500}},
	}
	rc := routing.Config{CircuitFailures: 1 << 30, CircuitMinSamples: 1 << 30}
	e := &sdkEnv{env: newEnvRouting(t, rc, mocks, sdkModels, "")}
	dataObj(t, e.adminDo("POST", "/admin/v1/accounts", `{"name":"broke"}`), http.StatusCreated)
	// 10 µUSD: less than the reservation of any request (4096 completion
	// tokens at $2/M is $0.008), so every inference is a 402.
	dataObj(t, e.adminDo("POST", "/admin/v1/accounts/broke/credits", `{"amount":0.00001}`, "Idempotency-Key", "sdk-broke"), http.StatusOK)
	e.brokeKey, _ = e.issueKey("broke", false)
	return e
}

// attemptCounter is an SDK middleware (openai-go and anthropic-sdk-go share
// the signature) that records when each HTTP attempt was sent.
type attemptCounter struct {
	mu sync.Mutex
	at []time.Time
}

func (c *attemptCounter) middleware(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	c.mu.Lock()
	c.at = append(c.at, time.Now())
	c.mu.Unlock()
	return next(req)
}

// check fails unless there were n attempts, each at least gap after the
// one before.
func (c *attemptCounter) check(t *testing.T, what string, n int, gap time.Duration) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.at) != n {
		t.Fatalf("%s: %d attempts, want %d", what, len(c.at), n)
	}
	for i := 1; i < len(c.at); i++ {
		if d := c.at[i].Sub(c.at[i-1]); d < gap {
			t.Fatalf("%s: attempt %d came %v after the previous one, want >= %v", what, i+1, d, gap)
		}
	}
}

// lastBody returns the body of the last request the mock received.
func lastBody(t *testing.T, m *mock.Server) string {
	t.Helper()
	reqs := m.LastRequests()
	if len(reqs) == 0 {
		t.Fatal("the mock received no request")
	}
	return string(reqs[len(reqs)-1].Body)
}

var (
	sdkWeatherSchema = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"city":          map[string]any{"type": "string"},
			"temperature_c": map[string]any{"type": "number"},
		},
		"required":             []any{"city", "temperature_c"},
		"additionalProperties": false,
	}
	sdkToolParams = map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}
)

// 1×1 PNG.
const sdkPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

// TestOpenAIGoSDKCases runs the conformance cases of issue 10 through
// openai-go: streamed usage counted once, parallel tool calls streamed from
// every protocol through the strict accumulator, json_schema output
// (translated for Anthropic and Gemini, parsed from a structured upstream),
// a data-URL image reaching each upstream in its own format, a mid-stream
// error surfacing from the stream, 402 not retried, 429 retried after
// Retry-After, a final 502 not retried (x-should-retry: false), models and
// embeddings.
func TestOpenAIGoSDKCases(t *testing.T) {
	e := newSDKEnv(t)
	base := e.api + "/api/v1"
	client := openai.NewClient(option.WithBaseURL(base), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	ctx := context.Background()
	user := func(s string) []openai.ChatCompletionMessageParamUnion {
		return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(s)}
	}
	upstream := map[string]*mock.Server{"mock/gpt": e.mocks["openai"], "mock/claude": e.mocks["anthropic"], "mock/gemini": e.mocks["gemini"]}

	for _, model := range []string{"mock/gpt", "mock/claude", "mock/gemini"} {
		// Streaming with usage: one usage chunk, added up once.
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model: model, Messages: user("hello"),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		usageChunks := 0
		for stream.Next() {
			c := stream.Current()
			if !acc.AddChunk(c) {
				t.Fatalf("%s: the accumulator rejected %+v", model, c)
			}
			if c.JSON.Usage.Valid() && c.Usage.TotalTokens > 0 {
				usageChunks++
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s stream: %v", model, err)
		}
		if usageChunks != 1 || acc.Usage.CompletionTokens != 8 || acc.Choices[0].Message.Content == "" || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("%s: %d usage chunks, accumulated %+v", model, usageChunks, acc.ChatCompletion)
		}

		// json_schema: accepted, and translated for the upstream's protocol.
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: model, Messages: user("weather in Paris as JSON"),
			ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &openai.ResponseFormatJSONSchemaParam{
				JSONSchema: openai.ResponseFormatJSONSchemaJSONSchemaParam{Name: "weather", Schema: sdkWeatherSchema, Strict: openai.Bool(true)},
			}},
		})
		if err != nil {
			t.Fatalf("%s json_schema: %v", model, err)
		}
		body := lastBody(t, upstream[model])
		want := map[string]string{"mock/gpt": `"json_schema"`, "mock/claude": `"output_config"`, "mock/gemini": `"responseMimeType":"application/json"`}[model]
		if !strings.Contains(body, want) || !strings.Contains(body, "temperature_c") {
			t.Fatalf("%s: the upstream got no %s schema: %s", model, want, body)
		}

		// A data-URL image arrives in the upstream's own format.
		_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
				openai.TextContentPart("what is this?"),
				openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + sdkPNG}),
			})},
		})
		if err != nil {
			t.Fatalf("%s image: %v", model, err)
		}
		body = lastBody(t, upstream[model])
		want = map[string]string{"mock/gpt": `"url":"data:image/png;base64,` + sdkPNG, "mock/claude": `"data":"` + sdkPNG, "mock/gemini": `"data":"` + sdkPNG}[model]
		if !strings.Contains(body, want) {
			t.Fatalf("%s: the image did not reach the upstream as %s: %s", model, want, body)
		}
	}

	// json_schema output parsed from a structured upstream.
	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "mock/json", Messages: user("weather in Paris as JSON"),
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &openai.ResponseFormatJSONSchemaParam{
			JSONSchema: openai.ResponseFormatJSONSchemaJSONSchemaParam{Name: "weather", Schema: sdkWeatherSchema, Strict: openai.Bool(true)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var weather struct {
		City         string  `json:"city"`
		TemperatureC float64 `json:"temperature_c"`
	}
	if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), &weather); err != nil || weather.City == "" {
		t.Fatalf("json_schema content %q: %v", resp.Choices[0].Message.Content, err)
	}

	// Mid-stream error: content first, then the stream fails.
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "mock/midstream-error", Messages: user("hello")})
	var acc openai.ChatCompletionAccumulator
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err == nil || chunks == 0 || !strings.Contains(err.Error(), "injected by mock") {
		t.Fatalf("mid-stream error: %d chunks, err %v", chunks, err)
	}

	// Retry policy: openai-go retries 408, 409, 429 and 5xx unless the
	// server says x-should-retry: false, waiting Retry-After.
	retrying := func(key string, c *attemptCounter) *openai.Client {
		cl := openai.NewClient(option.WithBaseURL(base), option.WithAPIKey(key), option.WithMaxRetries(2), option.WithMiddleware(c.middleware))
		return &cl
	}
	var c402, c429, c502 attemptCounter
	var apiErr *openai.Error
	_, err = retrying(e.brokeKey, &c402).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock/gpt", Messages: user("hi")})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 402 || !strings.Contains(apiErr.Message, "afford") {
		t.Fatalf("402: %v", err)
	}
	c402.check(t, "402", 1, 0)
	_, err = retrying(testKey, &c429).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock/ratelimited", Messages: user("hi")})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Response.Header.Get("Retry-After") != "1" {
		t.Fatalf("429: %v", err)
	}
	c429.check(t, "429", 3, 900*time.Millisecond)
	_, err = retrying(testKey, &c502).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "mock/broken", Messages: user("hi")})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Response.Header.Get("x-should-retry") != "false" {
		t.Fatalf("502: %v", err)
	}
	c502.check(t, "502", 1, 0)

	// Models (auto-paging) and embeddings (float, with dimensions).
	ids := map[string]bool{}
	iter := client.Models.ListAutoPaging(ctx)
	for iter.Next() {
		ids[iter.Current().ID] = iter.Current().Object == "model"
	}
	if err := iter.Err(); err != nil || len(ids) != 9 || !ids["mock/gpt"] || !ids["mock/embed"] {
		t.Fatalf("models: %v %v", err, ids)
	}
	emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model:          "mock/embed",
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("alpha")},
		Dimensions:     openai.Int(8),
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
	})
	if err != nil || len(emb.Data) != 1 || len(emb.Data[0].Embedding) != 8 || emb.Usage.PromptTokens == 0 {
		t.Fatalf("embeddings: %v %+v", err, emb)
	}
}

// TestAnthropicSDKCases runs the conformance cases of issue 10 through
// anthropic-sdk-go on POST /messages, against upstreams of all three
// protocols: plain, streamed through the strict Accumulate with cumulative
// usage, parallel tool_use blocks streamed, output_config json_schema, a
// base64 image, a mid-stream error event, 402/429/502 retry behaviour and
// the model list. Anthropic has no embeddings API.
func TestAnthropicSDKCases(t *testing.T) {
	e := newSDKEnv(t)
	client := anthropic.NewClient(aoption.WithBaseURL(e.api+"/api"), aoption.WithAPIKey(testKey), aoption.WithMaxRetries(0))
	ctx := context.Background()
	params := func(model string, blocks ...anthropic.ContentBlockParamUnion) anthropic.MessageNewParams {
		if len(blocks) == 0 {
			blocks = []anthropic.ContentBlockParamUnion{anthropic.NewTextBlock("hello")}
		}
		return anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 200, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(blocks...)}}
	}
	accumulate := func(p anthropic.MessageNewParams) (anthropic.Message, int, error) {
		stream := client.Messages.NewStreaming(ctx, p)
		var acc anthropic.Message
		events := 0
		for stream.Next() {
			if err := acc.Accumulate(stream.Current()); err != nil {
				return acc, events, fmt.Errorf("accumulate event %d: %w", events, err)
			}
			events++
		}
		return acc, events, stream.Err()
	}

	for _, model := range []string{"mock/gpt", "mock/claude", "mock/gemini"} {
		msg, err := client.Messages.New(ctx, params(model))
		if err != nil || msg.Content[0].Text == "" || msg.StopReason != "end_turn" || msg.Usage.OutputTokens != 8 {
			t.Fatalf("%s: %v %+v", model, err, msg)
		}
		acc, _, err := accumulate(params(model))
		if err != nil || acc.Content[0].Text == "" || acc.Usage.OutputTokens != 8 || acc.Usage.InputTokens == 0 || acc.StopReason != "end_turn" {
			t.Fatalf("%s stream: %v %+v", model, err, acc)
		}

		p := params(model, anthropic.NewTextBlock("weather in Paris and Rome?"))
		p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather", InputSchema: anthropic.ToolInputSchemaParam{Properties: sdkToolParams["properties"]}}}}
		acc, _, err = accumulate(p)
		if err != nil || acc.StopReason != "tool_use" || len(acc.Content) != 2 {
			t.Fatalf("%s tools: %v %+v", model, err, acc)
		}
		for _, b := range acc.Content {
			tu := b.AsToolUse()
			var in map[string]any
			if b.Type != "tool_use" || tu.ID == "" || tu.Name != "get_weather" || json.Unmarshal(tu.Input, &in) != nil {
				t.Fatalf("%s: block %+v", model, b)
			}
		}

		p = params(model, anthropic.NewTextBlock("what is this?"), anthropic.NewImageBlockBase64("image/png", sdkPNG))
		if msg, err := client.Messages.New(ctx, p); err != nil || msg.Content[0].Text == "" {
			t.Fatalf("%s image: %v", model, err)
		}
	}

	p := params("mock/json", anthropic.NewTextBlock("weather in Paris as JSON"))
	p.OutputConfig = anthropic.OutputConfigParam{Format: anthropic.JSONOutputFormatParam{Schema: sdkWeatherSchema}}
	msg, err := client.Messages.New(ctx, p)
	var weather struct {
		City string `json:"city"`
	}
	if err != nil || json.Unmarshal([]byte(msg.Content[0].Text), &weather) != nil || weather.City == "" {
		t.Fatalf("output_config json_schema: %v %+v", err, msg)
	}

	_, events, err := accumulate(params("mock/midstream-error"))
	var apiErr *anthropic.Error
	if err == nil || events == 0 || !strings.Contains(err.Error(), "injected by mock") {
		t.Fatalf("mid-stream error (OpenAI upstream): %d events, err %v", events, err)
	}
	_, events, err = accumulate(params("mock/claude-midstream-error"))
	if err == nil || events == 0 || !strings.Contains(err.Error(), "injected by mock") {
		t.Fatalf("mid-stream error (Anthropic upstream): %d events, err %v", events, err)
	}

	// anthropic-sdk-go retries 408, 409, 429 and 5xx unless x-should-retry
	// says otherwise, waiting Retry-After.
	retrying := func(key string, c *attemptCounter) *anthropic.Client {
		cl := anthropic.NewClient(aoption.WithBaseURL(e.api+"/api"), aoption.WithAPIKey(key), aoption.WithMaxRetries(2), aoption.WithMiddleware(c.middleware))
		return &cl
	}
	var c402, c429, c502 attemptCounter
	_, err = retrying(e.brokeKey, &c402).Messages.New(ctx, params("mock/gpt"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 402 {
		t.Fatalf("402: %v", err)
	}
	c402.check(t, "402", 1, 0)
	_, err = retrying(testKey, &c429).Messages.New(ctx, params("mock/ratelimited"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Response.Header.Get("Retry-After") != "1" {
		t.Fatalf("429: %v", err)
	}
	c429.check(t, "429", 3, 900*time.Millisecond)
	_, err = retrying(testKey, &c502).Messages.New(ctx, params("mock/broken"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Response.Header.Get("x-should-retry") != "false" {
		t.Fatalf("502: %v", err)
	}
	c502.check(t, "502", 1, 0)

	n := 0
	iter := client.Models.ListAutoPaging(ctx, anthropic.ModelListParams{})
	for iter.Next() {
		if iter.Current().ID == "" {
			t.Fatalf("model %+v", iter.Current())
		}
		n++
	}
	if err := iter.Err(); err != nil || n != 9 {
		t.Fatalf("models: %v, %d models", err, n)
	}
}
