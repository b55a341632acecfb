package provider

import (
	"bytes"
	"errors"
	"strconv"

	json "github.com/goccy/go-json"

	"github.com/tollgate/tollgate/core/peek"
)

// Helpers of the inbound edges (anthropic.InboundRequest,
// openai.ResponsesRequest), which write an OpenAI chat request body from
// another protocol's request. Raw values passed in were checked by the
// caller; the helpers only append.

// DecodeError words a go-json decoding error of a client's value without
// go-json's Go type names, which mean nothing to a client.
func DecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "a value has the wrong type (" + te.Value + ")"
	}
	return err.Error()
}

// IsJSONNumber reports whether a raw JSON value (known to be valid) is a
// number.
func IsJSONNumber(v []byte) bool {
	return len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))
}

// StartChatBody checks that the raw model and the conversation (named
// convName in the client's protocol: "messages", "input") are present and
// appends the head of a chat body, `{"model":<model>,"messages":[`. The
// error is a *peek.BadRequest ("model: field required").
func StartChatBody(b, model, conv []byte, convName string) ([]byte, error) {
	if len(model) == 0 || string(model) == `""` {
		return b, &peek.BadRequest{Msg: "model: field required"}
	}
	if len(conv) == 0 {
		return b, &peek.BadRequest{Msg: convName + ": field required"}
	}
	b = append(b, `{"model":`...)
	b = append(b, model...)
	return append(b, `,"messages":[`...), nil
}

// AppendRawMember appends `,"<name>":<v>` when v (a raw JSON value, copied
// byte for byte so an explicit 0 or false is kept) is not empty.
func AppendRawMember(b []byte, name string, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return append(b, v...)
}

// AppendMessageHead appends the head of a chat message,
// `{"role":"<role>","content":`, after a comma unless it is the first
// (n == 0); the caller appends the content and the closing brace.
func AppendMessageHead(b []byte, n int, role string) []byte {
	if n > 0 {
		b = append(b, ',')
	}
	b = append(b, `{"role":"`...)
	b = append(b, role...)
	return append(b, `","content":`...)
}

// AppendToolMessageHead appends the head of a tool message,
// `{"role":"tool","tool_call_id":<id>,"content":`, after a comma unless it
// is the first (n == 0).
func AppendToolMessageHead(b []byte, n int, callID string) []byte {
	if n > 0 {
		b = append(b, ',')
	}
	b = append(b, `{"role":"tool","tool_call_id":`...)
	b = peek.AppendString(b, callID)
	return append(b, `,"content":`...)
}

// AppendToolCallHead appends the head of one element of an assistant
// message's tool_calls, `{"id":<id>,"type":"function","function":
// {"name":<name>,"arguments":`; the caller appends the arguments string
// and "}}".
func AppendToolCallHead(b []byte, id, name string) []byte {
	b = append(b, `{"id":`...)
	b = peek.AppendString(b, id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = peek.AppendString(b, name)
	return append(b, `,"arguments":`...)
}

// AppendFunctionTool appends a chat function tool without its closing
// brace: `{"type":"function","function":{"name":…,"description":…,
// "parameters":…,"strict":…}`, so the caller may add members (such as
// cache_control) beside "function". The description is left out when
// empty, strict when nil; parameters (an object, checked by the caller)
// absent or null become an empty object schema.
func AppendFunctionTool(b []byte, name, description string, parameters []byte, strict *bool) []byte {
	b = append(b, `{"type":"function","function":{"name":`...)
	b = peek.AppendString(b, name)
	if description != "" {
		b = append(b, `,"description":`...)
		b = peek.AppendString(b, description)
	}
	b = append(b, `,"parameters":`...)
	if p := bytes.TrimSpace(parameters); len(p) > 0 && !peek.IsNull(p) {
		b = append(b, p...)
	} else {
		b = append(b, `{"type":"object","properties":{}}`...)
	}
	if strict != nil {
		b = append(b, `,"strict":`...)
		b = strconv.AppendBool(b, *strict)
	}
	return append(b, '}')
}

// AppendFilePartHead appends the head of a file content part,
// `{"type":"file","file":{"filename":<filename>,"file_data":`; the caller
// appends the data (a data: URL or a URL) and closes both objects.
func AppendFilePartHead(b []byte, filename string) []byte {
	b = append(b, `{"type":"file","file":{"filename":`...)
	b = peek.AppendString(b, filename)
	return append(b, `,"file_data":`...)
}

// AppendTextPart appends a text content part without its closing brace,
// `{"type":"text","text":<text>`.
func AppendTextPart(b []byte, text string) []byte {
	b = append(b, `{"type":"text","text":`...)
	return peek.AppendString(b, text)
}

// ChatUsage is the usage object of the gateway's own chat responses and
// stream chunks (AppendUsage), as the edges decode it to write their
// protocol's usage. CacheWriteTokens is also read at the top level, where
// some upstreams put it.
type ChatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	CacheWriteTokens    int64 `json:"cache_write_tokens"`
	PromptTokensDetails struct {
		CachedTokens     int64 `json:"cached_tokens"`
		CacheWriteTokens int64 `json:"cache_write_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	Cost json.RawMessage `json:"cost"`
}

// AppendContentText appends the text of a chat message's content (a
// string or an array of parts) to dst: its text and output_text parts, and
// its refusal parts too when refusals is set; other parts are skipped.
// Absent or null content appends nothing.
func AppendContentText(dst []byte, content json.RawMessage, refusals bool) ([]byte, error) {
	content = bytes.TrimSpace(content)
	if len(content) == 0 || peek.IsNull(content) {
		return dst, nil
	}
	parts, err := ParseContent(content, nil)
	if err != nil {
		return dst, err
	}
	for i := range parts {
		switch p := &parts[i]; p.Type {
		case "text", "output_text", "":
			dst = append(dst, p.Text...)
		case "refusal":
			if refusals {
				dst = append(dst, p.Refusal...)
			}
		}
	}
	return dst, nil
}

// StreamError reads the gateway's error chunk (AppendErrorChunk): the HTTP
// status in its code (a number or a numeric string; 500 when it holds
// none) and its message ("the stream failed" when empty).
func StreamError(code []byte, msg string) (int, string) {
	status := 500
	code = bytes.TrimSpace(code)
	if len(code) >= 2 && code[0] == '"' {
		code = code[1 : len(code)-1]
	}
	if n, err := strconv.Atoi(string(code)); err == nil {
		status = n
	}
	if msg == "" {
		msg = "the stream failed"
	}
	return status, msg
}
