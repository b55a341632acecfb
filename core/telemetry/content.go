package telemetry

import (
	"bytes"

	json "github.com/goccy/go-json"
	"github.com/tidwall/gjson"
)

// The GenAI conventions record messages as JSON: a list of
// {role, parts: [{type, …}], finish_reason?}. These types are that schema,
// converted from the OpenAI shapes the pipeline speaks. They are used only
// with CaptureContent, off the default path.

type message struct {
	Role         string `json:"role"`
	Parts        []part `json:"parts"`
	FinishReason string `json:"finish_reason,omitempty"`
}

type part struct {
	Type      string          `json:"type"`
	Content   string          `json:"content,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Response  string          `json:"response,omitempty"`
	Modality  string          `json:"modality,omitempty"`
	URI       string          `json:"uri,omitempty"`
}

// InputMessages converts an OpenAI "messages" array into the JSON of
// gen_ai.input.messages.
func InputMessages(messages []byte) string {
	var out []message
	gjson.ParseBytes(messages).ForEach(func(_, m gjson.Result) bool {
		msg := message{Role: m.Get("role").String()}
		if msg.Role == "tool" {
			msg.Parts = append(msg.Parts, part{Type: "tool_call_response", ID: m.Get("tool_call_id").String(), Response: contentText(m.Get("content"))})
		} else {
			msg.Parts = appendContent(msg.Parts, m.Get("content"))
			msg.Parts = appendToolCalls(msg.Parts, m.Get("tool_calls"))
		}
		out = append(out, msg)
		return true
	})
	return marshal(out)
}

// PromptMessages converts a legacy completions "prompt" (a string or an
// array of strings) into gen_ai.input.messages: one user message.
func PromptMessages(prompt []byte) string {
	p := gjson.ParseBytes(prompt)
	msg := message{Role: "user"}
	if p.IsArray() {
		p.ForEach(func(_, s gjson.Result) bool {
			msg.Parts = append(msg.Parts, part{Type: "text", Content: s.String()})
			return true
		})
	} else {
		msg.Parts = append(msg.Parts, part{Type: "text", Content: p.String()})
	}
	return marshal([]message{msg})
}

// OutputMessages converts an OpenAI chat or text completion response body
// into the JSON of gen_ai.output.messages, one message per choice.
func OutputMessages(resp []byte) string {
	var out []message
	gjson.GetBytes(resp, "choices").ForEach(func(_, c gjson.Result) bool {
		msg := message{Role: "assistant", FinishReason: c.Get("finish_reason").String()}
		if m := c.Get("message"); m.Exists() {
			msg.Parts = appendContent(msg.Parts, m.Get("content"))
			msg.Parts = appendToolCalls(msg.Parts, m.Get("tool_calls"))
		} else if t := c.Get("text"); t.Exists() {
			msg.Parts = append(msg.Parts, part{Type: "text", Content: t.String()})
		}
		out = append(out, msg)
		return true
	})
	return marshal(out)
}

// CaptureFrames collects the completion text of OpenAI SSE frames
// ("data: {chunk}\n\n"…) of the first choice, for StreamedOutput. It does
// nothing unless Capture.
func (r *Request) CaptureFrames(frames []byte) {
	if !r.Capture() {
		return
	}
	for len(frames) > 0 {
		line := frames
		if i := bytes.IndexByte(frames, '\n'); i >= 0 {
			line, frames = frames[:i], frames[i+1:]
		} else {
			frames = nil
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok || len(data) == 0 || data[0] != '{' {
			continue
		}
		c := gjson.GetBytes(data, "choices.0")
		if !c.Exists() {
			continue
		}
		if t := c.Get("delta.content"); t.Type == gjson.String {
			r.out = append(r.out, t.Str...)
		} else if t := c.Get("text"); t.Type == gjson.String {
			r.out = append(r.out, t.Str...)
		}
		if f := c.Get("finish_reason"); f.Type == gjson.String {
			r.finish = f.Str
		}
	}
}

// StreamedOutput is gen_ai.output.messages of what CaptureFrames saw.
func (r *Request) StreamedOutput() string {
	return marshal([]message{{Role: "assistant", FinishReason: r.finish, Parts: []part{{Type: "text", Content: string(r.out)}}}})
}

// appendContent adds the parts of an OpenAI "content": a string or an
// array of text and image_url parts.
func appendContent(dst []part, c gjson.Result) []part {
	switch {
	case c.Type == gjson.String:
		return append(dst, part{Type: "text", Content: c.Str})
	case c.IsArray():
		c.ForEach(func(_, p gjson.Result) bool {
			switch p.Get("type").String() {
			case "text", "input_text":
				dst = append(dst, part{Type: "text", Content: p.Get("text").String()})
			case "image_url":
				dst = append(dst, part{Type: "uri", Modality: "image", URI: p.Get("image_url.url").String()})
			}
			return true
		})
	}
	return dst
}

func appendToolCalls(dst []part, calls gjson.Result) []part {
	calls.ForEach(func(_, tc gjson.Result) bool {
		p := part{Type: "tool_call", ID: tc.Get("id").String(), Name: tc.Get("function.name").String()}
		if args := tc.Get("function.arguments").String(); args != "" && gjson.Valid(args) {
			p.Arguments = json.RawMessage(args)
		}
		dst = append(dst, p)
		return true
	})
	return dst
}

// contentText flattens a tool result's content to text.
func contentText(c gjson.Result) string {
	if c.Type == gjson.String {
		return c.Str
	}
	var b []byte
	c.ForEach(func(_, p gjson.Result) bool {
		b = append(b, p.Get("text").String()...)
		return true
	})
	if b == nil {
		return c.Raw
	}
	return string(b)
}

func marshal(v []message) string {
	if v == nil {
		v = []message{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "[]"
	}
	return string(b)
}
