package mock

import (
	"bytes"
	"crypto/subtle"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Gemini (Generative Language API) wire protocol:
// POST /v1beta/models/{model}:generateContent and
// POST /v1beta/models/{model}:streamGenerateContent?alt=sse (also under /v1).
//
// Every stream chunk is a whole GenerateContentResponse, framed as
// "data: ...\r\n\r\n" like Google's; the last one carries finishReason, and
// usageMetadata is cumulative in every chunk (the mock counts it as
// reported once, with the last chunk). There is no [DONE]. Without
// alt=sse Google streams a JSON array; the mock answers that with 400 so a
// client that forgets alt=sse finds out. Function calls carry no id, as in
// Gemini. Reasoning tokens are reported as thoughtsTokenCount and cached
// ones as cachedContentTokenCount.

type gemini struct{}

var _ dialect = gemini{}

// authorized accepts the key as x-goog-api-key, as ?key=, or as a Bearer
// token.
func (gemini) authorized(ctx *fasthttp.RequestCtx, key string) bool {
	k := ctx.Request.Header.Peek("x-goog-api-key")
	if len(k) == 0 {
		k = ctx.QueryArgs().Peek("key")
	}
	if len(k) > 0 {
		return subtle.ConstantTimeCompare(k, []byte(key)) == 1
	}
	return openAI{}.authorized(ctx, key)
}

func geminiStatus(status int) string {
	switch status {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

func (gemini) appendError(dst []byte, e apiError) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = appendInt(dst, e.status)
	dst = append(dst, `,"message":"`...)
	dst = appendJSONString(dst, []byte(e.msg))
	dst = append(dst, `","status":"`...)
	dst = append(dst, geminiStatus(e.status)...)
	return append(dst, `"}}`...)
}

func (gemini) appendStreamError(dst []byte) []byte {
	return append(dst, `data: {"error":{"code":500,"message":"An internal error has occurred (injected by mock).","status":"INTERNAL"}}`+"\r\n\r\n"...)
}

func (gemini) appendMalformed(dst []byte) []byte {
	return append(dst, `data: {"candidates":[{"content":{"parts":[{"text":"trunc`+"\r\n\r\n"...)
}

// geminiRequest is what the mock reads from a generateContent request.
type geminiRequest struct {
	contents  []byte
	system    []byte
	maxTokens int // -1: not given
	freshTurn bool
	nTools    int
	toolNames [maxToolNames][]byte
}

func parseGemini(body []byte) (r geminiRequest, e apiError) {
	r.maxTokens = -1
	if i := skipSpace(body, 0); !validJSON(body) || body[i] != '{' {
		return r, badRequest("", "Invalid JSON payload received.")
	}
	it := objIter{b: body}
	for {
		k, v, ok := it.next()
		if !ok {
			break
		}
		switch string(k) {
		case "contents":
			if v[0] != '[' {
				return r, badRequest("", `Invalid value at 'contents', expected a list.`)
			}
			r.contents = v
			ai := arrIter{b: v}
			var last []byte
			for {
				c, ok := ai.next()
				if !ok {
					break
				}
				last = c
			}
			if last != nil && last[0] == '{' {
				role, hasRole := objectField(last, "role")
				parts, _ := objectField(last, "parts")
				r.freshTurn = (!hasRole || string(role) == `"user"`) && !bytes.Contains(parts, []byte(`"functionResponse"`))
			}
		case "systemInstruction", "system_instruction":
			r.system = v
		case "generationConfig", "generation_config":
			if v[0] != '{' {
				return r, badRequest("", `Invalid value at 'generation_config', expected an object.`)
			}
			for _, name := range []string{"maxOutputTokens", "max_output_tokens"} {
				if mv, ok := objectField(v, name); ok && !isNull(mv) {
					m, ok := jsonInt(mv)
					if !ok || m < 1 {
						return r, badRequest("", "Invalid value at 'generation_config.max_output_tokens': expected a positive integer.")
					}
					r.maxTokens = m
				}
			}
			if cv, ok := objectField(v, "candidateCount"); ok {
				if n, ok := jsonInt(cv); !ok || n != 1 {
					return r, badRequest("", "The mock supports only candidateCount 1.")
				}
			}
		case "tools":
			if v[0] != '[' {
				return r, badRequest("", `Invalid value at 'tools', expected a list.`)
			}
			ai := arrIter{b: v}
			for {
				t, ok := ai.next()
				if !ok {
					break
				}
				if t[0] != '{' {
					continue
				}
				decls, ok := objectField(t, "functionDeclarations")
				if !ok {
					decls, ok = objectField(t, "function_declarations")
				}
				if !ok || decls[0] != '[' {
					continue
				}
				di := arrIter{b: decls}
				for {
					dv, ok := di.next()
					if !ok {
						break
					}
					var name []byte
					if dv[0] == '{' {
						if nv, ok := objectField(dv, "name"); ok {
							name, _ = jsonStringRaw(nv)
						}
					}
					if len(name) == 0 {
						return r, badRequest("", "* GenerateContentRequest.tools[0].function_declarations["+strconv.Itoa(r.nTools)+"].name: Name cannot be empty.")
					}
					if r.nTools < maxToolNames {
						r.toolNames[r.nTools] = name
					}
					r.nTools++
				}
			}
		}
	}
	if r.contents == nil || len(bytes.TrimSpace(r.contents[1:len(r.contents)-1])) == 0 {
		return r, badRequest("", "* GenerateContentRequest.contents: contents is not specified")
	}
	return r, apiError{}
}

// geminiModelFromPath splits "/v1beta/models/{model}:{method}".
func geminiModelFromPath(path []byte) (model, method []byte, ok bool) {
	i := bytes.Index(path, []byte("/models/"))
	if i < 0 {
		return nil, nil, false
	}
	rest := path[i+len("/models/"):]
	j := bytes.LastIndexByte(rest, ':')
	if j <= 0 {
		return nil, nil, false
	}
	return rest[:j], rest[j+1:], true
}

func appendGeminiUsage(dst []byte, u usage, candidates int) []byte {
	dst = append(dst, `"usageMetadata":{"promptTokenCount":`...)
	dst = appendInt(dst, u.prompt)
	dst = append(dst, `,"candidatesTokenCount":`...)
	dst = appendInt(dst, candidates)
	dst = append(dst, `,"totalTokenCount":`...)
	dst = appendInt(dst, u.prompt+candidates+u.reasoning)
	if u.cached > 0 {
		dst = append(dst, `,"cachedContentTokenCount":`...)
		dst = appendInt(dst, u.cached)
	}
	if u.reasoning > 0 {
		dst = append(dst, `,"thoughtsTokenCount":`...)
		dst = appendInt(dst, u.reasoning)
	}
	dst = append(dst, `,"promptTokensDetails":[{"modality":"TEXT","tokenCount":`...)
	dst = appendInt(dst, u.prompt)
	return append(dst, `}]}`...)
}

func geminiFinish(finish string) string {
	if finish == "length" {
		return "MAX_TOKENS"
	}
	return "STOP"
}

// appendFunctionCallParts appends the parts of calls.
func appendFunctionCallParts(dst []byte, calls []toolCall) []byte {
	for i, c := range calls {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"functionCall":{"name":"`...)
		dst = append(dst, c.name...)
		dst = append(dst, `","args":`...)
		dst = append(dst, c.args...)
		dst = append(dst, `}}`...)
	}
	return dst
}

func (s *Server) geminiGenerate(ctx *fasthttp.RequestCtx, pv plan) bool {
	p := &pv
	d := gemini{}
	model, method, _ := geminiModelFromPath(ctx.Path())
	streaming := string(method) == "streamGenerateContent"
	if !streaming && string(method) != "generateContent" {
		s.fail(ctx, d, apiError{status: 404, msg: "Method " + string(method) + " is not served by the mock."})
		return false
	}
	if streaming && string(ctx.QueryArgs().Peek("alt")) != "sse" {
		s.fail(ctx, d, badRequest("", "mock: streamGenerateContent is served only with alt=sse (without it Google streams a JSON array)."))
		return false
	}
	r, e := parseGemini(ctx.Request.Body())
	if e.status != 0 {
		s.fail(ctx, d, e)
		return false
	}
	prompt := tokensFor(r.contents) + tokensFor(r.system)
	if e := contextCheck(p, prompt, r.maxTokens); e.status != 0 {
		e.msg = "The input token count (" + strconv.Itoa(prompt) + ") exceeds the maximum number of tokens allowed (" + strconv.Itoa(p.cfg.ContextLength) + ")."
		s.fail(ctx, d, e)
		return false
	}
	var calls []toolCall
	if p.toolCalls > 0 && r.nTools > 0 && r.freshTurn {
		calls = makeToolCalls(p.toolCalls, r.toolNames[:min(r.nTools, maxToolNames)])
	}
	o := computeOutcome(p, prompt, r.maxTokens)
	candidates := o.visible
	if calls != nil {
		o.visible = 0
		o.finish = "stop" // Gemini ends a function-call turn with STOP
		candidates = toolTokens(calls)
		o.u.completion = candidates + o.u.reasoning
	}
	if p.resetAfter > 0 && !streaming {
		s.resetNow(ctx)
		return false
	}
	// The model in the path is URL text; the echo is escaped as JSON.
	modelJSON := appendJSONString(nil, model)
	responseID := appendID(nil, 22)
	text := newTextGen(p.responseBytes, p.tokens)
	if streaming {
		return s.geminiStream(ctx, p, modelJSON, responseID, o, candidates, calls, text)
	}
	if !s.waitBeforeResponse(ctx, d, p) {
		return false
	}
	bp := s.getBuf()
	b := append((*bp)[:0], `{"candidates":[{"content":{"parts":[`...)
	if calls != nil {
		b = appendFunctionCallParts(b, calls)
	} else {
		b = append(b, `{"text":"`...)
		b = text.appendText(b, o.visible)
		b = append(b, `"}`...)
	}
	b = append(b, `],"role":"model"},"finishReason":"`...)
	b = append(b, geminiFinish(o.finish)...)
	b = append(b, `","index":0}],`...)
	b = appendGeminiUsage(b, o.u, candidates)
	b = append(b, `,"modelVersion":"`...)
	b = appendModelOverride(b, p, modelJSON)
	b = append(b, `","responseId":"`...)
	b = append(b, responseID...)
	b = append(b, `"}`...)
	s.writeJSON(ctx, b)
	*bp = b
	s.putBuf(bp)
	s.c.promptTokens.Add(uint64(o.u.prompt))
	s.c.completionTokens.Add(uint64(o.u.completion))
	s.c.reported(o.u)
	return false
}

// appendModelOverride appends the override if any, else the escaped model.
func appendModelOverride(dst []byte, p *plan, escaped []byte) []byte {
	if p.model != "" {
		return appendJSONString(dst, p.model)
	}
	return append(dst, escaped...)
}

func (s *Server) geminiStream(ctx *fasthttp.RequestCtx, p *plan, modelJSON, responseID []byte, o outcome,
	candidates int, calls []toolCall, text textGen) bool {
	// The tail every chunk shares after usageMetadata.
	tail := append([]byte(nil), `,"modelVersion":"`...)
	tail = appendModelOverride(tail, p, modelJSON)
	tail = append(tail, `","responseId":"`...)
	tail = append(tail, responseID...)
	tail = append(tail, "\"}\r\n\r\n"...)
	s.c.promptTokens.Add(uint64(o.u.prompt))
	return s.startStream(ctx, gemini{}, p, func(st *stream) {
		if !st.pause(st.p.ttft, true) {
			return
		}
		if calls != nil {
			// Gemini sends function calls whole, in one final chunk.
			b := append(st.buf[:0], geminiChunkHead...)
			b = appendFunctionCallParts(b, calls)
			b = appendGeminiChunkTail(b, o, true, candidates, tail)
			st.buf = b
			st.served(o.u.completion)
			if st.sendUsage(b, o.u) {
				st.complete()
			}
			return
		}
		// One chunk per token; the last token's chunk carries finishReason
		// and the full usage (an empty text part when there is no token).
		n := max(o.visible, 1)
		for i := 0; i < n; i++ {
			if i > 0 && !st.pause(st.p.gap, true) {
				return
			}
			final := i == n-1
			b := append(st.buf[:0], geminiChunkHead...)
			b = append(b, `{"text":"`...)
			if o.visible > 0 {
				b = text.appendToken(b, i)
			}
			b = append(b, `"}`...)
			b = appendGeminiChunkTail(b, o, final, min(i+1, o.visible), tail)
			st.buf = b
			if !final {
				if !st.send(b) {
					return
				}
				st.served(1)
				continue
			}
			// The final chunk serves its token plus the reasoning tokens.
			st.served(o.u.completion - (n - 1))
			if st.sendUsage(b, o.u) {
				st.complete()
			}
		}
	})
}

const geminiChunkHead = `data: {"candidates":[{"content":{"parts":[`

// appendGeminiChunkTail closes a stream chunk after its parts. Usage is
// cumulative: candidates so far, thoughts only in the final chunk.
func appendGeminiChunkTail(b []byte, o outcome, final bool, cands int, tail []byte) []byte {
	b = append(b, `],"role":"model"}`...)
	if final {
		b = append(b, `,"finishReason":"`...)
		b = append(b, geminiFinish(o.finish)...)
		b = append(b, '"')
	}
	b = append(b, `,"index":0}],`...)
	u := o.u
	if !final {
		u.reasoning = 0
	}
	b = appendGeminiUsage(b, u, cands)
	return append(b, tail...)
}
