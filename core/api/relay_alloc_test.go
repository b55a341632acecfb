//go:build !race

package api

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/provider/openai"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/routing"
)

// TestRelayZeroAllocsPerEvent runs the per-event work of writeStream on the
// same-protocol path — scan an upstream event, rewrite it, write and flush
// it to the client — and requires 0 allocations per relayed event.
func TestRelayZeroAllocsPerEvent(t *testing.T) {
	const events = 1000
	var up bytes.Buffer
	up.WriteString("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n")
	for i := 0; i < events; i++ {
		up.WriteString("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"system_fingerprint\":\"fp\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" token\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n")
	}
	stream := up.Bytes()

	var chat peek.Chat
	body := []byte(`{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if err := peek.ParseChat(body, &chat); err != nil {
		t.Fatal(err)
	}
	call := &provider.Call{
		Body: body, Chat: &chat, GenID: "gen-1-abcdef0123456789ab", Created: 1, Stream: true,
		Upstream: &provider.Upstream{Name: "p1", Adapter: openai.Adapter{}},
		Endpoint: &routing.Endpoint{Provider: "p1", Model: "acme/chat"},
	}
	sc := sse.NewScanner(nil, 0)
	w := bufio.NewWriterSize(io.Discard, 4096)
	out := make([]byte, 0, 4096)
	rd := bytes.NewReader(stream)
	relay := func() {
		rd.Reset(stream)
		sc.Reset(rd)
		s := openai.Adapter{}.NewStream(call)
		for sc.Next() {
			var err error
			out, err = s.Event(out[:0], sc.Event())
			if err != nil {
				t.Fatal(err)
			}
			if len(out) > 0 {
				_, _ = w.Write(out)
				_ = w.Flush()
			}
		}
	}
	relay() // warm-up: buffers grow to size
	allocs := testing.AllocsPerRun(20, relay)
	// The per-stream translator is one allocation; per event there must be none.
	if allocs > 1 {
		t.Fatalf("%.0f allocs per stream of %d events; want 1 (the translator) and 0 per event", allocs, events)
	}
}
