// Package anthropic is the Anthropic Messages wire protocol
// (POST {base}/messages): the adapter that lets an OpenAI Chat Completions
// client use Claude models, and any vendor that speaks the same dialect.
//
// Requests are translated, never forwarded: the client's body is decoded
// into typed structs (explicit zero values kept) and the Messages request
// is written member by member. System and developer messages become the
// system prompt; consecutive same-role turns merge; tool results become
// tool_result blocks in a user turn; images and PDFs become image/document
// blocks; cache_control on content parts passes through; max_tokens, which
// the API requires, comes from the client, else the endpoint's
// max_completion_tokens, else DefaultMaxTokens; temperature is clamped to
// 0..1; response_format json_schema uses output_config.format (structured
// outputs), json_object a system instruction; OpenRouter's reasoning
// object becomes a thinking budget (see thinkingBudget).
//
// Responses come back in the OpenAI shape with Tollgate's id, provider,
// model and usage with cost: text blocks are the content, thinking blocks
// the reasoning, tool_use blocks the tool_calls; stop_reason is normalised
// beside its native value. Usage counts cache reads and writes inside
// prompt_tokens (Anthropic's input_tokens excludes them) so they are
// priced separately. Streams are translated event by event (see Stream).
//
// Imported by core (wiring) only; it imports core/provider, core/peek and
// core/sse.
package anthropic

import (
	"strconv"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/routing"
)

// Adapter implements provider.Adapter for the Anthropic Messages API.
type Adapter struct{}

var _ provider.Adapter = Adapter{}

// WriteChat builds POST {base}/messages with x-api-key and
// anthropic-version. A client body that cannot be translated is a
// *peek.BadRequest.
func (Adapter) WriteChat(req *fasthttp.Request, c *provider.Call) error {
	u := c.Upstream
	c.Scratch = u.Client.URL(c.Scratch[:0], "/messages")
	provider.StartRequest(req, c, c.Scratch)
	if u.APIKey != "" {
		req.Header.Set("x-api-key", u.APIKey)
	}
	req.Header.Set("anthropic-version", APIVersion)
	u.ApplyHeaders(req)
	var err error
	c.Scratch, err = buildBody(c.Scratch[:0], c)
	if err != nil {
		return err
	}
	req.SetBodyRaw(c.Scratch) // no copy: see Call.Scratch
	return nil
}

// usage is the Messages API usage object. input_tokens excludes the
// prompt tokens read from or written to the cache.
type usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

// toRouting maps Anthropic usage to Tollgate's, where prompt tokens
// include cache reads and writes.
func (u *usage) toRouting() routing.Usage {
	in := max(u.InputTokens, 0)
	read := max(u.CacheReadInputTokens, 0)
	write := max(u.CacheCreationInputTokens, 0)
	return routing.Usage{
		PromptTokens:     in + read + write,
		CompletionTokens: max(u.OutputTokens, 0),
		CachedTokens:     read,
		CacheWriteTokens: write,
	}
}

type contentBlock struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Thinking string          `json:"thinking"`
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Input    json.RawMessage `json:"input"`
}

type apiError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// message is a Messages API response (or, with type "error", an error).
type message struct {
	Type       string         `json:"type"`
	Content    []contentBlock `json:"content"`
	StopReason string         `json:"stop_reason"`
	Usage      *usage         `json:"usage"`
	Error      *apiError      `json:"error"`
}

// finishReason normalises a stop_reason. model_context_window_exceeded
// (the context filled up before max_tokens) is a length stop; pause_turn
// (a server tool paused the turn) ends the turn as a stop.
func finishReason(native string) string {
	if native == "model_context_window_exceeded" {
		return "length"
	}
	return provider.NormalizeFinish(native)
}

// ReadChat converts a Messages API response into a chat.completion.
func (Adapter) ReadChat(dst, body []byte, c *provider.Call) ([]byte, *provider.Result, error) {
	res := &provider.Result{}
	var m message
	if err := provider.CheckJSON(body); err != nil {
		return dst, res, err
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return dst, res, err
	}
	if m.Type == "error" || m.Error != nil {
		res.Err = inBandError(m.Error, body)
		return dst, res, nil
	}
	if m.Type != "message" {
		return dst, res, errNotMessage
	}
	exclude := excludeReasoning(c)
	dst = provider.AppendCompletionHead(dst, c)

	// Content: the text blocks joined; null when the turn is only tool
	// calls, as OpenAI sends it.
	var text, thinking []byte
	nCalls := 0
	for i := range m.Content {
		b := &m.Content[i]
		switch b.Type {
		case "text":
			text = append(text, b.Text...)
		case "thinking":
			thinking = append(thinking, b.Thinking...)
		case "tool_use":
			nCalls++
		}
	}
	dst = provider.AppendAssistantContent(dst, text, thinking, nCalls > 0, exclude)
	res.OutputBytes = len(text) + len(thinking)
	if nCalls > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		n := 0
		for i := range m.Content {
			b := &m.Content[i]
			if b.Type != "tool_use" {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"index":`...)
			dst = strconv.AppendInt(dst, int64(n), 10)
			n++
			dst = append(dst, `,"id":`...)
			dst = peek.AppendString(dst, b.ID)
			dst = append(dst, `,"type":"function","function":{"name":`...)
			dst = peek.AppendString(dst, b.Name)
			dst = append(dst, `,"arguments":`...)
			var n int
			dst, n = provider.AppendToolArguments(dst, b.Input)
			res.OutputBytes += n
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	res.Native = m.StopReason
	res.Finish = finishReason(m.StopReason)
	if m.Usage != nil {
		res.Usage = m.Usage.toRouting()
		res.HaveUsage = true
	}
	return provider.FinishCompletion(dst, c, res), res, nil
}

type adapterError string

func (e adapterError) Error() string { return string(e) }

const errNotMessage = adapterError("anthropic: upstream body is not a message")

// excludeReasoning reports reasoning.exclude (see
// provider.ExcludeReasoning).
func excludeReasoning(c *provider.Call) bool { return provider.ExcludeReasoning(c) }

// statusOf maps an Anthropic error type to the HTTP status the API uses
// for it, for errors that arrive in-band (in a stream).
func statusOf(typ string) int {
	switch typ {
	case "invalid_request_error":
		return fasthttp.StatusBadRequest
	case "authentication_error":
		return fasthttp.StatusUnauthorized
	case "billing_error":
		return fasthttp.StatusPaymentRequired
	case "permission_error":
		return fasthttp.StatusForbidden
	case "not_found_error":
		return fasthttp.StatusNotFound
	case "request_too_large":
		return fasthttp.StatusRequestEntityTooLarge
	case "rate_limit_error":
		return fasthttp.StatusTooManyRequests
	case "timeout_error":
		return fasthttp.StatusGatewayTimeout
	case "overloaded_error":
		return StatusOverloaded
	}
	return fasthttp.StatusInternalServerError
}

// StatusOverloaded is the status Anthropic answers with when it is
// overloaded (overloaded_error). Core treats it as a 5xx: retryable.
const StatusOverloaded = 529

func clip(b []byte, n int) []byte { return provider.Clip(b, n) }

// inBandError builds the Failure of an error object sent with a 200
// (an "error" stream event, or an error body).
func inBandError(e *apiError, raw []byte) *provider.Failure {
	f := &provider.Failure{Raw: clip(raw, 4096)}
	if e != nil {
		f.Type, f.Message = e.Type, e.Message
	}
	if f.Message == "" {
		f.Message = "upstream reported an error"
	}
	f.Status = statusOf(f.Type)
	f.ContextLength = provider.IsContextLengthError([]byte(f.Message))
	return f
}

// ReadError reads Anthropic's error body {"type":"error","error":{"type",
// "message"}}, tolerating anything else as a plain message. 429, 503 and
// 529 carry the Retry-After the upstream sent.
func (Adapter) ReadError(status int, h *fasthttp.ResponseHeader, body []byte) *provider.Failure {
	var m message
	f := &provider.Failure{}
	if provider.CheckJSON(body) != nil {
		// not JSON: described below from the status and raw body
	} else if err := json.Unmarshal(body, &m); err == nil && m.Error != nil {
		f.Type, f.Message = m.Error.Type, m.Error.Message
	}
	if f.Message == "" {
		f.Message = provider.HTTPErrorMessage(status)
		f.ContextLength = provider.IsContextLengthError(body)
	} else {
		f.ContextLength = provider.IsContextLengthError([]byte(f.Message))
	}
	f.Status = status
	f.Raw = clip(body, 4096)
	switch status {
	case fasthttp.StatusTooManyRequests, fasthttp.StatusServiceUnavailable, StatusOverloaded:
		f.RetryAfterMs = provider.ParseRetryAfter(h)
	}
	return f
}
