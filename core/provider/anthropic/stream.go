package anthropic

import (
	"bytes"
	"strconv"

	json "github.com/goccy/go-json"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

// maxBlocks bounds the content block index an upstream may use, so a
// hostile index cannot make the translator allocate without limit.
const maxBlocks = 4096

// Block kinds of the content blocks a stream has opened.
const (
	blockOther byte = iota
	blockText
	blockThinking
	blockTool
)

type blockState struct {
	kind byte
	args bool // a non-empty input_json_delta arrived (tool blocks)
	tool int  // the OpenAI tool-call index (tool blocks)
}

// streamEvent is the union of the Messages API stream events' data.
type streamEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message struct {
		Usage usage `json:"usage"`
	} `json:"message"`
	ContentBlock struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Thinking string `json:"thinking"`
		ID       string `json:"id"`
		Name     string `json:"name"`
	} `json:"content_block"`
	Delta struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		Thinking    string `json:"thinking"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	// Usage of message_delta: output_tokens is cumulative; newer API
	// versions repeat the input counts too. -1 marks an absent count.
	Usage usage    `json:"usage"`
	Error apiError `json:"error"`
}

// stream translates one Messages API event stream into OpenAI chunks:
//
//	message_start        usage (input and cache counts); nothing sent
//	content_block_start  text: nothing (or its initial text); thinking:
//	                     nothing; tool_use: the tool call's first delta
//	                     (index, id, type "function", name, arguments "")
//	content_block_delta  text_delta → delta.content; input_json_delta →
//	                     delta.tool_calls[{index, function.arguments}];
//	                     thinking_delta → delta.reasoning
//	content_block_stop   a tool call that got no arguments gets "{}"
//	message_delta        usage (output_tokens is cumulative: the last
//	                     wins); stop_reason → the finish chunk
//	message_stop         Result.Done
//	ping                 nothing
//	error                Result.Err (overloaded_error → status 529)
//
// The first chunk carries delta.role "assistant". Tool-call indexes count
// the tool calls (0, 1, 2 …), not Anthropic's block indexes. Unknown
// events and delta types are ignored, as Anthropic's versioning policy
// asks of clients.
type stream struct {
	call     *provider.Call
	res      provider.Result
	ev       streamEvent
	blocks   []blockState
	tools    int
	usage    usage
	exclude  bool // reasoning.exclude: thinking is not shown
	role     bool // the role has been sent
	finished bool // the finish chunk has been sent
}

// NewStream returns the translator of one streamed response.
func (Adapter) NewStream(c *provider.Call) provider.Stream {
	return &stream{call: c, exclude: excludeReasoning(c)}
}

func (s *stream) Result() *provider.Result { return &s.res }

// open starts a chunk with one choice delta; the first one carries the
// role. The caller appends at least one delta member, then close.
func (s *stream) open(dst []byte) []byte {
	dst = append(dst, "data: "...)
	dst = provider.AppendChunkHead(dst, s.call)
	dst = append(dst, `"choices":[{"index":0,"delta":{`...)
	if !s.role {
		s.role = true
		dst = append(dst, `"role":"assistant",`...)
	}
	s.res.Started = true
	return dst
}

func closeChunk(dst []byte) []byte {
	return append(dst, "},\"finish_reason\":null}]}\n\n"...)
}

func (s *stream) text(dst []byte, member, text string) []byte {
	if text == "" || s.finished {
		return dst
	}
	s.res.OutputBytes += len(text)
	dst = s.open(dst)
	dst = append(dst, member...)
	dst = peek.AppendString(dst, text)
	return closeChunk(dst)
}

func malformed(data []byte, err error) error {
	return &provider.Failure{Message: "upstream sent malformed stream data: " + err.Error(), Raw: clip(data, 1024)}
}

// Event translates one upstream event.
func (s *stream) Event(dst []byte, ev *sse.Event) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || string(ev.Name) == "ping" {
		return dst, nil
	}
	s.ev = streamEvent{}
	s.ev.Usage = usage{InputTokens: -1, OutputTokens: -1, CacheCreationInputTokens: -1, CacheReadInputTokens: -1}
	if err := provider.CheckJSON(data); err != nil {
		return dst, malformed(data, err)
	}
	if err := json.UnmarshalNoEscape(data, &s.ev); err != nil {
		return dst, malformed(data, err)
	}
	e := &s.ev
	typ := e.Type
	if typ == "" {
		typ = string(ev.Name)
	}
	switch typ {
	case "message_start":
		s.usage = e.Message.Usage
		s.setUsage()
	case "content_block_start":
		b, err := s.block(e.Index, true, data)
		if err != nil {
			return dst, err
		}
		switch e.ContentBlock.Type {
		case "text":
			b.kind = blockText
			dst = s.text(dst, `"content":`, e.ContentBlock.Text)
		case "thinking":
			b.kind = blockThinking
			if !s.exclude {
				dst = s.text(dst, `"reasoning":`, e.ContentBlock.Thinking)
			}
		case "tool_use":
			b.kind, b.tool = blockTool, s.tools
			s.tools++
			if s.finished {
				return dst, nil
			}
			s.res.OutputBytes += len(e.ContentBlock.Name)
			dst = s.open(dst)
			dst = append(dst, `"tool_calls":[{"index":`...)
			dst = strconv.AppendInt(dst, int64(b.tool), 10)
			dst = append(dst, `,"id":`...)
			dst = peek.AppendString(dst, e.ContentBlock.ID)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = peek.AppendString(dst, e.ContentBlock.Name)
			dst = append(dst, `,"arguments":""}}]`...)
			dst = closeChunk(dst)
		default:
			b.kind = blockOther // redacted_thinking, server tools …
		}
	case "content_block_delta":
		switch e.Delta.Type {
		case "text_delta":
			dst = s.text(dst, `"content":`, e.Delta.Text)
		case "thinking_delta":
			if !s.exclude {
				dst = s.text(dst, `"reasoning":`, e.Delta.Thinking)
			}
		case "input_json_delta":
			b, err := s.block(e.Index, false, data)
			if err != nil {
				return dst, err
			}
			// Server tools (server_tool_use) stream their input too; only
			// client tool calls reach the client.
			if b.kind != blockTool || e.Delta.PartialJSON == "" || s.finished {
				return dst, nil
			}
			b.args = true
			dst = s.args(dst, b.tool, e.Delta.PartialJSON)
		}
	case "content_block_stop":
		if e.Index >= 0 && e.Index < len(s.blocks) {
			if b := &s.blocks[e.Index]; b.kind == blockTool && !b.args && !s.finished {
				b.args = true
				dst = s.args(dst, b.tool, "{}")
			}
		}
	case "message_delta":
		u := &e.Usage
		if u.OutputTokens >= 0 {
			s.usage.OutputTokens = u.OutputTokens
		}
		if u.InputTokens >= 0 {
			s.usage.InputTokens = u.InputTokens
		}
		if u.CacheReadInputTokens >= 0 {
			s.usage.CacheReadInputTokens = u.CacheReadInputTokens
		}
		if u.CacheCreationInputTokens >= 0 {
			s.usage.CacheCreationInputTokens = u.CacheCreationInputTokens
		}
		s.setUsage()
		if e.Delta.StopReason != "" && !s.finished {
			dst = s.finish(dst, e.Delta.StopReason)
		}
	case "message_stop":
		s.res.Done = true
	case "error":
		s.res.Err = inBandError(&e.Error, data)
	}
	return dst, nil
}

// block returns the state of content block i; start registers a new one,
// which must come right after the blocks seen so far.
func (s *stream) block(i int, start bool, data []byte) (*blockState, error) {
	if i < 0 || i >= maxBlocks {
		return nil, malformed(data, errBlockIndex)
	}
	if start {
		if i > len(s.blocks) {
			return nil, malformed(data, errBlockIndex)
		}
		if i == len(s.blocks) {
			s.blocks = append(s.blocks, blockState{})
		} else {
			s.blocks[i] = blockState{}
		}
	} else if i >= len(s.blocks) {
		return nil, malformed(data, errBlockIndex)
	}
	return &s.blocks[i], nil
}

const errBlockIndex = adapterError("content block index out of order")

func (s *stream) args(dst []byte, tool int, frag string) []byte {
	s.res.OutputBytes += len(frag)
	dst = s.open(dst)
	dst = append(dst, `"tool_calls":[{"index":`...)
	dst = strconv.AppendInt(dst, int64(tool), 10)
	dst = append(dst, `,"function":{"arguments":`...)
	dst = peek.AppendString(dst, frag)
	dst = append(dst, "}}]"...)
	return closeChunk(dst)
}

func (s *stream) setUsage() {
	s.res.Usage = s.usage.toRouting()
	s.res.HaveUsage = true
}

// finish appends the chunk with finish_reason and native_finish_reason.
func (s *stream) finish(dst []byte, native string) []byte {
	s.finished = true
	s.res.Native = native
	s.res.Finish = finishReason(native)
	dst = append(dst, "data: "...)
	dst = provider.AppendChunkHead(dst, s.call)
	dst = append(dst, `"choices":[{"index":0,"delta":{`...)
	if !s.role {
		s.role = true
		dst = append(dst, `"role":"assistant","content":""`...)
	}
	dst = append(dst, `},"finish_reason":`...)
	dst = peek.AppendString(dst, s.res.Finish)
	dst = append(dst, `,"native_finish_reason":`...)
	dst = peek.AppendString(dst, native)
	s.res.Started = true
	return append(dst, "}]}\n\n"...)
}
