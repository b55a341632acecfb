package mock

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"math"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// OpenAI wire protocol: chat completions, legacy completions, embeddings
// and models.

const (
	maxToolCalls     = 64
	maxToolNames     = 16
	maxEmbeddingDims = 1 << 14
	// toolArgFragment is the size of the argument pieces a streamed tool
	// call is cut into.
	toolArgFragment = 6
	fingerprint     = "fp_tollgate_mock"
)

type openAI struct{}

var _ dialect = openAI{}

func (openAI) authorized(ctx *fasthttp.RequestCtx, key string) bool {
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	const bearer = "Bearer "
	if len(h) <= len(bearer) || !equalFoldASCII(h[:len(bearer)], "bearer ") {
		return false
	}
	return subtle.ConstantTimeCompare(h[len(bearer):], []byte(key)) == 1
}

// openAIErrorKind maps a status to OpenAI's error type and default code.
func openAIErrorKind(status int) (typ, code string) {
	switch {
	case status == 401:
		return "invalid_request_error", "invalid_api_key"
	case status == 403:
		return "permission_denied", "permission_denied"
	case status == 404:
		return "invalid_request_error", "model_not_found"
	case status == 429:
		return "requests", "rate_limit_exceeded"
	case status == 503:
		return "server_error", "service_unavailable"
	case status >= 500:
		return "server_error", "server_error"
	default:
		return "invalid_request_error", "invalid_request"
	}
}

func (openAI) appendError(dst []byte, e apiError) []byte {
	typ, code := openAIErrorKind(e.status)
	if e.code != "" {
		code = e.code
	}
	dst = append(dst, `{"error":{"message":"`...)
	dst = appendJSONString(dst, []byte(e.msg))
	dst = append(dst, `","type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","param":`...)
	if e.param == "" {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = append(dst, e.param...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"code":"`...)
	dst = append(dst, code...)
	return append(dst, `"}}`...)
}

func (openAI) appendStreamError(dst []byte) []byte {
	return append(dst, `data: {"error":{"message":"The server had an error while processing your request (injected by mock).","type":"server_error","param":null,"code":"server_error"}}`+"\n\n"...)
}

func (openAI) appendMalformed(dst []byte) []byte {
	return append(dst, `data: {"id":"chatcmpl-malformed","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"trunc`+"\n\n"...)
}

// openAIRequest is what the mock reads from an OpenAI request body. Byte
// slices point into the body.
type openAIRequest struct {
	model                []byte // raw JSON string contents
	stream, includeUsage bool
	hasStreamOptions     bool
	maxTokens            int // -1: not given
	messages             []byte
	lastRole             []byte
	nTools               int
	toolNames            [maxToolNames][]byte
	prompt               []byte // completions
	input                []byte // embeddings
	dims                 int    // embeddings; 0: not given
	base64               bool
}

type endpointKind int

const (
	kindChat endpointKind = iota
	kindCompletions
	kindEmbeddings
)

func badRequest(param, msg string) apiError {
	return apiError{status: 400, param: param, msg: msg}
}

// parseOpenAI reads the fields the mock needs and checks them as OpenAI
// does. A zero status in the error means the request is fine.
func parseOpenAI(body []byte, kind endpointKind) (r openAIRequest, e apiError) {
	r.maxTokens = -1
	n := 1
	if !validJSON(body) || skipSpace(body, 0) >= len(body) || body[skipSpace(body, 0)] != '{' {
		return r, badRequest("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
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
				return r, badRequest("model", "Invalid type for 'model': expected a string.")
			}
			r.model = s
		case "stream":
			switch string(v) {
			case "true":
				r.stream = true
			case "false", "null":
			default:
				return r, badRequest("stream", "Invalid type for 'stream': expected a boolean.")
			}
		case "stream_options":
			if isNull(v) {
				continue
			}
			if v[0] != '{' {
				return r, badRequest("stream_options", "Invalid type for 'stream_options': expected an object.")
			}
			r.hasStreamOptions = true
			if iu, ok := objectField(v, "include_usage"); ok {
				switch string(iu) {
				case "true":
					r.includeUsage = true
				case "false", "null":
				default:
					return r, badRequest("stream_options.include_usage", "Invalid type for 'stream_options.include_usage': expected a boolean.")
				}
			}
		case "max_tokens", "max_completion_tokens":
			if isNull(v) {
				continue
			}
			m, ok := jsonInt(v)
			if !ok {
				return r, badRequest(string(k), "Invalid type for '"+string(k)+"': expected an integer.")
			}
			if m < 1 && !(kind == kindCompletions && m == 0) {
				return r, badRequest(string(k), "Invalid '"+string(k)+"': integer below minimum value. Expected a value >= 1, but got "+strconv.Itoa(m)+" instead.")
			}
			// max_completion_tokens supersedes the deprecated max_tokens.
			if string(k) == "max_completion_tokens" || r.maxTokens < 0 {
				r.maxTokens = m
			}
		case "n":
			if isNull(v) {
				continue
			}
			var ok bool
			if n, ok = jsonInt(v); !ok {
				return r, badRequest("n", "Invalid type for 'n': expected an integer.")
			}
		case "messages":
			if v[0] != '[' {
				return r, badRequest("messages", "Invalid type for 'messages': expected an array.")
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
				if role, ok := objectField(last, "role"); ok {
					r.lastRole, _ = jsonStringRaw(role)
				}
			}
		case "tools":
			if isNull(v) {
				continue
			}
			if v[0] != '[' {
				return r, badRequest("tools", "Invalid type for 'tools': expected an array.")
			}
			ai := arrIter{b: v}
			for {
				t, ok := ai.next()
				if !ok {
					break
				}
				fn, ok := objectField(t, "function")
				var name []byte
				if ok && len(fn) > 0 && fn[0] == '{' {
					if nv, ok := objectField(fn, "name"); ok {
						name, _ = jsonStringRaw(nv)
					}
				}
				if len(name) == 0 {
					return r, badRequest("tools", "Missing required parameter: 'tools["+strconv.Itoa(r.nTools)+"].function.name'.")
				}
				if r.nTools < maxToolNames {
					r.toolNames[r.nTools] = name
				}
				r.nTools++
			}
		case "prompt":
			r.prompt = v
		case "input":
			r.input = v
		case "dimensions":
			if isNull(v) {
				continue
			}
			d, ok := jsonInt(v)
			if !ok || d < 1 || d > maxEmbeddingDims {
				return r, badRequest("dimensions", "Invalid 'dimensions': expected an integer between 1 and "+strconv.Itoa(maxEmbeddingDims)+".")
			}
			r.dims = d
		case "encoding_format":
			switch string(v) {
			case `"float"`, "null":
			case `"base64"`:
				r.base64 = true
			default:
				return r, badRequest("encoding_format", "Invalid 'encoding_format': expected 'float' or 'base64'.")
			}
		}
	}
	if len(r.model) == 0 {
		return r, badRequest("model", "you must provide a model parameter")
	}
	if n < 1 {
		return r, badRequest("n", "Invalid 'n': integer below minimum value. Expected a value >= 1, but got "+strconv.Itoa(n)+" instead.")
	}
	if n > 1 {
		return r, badRequest("n", "The mock supports only n=1.")
	}
	if r.hasStreamOptions && !r.stream {
		return r, badRequest("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
	}
	switch kind {
	case kindChat:
		if r.messages == nil {
			return r, badRequest("messages", "Missing required parameter: 'messages'.")
		}
		if len(bytes.TrimSpace(r.messages[1:len(r.messages)-1])) == 0 {
			return r, badRequest("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
		}
	case kindEmbeddings:
		if r.input == nil {
			return r, badRequest("input", "Missing required parameter: 'input'.")
		}
		if r.stream {
			return r, badRequest("stream", "Embeddings cannot be streamed.")
		}
	}
	return r, apiError{}
}

// tokensFor is the mock's tokenizer: about four bytes a token, rounded up.
func tokensFor(raw []byte) int { return (len(raw) + 3) / 4 }

// outcome is the token arithmetic of one completion.
type outcome struct {
	visible int    // content tokens
	u       usage  // what is reported
	finish  string // "stop", "length" or "tool_calls"
}

func computeOutcome(p *plan, prompt, maxTokens int) outcome {
	o := outcome{visible: p.tokens, finish: "stop"}
	reasoning := p.reasoning
	if maxTokens >= 0 {
		if reasoning > maxTokens {
			reasoning = maxTokens
			o.finish = "length"
		}
		if o.visible > maxTokens-reasoning {
			o.visible = maxTokens - reasoning
			o.finish = "length"
		}
	}
	o.u = usage{prompt: prompt, completion: o.visible + reasoning, cached: min(p.cached, prompt), reasoning: reasoning}
	return o
}

// contextCheck applies Config.ContextLength.
func contextCheck(p *plan, prompt, maxTokens int) apiError {
	limit := p.cfg.ContextLength
	if limit <= 0 {
		return apiError{}
	}
	asked := max(maxTokens, 0)
	if prompt+asked <= limit {
		return apiError{}
	}
	return apiError{status: 400, code: "context_length_exceeded", param: "messages",
		msg: "This model's maximum context length is " + strconv.Itoa(limit) + " tokens. However, you requested " +
			strconv.Itoa(prompt+asked) + " tokens (" + strconv.Itoa(prompt) + " in the messages, " + strconv.Itoa(asked) +
			" in the completion). Please reduce the length of the messages or completion."}
}

// appendModel appends the echoed model name: the override if any, else the
// requested one (already JSON-escaped, as it came).
func appendModel(dst []byte, p *plan, requested []byte) []byte {
	if p.model != "" {
		return appendJSONString(dst, p.model)
	}
	return append(dst, requested...)
}

func appendOpenAIUsage(dst []byte, u usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, u.prompt)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, u.completion)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, u.total())
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = appendInt(dst, u.cached)
	dst = append(dst, `,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = appendInt(dst, u.reasoning)
	return append(dst, `,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// toolCall is one generated call.
type toolCall struct {
	id   []byte
	name []byte
	args []byte // raw JSON text, escaped when written
}

func makeToolCalls(n int, names [][]byte) []toolCall {
	calls := make([]toolCall, n)
	for i := range calls {
		calls[i] = toolCall{
			id:   appendID([]byte("call_"), 24),
			name: bytes.Clone(names[i%len(names)]),
			args: []byte(`{"query":"mock tool call","index":` + strconv.Itoa(i) + `}`),
		}
	}
	return calls
}

// toolTokens is the completion tokens of tool calls: one per streamed
// argument fragment plus one per call for its name.
func toolTokens(calls []toolCall) int {
	n := 0
	for _, c := range calls {
		n += 1 + (len(c.args)+toolArgFragment-1)/toolArgFragment
	}
	return n
}

func (s *Server) openAIChat(ctx *fasthttp.RequestCtx, pv plan) bool {
	p := &pv
	d := openAI{}
	r, e := parseOpenAI(ctx.Request.Body(), kindChat)
	if e.status != 0 {
		s.fail(ctx, d, e)
		return false
	}
	prompt := tokensFor(r.messages)
	if e := contextCheck(p, prompt, r.maxTokens); e.status != 0 {
		s.fail(ctx, d, e)
		return false
	}
	var calls []toolCall
	if p.toolCalls > 0 && r.nTools > 0 && string(r.lastRole) == "user" {
		calls = makeToolCalls(p.toolCalls, r.toolNames[:min(r.nTools, maxToolNames)])
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
		return s.openAIChatStream(ctx, p, &r, o, calls, text)
	}
	if !s.waitBeforeResponse(ctx, d, p) {
		return false
	}
	if p.malformedAfter > 0 {
		// A 200 whose body is not JSON: cut a real one in half.
		b := append([]byte(nil), `{"id":"chatcmpl-malformed","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"trunc`...)
		s.writeJSON(ctx, b)
		return false
	}
	bp := s.getBuf()
	b := append((*bp)[:0], `{"id":"chatcmpl-`...)
	b = appendID(b, 29)
	b = append(b, `","object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, `,"model":"`...)
	b = appendModel(b, p, r.model)
	b = append(b, `","choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if calls != nil {
		b = append(b, `null,"tool_calls":[`...)
		for i, c := range calls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":"`...)
			b = append(b, c.id...)
			b = append(b, `","type":"function","function":{"name":"`...)
			b = append(b, c.name...)
			b = append(b, `","arguments":"`...)
			b = appendJSONString(b, c.args)
			b = append(b, `"}}`...)
		}
		b = append(b, ']')
	} else {
		b = append(b, '"')
		b = text.appendText(b, o.visible)
		b = append(b, '"')
	}
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"`...)
	b = append(b, o.finish...)
	b = append(b, `"}],"usage":`...)
	b = appendOpenAIUsage(b, o.u)
	b = append(b, `,"service_tier":"default","system_fingerprint":"`+fingerprint+`"}`...)
	s.writeJSON(ctx, b)
	*bp = b
	s.putBuf(bp)
	s.c.promptTokens.Add(uint64(o.u.prompt))
	s.c.completionTokens.Add(uint64(o.u.completion))
	s.c.reported(o.u)
	return false
}

// chunkFrame holds the constant parts of one stream's chunks.
type chunkFrame struct {
	prefix []byte // `data: {...,"choices":[`
	suffix []byte // `]}` + "\n\n", with `,"usage":null` when usage is requested
}

func newChunkFrame(idPrefix, object string, p *plan, model []byte, usageNull bool) chunkFrame {
	pre := make([]byte, 0, 256)
	pre = append(pre, `data: {"id":"`...)
	pre = append(pre, idPrefix...)
	pre = appendID(pre, 29)
	pre = append(pre, `","object":"`...)
	pre = append(pre, object...)
	pre = append(pre, `","created":`...)
	pre = strconv.AppendInt(pre, time.Now().Unix(), 10)
	pre = append(pre, `,"model":"`...)
	pre = appendModel(pre, p, model)
	if object == "chat.completion.chunk" {
		pre = append(pre, `","service_tier":"default`...)
	}
	pre = append(pre, `","system_fingerprint":"`+fingerprint+`","choices":[`...)
	f := chunkFrame{prefix: pre, suffix: []byte("]}\n\n")}
	if usageNull {
		f.suffix = []byte(`],"usage":null}` + "\n\n")
	}
	return f
}

func (f *chunkFrame) usageChunk(dst []byte, u usage) []byte {
	dst = append(dst, f.prefix...)
	dst = append(dst, `],"usage":`...)
	dst = appendOpenAIUsage(dst, u)
	return append(dst, "}\n\n"...)
}

var doneEvent = []byte("data: [DONE]\n\n")

func (s *Server) openAIChatStream(ctx *fasthttp.RequestCtx, p *plan, r *openAIRequest, o outcome, calls []toolCall, text textGen) bool {
	wantUsage := r.includeUsage || p.alwaysUsage
	// OpenAI adds "usage":null to every chunk when usage was requested.
	f := newChunkFrame("chatcmpl-", "chat.completion.chunk", p, r.model, r.includeUsage)
	inLast := p.usageInLast
	s.c.promptTokens.Add(uint64(o.u.prompt))
	return s.startStream(ctx, openAI{}, p, func(st *stream) {
		if st.p.roleAfterTTFT && !st.pause(st.p.ttft, true) {
			return
		}
		b := append(st.buf[:0], f.prefix...)
		if calls != nil {
			b = append(b, `{"index":0,"delta":{"role":"assistant","content":null,"refusal":null},"logprobs":null,"finish_reason":null}`...)
		} else {
			b = append(b, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`...)
		}
		b = append(b, f.suffix...)
		st.buf = b
		if !st.send(b) {
			return
		}
		if !st.p.roleAfterTTFT && !st.pause(st.p.ttft, true) {
			return
		}
		if calls != nil {
			if !sendToolCallChunks(st, &f, calls) {
				return
			}
		} else {
			for i := 0; i < o.visible; i++ {
				if i > 0 && !st.pause(st.p.gap, true) {
					return
				}
				b := append(st.buf[:0], f.prefix...)
				b = append(b, `{"index":0,"delta":{"content":"`...)
				b = text.appendToken(b, i)
				b = append(b, `"},"logprobs":null,"finish_reason":null}`...)
				b = append(b, f.suffix...)
				st.buf = b
				if !st.send(b) {
					return
				}
				st.served(1)
			}
		}
		// Reasoning and tool-call tokens count once the content is out.
		st.served(o.u.completion - o.visible)
		b = append(st.buf[:0], f.prefix...)
		b = append(b, `{"index":0,"delta":{},"logprobs":null,"finish_reason":"`...)
		b = append(b, o.finish...)
		b = append(b, `"}`...)
		if wantUsage && inLast {
			b = append(b, `],"usage":`...)
			b = appendOpenAIUsage(b, o.u)
			b = append(b, "}\n\n"...)
			st.buf = b
			if !st.sendUsage(b, o.u) {
				return
			}
		} else {
			b = append(b, f.suffix...)
			st.buf = b
			if !st.send(b) {
				return
			}
			if wantUsage {
				b = f.usageChunk(st.buf[:0], o.u)
				st.buf = b
				if !st.sendUsage(b, o.u) {
					return
				}
			}
		}
		if st.send(doneEvent) {
			st.complete()
		}
	})
}

// sendToolCallChunks streams calls the way OpenAI does: the first delta of
// each call carries its id, type and name with empty arguments, then the
// arguments come in fragments.
func sendToolCallChunks(st *stream, f *chunkFrame, calls []toolCall) bool {
	first := true
	for i, c := range calls {
		b := append(st.buf[:0], f.prefix...)
		b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":`...)
		b = appendInt(b, i)
		b = append(b, `,"id":"`...)
		b = append(b, c.id...)
		b = append(b, `","type":"function","function":{"name":"`...)
		b = append(b, c.name...)
		b = append(b, `","arguments":""}}]},"logprobs":null,"finish_reason":null}`...)
		b = append(b, f.suffix...)
		st.buf = b
		if !first && !st.pause(st.p.gap, true) {
			return false
		}
		first = false
		if !st.send(b) {
			return false
		}
		for off := 0; off < len(c.args); off += toolArgFragment {
			if !st.pause(st.p.gap, true) {
				return false
			}
			frag := c.args[off:min(off+toolArgFragment, len(c.args))]
			b := append(st.buf[:0], f.prefix...)
			b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":`...)
			b = appendInt(b, i)
			b = append(b, `,"function":{"arguments":"`...)
			b = appendJSONString(b, frag)
			b = append(b, `"}}]},"logprobs":null,"finish_reason":null}`...)
			b = append(b, f.suffix...)
			st.buf = b
			if !st.send(b) {
				return false
			}
		}
	}
	return true
}

func (s *Server) openAICompletions(ctx *fasthttp.RequestCtx, pv plan) bool {
	p := &pv
	d := openAI{}
	r, e := parseOpenAI(ctx.Request.Body(), kindCompletions)
	if e.status != 0 {
		s.fail(ctx, d, e)
		return false
	}
	prompt := tokensFor(r.prompt)
	if e := contextCheck(p, prompt, r.maxTokens); e.status != 0 {
		e.param = "prompt"
		s.fail(ctx, d, e)
		return false
	}
	o := computeOutcome(p, prompt, r.maxTokens)
	if p.resetAfter > 0 && !r.stream {
		s.resetNow(ctx)
		return false
	}
	text := newTextGen(p.responseBytes, p.tokens)
	if r.stream {
		wantUsage := r.includeUsage || p.alwaysUsage
		f := newChunkFrame("cmpl-", "text_completion", p, r.model, false)
		inLast := p.usageInLast
		s.c.promptTokens.Add(uint64(o.u.prompt))
		return s.startStream(ctx, d, p, func(st *stream) {
			if !st.pause(st.p.ttft, true) {
				return
			}
			for i := 0; i < o.visible; i++ {
				if i > 0 && !st.pause(st.p.gap, true) {
					return
				}
				b := append(st.buf[:0], f.prefix...)
				b = append(b, `{"text":"`...)
				b = text.appendToken(b, i)
				b = append(b, `","index":0,"logprobs":null,"finish_reason":null}`...)
				b = append(b, f.suffix...)
				st.buf = b
				if !st.send(b) {
					return
				}
				st.served(1)
			}
			st.served(o.u.completion - o.visible)
			b := append(st.buf[:0], f.prefix...)
			b = append(b, `{"text":"","index":0,"logprobs":null,"finish_reason":"`...)
			b = append(b, o.finish...)
			b = append(b, `"}`...)
			if wantUsage && inLast {
				b = append(b, `],"usage":`...)
				b = appendCompletionsUsage(b, o.u)
				b = append(b, "}\n\n"...)
				st.buf = b
				if !st.sendUsage(b, o.u) {
					return
				}
			} else {
				b = append(b, f.suffix...)
				st.buf = b
				if !st.send(b) {
					return
				}
				if wantUsage {
					b = append(st.buf[:0], f.prefix...)
					b = append(b, `],"usage":`...)
					b = appendCompletionsUsage(b, o.u)
					b = append(b, "}\n\n"...)
					st.buf = b
					if !st.sendUsage(b, o.u) {
						return
					}
				}
			}
			if st.send(doneEvent) {
				st.complete()
			}
		})
	}
	if !s.waitBeforeResponse(ctx, d, p) {
		return false
	}
	bp := s.getBuf()
	b := append((*bp)[:0], `{"id":"cmpl-`...)
	b = appendID(b, 29)
	b = append(b, `","object":"text_completion","created":`...)
	b = strconv.AppendInt(b, time.Now().Unix(), 10)
	b = append(b, `,"model":"`...)
	b = appendModel(b, p, r.model)
	b = append(b, `","choices":[{"text":"`...)
	b = text.appendText(b, o.visible)
	b = append(b, `","index":0,"logprobs":null,"finish_reason":"`...)
	b = append(b, o.finish...)
	b = append(b, `"}],"usage":`...)
	b = appendCompletionsUsage(b, o.u)
	b = append(b, `,"system_fingerprint":"`+fingerprint+`"}`...)
	s.writeJSON(ctx, b)
	*bp = b
	s.putBuf(bp)
	s.c.promptTokens.Add(uint64(o.u.prompt))
	s.c.completionTokens.Add(uint64(o.u.completion))
	s.c.reported(o.u)
	return false
}

// appendCompletionsUsage renders the legacy usage object, which has only
// the three totals (plus reasoning details when there are any).
func appendCompletionsUsage(dst []byte, u usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = appendInt(dst, u.prompt)
	dst = append(dst, `,"completion_tokens":`...)
	dst = appendInt(dst, u.completion)
	dst = append(dst, `,"total_tokens":`...)
	dst = appendInt(dst, u.total())
	if u.cached > 0 {
		dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
		dst = appendInt(dst, u.cached)
		dst = append(dst, '}')
	}
	if u.reasoning > 0 {
		dst = append(dst, `,"completion_tokens_details":{"reasoning_tokens":`...)
		dst = appendInt(dst, u.reasoning)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// embeddingKey selects a rendered vector.
type embeddingKey struct {
	dims   int
	base64 bool
}

// embedding returns the vector every input gets: deterministic, unit
// length, rendered once per size and encoding.
func (s *Server) embedding(k embeddingKey) []byte {
	if v, ok := s.emb.Load(k); ok {
		return v.([]byte)
	}
	vals := make([]float32, k.dims)
	var norm float64
	for i := range vals {
		x := math.Sin(float64(i)*0.7 + 1)
		vals[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	var out []byte
	if k.base64 {
		raw := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(float64(v)/norm)))
		}
		out = append(append([]byte{'"'}, base64.StdEncoding.EncodeToString(raw)...), '"')
	} else {
		out = append(out, '[')
		for i, v := range vals {
			if i > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendFloat(out, float64(float32(float64(v)/norm)), 'g', -1, 32)
		}
		out = append(out, ']')
	}
	v, _ := s.emb.LoadOrStore(k, out)
	return v.([]byte)
}

// embeddingInputs counts the inputs: a string or an array of token ids is
// one; otherwise one per array element.
func embeddingInputs(input []byte) (int, apiError) {
	bad := badRequest("input", "Invalid 'input': expected a non-empty string, array of strings, array of integers or array of arrays of integers.")
	switch input[0] {
	case '"':
		if len(input) == 2 {
			return 0, bad
		}
		return 1, apiError{}
	case '[':
		it := arrIter{b: input}
		n := 0
		for {
			v, ok := it.next()
			if !ok {
				break
			}
			if n == 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
				return 1, apiError{}
			}
			if v[0] != '"' && v[0] != '[' {
				return 0, bad
			}
			n++
		}
		if n == 0 {
			return 0, bad
		}
		return n, apiError{}
	}
	return 0, bad
}

func (s *Server) openAIEmbeddings(ctx *fasthttp.RequestCtx, pv plan) bool {
	p := &pv
	d := openAI{}
	r, e := parseOpenAI(ctx.Request.Body(), kindEmbeddings)
	if e.status != 0 {
		s.fail(ctx, d, e)
		return false
	}
	n, e := embeddingInputs(r.input)
	if e.status != 0 {
		s.fail(ctx, d, e)
		return false
	}
	prompt := tokensFor(r.input)
	if e := contextCheck(p, prompt, 0); e.status != 0 {
		e.param = "input"
		s.fail(ctx, d, e)
		return false
	}
	if p.resetAfter > 0 {
		s.resetNow(ctx)
		return false
	}
	if !s.waitBeforeResponse(ctx, d, p) {
		return false
	}
	dims := r.dims
	if dims == 0 {
		dims = p.cfg.EmbeddingDims
	}
	vec := s.embedding(embeddingKey{dims: dims, base64: r.base64})
	bp := s.getBuf()
	b := append((*bp)[:0], `{"object":"list","data":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = appendInt(b, i)
		b = append(b, `,"embedding":`...)
		b = append(b, vec...)
		b = append(b, '}')
	}
	b = append(b, `],"model":"`...)
	b = appendModel(b, p, r.model)
	b = append(b, `","usage":{"prompt_tokens":`...)
	b = appendInt(b, prompt)
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, prompt)
	b = append(b, `}}`...)
	s.writeJSON(ctx, b)
	*bp = b
	s.putBuf(bp)
	s.c.promptTokens.Add(uint64(prompt))
	s.c.reported(usage{prompt: prompt})
	return false
}

// modelsCreated is the fixed "created" of listed models.
const modelsCreated = 1700000000

func appendModelObject(dst []byte, id string) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendJSONString(dst, []byte(id))
	dst = append(dst, `","object":"model","created":`...)
	dst = appendInt(dst, modelsCreated)
	return append(dst, `,"owned_by":"tollgate-mock"}`...)
}

func (s *Server) openAIModels(ctx *fasthttp.RequestCtx, pv plan) bool {
	p := &pv
	path := ctx.Path()
	i := bytes.Index(path, []byte("/models/"))
	if i >= 0 {
		id := string(path[i+len("/models/"):])
		for _, m := range p.cfg.Models {
			if m == id {
				s.writeJSON(ctx, appendModelObject(nil, m))
				return false
			}
		}
		s.fail(ctx, openAI{}, apiError{status: 404, code: "model_not_found", param: "model",
			msg: "The model '" + id + "' does not exist or you do not have access to it."})
		return false
	}
	b := append([]byte(nil), `{"object":"list","data":[`...)
	for i, m := range p.cfg.Models {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModelObject(b, m)
	}
	b = append(b, "]}"...)
	s.writeJSON(ctx, b)
	return false
}
