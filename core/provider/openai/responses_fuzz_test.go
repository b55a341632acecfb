package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/sse"
)

// FuzzResponsesRequest: no client body panics the request converter; it
// fails with a BadRequest and leaves dst as it was, or appends one JSON
// object that the gateway's own request check can judge. Seeds:
// testdata/fuzz/FuzzResponsesRequest and the request transcripts.
func FuzzResponsesRequest(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "responses_request_*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := ResponsesRequest([]byte("prev"), body)
		if !bytes.HasPrefix(out, []byte("prev")) {
			t.Fatalf("ResponsesRequest overwrote dst: %q", out)
		}
		out = out[len("prev"):]
		if err != nil {
			var br *peek.BadRequest
			if !errors.As(err, &br) || len(out) != 0 {
				t.Fatalf("ResponsesRequest(%q) = %q, %v", body, out, err)
			}
			return
		}
		if !json.Valid(out) || out[0] != '{' {
			t.Fatalf("ResponsesRequest(%q) made invalid JSON %q", body, out)
		}
		var chat peek.Chat
		if err := peek.ParseChat(out, &chat); err != nil {
			var br *peek.BadRequest
			if !errors.As(err, &br) {
				t.Fatalf("ParseChat(%q): %v", out, err)
			}
		}
	})
}

// FuzzResponsesFrame: no stream payload panics the stream converter; a
// payload it rejects leaves dst as it was, and what it emits is whole
// events with an event: line and a JSON object.
func FuzzResponsesFrame(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "responses_stream_*.sse"))
	for _, p := range paths {
		wire, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := sse.NewScanner(bytes.NewReader(wire), 0)
		for sc.Next() {
			if d := sc.Event().Data; len(d) > 0 {
				f.Add(bytes.Clone(d))
			}
		}
	}
	start := []byte(`{"id":"gen-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":""}}]}}]}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := NewResponsesStream(func() int64 { return 1 })
		if _, err := s.Frame(nil, start); err != nil {
			t.Fatal(err)
		}
		out, err := s.Frame([]byte("prev"), data)
		if !bytes.HasPrefix(out, []byte("prev")) {
			t.Fatalf("Frame overwrote dst: %q", out)
		}
		out = out[len("prev"):]
		if err != nil {
			if len(out) != 0 {
				t.Fatalf("Frame(%q) = %q, %v", data, out, err)
			}
			return
		}
		end, _ := s.Frame(nil, []byte("[DONE]"))
		out = append(out, end...)
		sc := sse.NewScanner(bytes.NewReader(out), 1<<20)
		for sc.Next() {
			ev := sc.Event()
			if len(ev.Name) == 0 || !json.Valid(ev.Data) || ev.Data[0] != '{' {
				t.Fatalf("Frame(%q) emitted %q", data, out)
			}
		}
		if sc.Err() != nil || (len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n"))) {
			t.Fatalf("Frame(%q) emitted broken frames %q", data, out)
		}
	})
}
