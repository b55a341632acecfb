package gemini

import (
	"bytes"

	json "github.com/goccy/go-json"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

// stream translates one streamGenerateContent?alt=sse response. Every
// event's data is a whole GenerateContentResponse:
//
//	text parts        → delta.content (thought parts → delta.reasoning)
//	functionCall      → one complete tool-call delta per call (index, id
//	                    call_…, type "function", name, full arguments)
//	finishReason      → the finish chunk (tool_calls when the turn
//	                    called functions)
//	usageMetadata     → usage; it repeats cumulatively in every chunk, so
//	                    the last one wins (never summed)
//	promptFeedback    → a blocked prompt finishes with content_filter
//	error             → Result.Err
//
// Gemini sends no end marker: the stream ends with the connection after
// the chunk that carries finishReason (core then counts it as done).
type stream struct {
	call     *provider.Call
	res      provider.Result
	resp     generateResponse
	tools    int
	exclude  bool
	role     bool
	finished bool
}

// NewStream returns the translator of one streamed response.
func (Adapter) NewStream(c *provider.Call) provider.Stream {
	return &stream{call: c, exclude: excludeReasoning(c)}
}

func (s *stream) Result() *provider.Result { return &s.res }

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

func malformed(data []byte, err error) error {
	return &provider.Failure{Message: "upstream sent malformed stream data: " + err.Error(), Raw: clip(data, 1024)}
}

// Event translates one upstream chunk.
func (s *stream) Event(dst []byte, ev *sse.Event) ([]byte, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return dst, nil
	}
	r := &s.resp
	r.Candidates = r.Candidates[:0]
	r.PromptFeedback.BlockReason = ""
	r.Error = nil
	r.UsageMetadata.reset()
	if err := provider.CheckJSON(data); err != nil {
		return dst, malformed(data, err)
	}
	if err := json.UnmarshalNoEscape(data, r); err != nil {
		return dst, malformed(data, err)
	}
	if r.Error != nil {
		s.res.Err = inBandError(r.Error, data)
		return dst, nil
	}
	if r.UsageMetadata.present() {
		s.res.Usage = r.UsageMetadata.toRouting()
		s.res.HaveUsage = true
	}
	if len(r.Candidates) == 0 {
		if br := r.PromptFeedback.BlockReason; br != "" && !s.finished {
			dst = s.finish(dst, "content_filter", br)
		}
		return dst, nil
	}
	cand := &r.Candidates[0]
	if s.finished {
		return dst, nil // nothing may follow the finish chunk
	}
	for i := range cand.Content.Parts {
		p := &cand.Content.Parts[i]
		switch {
		case p.FunctionCall != nil:
			s.res.OutputBytes += len(p.FunctionCall.Name) + len(p.FunctionCall.Args)
			dst = s.open(dst)
			dst = append(dst, `"tool_calls":[`...)
			dst = appendToolCall(dst, s.tools, p.FunctionCall)
			s.tools++
			dst = append(dst, ']')
			dst = closeChunk(dst)
		case p.Text == "":
		case p.Thought:
			s.res.OutputBytes += len(p.Text)
			if !s.exclude {
				dst = s.open(dst)
				dst = append(dst, `"reasoning":`...)
				dst = peek.AppendString(dst, p.Text)
				dst = closeChunk(dst)
			}
		default:
			s.res.OutputBytes += len(p.Text)
			dst = s.open(dst)
			dst = append(dst, `"content":`...)
			dst = peek.AppendString(dst, p.Text)
			dst = closeChunk(dst)
		}
	}
	if fr := cand.FinishReason; fr != "" {
		dst = s.finish(dst, finishReason(fr, s.tools > 0), fr)
	}
	return dst, nil
}

// finish appends the chunk with finish_reason and native_finish_reason.
func (s *stream) finish(dst []byte, finish, native string) []byte {
	s.finished = true
	s.res.Finish, s.res.Native = finish, native
	dst = append(dst, "data: "...)
	dst = provider.AppendChunkHead(dst, s.call)
	dst = append(dst, `"choices":[{"index":0,"delta":{`...)
	if !s.role {
		s.role = true
		dst = append(dst, `"role":"assistant","content":""`...)
	}
	dst = append(dst, `},"finish_reason":`...)
	dst = peek.AppendString(dst, finish)
	dst = append(dst, `,"native_finish_reason":`...)
	dst = peek.AppendString(dst, native)
	s.res.Started = true
	return append(dst, "}]}\n\n"...)
}
