package peek

import (
	"bytes"
	"errors"
	"fmt"
)

// Field names that the router cares about for require_parameters. The bit
// for a name is 1<<index; Chat.Params is the set the request used.
var ParamNames = [...]string{
	"temperature", "top_p", "top_k", "min_p", "top_a", "frequency_penalty",
	"presence_penalty", "repetition_penalty", "seed", "stop", "logit_bias",
	"logprobs", "top_logprobs", "response_format", "structured_outputs",
	"tools", "tool_choice", "parallel_tool_calls", "reasoning", "include_reasoning",
	"max_tokens", "web_search_options", "verbosity",
}

// Extension members are OpenRouter/Tollgate request fields that a strict
// OpenAI-protocol upstream rejects ("Unrecognized request argument"); the
// openai adapter drops them unless the upstream is itself a router.
var extensionKeys = [...]string{
	"models", "provider", "route", "transforms", "plugins", "usage",
	"session_id", "reasoning", "metadata", "include_reasoning", "top_a", "min_p",
}

// maxMembers bounds how many top-level members a request may have; real
// requests have a few dozen at most.
const maxMembers = 64

// Span is a byte range [Start, End) of a body.
type Span struct{ Start, End int }

// Chat is what the gateway reads from a chat completion request. Byte
// slices alias the body passed to ParseChat and are valid while it is.
type Chat struct {
	Model        []byte // decoded "model"; may be empty when Models is given
	ModelSpan    Span   // the raw "model" value, quotes included
	Models       []byte // raw "models" array (OpenRouter fallbacks), nil if absent
	Stream       bool
	IncludeUsage bool  // stream_options.include_usage
	MaxTokens    int64 // max_completion_tokens, else max_tokens; 0 if absent
	Messages     []byte
	// Prompt is the raw "prompt" (completions) or "input" (embeddings).
	Prompt     []byte
	Tools      bool // a non-empty tools array
	ToolChoice bool
	Images     bool // an image_url content part appears in messages
	JSONObject bool // response_format.type == json_object
	JSONSchema bool // response_format.type == json_schema
	Reasoning  []byte
	Provider   []byte // raw "provider" object
	// Transforms and Plugins are the raw OpenRouter fields that switch
	// context compression ("middle-out", {"id":"context-compression"}).
	Transforms, Plugins []byte
	Usage               []byte // raw "usage" object ({"include": true})
	User                []byte
	SessionID           []byte
	Metadata            []byte
	Params              uint64 // bit i set: ParamNames[i] present

	// Members holds the span of every top-level member, in body order, for
	// splicing; Ext has bit i set when Members[i] is an extension field.
	Members  [maxMembers]Span
	NMembers int
	Ext      uint64
	// StreamOptionsIdx is the index of "stream_options" in Members, or -1.
	StreamOptionsIdx int
	seen             uint64
}

// BadRequest is a client error in a request body; its message is safe to
// return to the client.
type BadRequest struct{ Msg string }

func (e *BadRequest) Error() string { return e.Msg }

func badRequest(format string, args ...any) error {
	return &BadRequest{Msg: fmt.Sprintf(format, args...)}
}

// ErrEmptyBody is returned for an empty request body.
var ErrEmptyBody = &BadRequest{Msg: "request body is empty; expected a JSON object"}

// Known member bits for duplicate detection.
const (
	kModel = 1 << iota
	kModels
	kStream
	kStreamOptions
	kMaxTokens
	kMaxCompletionTokens
	kMessages
	kTools
	kToolChoice
	kResponseFormat
	kReasoning
	kProvider
	kUsage
	kUser
	kSessionID
	kMetadata
	kPrompt
)

// Reset clears c for reuse.
func (c *Chat) Reset() { *c = Chat{StreamOptionsIdx: -1} }

// ParseChat validates body as a chat completion request and fills c.
// Errors are *BadRequest (or *SyntaxError, also a client error).
func ParseChat(body []byte, c *Chat) error { return ParseRequest(body, c, KindChat) }

// Kind is the kind of inference request a body is.
type Kind uint8

// Kinds of request.
const (
	KindChat       Kind = iota // /chat/completions: messages required
	KindCompletion             // /completions (legacy text): prompt required
	KindEmbedding              // /embeddings: input required
)

// ParseRequest validates body as a request of kind and fills c. Completion
// and embedding requests share the chat peek: model, stream, max_tokens,
// provider preferences and the attribution fields mean the same there.
func ParseRequest(body []byte, c *Chat, kind Kind) error {
	c.Reset()
	if skipWS(body, 0) == len(body) {
		// Only JSON whitespace: bytes.TrimSpace also ate Unicode spaces
		// (U+00A0, U+0085), calling an invalid body empty.
		return ErrEmptyBody
	}
	var maxTokens, maxCompletion int64 = -1, -1
	err := Members(body, func(m Member) error {
		return c.member(&m, &maxTokens, &maxCompletion)
	})
	if err != nil {
		return AsBadRequest(err)
	}
	switch {
	case maxCompletion >= 0:
		c.MaxTokens = maxCompletion
	case maxTokens >= 0:
		c.MaxTokens = maxTokens
	}
	switch kind {
	case KindChat:
		if c.seen&kMessages == 0 {
			return badRequest("'messages' is required")
		}
	case KindCompletion:
		if c.Prompt == nil {
			return badRequest("'prompt' is required")
		}
	case KindEmbedding:
		if c.Prompt == nil {
			return badRequest("'input' is required")
		}
	}
	if c.seen&kModel == 0 && c.Models == nil {
		// "models": [] or null names no model either.
		return badRequest("'model' is required")
	}
	return nil
}

func (c *Chat) mark(bit uint64, name string) error {
	if c.seen&bit != 0 {
		return badRequest("duplicate key %q in request body", name)
	}
	c.seen |= bit
	return nil
}

func (c *Chat) member(m *Member, maxTokens, maxCompletion *int64) error {
	if c.NMembers == maxMembers {
		return badRequest("request body has more than %d top-level fields", maxMembers)
	}
	idx := c.NMembers
	c.Members[idx] = Span{m.Start, m.End}
	c.NMembers++
	key := Key(m.Key)
	for i, name := range ParamNames {
		if string(key) == name {
			c.Params |= 1 << uint(i)
			break
		}
	}
	for _, name := range extensionKeys {
		if string(key) == name {
			c.Ext |= 1 << uint(idx)
			break
		}
	}
	v := m.Value
	var err error
	switch string(key) {
	case "model":
		if err = c.mark(kModel, "model"); err != nil {
			return err
		}
		if c.Model, err = String(v); err != nil {
			return badRequest("'model' must be a string")
		}
		c.ModelSpan = valueSpan(m)
	case "models":
		if err = c.mark(kModels, "models"); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		n := 0
		if err = Elements(v, func(e []byte) error {
			if _, err := String(e); err != nil {
				return badRequest("'models' must be an array of strings")
			}
			n++
			return nil
		}); err != nil {
			return asBad(err, "'models' must be an array of strings")
		}
		if n > 0 {
			c.Models = v
		}
	case "stream":
		if err = c.mark(kStream, "stream"); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		if c.Stream, err = Bool(v); err != nil {
			return badRequest("'stream' must be a boolean")
		}
	case "stream_options":
		if err = c.mark(kStreamOptions, "stream_options"); err != nil {
			return err
		}
		c.StreamOptionsIdx = idx
		if IsNull(v) {
			return nil
		}
		_, err = MembersAt(v, 0, func(o Member) error {
			if KeyIs(o.Key, "include_usage") && !IsNull(o.Value) {
				b, err := Bool(o.Value)
				if err != nil {
					return badRequest("'stream_options.include_usage' must be a boolean")
				}
				c.IncludeUsage = b
			}
			return nil
		})
		if err != nil {
			return asBad(err, "'stream_options' must be an object")
		}
	case "max_tokens", "max_completion_tokens":
		// A constant name: string(key) escapes into mark's error and
		// allocated on every request that set max_tokens.
		bit, dst, name := uint64(kMaxTokens), maxTokens, "max_tokens"
		if string(key) == "max_completion_tokens" {
			bit, dst, name = kMaxCompletionTokens, maxCompletion, "max_completion_tokens"
		}
		if err = c.mark(bit, name); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		n, err := Int(v)
		if err != nil {
			return badRequest("'%s' %v", name, err)
		}
		if n < 1 || n > 1<<31 {
			return badRequest("'%s' must be between 1 and 2147483648, got %d", name, n)
		}
		*dst = n
	case "prompt", "input":
		if err = c.mark(kPrompt, string(key)); err != nil {
			return err
		}
		if !IsNull(v) {
			c.Prompt = v
		}
	case "messages":
		if err = c.mark(kMessages, "messages"); err != nil {
			return err
		}
		n := 0
		if err = Elements(v, func(e []byte) error {
			if len(e) == 0 || e[0] != '{' {
				return badRequest("'messages[%d]' must be an object", n)
			}
			n++
			return nil
		}); err != nil {
			return asBad(err, "'messages' must be an array")
		}
		if n == 0 {
			return badRequest("'messages' must contain at least one message")
		}
		c.Messages = v
		c.Images = bytes.Contains(v, []byte(`"image_url"`)) && hasImagePart(v)
	case "tools":
		if err = c.mark(kTools, "tools"); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		if len(v) == 0 || v[0] != '[' {
			return badRequest("'tools' must be an array")
		}
		c.Tools = len(bytes.TrimSpace(v[1:len(v)-1])) > 0
	case "tool_choice":
		if err = c.mark(kToolChoice, "tool_choice"); err != nil {
			return err
		}
		c.ToolChoice = !IsNull(v) && string(v) != `"none"`
	case "response_format":
		if err = c.mark(kResponseFormat, "response_format"); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		_, err = MembersAt(v, 0, func(o Member) error {
			if KeyIs(o.Key, "type") {
				switch string(o.Value) {
				case `"json_object"`:
					c.JSONObject = true
				case `"json_schema"`:
					c.JSONSchema = true
				}
			}
			return nil
		})
		if err != nil {
			return asBad(err, "'response_format' must be an object")
		}
	case "reasoning":
		if err = c.mark(kReasoning, "reasoning"); err != nil {
			return err
		}
		if !IsNull(v) {
			c.Reasoning = v
		}
	case "transforms", "plugins":
		if !IsNull(v) {
			if string(key) == "transforms" {
				c.Transforms = v
			} else {
				c.Plugins = v
			}
		}
	case "provider":
		if err = c.mark(kProvider, "provider"); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		if v[0] != '{' {
			return badRequest("'provider' must be an object")
		}
		c.Provider = v
	case "usage":
		if err = c.mark(kUsage, "usage"); err != nil {
			return err
		}
		if !IsNull(v) {
			c.Usage = v
		}
	case "user":
		if err = c.mark(kUser, "user"); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		if c.User, err = String(v); err != nil {
			return badRequest("'user' must be a string")
		}
	case "session_id":
		if err = c.mark(kSessionID, "session_id"); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		if c.SessionID, err = String(v); err != nil {
			return badRequest("'session_id' must be a string")
		}
	case "metadata":
		if err = c.mark(kMetadata, "metadata"); err != nil {
			return err
		}
		if IsNull(v) {
			return nil
		}
		if v[0] != '{' {
			return badRequest("'metadata' must be an object")
		}
		if err = checkTags(v); err != nil {
			return err
		}
		c.Metadata = v
	case "temperature", "top_p", "top_k", "min_p", "top_a", "frequency_penalty",
		"presence_penalty", "repetition_penalty", "seed":
		// Sampling numbers are forwarded as sent; a value no provider can
		// take (a string, 1e400) is the client's error, not a 502 later.
		if IsNull(v) {
			return nil
		}
		f, err := Float(v)
		if err != nil {
			return badRequest("'%s' %v", key, err)
		}
		if string(key) == "temperature" && (f < 0 || f > 2) {
			return badRequest("'temperature' must be between 0 and 2, got %s", v)
		}
	}
	return nil
}

// checkTags rejects a metadata.tags that is neither a string nor an array
// of strings, instead of dropping it from attribution without a word.
func checkTags(metadata []byte) error {
	_, err := MembersAt(metadata, 0, func(m Member) error {
		if !KeyIs(m.Key, "tags") || IsNull(m.Value) {
			return nil
		}
		if _, err := String(m.Value); err == nil {
			return nil
		}
		if m.Value[0] == '[' && Elements(m.Value, func(e []byte) error {
			_, err := String(e)
			return err
		}) == nil {
			return nil
		}
		return badRequest("'metadata.tags' must be an array of strings or a comma-separated string")
	})
	if err != nil {
		return asBad(err, "'metadata' must be an object")
	}
	return nil
}

var errFound = errors.New("found")

// hasImagePart reports whether a message's content array has an image part
// ({"type": "image_url", "image_url": {...}}). The substring test before it
// alone also matched a text, name or tool result that is exactly
// "image_url", which sent a text request to vision endpoints only.
func hasImagePart(messages []byte) bool {
	err := Elements(messages, func(msg []byte) error {
		_, err := MembersAt(msg, 0, func(m Member) error {
			if len(m.Value) == 0 || m.Value[0] != '[' || !KeyIs(m.Key, "content") {
				return nil
			}
			return Elements(m.Value, func(part []byte) error {
				_, err := MembersAt(part, 0, func(p Member) error {
					if KeyIs(p.Key, "image_url") || (KeyIs(p.Key, "type") && string(p.Value) == `"image_url"`) {
						return errFound
					}
					return nil
				})
				if err == errFound {
					return err
				}
				return nil
			})
		})
		return err
	})
	return err == errFound
}

func valueSpan(m *Member) Span {
	// The value is the tail of the member text: End-len(Value) .. End.
	return Span{m.End - len(m.Value), m.End}
}

func asBad(err error, msg string) error {
	var br *BadRequest
	if errors.As(err, &br) {
		return err
	}
	return &BadRequest{Msg: msg}
}

// EachModel calls fn with each decoded entry of a raw models array.
func EachModel(models []byte, fn func(m []byte)) {
	if models == nil {
		return
	}
	_ = Elements(models, func(e []byte) error {
		if s, err := String(e); err == nil {
			fn(s)
		}
		return nil
	})
}

// Tags appends the tags of metadata.tags (array of strings, or a
// comma-separated string) to dst.
func Tags(metadata []byte, dst [][]byte) [][]byte {
	if metadata == nil {
		return dst
	}
	_, _ = MembersAt(metadata, 0, func(m Member) error {
		if !KeyIs(m.Key, "tags") {
			return nil
		}
		if len(m.Value) > 0 && m.Value[0] == '"' {
			s, err := String(m.Value)
			if err == nil {
				dst = SplitTags(s, dst)
			}
			return nil
		}
		_ = Elements(m.Value, func(e []byte) error {
			if s, err := String(e); err == nil && len(s) > 0 {
				dst = append(dst, s)
			}
			return nil
		})
		return nil
	})
	return dst
}

// SplitTags splits a comma-separated tag list ("team:search, feature:x"),
// trimming spaces and dropping empties.
func SplitTags(s []byte, dst [][]byte) [][]byte {
	for len(s) > 0 {
		i := bytes.IndexByte(s, ',')
		var t []byte
		if i < 0 {
			t, s = s, nil
		} else {
			t, s = s[:i], s[i+1:]
		}
		if t = bytes.TrimSpace(t); len(t) > 0 {
			dst = append(dst, t)
		}
	}
	return dst
}
