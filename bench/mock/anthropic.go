package mock

import (
	"bytes"
	"crypto/subtle"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Anthropic Messages wire protocol: POST /v1/messages (stream or not) and
// POST /v1/messages/count_tokens.
//
// Usage follows Anthropic's split: input_tokens excludes the cached
// prompt tokens, which are reported as cache_read_input_tokens; reasoning
// tokens are part of output_tokens (no thinking block is generated). In a
// stream, message_start carries the input usage and message_delta the
// cumulative output_tokens; the mock counts the usage as reported when
// message_delta is out. UsageInLastChoiceChunk and AlwaysUsage do not
// apply: Anthropic always reports usage.

type anthropic struct{}

var _ dialect = anthropic{}

// authorized accepts the key as x-api-key, as the SDKs send it, or as a
// Bearer token.
func (anthropic) authorized(ctx *fasthttp.RequestCtx, key string) bool {
	if k := ctx.Request.Header.Peek("x-api-key"); len(k) > 0 {
		return subtle.ConstantTimeCompare(k, []byte(key)) == 1
	}
	return openAI{}.authorized(ctx, key)
}

func anthropicErrorType(status int) string {
	switch status {
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 504:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func (anthropic) appendError(dst []byte, e apiError) []byte {
	dst = append(dst, `{"type":"error","error":{"type":"`...)
	dst = append(dst, anthropicErrorType(e.status)...)
	dst = append(dst, `","message":"`...)
	dst = appendJSONString(dst, []byte(e.msg))
	return append(dst, `"}}`...)
}

func (anthropic) appendStreamError(dst []byte) []byte {
	return append(dst, "event: error\ndata: "+`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded (injected by mock)."}}`+"\n\n"...)
}

func (anthropic) appendMalformed(dst []byte) []byte {
	return append(dst, "event: content_block_delta\ndata: "+`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"trunc`+"\n\n"...)
}

// anthropicRequest is what the mock reads from a Messages request.
type anthropicRequest struct {
	model     []byte
	stream    bool
	maxTokens int // -1: not given
	messages  []byte
	system    []byte
	// freshTurn: the last message is the user's and carries no
	// tool_result, so a tool call is a sensible answer.
	freshTurn bool
	nTools    int
	toolNames [maxToolNames][]byte
}

func parseAnthropic(body []byte, countOnly bool) (r anthropicRequest, e apiError) {
	r.maxTokens = -1
	if i := skipSpace(body, 0); !validJSON(body) || body[i] != '{' {
		return r, badRequest("", "There was an issue with your request: the body is not a valid JSON object.")
	}
	it := objIter{b: body}
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch string(k) {
		case "model":
			s, ok := jsonStringRaw(v)
			if !ok {
				return r, badRequest("", "model: Input should be a valid string")
			}
			r.model = s
		case "stream":
			switch string(v) {
			case "true":
				r.stream = true
			case "false":
			default:
				return r, badRequest("", "stream: Input should be a valid boolean")
			}
		case "max_tokens":
			m, ok := jsonInt(v)
			if !ok {
				return r, badRequest("", "max_tokens: Input should be a valid integer")
			}
			if m < 1 {
				return r, badRequest("", "max_tokens: Input should be greater than or equal to 1")
			}
			r.maxTokens = m
		case "messages":
			if v[0] != '[' {
				return r, badRequest("", "messages: Input should be a valid list")
			}
			r.messages = v
			ai := arrIter{b: v}
			var last []byte
			for {
				m, ok := ai.next()
				if !ok {
					break
				}
				last = m
			}
			if last != nil && last[0] == '{' {
				role, _ := objectField(last, "role")
				content, _ := objectField(last, "content")
				r.freshTurn = string(role) == `"user"` && !bytes.Contains(content, []byte(`"tool_result"`))
			}
		case "system":
			r.system = v
		case "tools":
			if v[0] != '[' {
				return r, badRequest("", "tools: Input should be a valid list")
			}
			ai := arrIter{b: v}
			for {
				t, ok := ai.next()
				if !ok {
					break
				}
				var name []byte
				if t[0] == '{' {
					if nv, ok := objectField(t, "name"); ok {
						name, _ = jsonStringRaw(nv)
					}
				}
				if len(name) == 0 {
					return r, badRequest("", "tools."+strconv.Itoa(r.nTools)+".name: Field required")
				}
				if r.nTools < maxToolNames {
					r.toolNames[r.nTools] = name
				}
				r.nTools++
			}
		}
	}
	switch {
	case len(r.model) == 0:
		return r, badRequest("", "model: Field required")
	case r.messages == nil:
		return r, badRequest("", "messages: Field required")
	case r.maxTokens < 0 && !countOnly:
		return r, badRequest("", "max_tokens: Field required")
	}
	return r, apiError{}
}

// anthropicUsage renders a full usage object.
func appendAnthropicUsage(dst []byte, u usage, output int) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = appendInt(dst, u.prompt-u.cached)
	dst = append(dst, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":`...)
	dst = appendInt(dst, u.cached)
	dst = append(dst, `,"output_tokens":`...)
	dst = appendInt(dst, output)
	return append(dst, '}')
}

func anthropicStopReason(finish string) string {
	switch finish {
	case "length":
		return "max_tokens"
	case "tool_calls":
		return "tool_use"
	}
	return "end_turn"
}

func (s *Server) anthropicMessages(ctx *fasthttp.RequestCtx, pv plan) bool {
	p := &pv
	d := anthropic{}
	if len(ctx.Request.Header.Peek("anthropic-version")) == 0 {
		s.fail(ctx, d, badRequest("", "anthropic-version: header is required"))
		return false
	}
	r, e := parseAnthropic(ctx.Request.Body(), false)
	if e.status != 0 {
		s.fail(ctx, d, e)
		return false
	}
	prompt := tokensFor(r.messages) + tokensFor(r.system)
	if e := contextCheck(p, prompt, r.maxTokens); e.status != 0 {
		e.msg = "prompt is too long: " + strconv.Itoa(prompt+r.maxTokens) + " tokens > " + strconv.Itoa(p.cfg.ContextLength) + " maximum"
		s.fail(ctx, d, e)
		return false
	}
	var calls []toolCall
	if p.toolCalls > 0 && r.nTools > 0 && r.freshTurn {
		calls = makeToolCalls(p.toolCalls, r.toolNames[:min(r.nTools, maxToolNames)])
		for i := range calls {
			calls[i].id = appendID([]byte("toolu_01"), 22)
		}
	}
	o := computeOutcome(p, prompt, r.maxTokens)
	if calls != nil {
		o.visible = 0
		o.finish = "tool_calls"
		o.u.completion = toolTokens(calls) + o.u.reasoning
	}
	if p.resetAfter > 0 && !r.stream {
		s.resetNow(ctx)
		return false
	}
	text := newTextGen(p.responseBytes, p.tokens)
	if r.stream {
		return s.anthropicStream(ctx, p, &r, o, calls, text)
	}
	if !s.waitBeforeResponse(ctx, d, p) {
		return false
	}
	bp := s.getBuf()
	b := append((*bp)[:0], `{"id":"msg_01`...)
	b = appendID(b, 22)
	b = append(b, `","type":"message","role":"assistant","model":"`...)
	b = appendModel(b, p, r.model)
	b = append(b, `","content":[`...)
	switch {
	case calls != nil:
		for i, c := range calls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"type":"tool_use","id":"`...)
			b = append(b, c.id...)
			b = append(b, `","name":"`...)
			b = append(b, c.name...)
			b = append(b, `","input":`...)
			b = append(b, c.args...)
			b = append(b, '}')
		}
	case o.visible > 0:
		b = append(b, `{"type":"text","text":"`...)
		b = text.appendText(b, o.visible)
		b = append(b, `"}`...)
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, anthropicStopReason(o.finish)...)
	b = append(b, `","stop_sequence":null,"usage":`...)
	b = appendAnthropicUsage(b, o.u, o.u.completion)
	b = append(b, '}')
	s.writeJSON(ctx, b)
	*bp = b
	s.putBuf(bp)
	s.c.promptTokens.Add(uint64(o.u.prompt))
	s.c.completionTokens.Add(uint64(o.u.completion))
	s.c.reported(o.u)
	return false
}

func appendAnthropicEvent(dst []byte, name string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	return append(dst, "\ndata: "...)
}

func (s *Server) anthropicStream(ctx *fasthttp.RequestCtx, p *plan, r *anthropicRequest, o outcome, calls []toolCall, text textGen) bool {
	start := appendAnthropicEvent(make([]byte, 0, 384), "message_start")
	start = append(start, `{"type":"message_start","message":{"id":"msg_01`...)
	start = appendID(start, 22)
	start = append(start, `","type":"message","role":"assistant","model":"`...)
	start = appendModel(start, p, r.model)
	start = append(start, `","content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	start = appendAnthropicUsage(start, o.u, min(1, o.u.completion))
	start = append(start, "}}\n\n"...)
	s.c.promptTokens.Add(uint64(o.u.prompt))
	return s.startStream(ctx, anthropic{}, p, func(st *stream) {
		if st.p.roleAfterTTFT && !st.pause(st.p.ttft, true) {
			return
		}
		if !st.send(start) {
			return
		}
		if !st.p.roleAfterTTFT && !st.pause(st.p.ttft, true) {
			return
		}
		block := 0
		if calls != nil {
			for i, c := range calls {
				if i > 0 && !st.pause(st.p.gap, true) {
					return
				}
				b := appendAnthropicEvent(st.buf[:0], "content_block_start")
				b = append(b, `{"type":"content_block_start","index":`...)
				b = appendInt(b, block)
				b = append(b, `,"content_block":{"type":"tool_use","id":"`...)
				b = append(b, c.id...)
				b = append(b, `","name":"`...)
				b = append(b, c.name...)
				b = append(b, `","input":{}}}`+"\n\n"...)
				st.buf = b
				if !st.send(b) {
					return
				}
				for off := 0; off < len(c.args); off += toolArgFragment {
					if !st.pause(st.p.gap, true) {
						return
					}
					b := appendAnthropicEvent(st.buf[:0], "content_block_delta")
					b = append(b, `{"type":"content_block_delta","index":`...)
					b = appendInt(b, block)
					b = append(b, `,"delta":{"type":"input_json_delta","partial_json":"`...)
					b = appendJSONString(b, c.args[off:min(off+toolArgFragment, len(c.args))])
					b = append(b, `"}}`+"\n\n"...)
					st.buf = b
					if !st.send(b) {
						return
					}
				}
				if !sendBlockStop(st, block) {
					return
				}
				block++
			}
		} else if o.visible > 0 {
			b := appendAnthropicEvent(st.buf[:0], "content_block_start")
			b = append(b, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`+"\n\n"...)
			st.buf = b
			if !st.send(b) || !st.send(anthropicPing) {
				return
			}
			for i := 0; i < o.visible; i++ {
				if i > 0 && !st.pause(st.p.gap, true) {
					return
				}
				b := appendAnthropicEvent(st.buf[:0], "content_block_delta")
				b = append(b, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`...)
				b = text.appendToken(b, i)
				b = append(b, `"}}`+"\n\n"...)
				st.buf = b
				if !st.send(b) {
					return
				}
				st.served(1)
			}
			if !sendBlockStop(st, 0) {
				return
			}
		}
		st.served(o.u.completion - o.visible)
		b := appendAnthropicEvent(st.buf[:0], "message_delta")
		b = append(b, `{"type":"message_delta","delta":{"stop_reason":"`...)
		b = append(b, anthropicStopReason(o.finish)...)
		b = append(b, `","stop_sequence":null},"usage":{"output_tokens":`...)
		b = appendInt(b, o.u.completion)
		b = append(b, "}}\n\n"...)
		st.buf = b
		if !st.sendUsage(b, o.u) {
			return
		}
		if st.send(anthropicMessageStop) {
			st.complete()
		}
	})
}

var (
	anthropicPing        = []byte("event: ping\ndata: {\"type\":\"ping\"}\n\n")
	anthropicMessageStop = []byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
)

func sendBlockStop(st *stream, index int) bool {
	b := appendAnthropicEvent(st.buf[:0], "content_block_stop")
	b = append(b, `{"type":"content_block_stop","index":`...)
	b = appendInt(b, index)
	b = append(b, "}\n\n"...)
	st.buf = b
	return st.send(b)
}

func (s *Server) anthropicCountTokens(ctx *fasthttp.RequestCtx, pv plan) bool {
	d := anthropic{}
	if len(ctx.Request.Header.Peek("anthropic-version")) == 0 {
		s.fail(ctx, d, badRequest("", "anthropic-version: header is required"))
		return false
	}
	r, e := parseAnthropic(ctx.Request.Body(), true)
	if e.status != 0 {
		s.fail(ctx, d, e)
		return false
	}
	b := append([]byte(nil), `{"input_tokens":`...)
	b = appendInt(b, tokensFor(r.messages)+tokensFor(r.system))
	s.writeJSON(ctx, append(b, '}'))
	return false
}
