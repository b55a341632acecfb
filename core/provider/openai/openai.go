// Package openai is the OpenAI Chat Completions wire protocol: the
// pass-through adapter for OpenAI and every vendor that speaks its dialect
// (Groq, Together, Fireworks, DeepInfra, Mistral, DeepSeek, xAI, OpenRouter,
// vLLM, Ollama, llama.cpp…). Vendor differences are provider.Quirks.
//
// Requests go upstream as the client's bytes with only "model" replaced
// (and OpenRouter-only fields dropped, stream usage requested). Responses
// are rewritten member by member, never re-encoded: Tollgate's id,
// provider and model go in, usage is replaced by one with cost, finish
// reasons are normalised beside the native value.
package openai

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/routing"
)

// Adapter implements provider.Adapter for the OpenAI protocol.
type Adapter struct{}

var _ provider.Adapter = Adapter{}

var hdrAuthorization = []byte(fasthttp.HeaderAuthorization)

// WriteChat builds the upstream request: POST {base}/chat/completions.
func (Adapter) WriteChat(req *fasthttp.Request, c *provider.Call) error {
	u := c.Upstream
	c.Scratch = u.Client.URL(c.Scratch[:0], c.Path())
	provider.StartRequest(req, c, c.Scratch)
	if u.APIKey != "" {
		c.Scratch = append(c.Scratch[:0], "Bearer "...)
		c.Scratch = append(c.Scratch, u.APIKey...)
		req.Header.SetCanonical(hdrAuthorization, c.Scratch)
	}
	u.ApplyHeaders(req)
	opts := peek.ForwardOptions{
		Model:           c.Endpoint.UpstreamModelID(),
		StripExtensions: !u.Quirks.KeepExtensions,
		IncludeUsage:    c.Stream && !u.Quirks.NoStreamOptions && !c.Chat.IncludeUsage,
	}
	if u.Quirks.MistralToolIDs {
		opts.Messages = appendMistralMessages
	}
	c.Scratch = peek.AppendForward(c.Scratch[:0], c.Body, c.Chat, &opts)
	if opts.StripExtensions {
		// OpenRouter's "reasoning" object is an extension a strict upstream
		// rejects; OpenAI's own knob is "reasoning_effort".
		if eff := reasoningEffort(c.Chat.Reasoning); eff != "" && !hasMember(c.Body, c.Chat, "reasoning_effort") {
			c.Scratch = append(c.Scratch[:len(c.Scratch)-1], `,"reasoning_effort":"`...)
			c.Scratch = append(c.Scratch, eff...)
			c.Scratch = append(c.Scratch, `"}`...)
		}
	}
	req.SetBodyRaw(c.Scratch) // no copy: see Call.Scratch
	return nil
}

// reasoningEffort maps OpenRouter's reasoning object to OpenAI's
// reasoning_effort: "effort" as given (xhigh/max → high); "medium" when
// reasoning is on without an effort ({"enabled": true}, a token budget,
// {"exclude": true}); "" when it is off ({"enabled": false}, {}) or absent.
func reasoningEffort(raw []byte) string {
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	eff, members, disabled := "", 0, false
	_, _ = peek.MembersAt(raw, 0, func(m peek.Member) error {
		members++
		switch string(peek.Key(m.Key)) {
		case "effort":
			if v, err := peek.String(m.Value); err == nil {
				eff = strings.ToLower(string(v))
			}
		case "enabled":
			if on, err := peek.Bool(m.Value); err == nil && !on {
				disabled = true
			}
		}
		return nil
	})
	switch {
	case disabled || members == 0:
		return ""
	case eff == "xhigh" || eff == "max":
		return "high"
	case eff == "minimal" || eff == "low" || eff == "medium" || eff == "high" || eff == "none":
		return eff
	}
	return "medium"
}

// hasMember reports whether the client's body has a top-level key.
func hasMember(body []byte, c *peek.Chat, key string) bool {
	for i := 0; i < c.NMembers; i++ {
		sp := c.Members[i]
		if peek.KeyIs(peek.MemberKey(body[sp.Start:sp.End]), key) {
			return true
		}
	}
	return false
}

// ReadChat rewrites a chat.completion body for the client.
func (a Adapter) ReadChat(dst, body []byte, c *provider.Call) ([]byte, *provider.Result, error) {
	res := &provider.Result{}
	dst = provider.AppendHead(dst, c)
	dst, _, err := rewriteMembers(dst, body, c, res, false)
	if err != nil {
		return dst, res, err
	}
	finishUsage(res, c)
	dst = append(dst, `,"usage":`...)
	dst = provider.AppendUsage(dst, &res.Usage, c.Endpoint.Pricing.Cost(res.Usage))
	dst = append(dst, '}')
	res.Done = true
	return dst, res, nil
}

// finishUsage fills an estimate when the upstream reported no usage.
func finishUsage(res *provider.Result, c *provider.Call) {
	if res.HaveUsage {
		return
	}
	res.Usage.PromptTokens = provider.EstimateTokens(len(c.Chat.Messages) + len(c.Chat.Prompt))
	res.Usage.CompletionTokens = provider.EstimateTokens(res.OutputBytes)
}

// rewriteMembers appends the members of obj that pass through, after a
// head already written by the caller (so each starts with a comma). It
// returns the number of choices (an absent list counts as zero and is
// written as "choices":[] because some SDKs require the field).
//
// This walk validates the whole body (peek.Members), so the walks below
// it, over values it has validated, cannot fail.
func rewriteMembers(dst, obj []byte, c *provider.Call, res *provider.Result, stream bool) ([]byte, int, error) {
	sawChoices := false
	nChoices := 0
	err := peek.Members(obj, func(m peek.Member) error {
		switch string(peek.Key(m.Key)) {
		case "id", "object", "created", "model", "provider":
			return nil
		case "usage":
			if !peek.IsNull(m.Value) {
				parseUsage(m.Value, &res.Usage)
				res.HaveUsage = true
			}
			return nil
		case "error":
			if !peek.IsNull(m.Value) {
				res.Err = inBandError(m.Value)
			}
			return nil
		case "choices":
			sawChoices = true
			dst = append(dst, `,"choices":`...)
			var err error
			dst, nChoices, err = rewriteChoices(dst, m.Value, c, res, stream)
			return err
		}
		dst = append(dst, ',')
		dst = append(dst, obj[m.Start:m.End]...)
		return nil
	})
	if err != nil {
		return dst, 0, err
	}
	if !sawChoices && c.Kind != peek.KindEmbedding {
		dst = append(dst, `,"choices":[]`...)
	}
	return dst, nChoices, nil
}

// rewriteChoices rewrites the choices array v, which the caller's walk
// has validated. Each choice is delimited by the same walk that rewrites
// it: peek.Elements followed by peek.MembersAt scanned every choice (and
// its whole message text) twice, on top of the validating walk.
func rewriteChoices(dst, v []byte, c *provider.Call, res *provider.Result, stream bool) ([]byte, int, error) {
	if len(v) == 0 || v[0] != '[' {
		return append(dst, "[]"...), 0, nil
	}
	dst = append(dst, '[')
	n := 0
	for i := peek.SkipSpace(v, 1); i < len(v) && v[i] != ']'; {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		var end int
		var err error
		if v[i] == '{' {
			dst, end, err = rewriteChoice(dst, v, i, c, res, stream)
		} else {
			end, err = peek.SkipValue(v, i)
			dst = append(dst, v[i:end]...)
		}
		if err != nil { // cannot happen on a validated array
			return append(dst, ']'), n, err
		}
		if i = peek.SkipSpace(v, end); i >= len(v) || v[i] != ',' {
			break // at the closing ']'
		}
		i = peek.SkipSpace(v, i+1)
	}
	return append(dst, ']'), n, nil
}

// rewriteChoice appends the choice object that starts at v[i] and returns
// the offset just past it in v.
func rewriteChoice(dst, v []byte, i int, c *provider.Call, res *provider.Result, stream bool) ([]byte, int, error) {
	// Every member is written after a comma, like the top-level ones; the
	// first comma is turned into the opening brace at the end.
	open := len(dst)
	end, err := peek.MembersAt(v, i, func(m peek.Member) error {
		switch string(peek.Key(m.Key)) {
		case "native_finish_reason":
			return nil // ours is written beside finish_reason
		case "finish_reason":
			dst = appendFinish(dst, m.Value, res, stream)
			return nil
		case "delta", "message", "text":
			res.Started = true
			res.OutputBytes += contentBytes(m.Value)
			if c.Upstream.Quirks.ReasoningContent && bytes.Contains(m.Value, []byte(`"reasoning_content"`)) {
				dst = append(dst, ',')
				dst = append(dst, v[m.Start:m.End-len(m.Value)]...)
				dst = renameKey(dst, m.Value, "reasoning_content", "reasoning")
				return nil
			}
		}
		dst = append(dst, ',')
		dst = append(dst, v[m.Start:m.End]...)
		return nil
	})
	if len(dst) == open {
		dst = append(dst, '{')
	} else {
		dst[open] = '{'
	}
	return append(dst, '}'), end, err
}

// appendFinish appends a choice's finish_reason, normalised, with the
// upstream's own value beside it as native_finish_reason (after a comma).
func appendFinish(dst, v []byte, res *provider.Result, stream bool) []byte {
	// Ollama and SGLang stream "" on every unfinished chunk; normalised
	// to "stop" it ended the stream for clients.
	if peek.IsNull(v) || (stream && string(v) == `""`) {
		return append(dst, `,"finish_reason":null`...)
	}
	native, err := peek.String(v)
	if err != nil {
		native = bytes.Trim(v, `"`)
	}
	res.Native = finishString(native)
	res.Finish = provider.NormalizeFinish(res.Native)
	dst = append(dst, `,"finish_reason":`...)
	dst = peek.AppendString(dst, res.Finish)
	dst = append(dst, `,"native_finish_reason":`...)
	return peek.AppendString(dst, res.Native)
}

// finishString is string(b), without allocating for OpenAI's own reasons.
func finishString(b []byte) string {
	switch string(b) {
	case "stop":
		return "stop"
	case "length":
		return "length"
	case "tool_calls":
		return "tool_calls"
	case "content_filter":
		return "content_filter"
	}
	return string(b)
}

// contentBytes approximates generated text in a delta/message: the raw
// sizes of content, reasoning and tool-call arguments.
func contentBytes(v []byte) int {
	if len(v) > 0 && v[0] == '"' {
		return len(v) // legacy completions: "text" is the string itself
	}
	n := 0
	_, _ = peek.MembersAt(v, 0, func(m peek.Member) error {
		switch string(peek.Key(m.Key)) {
		case "content", "reasoning", "reasoning_content", "tool_calls", "refusal":
			if !peek.IsNull(m.Value) {
				n += len(m.Value)
			}
		}
		return nil
	})
	return n
}

// renameKey copies object v with member key from renamed to to.
func renameKey(dst, v []byte, from, to string) []byte {
	dst = append(dst, '{')
	k := 0
	_, _ = peek.MembersAt(v, 0, func(m peek.Member) error {
		if k > 0 {
			dst = append(dst, ',')
		}
		k++
		if peek.KeyIs(m.Key, from) {
			dst = peek.AppendString(dst, to)
			dst = append(dst, ':')
			dst = append(dst, m.Value...)
			return nil
		}
		dst = append(dst, v[m.Start:m.End]...)
		return nil
	})
	return append(dst, '}')
}

// parseUsage reads OpenAI usage (and OpenRouter's cache_write_tokens).
func parseUsage(v []byte, u *routing.Usage) {
	_, _ = peek.MembersAt(v, 0, func(m peek.Member) error {
		switch string(peek.Key(m.Key)) {
		case "prompt_tokens":
			u.PromptTokens = usageNum(m.Value)
		case "completion_tokens":
			u.CompletionTokens = usageNum(m.Value)
		case "prompt_tokens_details":
			_, _ = peek.MembersAt(m.Value, 0, func(d peek.Member) error {
				switch string(peek.Key(d.Key)) {
				case "cached_tokens":
					u.CachedTokens = usageNum(d.Value)
				case "cache_write_tokens", "cache_creation_tokens":
					u.CacheWriteTokens = usageNum(d.Value)
				}
				return nil
			})
		case "completion_tokens_details":
			_, _ = peek.MembersAt(m.Value, 0, func(d peek.Member) error {
				if peek.KeyIs(d.Key, "reasoning_tokens") {
					u.ReasoningTokens = usageNum(d.Value)
				}
				return nil
			})
		}
		return nil
	})
}

// usageNum reads a token count: a non-negative integer, or a float some
// vendors send (below 1e12, truncated); anything else counts as 0.
func usageNum(b []byte) int {
	// The usual plain count is read inline; 18 digits cannot overflow.
	if len(b) > 0 && len(b) <= 18 {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return usageNumSlow(b)
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	return usageNumSlow(b)
}

func usageNumSlow(b []byte) int {
	n, err := peek.Int(b)
	if err != nil || n < 0 {
		if f, err := strconv.ParseFloat(string(b), 64); err == nil && f >= 0 && f < 1e12 {
			return int(f)
		}
		return 0
	}
	return int(n)
}

// inBandError reads {"message","type","code"} of an error sent mid-stream.
func inBandError(v []byte) *provider.Failure {
	f := &provider.Failure{Raw: append([]byte(nil), v...)}
	_, _ = peek.MembersAt(v, 0, func(m peek.Member) error {
		switch string(peek.Key(m.Key)) {
		case "message":
			if s, err := peek.String(m.Value); err == nil {
				f.Message = string(s)
			}
		case "type":
			if s, err := peek.String(m.Value); err == nil {
				f.Type = string(s)
			}
		case "code":
			if s, err := peek.String(m.Value); err == nil && f.Type == "" {
				f.Type = string(s)
			} else if n, err := peek.Int(m.Value); err == nil {
				f.Status = int(n)
			}
		}
		return nil
	})
	if f.Message == "" {
		f.Message = "upstream reported an error"
	}
	f.ContextLength = provider.IsContextLengthError([]byte(f.Message)) || f.Type == "context_length_exceeded"
	return f
}

// ReadError reads an OpenAI-style error body ({"error":{...}}), tolerating
// anything else as a plain message.
func (Adapter) ReadError(status int, h *fasthttp.ResponseHeader, body []byte) *provider.Failure {
	var f *provider.Failure
	_ = peek.Members(body, func(m peek.Member) error {
		if peek.KeyIs(m.Key, "error") {
			if len(m.Value) > 0 && m.Value[0] == '{' {
				f = inBandError(m.Value)
			} else if s, err := peek.String(m.Value); err == nil {
				f = &provider.Failure{Message: string(s)}
			}
		}
		return nil
	})
	if f == nil {
		f = &provider.Failure{Message: fasthttpStatus(status)}
		f.ContextLength = provider.IsContextLengthError(body)
	} else if f.Message == "" {
		// {"error":""}: the client still gets a message.
		f.Message = fasthttpStatus(status)
	}
	f.Status = status
	if len(body) > 4096 {
		body = body[:4096]
	}
	f.Raw = append(f.Raw[:0], body...)
	if status == fasthttp.StatusTooManyRequests || status == fasthttp.StatusServiceUnavailable {
		f.RetryAfterMs = provider.ParseRetryAfter(h)
	}
	return f
}

func fasthttpStatus(status int) string {
	return "upstream returned HTTP " + strconv.Itoa(status) + " " + fasthttp.StatusMessage(status)
}

// NewStream returns the translator of one streamed response.
func (Adapter) NewStream(c *provider.Call) provider.Stream {
	return &stream{call: c}
}

type stream struct {
	call *provider.Call
	res  provider.Result
}

func (s *stream) Result() *provider.Result { return &s.res }

// Event rewrites one upstream chunk. Usage-only chunks are swallowed: the
// caller sends the one usage chunk (with cost) at the end.
func (s *stream) Event(dst []byte, ev *sse.Event) ([]byte, error) {
	data := ev.Data
	if sse.IsDone(data) {
		s.res.Done = true
		return dst, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return dst, nil
	}
	// Build the chunk after the "data: " prefix in dst, then decide.
	mark := len(dst)
	dst = append(dst, "data: "...)
	dst = provider.AppendChunkHead(dst, s.call)
	dst = dst[:len(dst)-1] // AppendChunkHead ends with ','; members add their own
	dst, n, err := rewriteMembers(dst, data, s.call, &s.res, true)
	if err != nil {
		return dst[:mark], &provider.Failure{Message: "upstream sent malformed stream data: " + err.Error(), Raw: clip(data)}
	}
	if s.res.Err != nil {
		return dst[:mark], nil
	}
	// A chunk without choices (the usage chunk, or an empty one) is
	// dropped: the caller ends the stream with the one usage chunk.
	if n == 0 {
		return dst[:mark], nil
	}
	if bytes.IndexByte(data, '\n') >= 0 {
		// Data sent on several "data:" lines arrives joined with "\n",
		// which passed through in copied members and ended the client's
		// data line mid-JSON. Strings cannot hold a raw newline, so here
		// it is whitespace between tokens: a space means the same.
		for i := mark; i < len(dst); i++ {
			if dst[i] == '\n' {
				dst[i] = ' '
			}
		}
	}
	dst = append(dst, "}\n\n"...)
	return dst, nil
}

func clip(b []byte) []byte {
	if len(b) > 1024 {
		b = b[:1024]
	}
	return append([]byte(nil), b...)
}

// appendMistralMessages copies a messages array, mapping every tool-call
// id (assistant tool_calls[].id, tool messages' tool_call_id) that is not
// already 9 letters and digits to one that is: the first 9 base62 digits
// of its SHA-256, so a call and its result keep matching.
func appendMistralMessages(dst, msgs []byte) []byte {
	dst = append(dst, '[')
	n := 0
	_ = peek.Elements(msgs, func(m []byte) error {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		if len(m) == 0 || m[0] != '{' {
			dst = append(dst, m...)
			return nil
		}
		dst = append(dst, '{')
		k := 0
		_, _ = peek.MembersAt(m, 0, func(mem peek.Member) error {
			if k > 0 {
				dst = append(dst, ',')
			}
			k++
			switch {
			case peek.KeyIs(mem.Key, "tool_call_id"):
				dst = append(dst, `"tool_call_id":`...)
				dst = appendMistralID(dst, mem.Value)
			case peek.KeyIs(mem.Key, "tool_calls") && len(mem.Value) > 0 && mem.Value[0] == '[':
				dst = append(dst, `"tool_calls":[`...)
				j := 0
				_ = peek.Elements(mem.Value, func(tc []byte) error {
					if j > 0 {
						dst = append(dst, ',')
					}
					j++
					if len(tc) == 0 || tc[0] != '{' {
						dst = append(dst, tc...)
						return nil
					}
					dst = append(dst, '{')
					q := 0
					_, _ = peek.MembersAt(tc, 0, func(f peek.Member) error {
						if q > 0 {
							dst = append(dst, ',')
						}
						q++
						if peek.KeyIs(f.Key, "id") {
							dst = append(dst, `"id":`...)
							dst = appendMistralID(dst, f.Value)
							return nil
						}
						dst = append(dst, tc[f.Start:f.End]...)
						return nil
					})
					dst = append(dst, '}')
					return nil
				})
				dst = append(dst, ']')
			default:
				dst = append(dst, m[mem.Start:mem.End]...)
			}
			return nil
		})
		dst = append(dst, '}')
		return nil
	})
	return append(dst, ']')
}

func appendMistralID(dst, v []byte) []byte {
	id, err := peek.String(v)
	if err != nil {
		return append(dst, v...)
	}
	if len(id) == 9 {
		ok := true
		for _, c := range id {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				ok = false
				break
			}
		}
		if ok {
			return append(dst, v...)
		}
	}
	h := sha256.Sum256(id)
	const digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var out [9]byte
	x := binary.BigEndian.Uint64(h[:8])
	for i := range out {
		out[i] = digits[x%62]
		x /= 62
	}
	dst = append(dst, '"')
	dst = append(dst, out[:]...)
	return append(dst, '"')
}
