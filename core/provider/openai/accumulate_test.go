package openai

import (
	"bytes"
	"encoding/json"
	"testing"

	oai "github.com/openai/openai-go/v3"

	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/routing"
)

// TestStreamOpenAIGoAccumulator feeds the client side of each transcript
// to the official openai-go accumulator, which rejects a chunk whose id
// changes and sums usage across chunks: every chunk must be accepted and
// usage counted once.
func TestStreamOpenAIGoAccumulator(t *testing.T) {
	type toolCall struct{ id, name, args string }
	f := func(name string, ep *routing.Endpoint, quirks provider.Quirks, wantContent, wantReasoning, wantFinish string, wantCalls []toolCall, wantUsage [3]int64) {
		t.Helper()
		c := newCall(t, testRequest, ep, &provider.Upstream{Name: ep.Provider, Adapter: Adapter{}, Quirks: quirks})
		out, _ := relay(t, c, readTestdata(t, name+".sse"))

		var acc oai.ChatCompletionAccumulator
		var reasoning string
		var finishedCalls []string
		finishedContent, cost := "", ""
		sc := sse.NewScanner(bytes.NewReader(out), 0)
		n := 0
		for sc.Next() {
			data := sc.Event().Data
			if sse.IsDone(data) {
				continue
			}
			var chunk oai.ChatCompletionChunk
			if err := json.Unmarshal(data, &chunk); err != nil {
				t.Fatalf("%s: openai-go cannot decode chunk %d: %v\n%s", name, n, err, data)
			}
			if !acc.AddChunk(chunk) {
				t.Fatalf("%s: the openai-go accumulator rejects chunk %d:\n%s", name, n, data)
			}
			if f, ok := chunk.Usage.JSON.ExtraFields["cost"]; ok {
				cost = f.Raw()
			}
			n++
			if tc, ok := acc.JustFinishedToolCall(); ok {
				finishedCalls = append(finishedCalls, tc.ID)
			}
			if s, ok := acc.JustFinishedContent(); ok {
				finishedContent = s
			}
			// The renamed reasoning field is not in openai-go's types.
			var raw struct {
				Choices []struct {
					Delta struct {
						Reasoning *string `json:"reasoning"`
					} `json:"delta"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(data, &raw); err != nil {
				t.Fatal(err)
			}
			for _, ch := range raw.Choices {
				if ch.Delta.Reasoning != nil {
					reasoning += *ch.Delta.Reasoning
				}
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if acc.ID != testGenID || acc.Model != ep.Model {
			t.Fatalf("%s: accumulated id %q model %q", name, acc.ID, acc.Model)
		}
		if len(acc.Choices) != 1 {
			t.Fatalf("%s: %d choices", name, len(acc.Choices))
		}
		ch := acc.Choices[0]
		if ch.Message.Content != wantContent || reasoning != wantReasoning || ch.FinishReason != wantFinish {
			t.Fatalf("%s: content %q reasoning %q finish %q; want %q %q %q", name, ch.Message.Content, reasoning, ch.FinishReason, wantContent, wantReasoning, wantFinish)
		}
		if len(ch.Message.ToolCalls) != len(wantCalls) {
			t.Fatalf("%s: %d tool calls, want %d", name, len(ch.Message.ToolCalls), len(wantCalls))
		}
		for i, w := range wantCalls {
			g := ch.Message.ToolCalls[i]
			if g.ID != w.id || g.Type != "function" || g.Function.Name != w.name || g.Function.Arguments != w.args {
				t.Fatalf("%s: tool call %d = %s %s %s(%s), want %+v", name, i, g.ID, g.Type, g.Function.Name, g.Function.Arguments, w)
			}
		}
		if len(wantCalls) > 0 {
			// openai-go reports each call finished once: the first when the
			// second starts, the last at the finish chunk.
			if len(finishedCalls) != len(wantCalls) || finishedCalls[0] != wantCalls[0].id || finishedCalls[1] != wantCalls[1].id {
				t.Fatalf("%s: JustFinishedToolCall reported %q", name, finishedCalls)
			}
			if finishedContent != wantContent {
				t.Fatalf("%s: JustFinishedContent = %q, want %q", name, finishedContent, wantContent)
			}
		}
		// Summed over all chunks: equal to the upstream report means once.
		if got := [3]int64{acc.Usage.PromptTokens, acc.Usage.CompletionTokens, acc.Usage.TotalTokens}; got != wantUsage {
			t.Fatalf("%s: accumulated usage %v, want %v", name, got, wantUsage)
		}
		if cost == "" {
			t.Fatalf("%s: openai-go sees no usage.cost", name)
		}
	}
	f("stream_full", openAIEndpoint(), provider.Quirks{}, `Let me check both "cities".`, "", "tool_calls", []toolCall{
		{"call_8dZ2kq1VbXo0TQeM4hRj6wLc", "get_weather", `{"city": "Paris"}`},
		{"call_Jf3nQ7uYc2Wm5aLk9sPd1xRt", "get_weather", `{"city": "Tokyo"}`},
	}, [3]int64{82, 57, 139})
	f("stream_usage_in_last_choice", openAIEndpoint(), provider.Quirks{}, "Bonjour !", "", "length", nil, [3]int64{25, 3, 28})
	f("stream_deepseek_reasoning", deepSeekEndpoint(), provider.Quirks{ReasoningContent: true}, "Hello!", "Okay, the user says hi.", "stop", nil, [3]int64{10, 17, 27})
}

// TestStreamOpenAIGoAccumulatorError: the terminal error chunk of a failed
// stream is also accepted, and ends the choice with finish_reason "error".
func TestStreamOpenAIGoAccumulatorError(t *testing.T) {
	c := newCall(t, testRequest, openAIEndpoint(), nil)
	out, _ := relay(t, c, readTestdata(t, "stream_inband_error.sse"))
	var acc oai.ChatCompletionAccumulator
	sc := sse.NewScanner(bytes.NewReader(out), 0)
	for sc.Next() {
		data := sc.Event().Data
		if sse.IsDone(data) {
			continue
		}
		var chunk oai.ChatCompletionChunk
		if err := json.Unmarshal(data, &chunk); err != nil {
			t.Fatal(err)
		}
		if !acc.AddChunk(chunk) {
			t.Fatalf("the openai-go accumulator rejects %s", data)
		}
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "Once upon" || acc.Choices[0].FinishReason != "error" {
		t.Fatalf("accumulated %+v", acc.Choices)
	}
}
