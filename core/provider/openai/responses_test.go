package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/sse"
)

// Transcripts of the Responses edge live in testdata/responses_*:
// Responses requests (responses_request_*.json → .golden, the chat body),
// gateway chat completions (responses_response_*.json → .golden, the
// Responses object) and gateway streams exactly as core/api writes them
// (responses_stream_*.sse → .golden, the Responses events).

const testCompletedAt = 1747220042

var (
	respRequests  = []string{"plain", "items", "tools", "format"}
	respResponses = []string{"text", "tools", "reasoning", "length", "refusal"}
	respStreams   = []string{"text", "reasoning", "tools", "length", "error"}
)

func indentJSON(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestResponsesRequestGolden(t *testing.T) {
	for _, name := range respRequests {
		t.Run(name, func(t *testing.T) {
			out, err := ResponsesRequest([]byte("keep"), readTestdata(t, "responses_request_"+name+".json"))
			if err != nil {
				t.Fatalf("ResponsesRequest: %v", err)
			}
			if !bytes.HasPrefix(out, []byte("keep")) {
				t.Fatalf("ResponsesRequest overwrote dst")
			}
			out = out[len("keep"):]
			// What core/api does next with the body.
			var chat peek.Chat
			if err := peek.ParseChat(out, &chat); err != nil {
				t.Fatalf("the gateway rejects the converted body: %v\n%s", err, out)
			}
			// openai-go decodes it as a chat request.
			var p oai.ChatCompletionNewParams
			if err := json.Unmarshal(out, &p); err != nil || len(p.Messages) == 0 {
				t.Fatalf("openai-go cannot decode the request: %v\n%s", err, out)
			}
			checkGolden(t, "responses_request_"+name+".golden", indentJSON(t, out))
		})
	}
}

func TestResponsesRequestCases(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		out, err := ResponsesRequest(nil, []byte(body))
		if err != nil {
			t.Fatalf("ResponsesRequest(%s): %v", body, err)
		}
		if string(out) != want {
			t.Fatalf("ResponsesRequest(%s)\n got %s\nwant %s", body, out, want)
		}
	}
	// Explicit zero values and nulls.
	f(`{"model":"m","input":"hi","temperature":0,"parallel_tool_calls":false,"store":null,"previous_response_id":null,"conversation":null,"background":false}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0}`)
	// parallel_tool_calls goes upstream only with tools (OpenAI rejects it
	// alone, and the Agents SDK always sends it).
	f(`{"model":"m","input":"hi","parallel_tool_calls":true,"tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"parallel_tool_calls":true,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]}`)
	f(`{"model":"m","input":"hi","store":false,"previous_response_id":""}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	f(`{"model":"m","input":"hi","safety_identifier":"u1"}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"user":"u1"}`)
	f(`{"model":"m","input":"hi","user":"u0","safety_identifier":"u1"}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"user":"u0"}`)
	// A function call without an assistant message; empty arguments are {}.
	f(`{"model":"m","input":[{"type":"function_call","call_id":"c1","name":"f","arguments":""},{"type":"function_call_output","call_id":"c1","output":"ok"}]}`,
		`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]}`)
	// json_object, tool_choice without tools dropped, effort.
	f(`{"model":"m","input":"hi","text":{"format":{"type":"json_object"}},"tool_choice":"auto","reasoning":{"effort":"minimal"}}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"},"reasoning":{"effort":"minimal"}}`)
	f(`{"model":"m","input":"hi","text":{"format":{"type":"text"}},"reasoning":{"summary":"auto"}}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	// A named function tool choice.
	f(`{"model":"m","input":"hi","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"function","name":"f"}}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{}}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`)
}

func TestResponsesRequestErrors(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		out, err := ResponsesRequest([]byte("keep"), []byte(body))
		var br *peek.BadRequest
		if !errors.As(err, &br) || !strings.Contains(br.Msg, want) {
			t.Fatalf("ResponsesRequest(%s) = %v, want a BadRequest containing %q", body, err, want)
		}
		if string(out) != "keep" {
			t.Fatalf("dst changed on error: %q", out)
		}
	}
	f(`{"model":"m","input":"hi","store":true}`, "store: true is not supported: Tollgate does not store responses")
	f(`{"model":"m","input":"hi","previous_response_id":"resp_1"}`, "previous_response_id is not supported")
	f(`{"model":"m","input":"hi","conversation":"conv_1"}`, "conversation is not supported")
	f(`{"model":"m","input":"hi","background":true}`, "background: true is not supported")
	f(`{"model":"m","input":"hi","prompt":{"id":"pmpt_1"}}`, "prompt (a stored prompt template) is not supported")
	f(`{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, "input.0: item_reference is not supported")
	f(`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`, "input.0.content.0.file_id is not supported: Tollgate has no Files API")
	f(`{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"file-1"}]}]}`, "input.0.content.0.file_id is not supported")
	f(`{"model":"m","input":[{"role":"user","content":[{"type":"input_image"}]}]}`, "input.0.content.0.image_url: field required")
	f(`{"model":"m","input":"hi","tools":[{"type":"web_search"}]}`, `tools.0.type: "web_search" is a built-in tool`)
	f(`{"model":"m","input":"hi","tools":[{"type":"file_search","vector_store_ids":["vs"]}]}`, `"file_search" is a built-in tool`)
	f(`{"model":"m","input":"hi","tools":[{"type":"function","name":"f"}],"tool_choice":{"type":"web_search_preview"}}`, "tool_choice.type")
	f(`{"model":"m","input":"hi","tools":[{"type":"function"}]}`, "tools.0.name: field required")
	f(`{"model":"m","input":"hi","text":{"format":{"type":"json_schema","name":"x"}}}`, "text.format.schema: field required")
	f(`{"model":"m","input":"hi","reasoning":{"effort":"huge"}}`, "reasoning.effort")
	f(`{"model":"m","input":"hi","max_output_tokens":0}`, "max_output_tokens")
	f(`{"model":"m","input":"hi","stream":"yes"}`, "stream: must be a boolean")
	f(`{"model":"m","model":"n","input":"hi"}`, `duplicate key "model"`)
	f(`{"model":"m"}`, "input: field required")
	f(`{"input":"hi"}`, "model: field required")
	f(`{"model":"m","input":[]}`, "at least one message")
	f(`{"model":"m","input":[{"type":"reasoning","summary":[]}]}`, "at least one message")
	f(`{"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]}`, `input item type "web_search_call" is not supported`)
	f(`{"model":"m","input":[{"role":"tool","content":"x"}]}`, "input.0.role")
	f(`{"model":"m","input":[{"role":"user"}]}`, "input.0.content: field required")
	f(`{"model":"m","input":[{"type":"function_call","name":"f"}]}`, "input.0.call_id: field required")
	f(`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":{}}]}`, "input.0:")
	f(`{"model":"m","input":[{"role":"system","content":[{"type":"input_image","image_url":"x"}]}]}`, "input_text parts only")
	f(`{"model":"m","input":[{"role":"assistant","content":[{"type":"input_image","image_url":"x"}]}]}`, "output_text and refusal parts")
	f(`{"model":"m","input":[1]}`, "input.0: must be an object")
	f(`[1]`, "must be a JSON object")
	f(`{"model":"m",`, "")
}

// respEvent is the part of a Responses event the tests check.
type respEvent struct {
	name string
	data []byte
	ev   responses.ResponseStreamEventUnion
}

// parseEvents checks out is whole SSE events, each with an event: line
// naming the type of its data, which openai-go decodes, and sequence
// numbers counting from 0.
func parseEvents(t *testing.T, out []byte) []respEvent {
	t.Helper()
	var evs []respEvent
	sc := sse.NewScanner(bytes.NewReader(out), 0)
	for sc.Next() {
		e := sc.Event()
		if len(e.Data) == 0 {
			continue // a comment
		}
		var ev responses.ResponseStreamEventUnion
		if err := json.Unmarshal(e.Data, &ev); err != nil {
			t.Fatalf("openai-go cannot decode %s: %v", e.Data, err)
		}
		if string(e.Name) != ev.Type || ev.SequenceNumber != int64(len(evs)) {
			t.Fatalf("event %d: name %q, data %s", len(evs), e.Name, e.Data)
		}
		evs = append(evs, respEvent{name: string(e.Name), data: bytes.Clone(e.Data), ev: ev})
	}
	if sc.Err() != nil || (len(out) > 0 && !bytes.HasSuffix(out, []byte("\n\n"))) {
		t.Fatalf("broken frames %q", out)
	}
	return evs
}

// convertStream runs a gateway stream through ResponsesStream as
// core/api does: frame by frame, comments passed through.
func convertStream(t *testing.T, wire []byte) []byte {
	t.Helper()
	s := NewResponsesStream(func() int64 { return testCompletedAt })
	var out []byte
	for _, f := range bytes.Split(wire, []byte("\n\n")) {
		f = bytes.TrimSpace(f)
		if len(f) == 0 {
			continue
		}
		if data, ok := bytes.CutPrefix(f, []byte("data: ")); ok {
			var err error
			if out, err = s.Frame(out, data); err != nil {
				t.Fatalf("Frame(%s): %v", data, err)
			}
			continue
		}
		out = append(out, f...)
		out = append(out, "\n\n"...)
	}
	return out
}

func TestResponsesStreamGolden(t *testing.T) {
	for _, name := range respStreams {
		t.Run(name, func(t *testing.T) {
			out := convertStream(t, readTestdata(t, "responses_stream_"+name+".sse"))
			evs := parseEvents(t, out)
			checkGolden(t, "responses_stream_"+name+".golden", out)
			if len(evs) < 3 || evs[0].name != "response.created" || evs[1].name != "response.in_progress" {
				t.Fatalf("stream starts with %v", evs)
			}
			// The deltas add up to the done events and the final output.
			text := map[string]string{}
			args := map[string]string{}
			for _, e := range evs {
				switch e.name {
				case "response.output_text.delta":
					text[e.ev.ItemID] += e.ev.Delta
				case "response.output_text.done":
					if text[e.ev.ItemID] != e.ev.Text {
						t.Fatalf("text deltas %q, done %q", text[e.ev.ItemID], e.ev.Text)
					}
				case "response.function_call_arguments.delta":
					args[e.ev.ItemID] += e.ev.Delta
				case "response.function_call_arguments.done":
					if args[e.ev.ItemID] != e.ev.Arguments {
						t.Fatalf("argument deltas %q, done %q", args[e.ev.ItemID], e.ev.Arguments)
					}
				}
			}
			last := evs[len(evs)-1]
			switch name {
			case "error":
				if evs[len(evs)-2].name != "error" || last.name != "response.failed" || last.ev.Response.Error.Code != "server_error" {
					t.Fatalf("failed stream ends with %s %s", evs[len(evs)-2].data, last.data)
				}
			case "length":
				if last.name != "response.incomplete" || last.ev.Response.IncompleteDetails.Reason != "max_output_tokens" {
					t.Fatalf("cut stream ends with %s", last.data)
				}
			default:
				r := last.ev.Response
				if last.name != "response.completed" || r.Usage.TotalTokens == 0 || r.CompletedAt != testCompletedAt {
					t.Fatalf("stream ends with %s", last.data)
				}
				all := ""
				for _, s := range text {
					all += s
				}
				if r.OutputText() != all {
					t.Fatalf("output text %q, deltas %q", r.OutputText(), all)
				}
				for _, it := range r.Output {
					if fc := it.AsFunctionCall(); it.Type == "function_call" && args[it.ID] != fc.Arguments {
						t.Fatalf("call %s: deltas %q", it.RawJSON(), args[it.ID])
					}
				}
			}
		})
	}
}

func TestResponsesResponseGolden(t *testing.T) {
	for _, name := range respResponses {
		t.Run(name, func(t *testing.T) {
			out, err := ResponsesResponse([]byte("keep"), readTestdata(t, "responses_response_"+name+".json"), testCompletedAt)
			if err != nil {
				t.Fatal(err)
			}
			out = bytes.TrimPrefix(out, []byte("keep"))
			var r responses.Response
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("openai-go cannot decode the response: %v\n%s", err, out)
			}
			if r.ID != "resp_"+testGenID || r.Object != "response" || r.Usage.TotalTokens == 0 || len(r.Output) == 0 {
				t.Fatalf("response %s", out)
			}
			checkGolden(t, "responses_response_"+name+".golden", indentJSON(t, out))
		})
	}
	if _, err := ResponsesResponse(nil, []byte(`{"choices":[`), 0); err == nil {
		t.Fatal("a broken body converted")
	}
}

// A stream split anywhere between frames converts the same: the converter
// keeps its state across Frame calls and no reference to their data.
func TestResponsesStreamFrameByFrame(t *testing.T) {
	wire := readTestdata(t, "responses_stream_tools.sse")
	want := convertStream(t, wire)
	s := NewResponsesStream(func() int64 { return testCompletedAt })
	var got []byte
	buf := make([]byte, 0, 4096)
	for _, f := range bytes.Split(wire, []byte("\n\n")) {
		if data, ok := bytes.CutPrefix(bytes.TrimSpace(f), []byte("data: ")); ok {
			buf = append(buf[:0], data...)
			var err error
			got, err = s.Frame(got, buf)
			if err != nil {
				t.Fatal(err)
			}
			for i := range buf {
				buf[i] = 'x' // Frame must not keep it
			}
		} else if len(bytes.TrimSpace(f)) > 0 {
			got = append(got, bytes.TrimSpace(f)...)
			got = append(got, "\n\n"...)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("frame by frame:\n%s\nwant\n%s", got, want)
	}
	// After the end nothing more is written; a bad chunk changes nothing.
	if out, err := s.Frame(nil, []byte(`{"choices":[{"index":0,"delta":{"content":"late"}}]}`)); err != nil || len(out) != 0 {
		t.Fatalf("after the end: %q %v", out, err)
	}
	s = NewResponsesStream(nil)
	if out, err := s.Frame([]byte("keep"), []byte(`{"choices":[{"delta":{"tool_calls":[{"index":1000}]}}]}`)); err == nil || string(out) != "keep" {
		t.Fatalf("bad index: %q %v", out, err)
	}
	if out, err := s.Frame([]byte("keep"), []byte(`{"choices":`)); err == nil || string(out) != "keep" {
		t.Fatalf("bad JSON: %q %v", out, err)
	}
}

// Parallel calls whose argument fragments interleave, and a refusal after
// text, come out whole.
func TestResponsesStreamInterleaved(t *testing.T) {
	chunk := func(delta string) string {
		return `data: {"id":"` + testGenID + `","created":1,"model":"m","choices":[{"index":0,"delta":` + delta + `}]}` + "\n\n"
	}
	wire := chunk(`{"role":"assistant","content":"Hi"}`) +
		chunk(`{"refusal":"no"}`) +
		chunk(`{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\""}}]}`) +
		chunk(`{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}`) +
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}`) +
		chunk(`{"tool_calls":[{"index":2,"id":"c","function":{"name":"h"}}]}`) +
		`data: {"id":"` + testGenID + `","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4}}` + "\n\ndata: [DONE]\n\n"
	evs := parseEvents(t, convertStream(t, []byte(wire)))
	r := evs[len(evs)-1].ev.Response
	if len(r.Output) != 4 || r.OutputText() != "Hi" || r.Usage.TotalTokens != 9 {
		t.Fatalf("response %s", r.RawJSON())
	}
	msg := r.Output[0].AsMessage()
	if len(msg.Content) != 2 || msg.Content[1].Type != "refusal" || msg.Content[1].Refusal != "no" {
		t.Fatalf("message %s", msg.RawJSON())
	}
	a, b := r.Output[1].AsFunctionCall(), r.Output[2].AsFunctionCall()
	if a.Arguments != `{"x":1}` || a.CallID != "a" || b.Arguments != "{}" || b.Name != "g" {
		t.Fatalf("calls %s %s", a.RawJSON(), b.RawJSON())
	}
	if c := r.Output[3].AsFunctionCall(); c.Arguments != "{}" || c.Name != "h" {
		t.Fatalf("call without arguments %s", c.RawJSON())
	}
	args := ""
	for _, e := range evs {
		if e.name == "response.function_call_arguments.delta" && e.ev.OutputIndex == 3 {
			args += e.ev.Delta
		}
	}
	if args != "{}" {
		t.Fatalf("deltas of the call without arguments: %q", args)
	}
}
