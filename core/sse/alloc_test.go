//go:build !race

package sse

import (
	"bytes"
	"testing"
)

func TestScannerAllocs(t *testing.T) {
	f := func(name string, stream []byte) {
		t.Helper()
		rd := bytes.NewReader(stream)
		s := NewScanner(rd, 0)
		events := 0
		allocs := testing.AllocsPerRun(20, func() {
			rd.Reset(stream)
			s.Reset(rd)
			events = 0
			for s.Next() {
				events++
			}
			if err := s.Err(); err != nil {
				t.Fatalf("%s: unexpected error: %v", name, err)
			}
		})
		if events < 1000 {
			t.Fatalf("%s: only %d events", name, events)
		}
		if allocs != 0 {
			t.Fatalf("%s: %.1f allocations per stream of %d events, want 0", name, allocs, events)
		}
	}
	f("openai", openAIStream(2000))
	f("anthropic", anthropicStream(2000))
	f("gemini", geminiStream(2000))

	// Multi-line data, ids and keep-alives use the copy buffers, which are
	// reused after the first stream.
	var mixed []byte
	for i := range 2000 {
		mixed = AppendComment(mixed, "OPENROUTER PROCESSING")
		mixed = append(mixed, "id: 42\n"...)
		mixed = AppendEvent(mixed, []byte("multi"), append(openAIChunk(i), "\nsecond line"...))
	}
	f("mixed", mixed)

	// One event per Read, as from the network.
	stream := openAIStream(2000)
	er := &eventReader{}
	s := NewScanner(er, 0)
	allocs := testing.AllocsPerRun(20, func() {
		er.data = stream
		s.Reset(er)
		for s.Next() {
		}
	})
	if allocs != 0 {
		t.Fatalf("event-per-read: %.1f allocations per stream, want 0", allocs)
	}
}

func TestAppendAllocs(t *testing.T) {
	payload := openAIChunk(1)
	multi := append(openAIChunk(2), "\nsecond\r\nthird"...)
	name := []byte("content_block_delta")
	dst := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendData(dst[:0], payload)
		b = AppendData(b, multi)
		b = AppendEvent(b, name, payload)
		b = AppendComment(b, "OPENROUTER PROCESSING")
		b = AppendDone(b)
		if !IsDone(Done) || len(b) == 0 {
			t.Fatalf("BUG: unexpected output")
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations, want 0", allocs)
	}
}
