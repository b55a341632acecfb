package provider

import (
	"bytes"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
)

// The logic translating adapters (anthropic, gemini) share when they turn
// an OpenAI chat request into their protocol and their answer back into a
// chat.completion. Only the walking and the decisions live here; every
// byte of vendor output stays in the adapter.

// ChatToolCall is one tool call of an OpenAI assistant message.
type ChatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// ResponseFormat is OpenAI's response_format.
type ResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// Reasoning is OpenRouter's reasoning object.
type Reasoning struct {
	Effort    string `json:"effort"`
	MaxTokens *int64 `json:"max_tokens"`
	Exclude   bool   `json:"exclude"`
	Enabled   *bool  `json:"enabled"`
}

// MaxTokens is the output limit a request works with: the client's
// max_tokens (or max_completion_tokens), else the endpoint's
// max_completion_tokens, else def.
func MaxTokens(c *Call, def int64) int64 {
	n := c.Chat.MaxTokens
	if n <= 0 {
		n = int64(c.Endpoint.MaxCompletionTokens)
	}
	if n <= 0 {
		n = def
	}
	return n
}

// ParseSystemContent appends the parts of a system or developer message's
// content to dst; such messages may only hold text. Empty text parts are
// kept: callers skip them.
func ParseSystemContent(raw json.RawMessage, dst []ContentPart) ([]ContentPart, error) {
	dst, err := ParseContent(raw, dst)
	if err != nil {
		return dst, err
	}
	for i := range dst {
		if dst[i].Type != "text" && dst[i].Type != "" {
			return dst, &peek.BadRequest{Msg: "system messages may only hold text"}
		}
	}
	return dst, nil
}

// AssistantText is the text of one part of an assistant message: a text
// part's text or a refusal part's refusal. Other part types are rejected.
func AssistantText(p *ContentPart) (string, error) {
	switch p.Type {
	case "text", "":
		return p.Text, nil
	case "refusal":
		return p.Refusal, nil
	}
	return "", &peek.BadRequest{Msg: "assistant content part type " + strconv.Quote(p.Type) + " is not supported"}
}

// IsTextPart reports a text content part (type text, input_text or none).
func IsTextPart(p *ContentPart) bool {
	return p.Type == "text" || p.Type == "input_text" || p.Type == ""
}

// FileData is a file part's file.file_data (a base64 data: URL); file ids,
// which need a vendor's file store, are a *peek.BadRequest naming vendor.
func FileData(p *ContentPart, vendor string) (string, error) {
	if p.File == nil || p.File.FileData == "" {
		return "", &peek.BadRequest{Msg: "file parts need file.file_data (a base64 data: URL); file ids are not supported by " + vendor + " endpoints"}
	}
	return p.File.FileData, nil
}

// MediaURL classifies the URL of an image or file part: a base64 data: URL
// is inline (its media type and data returned), an http(s) URL is not;
// anything else is a *peek.BadRequest.
func MediaURL(u string) (mediaType, data string, inline bool, err error) {
	switch {
	case strings.HasPrefix(u, "data:"):
		mt, data, ok := ParseDataURL(u)
		if !ok {
			return "", "", false, &peek.BadRequest{Msg: "a data: URL must be base64 with a media type (data:<type>;base64,<data>)"}
		}
		return mt, data, true, nil
	case strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://"):
		return "", "", false, nil
	}
	return "", "", false, &peek.BadRequest{Msg: "an image or file URL must be http(s) or a base64 data: URL"}
}

// CheckFunctionTool validates tools[i]: a function tool with a name.
// vendor names the endpoints in the error ("Anthropic", "Gemini").
func CheckFunctionTool(i int, typ, name, vendor string) error {
	if typ != "function" && typ != "" {
		return &peek.BadRequest{Msg: "tool type " + strconv.Quote(typ) + " is not supported by " + vendor + " endpoints"}
	}
	if name == "" {
		return &peek.BadRequest{Msg: "tools[" + strconv.Itoa(i) + "].function.name is required"}
	}
	return nil
}

// Tool choice modes returned by ParseToolChoice.
const (
	ToolChoiceAbsent   = ""         // no tool_choice, or null
	ToolChoiceAuto     = "auto"     // the model decides
	ToolChoiceRequired = "required" // some tool must be called ("required" or "any")
	ToolChoiceNone     = "none"     // no tool may be called
	ToolChoiceFunction = "function" // the named function must be called
)

// ParseToolChoice reads OpenAI's tool_choice: a string mode or
// {"type":"function","function":{"name":…}}. name is set for
// ToolChoiceFunction only.
func ParseToolChoice(raw json.RawMessage) (mode, name string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || peek.IsNull(raw) {
		return ToolChoiceAbsent, "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", "", &peek.BadRequest{Msg: "invalid tool_choice"}
		}
		switch s {
		case "auto":
			return ToolChoiceAuto, "", nil
		case "required", "any":
			return ToolChoiceRequired, "", nil
		case "none":
			return ToolChoiceNone, "", nil
		}
		return "", "", &peek.BadRequest{Msg: "tool_choice must be auto, none, required or a function"}
	}
	var tc struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &tc); err != nil {
		return "", "", &peek.BadRequest{Msg: "invalid tool_choice: " + err.Error()}
	}
	if tc.Function.Name == "" {
		return "", "", &peek.BadRequest{Msg: "tool_choice.function.name is required"}
	}
	return ToolChoiceFunction, tc.Function.Name, nil
}

// ParseStop reads OpenAI's stop: a string or an array of strings. Callers
// drop the sequences their API rejects.
func ParseStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || peek.IsNull(raw) {
		return nil, nil
	}
	var list []string
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, &peek.BadRequest{Msg: "invalid stop"}
		}
		return []string{s}, nil
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &peek.BadRequest{Msg: "stop must be a string or an array of strings"}
	}
	return list, nil
}

// AppendArgsObject appends a tool call's arguments as a JSON object;
// arguments that are empty or not a JSON object (a truncated generation)
// become {}, since both APIs require an object.
func AppendArgsObject(b []byte, args string) []byte {
	a := bytes.TrimSpace([]byte(args))
	if len(a) > 0 && a[0] == '{' && json.Valid(a) {
		return append(b, a...)
	}
	return append(b, "{}"...)
}

// AppendFloat appends f in the shortest decimal form that round-trips.
func AppendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// AppendCompletionHead appends the head of a non-streamed chat.completion
// up to the assistant message's content value:
// {"id":…,"object":"chat.completion","created":…,"model":…,"provider":…,
// "choices":[{"index":0,"message":{"role":"assistant","content":
func AppendCompletionHead(dst []byte, c *Call) []byte {
	dst = append(dst, `{"id":`...)
	dst = peek.AppendString(dst, c.GenID)
	dst = append(dst, `,"object":"chat.completion","created":`...)
	dst = strconv.AppendInt(dst, c.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = peek.AppendString(dst, c.Endpoint.Model)
	dst = append(dst, `,"provider":`...)
	dst = peek.AppendString(dst, c.Upstream.Name)
	return append(dst, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
}

// AppendAssistantContent appends the content value (null when the turn is
// only tool calls, as OpenAI sends it) and, unless excluded, the
// reasoning member.
func AppendAssistantContent(dst, text, reasoning []byte, calls, exclude bool) []byte {
	if len(text) == 0 && calls {
		dst = append(dst, "null"...)
	} else {
		dst = peek.AppendStringBytes(dst, text)
	}
	if len(reasoning) > 0 && !exclude {
		dst = append(dst, `,"reasoning":`...)
		dst = peek.AppendStringBytes(dst, reasoning)
	}
	return dst
}

// AppendToolArguments appends a tool call's arguments object, as the
// upstream sent it, as OpenAI's arguments string; {} when absent or null.
// n is the length of the arguments appended, before quoting.
func AppendToolArguments(dst []byte, raw json.RawMessage) (out []byte, n int) {
	args := bytes.TrimSpace(raw)
	if len(args) == 0 || peek.IsNull(args) {
		return append(dst, `"{}"`...), 2
	}
	return peek.AppendStringBytes(dst, args), len(args)
}

// FinishCompletion closes a chat.completion after the assistant message:
// finish reasons from res, usage (estimated from the prompt and
// res.OutputBytes when the upstream sent none) with its cost, and marks
// res started and done.
func FinishCompletion(dst []byte, c *Call, res *Result) []byte {
	dst = append(dst, `},"logprobs":null,"finish_reason":`...)
	dst = peek.AppendString(dst, res.Finish)
	dst = append(dst, `,"native_finish_reason":`...)
	dst = peek.AppendString(dst, res.Native)
	dst = append(dst, "}]"...)
	if !res.HaveUsage {
		res.Usage.PromptTokens = EstimateTokens(len(c.Chat.Messages))
		res.Usage.CompletionTokens = EstimateTokens(res.OutputBytes)
	}
	dst = append(dst, `,"usage":`...)
	dst = AppendUsage(dst, &res.Usage, c.Endpoint.Pricing.Cost(res.Usage))
	dst = append(dst, '}')
	res.Started = true
	res.Done = true
	return dst
}

// ExcludeReasoning reports reasoning.exclude: the model may think, but
// the client does not see the reasoning.
func ExcludeReasoning(c *Call) bool {
	if c.Chat == nil || len(c.Chat.Reasoning) == 0 {
		return false
	}
	var r Reasoning
	if err := json.Unmarshal(c.Chat.Reasoning, &r); err != nil {
		return false
	}
	return r.Exclude
}

// Clip returns a copy of at most n bytes of b, for Failure.Raw.
func Clip(b []byte, n int) []byte {
	if len(b) > n {
		b = b[:n]
	}
	return append([]byte(nil), b...)
}

// HTTPErrorMessage describes an error answer without a usable message:
// "upstream returned HTTP 503 Service Unavailable".
func HTTPErrorMessage(status int) string {
	return "upstream returned HTTP " + strconv.Itoa(status) + " " + fasthttp.StatusMessage(status)
}
