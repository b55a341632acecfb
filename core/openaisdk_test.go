package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/bench/mock"
)

// The official openai-go client, pointed at the gateway (base URL …/api/v1),
// works unchanged: chat, a stream through its strict accumulator (usage
// counted once), tool calls streamed from Anthropic and Gemini upstreams,
// models.list, embeddings, and typed errors.
func TestOpenAIGoSDK(t *testing.T) {
	models := `models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: p1, upstream_model: up-chat, pricing: {prompt: 1, completion: 2}}
  - id: acme/claude
    context_length: 8192
    endpoints:
      - {provider: a1, upstream_model: claude, pricing: {prompt: 1, completion: 2}}
  - id: acme/gemini
    context_length: 8192
    endpoints:
      - {provider: g1, upstream_model: gemini, pricing: {prompt: 1, completion: 2}}
`
	tools := mock.Config{Tokens: 6, ToolCalls: 2}
	e := newEnv(t, []mockSpec{{name: "p1", cfg: tools}, {name: "a1", protocol: "anthropic", cfg: tools}, {name: "g1", protocol: "gemini", cfg: tools}}, models, "")
	client := openai.NewClient(option.WithBaseURL(e.api+"/api/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	ctx := context.Background()

	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "acme/chat",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content == "" || resp.Usage.CompletionTokens != 6 || resp.Choices[0].FinishReason != "stop" {
		t.Fatalf("completion: %+v", resp)
	}

	weather := openai.ChatCompletionToolUnionParam{OfFunction: &openai.ChatCompletionFunctionToolParam{
		Function: openai.FunctionDefinitionParam{Name: "get_weather", Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}},
	}}
	for _, model := range []string{"acme/chat", "acme/claude", "acme/gemini"} {
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:    model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris and Rome?")},
			Tools:    []openai.ChatCompletionToolUnionParam{weather},
		})
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			if !acc.AddChunk(stream.Current()) {
				t.Fatalf("%s: the accumulator rejected chunk %d: %+v", model, chunks, stream.Current())
			}
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if len(acc.Choices) != 1 || len(acc.Choices[0].Message.ToolCalls) != 2 || acc.Choices[0].FinishReason != "tool_calls" {
			t.Fatalf("%s: accumulated %d chunks into %+v", model, chunks, acc.ChatCompletion)
		}
		for _, tc := range acc.Choices[0].Message.ToolCalls {
			if tc.ID == "" || tc.Function.Name != "get_weather" {
				t.Fatalf("%s: tool call %+v", model, tc)
			}
		}
		if acc.Usage.CompletionTokens == 0 || acc.Usage.TotalTokens != acc.Usage.PromptTokens+acc.Usage.CompletionTokens {
			t.Fatalf("%s: usage %+v (counted more than once?)", model, acc.Usage)
		}
	}

	page, err := client.Models.List(ctx)
	if err != nil || len(page.Data) != 3 {
		t.Fatalf("models.list: %v, %d models", err, len(page.Data))
	}
	if m, err := client.Models.Get(ctx, "acme/chat"); err != nil || m.ID != "acme/chat" || m.Object != "model" {
		t.Fatalf("models.retrieve: %v %+v", err, m)
	}
	var notFound *openai.Error
	if _, err := client.Models.Get(ctx, "nope/nope"); !errors.As(err, &notFound) || notFound.StatusCode != 404 {
		t.Fatalf("models.retrieve of an unknown model: %v", err)
	}
	emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "acme/chat",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil || len(emb.Data) != 2 || len(emb.Data[0].Embedding) == 0 {
		t.Fatalf("embeddings: %v %+v", err, emb)
	}

	_, err = client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "nope/nope",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Fatalf("unknown model: %v", err)
	}
}
