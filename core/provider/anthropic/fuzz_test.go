package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

// Seed corpora live under testdata/fuzz/<FuzzName>/ (real transcripts,
// bodies and requests of this package's tests).

// checkFrames checks that out is whole SSE frames of chunk objects with
// Tollgate's id.
func checkFrames(t *testing.T, out []byte) {
	t.Helper()
	sc := sse.NewScanner(bytes.NewReader(out), 0)
	for sc.Next() {
		var chunk struct {
			ID      string            `json:"id"`
			Choices []json.RawMessage `json:"choices"`
		}
		if err := json.Unmarshal(sc.Event().Data, &chunk); err != nil || chunk.ID != testGenID || len(chunk.Choices) != 1 {
			t.Fatalf("emitted %q: %v", sc.Event().Data, err)
		}
	}
	if sc.Err() != nil || (len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n"))) {
		t.Fatalf("emitted broken frames %q", out)
	}
}

// FuzzStreamEvent: no upstream event panics the translator; it emits
// whole frames, or fails with a Failure and leaves dst as it was.
func FuzzStreamEvent(f *testing.F) {
	f.Add("content_block_delta", []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		c := newCall(t, testRequest, claudeEndpoint())
		s := Adapter{}.NewStream(c)
		// A started tool block first, so deltas for index 0 have a home.
		start := []byte(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}`)
		if _, err := s.Event(nil, &sse.Event{Data: start}); err != nil {
			t.Fatal(err)
		}
		out, err := s.Event([]byte("prev"), &sse.Event{Name: []byte(name), Data: data})
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
		checkFrames(t, out)
	})
}

// FuzzStreamTranscript: whole upstream transcripts never panic the
// translator and come out as whole frames.
func FuzzStreamTranscript(f *testing.F) {
	f.Add([]byte("event: ping\ndata: {\"type\":\"ping\"}\n\n"))
	f.Fuzz(func(t *testing.T, wire []byte) {
		c := newCall(t, testRequest, claudeEndpoint())
		s := Adapter{}.NewStream(c)
		sc := sse.NewScanner(bytes.NewReader(wire), 1<<16)
		var out []byte
		for sc.Next() {
			var err error
			mark := len(out)
			if out, err = s.Event(out, sc.Event()); err != nil {
				if len(out) != mark {
					t.Fatalf("a failed Event changed dst")
				}
				return
			}
			if s.Result().Err != nil {
				return
			}
		}
		checkFrames(t, out)
	})
}

// FuzzReadChat: no response body panics ReadChat; what it accepts comes
// out as a JSON chat.completion.
func FuzzReadChat(f *testing.F) {
	f.Add([]byte(`{"type":"message","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := newCall(t, testRequest, claudeEndpoint())
		out, res, err := Adapter{}.ReadChat(nil, body, c)
		if err != nil || res.Err != nil {
			return
		}
		var comp struct {
			ID      string            `json:"id"`
			Choices []json.RawMessage `json:"choices"`
		}
		if json.Unmarshal(out, &comp) != nil || comp.ID != testGenID || len(comp.Choices) != 1 {
			t.Fatalf("ReadChat(%q) = %s", body, out)
		}
	})
}

// FuzzReadError: no error body panics ReadError.
func FuzzReadError(f *testing.F) {
	f.Add(529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		var h fasthttp.ResponseHeader
		fl := Adapter{}.ReadError(status, &h, body)
		if fl == nil || fl.Message == "" || fl.Status != status || len(fl.Raw) > 4096 {
			t.Fatalf("ReadError(%d, %q) = %+v", status, body, fl)
		}
	})
}

// FuzzWriteChat: no client body that the gateway accepts panics the
// translation; it yields a JSON request or a BadRequest.
func FuzzWriteChat(f *testing.F) {
	f.Add([]byte(testRequest))
	f.Fuzz(func(t *testing.T, body []byte) {
		var chat peek.Chat
		if peek.ParseChat(body, &chat) != nil {
			return
		}
		c := &provider.Call{Body: body, Chat: &chat, Endpoint: claudeEndpoint(), GenID: testGenID, Created: testCreated, Stream: chat.Stream}
		dst, err := buildBody(nil, c)
		if err != nil {
			var br *peek.BadRequest
			if !errors.As(err, &br) {
				t.Fatalf("buildBody(%q) = %T %v, want a BadRequest", body, err, err)
			}
			return
		}
		if !json.Valid(dst) {
			t.Fatalf("buildBody(%q) = invalid JSON %s", body, dst)
		}
	})
}

// TestFuzzCorpus keeps the seed corpora under testdata/fuzz in step with
// the transcripts, bodies and requests of testdata: -rewrite regenerates
// them; otherwise every seed must exist.
func TestFuzzCorpus(t *testing.T) {
	var events, transcripts, bodies, errBodies, requests [][]any
	for _, name := range []string{"stream_tools", "stream_text", "stream_overloaded"} {
		wire := readTestdata(t, name+".sse")
		transcripts = append(transcripts, []any{wire})
		sc := sse.NewScanner(bytes.NewReader(wire), 0)
		for sc.Next() {
			events = append(events, []any{string(sc.Event().Name), bytes.Clone(sc.Event().Data)})
		}
	}
	for _, name := range []string{"response_tool_use", "response_text", "response_refusal"} {
		bodies = append(bodies, []any{readTestdata(t, name+".json")})
	}
	for _, e := range []struct {
		file   string
		status int
	}{{"error_overloaded.json", 529}, {"error_rate_limit.json", 429}, {"error_context.json", 400}, {"error_html.txt", 502}} {
		errBodies = append(errBodies, []any{e.status, readTestdata(t, e.file)})
	}
	for _, name := range []string{"basic", "tools", "reasoning", "json_object", "thinking_budget"} {
		requests = append(requests, []any{readTestdata(t, "request_"+name+".json")})
	}
	syncCorpus(t, "FuzzStreamEvent", events)
	syncCorpus(t, "FuzzStreamTranscript", transcripts)
	syncCorpus(t, "FuzzReadChat", bodies)
	syncCorpus(t, "FuzzReadError", errBodies)
	syncCorpus(t, "FuzzWriteChat", requests)
}

// syncCorpus writes (with -rewrite) or checks testdata/fuzz/<name>/seed-N
// in the go test fuzz v1 format.
func syncCorpus(t *testing.T, name string, seeds [][]any) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	for i, vals := range seeds {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				b.WriteString("[]byte(" + strconv.Quote(string(v)) + ")\n")
			case string:
				b.WriteString("string(" + strconv.Quote(v) + ")\n")
			case int:
				b.WriteString("int(" + strconv.Itoa(v) + ")\n")
			}
		}
		path := filepath.Join(dir, "seed-"+strconv.Itoa(i))
		if *rewrite {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("seed corpus %s is missing (run with -rewrite): %v", path, err)
		}
	}
}
