package provider

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/routing"
)

// NormalizeFinish maps a vendor finish/stop reason to OpenAI's set:
// stop, length, tool_calls, content_filter, error. Unknown values map to
// "stop" (the native value is always reported beside it).
func NormalizeFinish(native string) string {
	switch strings.ToLower(native) {
	case "stop", "end_turn", "stop_sequence", "eos", "finish_reason_stop", "complete", "":
		return "stop"
	case "length", "max_tokens", "max_output_tokens", "model_length", "token_limit":
		return "length"
	case "tool_calls", "tool_use", "function_call", "tool_call":
		return "tool_calls"
	case "content_filter", "safety", "recitation", "blocklist", "prohibited_content", "spii", "refusal", "image_safety":
		return "content_filter"
	case "error", "malformed_function_call", "other":
		return "error"
	}
	return "stop"
}

// AppendUsage appends the OpenAI usage object with Tollgate's cost:
// {"prompt_tokens":…,"completion_tokens":…,"total_tokens":…,
// "prompt_tokens_details":{"cached_tokens":…},
// "completion_tokens_details":{"reasoning_tokens":…},"cost":…}.
func AppendUsage(dst []byte, u *routing.Usage, cost int64) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens+u.CompletionTokens), 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedTokens), 10)
	if u.CacheWriteTokens > 0 {
		dst = append(dst, `,"cache_write_tokens":`...)
		dst = strconv.AppendInt(dst, int64(u.CacheWriteTokens), 10)
	}
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.ReasoningTokens), 10)
	dst = append(dst, `},"cost":`...)
	dst = routing.AppendUSD(dst, cost)
	return append(dst, '}')
}

// AppendHead appends `{"id":…,"object":…,"created":…,"model":…,
// "provider":…` — the members Tollgate writes first in every response
// object and chunk (c.Object() names the object), without a comma after.
func AppendHead(dst []byte, c *Call) []byte {
	dst = append(dst, `{"id":`...)
	dst = peek.AppendString(dst, c.GenID)
	dst = append(dst, `,"object":"`...)
	dst = append(dst, c.Object()...)
	dst = append(dst, `","created":`...)
	dst = strconv.AppendInt(dst, c.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = peek.AppendString(dst, c.Endpoint.Model)
	dst = append(dst, `,"provider":`...)
	return peek.AppendString(dst, c.Upstream.Name)
}

// AppendChunkHead appends AppendHead and a comma: the common head of every
// chunk, ready for its other members.
func AppendChunkHead(dst []byte, c *Call) []byte {
	return append(AppendHead(dst, c), ',')
}

// FinishStream appends the end of every stream: one usage chunk
// (choices: [], usage with cost) and data: [DONE].
func FinishStream(dst []byte, c *Call, u *routing.Usage, cost int64) []byte {
	var tmp [512]byte
	chunk := AppendChunkHead(tmp[:0], c)
	chunk = append(chunk, `"choices":[],"usage":`...)
	chunk = AppendUsage(chunk, u, cost)
	chunk = append(chunk, '}')
	dst = sse.AppendData(dst, chunk)
	return sse.AppendDone(dst)
}

// AppendErrorChunk appends the terminal error chunk of a stream that failed
// after its first byte: OpenRouter's shape, an "error" object plus a choice
// with finish_reason "error" so strict clients see the stream end.
//
// StartErrorStream is the same chunk for a stream that fails before any
// chunk was sent: its delta carries the role, as every first delta must.
func AppendErrorChunk(dst []byte, c *Call, code int, msg string) []byte {
	return appendErrorChunk(dst, c, code, msg, false)
}

// StartErrorStream appends the error chunk of a stream that sent nothing yet.
func StartErrorStream(dst []byte, c *Call, code int, msg string) []byte {
	return appendErrorChunk(dst, c, code, msg, true)
}

func appendErrorChunk(dst []byte, c *Call, code int, msg string, role bool) []byte {
	var tmp [1024]byte
	chunk := AppendChunkHead(tmp[:0], c)
	chunk = append(chunk, `"error":{"code":`...)
	chunk = strconv.AppendInt(chunk, int64(code), 10)
	chunk = append(chunk, `,"message":`...)
	chunk = peek.AppendString(chunk, msg)
	chunk = append(chunk, `},"choices":[{"index":0,"delta":{`...)
	if role {
		chunk = append(chunk, `"role":"assistant",`...)
	}
	chunk = append(chunk, `"content":""},"finish_reason":"error","native_finish_reason":"error"}]}`...)
	return sse.AppendData(dst, chunk)
}

// EstimateTokens estimates tokens from text bytes (≈4 bytes a token),
// used only when a provider reports no usage.
func EstimateTokens(n int) int {
	if n <= 0 {
		return 0
	}
	return (n + 3) / 4
}

// ParseRetryAfter reads Retry-After (seconds or HTTP date) and
// retry-after-ms, returning milliseconds (0 if absent).
func ParseRetryAfter(h *fasthttp.ResponseHeader) int64 {
	if v := h.Peek("retry-after-ms"); len(v) > 0 {
		if ms, err := strconv.ParseFloat(string(v), 64); err == nil && ms > 0 {
			return int64(ms)
		}
	}
	v := bytes.TrimSpace(h.Peek(fasthttp.HeaderRetryAfter))
	if len(v) == 0 {
		return 0
	}
	if s, err := strconv.ParseFloat(string(v), 64); err == nil {
		if s < 0 {
			return 0
		}
		return int64(s * 1000)
	}
	if t, err := fasthttp.ParseHTTPDate(v); err == nil {
		if d := timeUntilMs(t); d > 0 {
			return d
		}
	}
	return 0
}

// IsContextLengthError recognises the messages vendors use when a prompt
// does not fit the context window.
func IsContextLengthError(msg []byte) bool {
	m := bytes.ToLower(msg)
	for _, s := range [...]string{"context_length_exceeded", "context length", "context window", "maximum context", "too many tokens", "prompt is too long", "input is too long", "reduce the length"} {
		if bytes.Contains(m, []byte(s)) {
			return true
		}
	}
	return false
}

func timeUntilMs(t time.Time) int64 { return time.Until(t).Milliseconds() }

// CheckJSON validates b strictly (RFC 8259, UTF-8, nesting ≤ peek.MaxDepth)
// before it reaches a reflection decoder: go-json v0.10 can panic on some
// malformed inputs (a key ending in a lone backslash, goccy/go-json#604), so
// no upstream or client byte reaches it unchecked.
func CheckJSON(b []byte) error {
	end, err := peek.SkipValue(b, 0)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b[end:])) != 0 {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// ParseDataURL splits "data:<media type>;base64,<data>".
func ParseDataURL(u string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(u, "data:")
	if !found {
		return "", "", false
	}
	meta, data, found := strings.Cut(rest, ",")
	if !found {
		return "", "", false
	}
	mediaType, b64 := strings.CutSuffix(meta, ";base64")
	if !b64 || mediaType == "" {
		return "", "", false
	}
	return mediaType, data, true
}
