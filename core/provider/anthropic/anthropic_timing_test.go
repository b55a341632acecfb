package anthropic

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/sse"
)

// benchEvents are the events a long answer is made of, one benchmark
// each: translation cost and allocations per upstream event.
var benchEvents = []struct {
	name, event, data string
}{
	{"text_delta", "content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" the weather in Paris"}}`},
	{"thinking_delta", "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" I'll call get_weather"}}`},
	{"input_json_delta", "content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}}`},
	{"ping", "ping", `{"type": "ping"}`},
	{"message_delta", "message_delta", `{"type":"message_delta","delta":{"stop_reason":null,"stop_sequence":null},"usage":{"output_tokens":89}}`},
}

// benchStream returns a stream that has seen a thinking, a text and a
// tool_use block start, as in the middle of stream_tools.sse.
func benchStream(b testing.TB) *stream {
	c := newCall(b, testRequest, claudeEndpoint())
	s := Adapter{}.NewStream(c).(*stream)
	for _, d := range []string{
		`{"type":"message_start","message":{"usage":{"input_tokens":472,"output_tokens":2}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`,
	} {
		if _, err := s.Event(nil, &sse.Event{Data: []byte(d)}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkStreamEvent translates one upstream event into a reused
// buffer, as core/api does.
func BenchmarkStreamEvent(b *testing.B) {
	for _, be := range benchEvents {
		b.Run(be.name, func(b *testing.B) {
			s := benchStream(b)
			ev := &sse.Event{Name: []byte(be.event), Data: []byte(be.data)}
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

// BenchmarkReadChat translates a non-streamed answer with thinking, text
// and two tool calls.
func BenchmarkReadChat(b *testing.B) {
	c := newCall(b, testRequest, claudeEndpoint())
	body := readTestdata(b, "response_tool_use.json")
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
// results, tools).
func BenchmarkWriteChat(b *testing.B) {
	c := newCall(b, string(readTestdata(b, "request_tools.json")), claudeEndpoint())
	c.Upstream = testUpstream(b, "https://api.anthropic.com/v1")
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
