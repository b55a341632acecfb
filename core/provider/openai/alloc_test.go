//go:build !race

package openai

import (
	"testing"

	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

// typicalChunk is an OpenAI content delta as it arrives with
// stream_options.include_usage set (usage:null on every chunk).
const typicalChunk = `{"id":"chatcmpl-BXq4Lr2Tn8pV6cKsW0eJ3yHuA9dZm","object":"chat.completion.chunk","created":1747219260,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_a288987b44","choices":[{"index":0,"delta":{"content":" the weather"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"q9"}`

func TestStreamEventAllocs(t *testing.T) {
	f := func(name string, quirks provider.Quirks, data string) {
		t.Helper()
		ep := openAIEndpoint()
		c := newCall(t, testRequest, ep, &provider.Upstream{Name: ep.Provider, Adapter: Adapter{}, Quirks: quirks})
		s := Adapter{}.NewStream(c)
		ev := &sse.Event{Data: []byte(data)}
		dst := make([]byte, 0, 4096)
		var err error
		for range 10 { // warm-up
			if dst, err = s.Event(dst[:0], ev); err != nil || len(dst) == 0 {
				t.Fatalf("%s: Event = %q, %v", name, dst, err)
			}
		}
		allocs := testing.AllocsPerRun(1000, func() {
			dst, _ = s.Event(dst[:0], ev)
		})
		t.Logf("%s: %.1f allocations per Event", name, allocs)
		if allocs != 0 {
			t.Fatalf("%s: %.1f allocations per Event, want 0", name, allocs)
		}
	}
	f("content chunk", provider.Quirks{}, typicalChunk)
	f("tool-call delta", provider.Quirks{}, `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"city\": \"Tokyo\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`)
	f("deepseek reasoning delta", provider.Quirks{ReasoningContent: true}, `{"id":"5c8e","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":" says hi."},"logprobs":null,"finish_reason":null}]}`)
}
