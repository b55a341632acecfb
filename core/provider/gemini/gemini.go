// Package gemini is Google's Gemini API wire protocol (generateContent and
// streamGenerateContent?alt=sse under a base URL such as
// https://generativelanguage.googleapis.com/v1beta): the adapter that lets
// an OpenAI Chat Completions client use Gemini models.
//
// Requests are translated, never forwarded: the client's body is decoded
// into typed structs (explicit zero values kept) and the
// GenerateContentRequest is written member by member. Messages become
// contents (user and model turns, consecutive same-role turns merged),
// system and developer messages systemInstruction, images and files
// inlineData (data: URLs) or fileData (http URLs), tools
// functionDeclarations with their JSON Schema converted to Gemini's
// subset (see appendSchema), tool_choice toolConfig, assistant tool calls
// functionCall parts, tool messages functionResponse parts named after
// the call they answer, sampling parameters generationConfig (always one
// candidate), response_format JSON mode with responseSchema, and
// OpenRouter's reasoning object thinkingConfig.
//
// Responses come back in the OpenAI shape with Tollgate's id, provider,
// model and usage with cost: text parts are the content, thought parts
// the reasoning, functionCall parts tool_calls with generated call_… ids
// (Gemini gives none); finishReason is normalised beside its native
// value, and a turn that called functions finishes with tool_calls.
// Thoughts count as reasoning tokens inside completion_tokens, as OpenAI
// counts them. A prompt Gemini blocks (promptFeedback.blockReason) ends
// with finish_reason content_filter.
//
// OpenAI /embeddings requests go out as one batchEmbedContents call (see
// WriteEmbeddings) and come back as an OpenAI embeddings list, floats or
// base64, with prompt tokens estimated (Gemini reports none).
//
// Imported by core (wiring) only; it imports core/provider, core/peek and
// core/sse.
package gemini

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/routing"
)

// Adapter implements provider.Adapter for the Gemini API.
type Adapter struct{}

var _ provider.Adapter = Adapter{}

// appendModelPath appends "/models/{model}:{method}"; a model id that is
// already a resource name (models/…, tunedModels/…) is used as it is.
func appendModelPath(dst []byte, model, method string) []byte {
	dst = append(dst, '/')
	if !strings.Contains(model, "/") {
		dst = append(dst, "models/"...)
	}
	dst = append(dst, model...)
	dst = append(dst, ':')
	return append(dst, method...)
}

// WriteChat builds POST {base}/models/{model}:generateContent, or
// :streamGenerateContent?alt=sse for streams, with x-goog-api-key. A
// client body that cannot be translated is a *peek.BadRequest.
func (Adapter) WriteChat(req *fasthttp.Request, c *provider.Call) error {
	u := c.Upstream
	method := "generateContent"
	if c.Stream {
		method = "streamGenerateContent?alt=sse"
	}
	c.Scratch = u.Client.URL(c.Scratch[:0], "")
	c.Scratch = appendModelPath(c.Scratch, c.Endpoint.UpstreamModelID(), method)
	provider.StartRequest(req, c, c.Scratch)
	if u.APIKey != "" {
		req.Header.Set("x-goog-api-key", u.APIKey)
	}
	u.ApplyHeaders(req)
	var err error
	c.Scratch, err = buildBody(c.Scratch[:0], c)
	if err != nil {
		return err
	}
	req.SetBodyRaw(c.Scratch) // no copy: see Call.Scratch
	return nil
}

// usageMetadata is Gemini's token accounting. promptTokenCount includes
// the cached tokens; thoughts are not in candidatesTokenCount. -1 marks
// an absent count (proto3 JSON omits zeros, so absent also means 0).
type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

func (u *usageMetadata) reset() {
	*u = usageMetadata{-1, -1, -1, -1, -1, -1}
}

func (u *usageMetadata) present() bool {
	return u.PromptTokenCount >= 0 || u.CandidatesTokenCount >= 0 || u.TotalTokenCount >= 0 ||
		u.ThoughtsTokenCount >= 0 || u.CachedContentTokenCount >= 0 || u.ToolUsePromptTokenCount >= 0
}

// toRouting maps usageMetadata: thoughts are reasoning tokens and part of
// the completion, tool-use prompt tokens part of the prompt.
func (u *usageMetadata) toRouting() routing.Usage {
	prompt := max(u.PromptTokenCount, 0) + max(u.ToolUsePromptTokenCount, 0)
	thoughts := max(u.ThoughtsTokenCount, 0)
	return routing.Usage{
		PromptTokens:     prompt,
		CompletionTokens: max(u.CandidatesTokenCount, 0) + thoughts,
		CachedTokens:     min(max(u.CachedContentTokenCount, 0), prompt),
		ReasoningTokens:  thoughts,
	}
}

type functionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type part struct {
	Text         string        `json:"text"`
	Thought      bool          `json:"thought"`
	FunctionCall *functionCall `json:"functionCall"`
}

type candidate struct {
	Content struct {
		Parts []part `json:"parts"`
	} `json:"content"`
	FinishReason string `json:"finishReason"`
}

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	Details []struct {
		Type       string `json:"@type"`
		RetryDelay string `json:"retryDelay"`
	} `json:"details"`
}

// generateResponse is a GenerateContentResponse (one stream chunk, or the
// whole answer), or an error object.
type generateResponse struct {
	Candidates     []candidate `json:"candidates"`
	PromptFeedback struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata usageMetadata `json:"usageMetadata"`
	Error         *apiError     `json:"error"`
}

// finishReason normalises a Gemini finishReason; a STOP after function
// calls is tool_calls.
func finishReason(native string, calls bool) string {
	switch native {
	case "STOP", "":
		if calls {
			return "tool_calls"
		}
		return "stop"
	case "LANGUAGE":
		return "content_filter"
	case "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MALFORMED_FUNCTION_CALL":
		return "error"
	}
	return provider.NormalizeFinish(native)
}

type adapterError string

func (e adapterError) Error() string { return string(e) }

const errNoCandidates = adapterError("gemini: response has no candidates")

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendCallID appends a tool-call id "call_<24 base62>"; Gemini's
// function calls carry none.
func appendCallID(dst []byte) []byte {
	dst = append(dst, "call_"...)
	for range 24 {
		dst = append(dst, idAlphabet[rand.IntN(len(idAlphabet))])
	}
	return dst
}

// appendToolCall appends one complete OpenAI tool call (the first delta
// of its index carries everything Gemini sent).
func appendToolCall(dst []byte, index int, fc *functionCall) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, `,"id":"`...)
	dst = appendCallID(dst)
	dst = append(dst, `","type":"function","function":{"name":`...)
	dst = peek.AppendString(dst, fc.Name)
	dst = append(dst, `,"arguments":`...)
	dst, _ = provider.AppendToolArguments(dst, fc.Args)
	return append(dst, "}}"...)
}

// ReadChat converts a GenerateContentResponse into a chat.completion.
func (Adapter) ReadChat(dst, body []byte, c *provider.Call) ([]byte, *provider.Result, error) {
	res := &provider.Result{}
	var r generateResponse
	r.UsageMetadata.reset()
	if err := provider.CheckJSON(body); err != nil {
		return dst, res, err
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return dst, res, err
	}
	if r.Error != nil {
		res.Err = inBandError(r.Error, body)
		return dst, res, nil
	}
	var parts []part
	native := ""
	if len(r.Candidates) > 0 {
		parts = r.Candidates[0].Content.Parts
		native = r.Candidates[0].FinishReason
	} else if native = r.PromptFeedback.BlockReason; native == "" {
		return dst, res, errNoCandidates
	}
	exclude := excludeReasoning(c)
	dst = provider.AppendCompletionHead(dst, c)
	var text, thoughts []byte
	nCalls := 0
	for i := range parts {
		p := &parts[i]
		switch {
		case p.FunctionCall != nil:
			nCalls++
		case p.Thought:
			thoughts = append(thoughts, p.Text...)
		default:
			text = append(text, p.Text...)
		}
	}
	dst = provider.AppendAssistantContent(dst, text, thoughts, nCalls > 0, exclude)
	res.OutputBytes = len(text) + len(thoughts)
	if nCalls > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		n := 0
		for i := range parts {
			fc := parts[i].FunctionCall
			if fc == nil {
				continue
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = appendToolCall(dst, n, fc)
			n++
			res.OutputBytes += len(fc.Name) + len(fc.Args)
		}
		dst = append(dst, ']')
	}
	if len(r.Candidates) == 0 {
		res.Finish = "content_filter" // the prompt was blocked
	} else {
		res.Finish = finishReason(native, nCalls > 0)
	}
	res.Native = native
	if r.UsageMetadata.present() {
		res.Usage = r.UsageMetadata.toRouting()
		res.HaveUsage = true
	}
	return provider.FinishCompletion(dst, c, res), res, nil
}

// excludeReasoning reports reasoning.exclude (see
// provider.ExcludeReasoning).
func excludeReasoning(c *provider.Call) bool { return provider.ExcludeReasoning(c) }

// statusOf maps a google.rpc status name to its HTTP status, for errors
// that arrive in-band without a usable code.
func statusOf(status string) int {
	switch status {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return fasthttp.StatusBadRequest
	case "UNAUTHENTICATED":
		return fasthttp.StatusUnauthorized
	case "PERMISSION_DENIED":
		return fasthttp.StatusForbidden
	case "NOT_FOUND":
		return fasthttp.StatusNotFound
	case "RESOURCE_EXHAUSTED":
		return fasthttp.StatusTooManyRequests
	case "CANCELLED":
		return 499
	case "UNAVAILABLE":
		return fasthttp.StatusServiceUnavailable
	case "DEADLINE_EXCEEDED":
		return fasthttp.StatusGatewayTimeout
	case "UNIMPLEMENTED":
		return fasthttp.StatusNotImplemented
	}
	return fasthttp.StatusInternalServerError
}

// isContextError recognises Gemini's "The input token count (N) exceeds
// the maximum number of tokens allowed (M)." besides the common phrasings.
func isContextError(msg string) bool {
	if provider.IsContextLengthError([]byte(msg)) {
		return true
	}
	m := strings.ToLower(msg)
	return strings.Contains(m, "input token count") && strings.Contains(m, "exceeds the maximum")
}

// retryDelayMs reads google.rpc.RetryInfo's retryDelay ("36s", "1.5s").
func retryDelayMs(e *apiError) int64 {
	for _, d := range e.Details {
		if !strings.HasSuffix(d.Type, "google.rpc.RetryInfo") || d.RetryDelay == "" {
			continue
		}
		if dur, err := time.ParseDuration(d.RetryDelay); err == nil && dur > 0 {
			return dur.Milliseconds()
		}
	}
	return 0
}

func clip(b []byte, n int) []byte { return provider.Clip(b, n) }

// inBandError builds the Failure of an error object sent with a 200 (a
// stream chunk, or a body).
func inBandError(e *apiError, raw []byte) *provider.Failure {
	f := &provider.Failure{Type: e.Status, Message: e.Message, Raw: clip(raw, 4096)}
	if f.Message == "" {
		f.Message = "upstream reported an error"
	}
	f.Status = e.Code
	if f.Status < 400 || f.Status > 599 {
		f.Status = statusOf(e.Status)
	}
	f.ContextLength = isContextError(f.Message)
	f.RetryAfterMs = retryDelayMs(e)
	return f
}

// ReadError reads Gemini's error body {"error":{"code","message","status",
// "details"}} (or a one-element array of it, as streams without alt=sse
// send), tolerating anything else as a plain message. A 429
// (RESOURCE_EXHAUSTED) or 503 carries Retry-After, or RetryInfo's delay.
func (Adapter) ReadError(status int, h *fasthttp.ResponseHeader, body []byte) *provider.Failure {
	var e *apiError
	b := bytes.TrimSpace(body)
	if provider.CheckJSON(b) != nil {
		b = nil // not JSON: described from the status and raw body
	}
	if len(b) > 0 && b[0] == '[' {
		var list []generateResponse
		if json.Unmarshal(b, &list) == nil && len(list) > 0 {
			e = list[0].Error
		}
	} else {
		var r generateResponse
		if json.Unmarshal(b, &r) == nil {
			e = r.Error
		}
	}
	f := &provider.Failure{}
	if e != nil && e.Message != "" {
		f.Type, f.Message = e.Status, e.Message
		f.ContextLength = isContextError(e.Message)
	} else {
		f.Message = provider.HTTPErrorMessage(status)
		f.ContextLength = provider.IsContextLengthError(body)
	}
	f.Status = status
	f.Raw = clip(body, 4096)
	if status == fasthttp.StatusTooManyRequests || status == fasthttp.StatusServiceUnavailable {
		f.RetryAfterMs = provider.ParseRetryAfter(h)
		if f.RetryAfterMs == 0 && e != nil {
			f.RetryAfterMs = retryDelayMs(e)
		}
	}
	return f
}
