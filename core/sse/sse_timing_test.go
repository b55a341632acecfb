package sse

import (
	"bytes"
	"io"
	"testing"
)

// benchmarkScanner scans stream once per iteration. reset must point a
// reused reader at stream, so the benchmark measures the scanner alone.
func benchmarkScanner(b *testing.B, stream []byte, reset func([]byte) io.Reader) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	s := NewScanner(nil, 0)
	events := 0
	for b.Loop() {
		s.Reset(reset(stream))
		for s.Next() {
			events++
		}
		if err := s.Err(); err != nil {
			b.Fatalf("unexpected error: %v", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

func BenchmarkScanner(b *testing.B) {
	br := bytes.NewReader(nil)
	whole := func(p []byte) io.Reader { br.Reset(p); return br }
	er := &eventReader{}
	perEvent := func(p []byte) io.Reader { er.data = p; return er }
	b.Run("openai", func(b *testing.B) { benchmarkScanner(b, openAIStream(1000), whole) })
	b.Run("openai-event-per-read", func(b *testing.B) { benchmarkScanner(b, openAIStream(1000), perEvent) })
	b.Run("anthropic", func(b *testing.B) { benchmarkScanner(b, anthropicStream(1000), whole) })
	b.Run("gemini-crlf", func(b *testing.B) { benchmarkScanner(b, geminiStream(1000), whole) })
}

func BenchmarkAppendData(b *testing.B) {
	payload := openAIChunk(1)
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		dst = AppendData(dst[:0], payload)
	}
}
