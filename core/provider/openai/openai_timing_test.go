package openai

import (
	"testing"

	"github.com/tollgate/tollgate/core/sse"
)

// BenchmarkStreamEvent rewrites one typical content chunk into a reused
// buffer, as core/api does.
func BenchmarkStreamEvent(b *testing.B) {
	c := newCall(b, testRequest, openAIEndpoint(), nil)
	s := Adapter{}.NewStream(c)
	ev := &sse.Event{Data: []byte(benchChunk)}
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchChunk)))
	for b.Loop() {
		var err error
		if dst, err = s.Event(dst[:0], ev); err != nil || len(dst) == 0 {
			b.Fatalf("Event = %q, %v", dst, err)
		}
	}
}

// BenchmarkReadChat rewrites a typical non-streamed chat.completion body.
func BenchmarkReadChat(b *testing.B) {
	c := newCall(b, testRequest, openAIEndpoint(), nil)
	c.Stream = false
	body := []byte(benchCompletion)
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var err error
		if dst, _, err = (Adapter{}).ReadChat(dst[:0], body, c); err != nil {
			b.Fatal(err)
		}
	}
}

const benchChunk = `{"id":"chatcmpl-BXq4Lr2Tn8pV6cKsW0eJ3yHuA9dZm","object":"chat.completion.chunk","created":1747219260,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_a288987b44","choices":[{"index":0,"delta":{"content":" the weather"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"q9"}`

const benchCompletion = `{"id":"chatcmpl-BXq3Zk8vJ2mT9cLwA1nR5sYpE7uHd","object":"chat.completion","created":1747219200,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Paris is sunny and 21 °C today; Tokyo is cloudy with light rain in the evening and 17 °C. Take an umbrella if you are going out in Tokyo tonight.","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":82,"completion_tokens":41,"total_tokens":123,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_a288987b44"}`
