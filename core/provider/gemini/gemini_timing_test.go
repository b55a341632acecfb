package gemini

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/sse"
)

// benchEvents are the chunks a long answer is made of, one benchmark
// each: translation cost and allocations per upstream event. Every Gemini
// chunk repeats usageMetadata, modelVersion and responseId.
var benchEvents = []struct {
	name, data string
}{
	{"text", `{"candidates": [{"content": {"parts": [{"text": " the weather in Paris"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 58,"candidatesTokenCount": 7,"totalTokenCount": 77,"promptTokensDetails": [{"modality": "TEXT","tokenCount": 58}],"thoughtsTokenCount": 12},"modelVersion": "gemini-2.5-flash","responseId": "Q2YfaOK3Bp6mz7IPv7WJ0Ak"}`},
	{"thought", `{"candidates": [{"content": {"parts": [{"text": "The user wants the weather","thought": true}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 58,"totalTokenCount": 70,"thoughtsTokenCount": 12},"modelVersion": "gemini-2.5-flash","responseId": "Q2YfaOK3Bp6mz7IPv7WJ0Ak"}`},
	{"function_call", `{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"city": "Paris"}}}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 58,"candidatesTokenCount": 27,"totalTokenCount": 85},"modelVersion": "gemini-2.5-flash","responseId": "Q2YfaOK3Bp6mz7IPv7WJ0Ak"}`},
}

// BenchmarkStreamEvent translates one upstream chunk into a reused
// buffer, as core/api does.
func BenchmarkStreamEvent(b *testing.B) {
	for _, be := range benchEvents {
		b.Run(be.name, func(b *testing.B) {
			c := newCall(b, testRequest, geminiEndpoint())
			s := Adapter{}.NewStream(c)
			ev := &sse.Event{Data: []byte(be.data)}
			dst := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(be.data)))
			for b.Loop() {
				var err error
				if dst, err = s.Event(dst[:0], ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadChat translates a non-streamed answer with thoughts and
// text.
func BenchmarkReadChat(b *testing.B) {
	c := newCall(b, testRequest, geminiEndpoint())
	body := readTestdata(b, "response_text.json")
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

// BenchmarkWriteChat translates the tools request (images, tool calls and
// results, schemas with $ref).
func BenchmarkWriteChat(b *testing.B) {
	c := newCall(b, string(readTestdata(b, "request_tools.json")), geminiEndpoint())
	c.Upstream = testUpstream(b, "https://generativelanguage.googleapis.com/v1beta")
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	b.ReportAllocs()
	for b.Loop() {
		req.Reset()
		if err := (Adapter{}).WriteChat(req, c); err != nil {
			b.Fatal(err)
		}
	}
}
