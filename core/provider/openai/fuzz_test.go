package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

// FuzzStreamEvent: upstream stream data never panics the translator, and
// what it emits is one SSE frame holding a JSON object with Tollgate's
// head, for the plain and the DeepSeek dialect.
func FuzzStreamEvent(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.sse"))
	for _, p := range paths {
		wire, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := sse.NewScanner(bytes.NewReader(wire), 0)
		for sc.Next() {
			f.Add(bytes.Clone(sc.Event().Data), p == "testdata/stream_deepseek_reasoning.sse")
		}
	}
	f.Add([]byte(`{"choices":[{"delta":{"reasoning_content":"a","reasoning_content":"b"},"finish_reason":""}]}`), true)
	f.Add([]byte("{\"choices\":\n[{\"delta\":{\"reasoning_content\":\"a\"}}],\n\"x\":1}"), true)
	f.Fuzz(func(t *testing.T, data []byte, deepseek bool) {
		ep := openAIEndpoint()
		c := newCall(t, testRequest, ep, &provider.Upstream{Name: ep.Provider, Adapter: Adapter{}, Quirks: provider.Quirks{ReasoningContent: deepseek}})
		s := Adapter{}.NewStream(c)
		out, err := s.Event([]byte("prev"), &sse.Event{Data: data})
		if !bytes.HasPrefix(out, []byte("prev")) {
			t.Fatalf("Event overwrote dst: %q", out)
		}
		out = out[len("prev"):]
		if err != nil {
			var fl *provider.Failure
			if !errors.As(err, &fl) || len(out) != 0 {
				t.Fatalf("Event(%q) = %q, %v", data, out, err)
			}
			return
		}
		if len(out) == 0 {
			return
		}
		payload, ok := bytes.CutPrefix(out, []byte("data: "))
		payload, ok2 := bytes.CutSuffix(payload, []byte("\n\n"))
		if !ok || !ok2 || bytes.ContainsAny(payload, "\r\n") {
			t.Fatalf("Event(%q) is not one SSE frame: %q", data, out)
		}
		var chunk struct {
			ID      string            `json:"id"`
			Choices []json.RawMessage `json:"choices"`
		}
		if err := json.Unmarshal(payload, &chunk); err != nil || chunk.ID != testGenID || len(chunk.Choices) == 0 {
			t.Fatalf("Event(%q) emitted %s: %v", data, payload, err)
		}
		if s.Result().Err != nil {
			t.Fatalf("Event emitted a chunk after an in-band error")
		}
	})
}
