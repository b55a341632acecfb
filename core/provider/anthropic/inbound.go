package anthropic

// The inbound edge: POST /messages speaks the Anthropic Messages API to
// clients (Anthropic SDKs, Claude-style agents) while the gateway core runs
// every request in the OpenAI Chat Completions shape, whatever provider
// serves it. InboundRequest converts the client's body on the way in;
// InboundResponse, InboundStream and InboundError convert everything on the
// way out. The outbound adapter (anthropic.go, request.go, stream.go) is the
// mirror image: it turns OpenAI requests into Messages requests for
// Anthropic upstreams.
//
// Request (Anthropic → OpenAI):
//
//	model                  kept as given (a Tollgate model slug)
//	system                 one system message: a string stays a string; text
//	                       blocks become text parts (cache_control kept), or a
//	                       string when there is one block without cache_control
//	messages               user/assistant turns; content blocks become parts:
//	                       text → text, image (base64 → data: URL, url) →
//	                       image_url, document (base64 PDF → file part with a
//	                       data: URL, url → file part, text → text);
//	                       cache_control on a block stays on its part
//	  tool_use             assistant tool_calls {id, function{name, arguments:
//	                       the input object as a JSON string}}
//	  tool_result          role "tool" messages (tool_call_id, text content),
//	                       emitted before the rest of the user turn because
//	                       OpenAI wants them right after the tool calls;
//	                       is_error prefixes the text with "Error: "; images in
//	                       a result move to the user message that follows
//	  thinking, redacted_thinking   dropped (signatures do not travel)
//	max_tokens, temperature, top_p, top_k   copied byte for byte (explicit 0 kept)
//	stop_sequences         stop
//	stream                 stream
//	tools                  function tools {name, description, parameters =
//	                       input_schema, strict}, cache_control kept on the tool
//	tool_choice            auto | any → required | tool → {function{name}} |
//	                       none; disable_parallel_tool_use → parallel_tool_calls false
//	thinking               enabled{budget_tokens} → reasoning{max_tokens};
//	                       adaptive → reasoning{enabled:true} (or the effort);
//	                       disabled → reasoning{enabled:false}
//	output_config          effort → reasoning.effort (max → xhigh); format
//	                       json_schema → response_format json_schema
//	metadata.user_id       user
//
// Other members (service_tier, container, mcp_servers, a top-level
// cache_control …) are ignored.

import (
	"bytes"
	"fmt"
	"strconv"

	json "github.com/goccy/go-json"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

// inBlock is one content block of a Messages request. The members it
// shares with response blocks come from contentBlock.
type inBlock struct {
	contentBlock
	Source       *inSource       `json:"source"`
	Title        string          `json:"title"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      bool            `json:"is_error"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// inSource is the source of an image or document block.
type inSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type inMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type inTool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	Strict       *bool           `json:"strict"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type inToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

type inThinking struct {
	Type         string `json:"type"`
	BudgetTokens int64  `json:"budget_tokens"`
}

type inOutputConfig struct {
	Effort string `json:"effort"`
	Format *struct {
		Type   string          `json:"type"`
		Schema json.RawMessage `json:"schema"`
	} `json:"format"`
}

// inRequest holds the raw top-level members of a Messages request; the
// slices alias the body.
type inRequest struct {
	model, maxTokens, temperature, topP, topK, stream []byte
	system, messages, stop, tools, toolChoice         []byte
	thinking, outputConfig, metadata                  []byte
}

// Request members that may appear once (a duplicate is a 400, as SPEC §10
// asks of the OpenAI endpoint).
const (
	seenModel = 1 << iota
	seenMessages
	seenMaxTokens
	seenStream
	seenSystem
	seenTools
	seenToolChoice
	seenThinking
)

func bad(format string, args ...any) error {
	return &peek.BadRequest{Msg: fmt.Sprintf(format, args...)}
}

// member files one top-level member of the request, checking its type.
func (r *inRequest) member(m *peek.Member, seen *uint) error {
	v := m.Value
	once := func(bit uint, name string) error {
		if *seen&bit != 0 {
			return bad("duplicate key %q in request body", name)
		}
		*seen |= bit
		return nil
	}
	key := peek.Key(m.Key)
	if peek.IsNull(v) {
		// null is an absent member; a null model or messages is caught as missing.
		return nil
	}
	var err error
	switch string(key) {
	case "model":
		if err = once(seenModel, "model"); err == nil && v[0] != '"' {
			err = bad("model: must be a string")
		}
		r.model = v
	case "messages":
		if err = once(seenMessages, "messages"); err == nil && v[0] != '[' {
			err = bad("messages: must be an array")
		}
		r.messages = v
	case "max_tokens":
		if err = once(seenMaxTokens, "max_tokens"); err == nil {
			if _, e := peek.Int(v); e != nil {
				err = bad("max_tokens: must be an integer")
			}
		}
		r.maxTokens = v
	case "stream":
		if err = once(seenStream, "stream"); err == nil {
			if _, e := peek.Bool(v); e != nil {
				err = bad("stream: must be a boolean")
			}
		}
		r.stream = v
	case "temperature":
		if !provider.IsJSONNumber(v) {
			return bad("temperature: must be a number")
		}
		r.temperature = v
	case "top_p":
		if !provider.IsJSONNumber(v) {
			return bad("top_p: must be a number")
		}
		r.topP = v
	case "top_k":
		if _, e := peek.Int(v); e != nil {
			return bad("top_k: must be an integer")
		}
		r.topK = v
	case "system":
		if err = once(seenSystem, "system"); err == nil && v[0] != '"' && v[0] != '[' {
			err = bad("system: must be a string or an array of text blocks")
		}
		r.system = v
	case "stop_sequences":
		if v[0] != '[' {
			return bad("stop_sequences: must be an array of strings")
		}
		r.stop = v
	case "tools":
		if err = once(seenTools, "tools"); err == nil && v[0] != '[' {
			err = bad("tools: must be an array")
		}
		r.tools = v
	case "tool_choice":
		if err = once(seenToolChoice, "tool_choice"); err == nil && v[0] != '{' {
			err = bad("tool_choice: must be an object")
		}
		r.toolChoice = v
	case "thinking":
		if err = once(seenThinking, "thinking"); err == nil && v[0] != '{' {
			err = bad("thinking: must be an object")
		}
		r.thinking = v
	case "output_config":
		if v[0] != '{' {
			return bad("output_config: must be an object")
		}
		r.outputConfig = v
	case "metadata":
		if v[0] != '{' {
			return bad("metadata: must be an object")
		}
		r.metadata = v
	}
	return err
}

// InboundRequest converts an Anthropic Messages request body into an
// OpenAI chat completions request body appended to dst (see the mapping at
// the top of this file). Client errors are *peek.BadRequest with a message
// naming the offending member, as Anthropic's own errors do
// ("messages.1.content.0.source.type: …"); dst is returned unchanged then.
func InboundRequest(dst, body []byte) ([]byte, error) {
	var r inRequest
	var seen uint
	err := peek.Members(body, func(m peek.Member) error { return r.member(&m, &seen) })
	if err != nil {
		return dst, peek.AsBadRequest(err)
	}
	out, err := r.build(dst)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func (r *inRequest) build(b []byte) ([]byte, error) {
	b, err := provider.StartChatBody(b, r.model, r.messages, "messages")
	if err != nil {
		return b, err
	}
	e := inEncoder{b: b}
	if len(r.system) > 0 {
		if err = e.system(r.system); err != nil {
			return e.b, err
		}
	}
	n := 0
	err = peek.Elements(r.messages, func(v []byte) error {
		i := n
		n++
		return e.message(i, v)
	})
	if err != nil {
		return e.b, err
	}
	if n == 0 {
		return e.b, bad("messages: at least one message is required")
	}
	b = append(e.b, ']')

	b = provider.AppendRawMember(b, "max_tokens", r.maxTokens)
	b = provider.AppendRawMember(b, "temperature", r.temperature)
	b = provider.AppendRawMember(b, "top_p", r.topP)
	b = provider.AppendRawMember(b, "top_k", r.topK)
	b = provider.AppendRawMember(b, "stream", r.stream)
	if len(r.stop) > 0 {
		var stop []string
		if err := json.Unmarshal(r.stop, &stop); err != nil {
			return b, bad("stop_sequences: must be an array of strings")
		}
		if len(stop) > 0 {
			b = append(b, `,"stop":[`...)
			for i, s := range stop {
				if i > 0 {
					b = append(b, ',')
				}
				b = peek.AppendString(b, s)
			}
			b = append(b, ']')
		}
	}
	nTools := 0
	if len(r.tools) > 0 {
		if b, nTools, err = appendInboundTools(b, r.tools); err != nil {
			return b, err
		}
	}
	if len(r.toolChoice) > 0 && nTools > 0 {
		if b, err = appendInboundToolChoice(b, r.toolChoice); err != nil {
			return b, err
		}
	}
	if b, err = r.appendReasoning(b); err != nil {
		return b, err
	}
	if len(r.metadata) > 0 {
		var md struct {
			UserID *string `json:"user_id"`
		}
		if err := json.Unmarshal(r.metadata, &md); err != nil {
			return b, bad("metadata.user_id: must be a string")
		}
		if md.UserID != nil && *md.UserID != "" {
			b = append(b, `,"user":`...)
			b = peek.AppendString(b, *md.UserID)
		}
	}
	return append(b, '}'), nil
}

// appendReasoning maps thinking and output_config to OpenRouter's
// reasoning object and response_format.
func (r *inRequest) appendReasoning(b []byte) ([]byte, error) {
	var th inThinking
	if len(r.thinking) > 0 {
		if err := json.Unmarshal(r.thinking, &th); err != nil {
			return b, bad("thinking: %s", provider.DecodeError(err))
		}
		switch th.Type {
		case "enabled", "adaptive", "disabled":
		default:
			return b, bad("thinking.type: must be enabled, adaptive or disabled; got %q", th.Type)
		}
	}
	var oc inOutputConfig
	if len(r.outputConfig) > 0 {
		if err := json.Unmarshal(r.outputConfig, &oc); err != nil {
			return b, bad("output_config: %s", provider.DecodeError(err))
		}
	}
	effort := ""
	switch oc.Effort {
	case "":
	case "low", "medium", "high":
		effort = oc.Effort
	case "max":
		effort = "xhigh"
	default:
		return b, bad("output_config.effort: must be low, medium, high or max; got %q", oc.Effort)
	}
	switch {
	case th.Type == "disabled":
		b = append(b, `,"reasoning":{"enabled":false}`...)
	case th.Type == "enabled" && th.BudgetTokens > 0:
		b = append(b, `,"reasoning":{"max_tokens":`...)
		b = strconv.AppendInt(b, th.BudgetTokens, 10)
		b = append(b, '}')
	case effort != "":
		b = append(b, `,"reasoning":{"effort":"`...)
		b = append(b, effort...)
		b = append(b, `"}`...)
	case th.Type != "":
		b = append(b, `,"reasoning":{"enabled":true}`...)
	}
	if f := oc.Format; f != nil {
		schema := bytes.TrimSpace(f.Schema)
		if f.Type != "json_schema" || len(schema) == 0 || schema[0] != '{' {
			return b, bad("output_config.format: must be {\"type\":\"json_schema\",\"schema\":{…}}")
		}
		b = append(b, `,"response_format":{"type":"json_schema","json_schema":{"name":"output","strict":true,"schema":`...)
		b = append(b, schema...)
		b = append(b, "}}"...)
	}
	return b, nil
}

func appendInboundTools(b []byte, raw []byte) ([]byte, int, error) {
	var tools []inTool
	if err := json.Unmarshal(raw, &tools); err != nil {
		return b, 0, bad("tools: %s", provider.DecodeError(err))
	}
	for i := range tools {
		t := &tools[i]
		if t.Type != "" && t.Type != "custom" {
			return b, 0, bad("tools.%d.type: %q is an Anthropic server tool; only custom tools (name, description, input_schema) can be served by every provider", i, t.Type)
		}
		if t.Name == "" {
			return b, 0, bad("tools.%d.name: field required", i)
		}
		if s := bytes.TrimSpace(t.InputSchema); len(s) > 0 && !peek.IsNull(s) && s[0] != '{' {
			return b, 0, bad("tools.%d.input_schema: must be an object", i)
		}
		if i == 0 {
			b = append(b, `,"tools":[`...)
		} else {
			b = append(b, ',')
		}
		b = provider.AppendFunctionTool(b, t.Name, t.Description, t.InputSchema, t.Strict)
		b = appendCacheControl(b, t.CacheControl)
		b = append(b, '}')
	}
	if len(tools) > 0 {
		b = append(b, ']')
	}
	return b, len(tools), nil
}

func appendInboundToolChoice(b []byte, raw []byte) ([]byte, error) {
	var tc inToolChoice
	if err := json.Unmarshal(raw, &tc); err != nil {
		return b, bad("tool_choice: %s", provider.DecodeError(err))
	}
	b = append(b, `,"tool_choice":`...)
	switch tc.Type {
	case "auto":
		b = append(b, `"auto"`...)
	case "any":
		b = append(b, `"required"`...)
	case "none":
		return append(b, `"none"`...), nil
	case "tool":
		if tc.Name == "" {
			return b, bad("tool_choice.name: field required for type tool")
		}
		b = append(b, `{"type":"function","function":{"name":`...)
		b = peek.AppendString(b, tc.Name)
		b = append(b, "}}"...)
	default:
		return b, bad("tool_choice.type: must be auto, any, tool or none; got %q", tc.Type)
	}
	if tc.DisableParallelToolUse {
		b = append(b, `,"parallel_tool_calls":false`...)
	}
	return b, nil
}

// inEncoder writes the OpenAI messages array.
type inEncoder struct {
	b      []byte
	n      int        // messages written
	blocks []inBlock  // the decoded blocks of the current message
	parts  []*inBlock // the blocks that become parts of the current message
	media  []*inBlock // images of tool results, for the user message after them
}

func (e *inEncoder) open(role string) {
	e.b = provider.AppendMessageHead(e.b, e.n, role)
	e.n++
}

// decodeBlocks decodes an array of content blocks into e.blocks.
func (e *inEncoder) decodeBlocks(raw []byte, path string) error {
	e.blocks = e.blocks[:0]
	if err := json.Unmarshal(raw, &e.blocks); err != nil {
		return bad("%s: must be a string or an array of content blocks: %v", path, provider.DecodeError(err))
	}
	return nil
}

func (e *inEncoder) system(raw []byte) error {
	if raw[0] == '"' {
		if string(raw) == `""` {
			return nil
		}
		e.open("system")
		e.b = append(e.b, raw...)
		e.b = append(e.b, '}')
		return nil
	}
	if err := e.decodeBlocks(raw, "system"); err != nil {
		return err
	}
	e.parts = e.parts[:0]
	for i := range e.blocks {
		blk := &e.blocks[i]
		if blk.Type != "text" {
			return bad("system.%d.type: system blocks must be text; got %q", i, blk.Type)
		}
		e.parts = append(e.parts, blk)
	}
	if len(e.parts) == 0 {
		return nil
	}
	e.open("system")
	if err := e.appendParts("system"); err != nil {
		return err
	}
	e.b = append(e.b, '}')
	return nil
}

// message writes the OpenAI messages for messages.i.
func (e *inEncoder) message(i int, raw []byte) error {
	var m inMessage
	if len(raw) == 0 || raw[0] != '{' {
		return bad("messages.%d: must be an object", i)
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return bad("messages.%d: %s", i, provider.DecodeError(err))
	}
	if m.Role != "user" && m.Role != "assistant" {
		return bad("messages.%d.role: must be \"user\" or \"assistant\"; got %q", i, m.Role)
	}
	c := bytes.TrimSpace(m.Content)
	switch {
	case len(c) == 0 || peek.IsNull(c):
		return bad("messages.%d.content: field required", i)
	case c[0] == '"':
		e.open(m.Role)
		e.b = append(e.b, c...)
		e.b = append(e.b, '}')
		return nil
	case c[0] != '[':
		return bad("messages.%d.content: must be a string or an array of content blocks", i)
	}
	path := "messages." + strconv.Itoa(i) + ".content"
	if err := e.decodeBlocks(c, path); err != nil {
		return err
	}
	if m.Role == "assistant" {
		return e.assistant(path)
	}
	return e.user(path)
}

// user writes a user turn: its tool results first, as tool messages, then
// the other blocks as one user message.
func (e *inEncoder) user(path string) error {
	e.parts, e.media = e.parts[:0], e.media[:0]
	for j := range e.blocks {
		blk := &e.blocks[j]
		switch blk.Type {
		case "tool_result":
			if err := e.toolResult(blk, path+"."+strconv.Itoa(j)); err != nil {
				return err
			}
		case "text", "image", "document":
			if msg := partProblem(blk); msg != "" {
				return bad("%s.%d.%s", path, j, msg)
			}
			e.parts = append(e.parts, blk)
		default:
			return bad("%s.%d.type: content block type %q is not supported in a user message", path, j, blk.Type)
		}
	}
	e.parts = append(e.parts, e.media...)
	if len(e.parts) == 0 {
		// Only tool results (or nothing): the tool messages are the turn.
		if len(e.blocks) > 0 {
			return nil
		}
		e.open("user")
		e.b = append(e.b, `""}`...)
		return nil
	}
	e.open("user")
	if err := e.appendParts(path); err != nil {
		return err
	}
	e.b = append(e.b, '}')
	return nil
}

// toolResult writes one tool message. Its content is the result's text
// (a plain string when it is one text without cache_control; else text
// parts, the result's cache_control on the last); images and documents are
// kept for the user message that follows.
func (e *inEncoder) toolResult(blk *inBlock, path string) error {
	if blk.ToolUseID == "" {
		return bad("%s.tool_use_id: field required", path)
	}
	var blocks []inBlock
	c := bytes.TrimSpace(blk.Content)
	switch {
	case len(c) == 0 || peek.IsNull(c):
	case c[0] == '"':
		blocks = []inBlock{{contentBlock: contentBlock{Type: "text"}}}
		if err := json.Unmarshal(c, &blocks[0].Text); err != nil {
			return bad("%s.content: invalid string", path)
		}
	case c[0] == '[':
		if err := json.Unmarshal(c, &blocks); err != nil {
			return bad("%s.content: %s", path, provider.DecodeError(err))
		}
	default:
		return bad("%s.content: must be a string or an array of content blocks", path)
	}
	var texts []*inBlock
	for k := range blocks {
		t := &blocks[k]
		switch t.Type {
		case "text":
			texts = append(texts, t)
		case "image", "document":
			if msg := partProblem(t); msg != "" {
				return bad("%s.content.%d.%s", path, k, msg)
			}
			e.media = append(e.media, t)
		default:
			return bad("%s.content.%d.type: %q is not supported in a tool result", path, k, t.Type)
		}
	}
	// is_error has no OpenAI equivalent: the text says it.
	label := func(s string) string {
		switch {
		case !blk.IsError:
			return s
		case s == "":
			return "Error"
		}
		return "Error: " + s
	}
	e.b = provider.AppendToolMessageHead(e.b, e.n, blk.ToolUseID)
	e.n++
	switch {
	case len(texts) == 0:
		e.b = peek.AppendString(e.b, label(""))
	case len(texts) == 1 && !hasCacheControl(blk) && !hasCacheControl(texts[0]):
		e.b = peek.AppendString(e.b, label(texts[0].Text))
	default:
		e.b = append(e.b, '[')
		for k, t := range texts {
			if k > 0 {
				e.b = append(e.b, ',')
			}
			if k == 0 {
				e.b = provider.AppendTextPart(e.b, label(t.Text))
			} else {
				e.b = provider.AppendTextPart(e.b, t.Text)
			}
			cc := t.CacheControl
			if k == len(texts)-1 && !hasCacheControl(t) {
				cc = blk.CacheControl
			}
			e.b = appendCacheControl(e.b, cc)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
	return nil
}

// assistant writes an assistant turn: text blocks are the content, tool_use
// blocks the tool_calls; thinking is dropped.
func (e *inEncoder) assistant(path string) error {
	e.parts = e.parts[:0]
	calls := 0
	for j := range e.blocks {
		blk := &e.blocks[j]
		switch blk.Type {
		case "text":
			e.parts = append(e.parts, blk)
		case "tool_use":
			if blk.Name == "" {
				return bad("%s.%d.name: field required", path, j)
			}
			if blk.ID == "" {
				return bad("%s.%d.id: field required", path, j)
			}
			if in := bytes.TrimSpace(blk.Input); len(in) > 0 && !peek.IsNull(in) && in[0] != '{' {
				return bad("%s.%d.input: must be an object", path, j)
			}
			calls++
		case "thinking", "redacted_thinking":
		default:
			return bad("%s.%d.type: content block type %q is not supported in an assistant message", path, j, blk.Type)
		}
	}
	e.open("assistant")
	switch {
	case len(e.parts) > 0:
		if err := e.appendParts(path); err != nil {
			return err
		}
	case calls > 0:
		e.b = append(e.b, "null"...)
	default:
		e.b = append(e.b, `""`...)
	}
	if calls > 0 {
		e.b = append(e.b, `,"tool_calls":[`...)
		n := 0
		for j := range e.blocks {
			blk := &e.blocks[j]
			if blk.Type != "tool_use" {
				continue
			}
			if n > 0 {
				e.b = append(e.b, ',')
			}
			n++
			e.b = provider.AppendToolCallHead(e.b, blk.ID, blk.Name)
			in := bytes.TrimSpace(blk.Input)
			if len(in) == 0 || peek.IsNull(in) {
				in = []byte("{}")
			}
			e.b = peek.AppendStringBytes(e.b, in)
			e.b = append(e.b, "}}"...)
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
	return nil
}

func hasCacheControl(b *inBlock) bool {
	cc := bytes.TrimSpace(b.CacheControl)
	return len(cc) > 0 && !peek.IsNull(cc)
}

// appendParts writes e.parts as the message content: a plain string when
// it is one text block without cache_control (every OpenAI-compatible
// server takes that), else an array of content parts.
func (e *inEncoder) appendParts(path string) error {
	if len(e.parts) == 1 && e.parts[0].Type == "text" && !hasCacheControl(e.parts[0]) {
		e.b = peek.AppendString(e.b, e.parts[0].Text)
		return nil
	}
	e.b = append(e.b, '[')
	for k, p := range e.parts {
		if k > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendInboundPart(e.b, p)
	}
	e.b = append(e.b, ']')
	return nil
}

// partProblem says what is wrong with a text, image or document block, ""
// when nothing is.
func partProblem(p *inBlock) string {
	s := p.Source
	switch p.Type {
	case "image":
		switch {
		case s == nil:
			return "source: field required"
		case s.Type == "base64":
			if s.MediaType == "" || s.Data == "" {
				return "source: media_type and data are required for base64 images"
			}
		case s.Type == "url":
			if s.URL == "" {
				return "source.url: field required"
			}
		default:
			return "source.type: must be base64 or url; got " + strconv.Quote(s.Type)
		}
	case "document":
		switch {
		case s == nil:
			return "source: field required"
		case s.Type == "base64":
			if s.Data == "" {
				return "source.data: field required"
			}
		case s.Type == "url":
			if s.URL == "" {
				return "source.url: field required"
			}
		case s.Type == "text":
		default:
			return "source.type: must be base64, url or text; got " + strconv.Quote(s.Type)
		}
	}
	return ""
}

// appendInboundPart writes one text, image or document block (checked by
// partProblem) as an OpenAI content part.
func appendInboundPart(b []byte, p *inBlock) []byte {
	s := p.Source
	switch {
	case p.Type == "image":
		b = append(b, `{"type":"image_url","image_url":{"url":`...)
		if s.Type == "url" {
			b = peek.AppendString(b, s.URL)
		} else {
			b = appendDataURL(b, s.MediaType, s.Data)
		}
		b = append(b, '}')
	case p.Type == "document" && s.Type != "text":
		name := p.Title
		if name == "" {
			name = "document.pdf"
		}
		b = provider.AppendFilePartHead(b, name)
		if s.Type == "url" {
			b = peek.AppendString(b, s.URL)
		} else {
			mt := s.MediaType
			if mt == "" {
				mt = "application/pdf"
			}
			b = appendDataURL(b, mt, s.Data)
		}
		b = append(b, '}')
	default: // text, or a plain-text document
		text := p.Text
		if p.Type == "document" {
			text = s.Data
		}
		b = provider.AppendTextPart(b, text)
	}
	b = appendCacheControl(b, p.CacheControl)
	return append(b, '}')
}

// appendDataURL appends "data:<media type>;base64,<data>" as a JSON string.
func appendDataURL(b []byte, mediaType, data string) []byte {
	b = append(b, `"data:`...)
	b = appendStringBody(b, mediaType)
	b = append(b, ";base64,"...)
	b = appendStringBody(b, data)
	return append(b, '"')
}

// appendStringBody appends s JSON-escaped, without the quotes.
func appendStringBody(b []byte, s string) []byte {
	start := len(b)
	b = peek.AppendString(b, s)
	copy(b[start:], b[start+1:len(b)-1])
	return b[:len(b)-2]
}

// checkJSON validates a JSON object strictly before go-json decodes it:
// go-json v0.10 can panic (index out of range) on malformed input such as
// a key ending in a dangling escape (goccy/go-json#604), and these bytes
// come from upstreams.
func checkJSON(b []byte) error {
	return peek.Members(b, func(peek.Member) error { return nil })
}

// appendAnthropicUsage appends the Messages usage object: input_tokens
// excludes the prompt tokens read from or written to the cache, which
// Tollgate counts inside prompt_tokens.
func appendAnthropicUsage(b []byte, u *provider.ChatUsage) []byte {
	read := max(u.PromptTokensDetails.CachedTokens, 0)
	write := max(u.PromptTokensDetails.CacheWriteTokens, u.CacheWriteTokens, 0)
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, max(u.PromptTokens-read-write, 0), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, max(u.CompletionTokens, 0), 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, write, 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, read, 10)
	return append(b, '}')
}

// inAssistant is choices[0].message of a chat.completion; the members it
// shares with request messages come from chatMessage.
type inAssistant struct {
	chatMessage
	Reasoning        string `json:"reasoning"`
	ReasoningContent string `json:"reasoning_content"`
	Refusal          string `json:"refusal"`
}

type inCompletion struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Message            inAssistant `json:"message"`
		FinishReason       string      `json:"finish_reason"`
		NativeFinishReason string      `json:"native_finish_reason"`
	} `json:"choices"`
	Usage provider.ChatUsage `json:"usage"`
}

// stopReason maps a finish reason to Anthropic's stop_reason. A native
// value that is already an Anthropic stop reason (the upstream spoke the
// Messages API) is kept; otherwise stop → end_turn, length → max_tokens,
// tool_calls → tool_use, content_filter → refusal, and error (or anything
// else) → end_turn: the turn is over and what was generated is the answer.
// Agent loops run tools on tool_use only, so a turn that carries tool
// calls is tool_use whatever the upstream said, and one without is never
// tool_use.
func stopReason(finish, native string, toolUse bool) string {
	r := "end_turn"
	switch native {
	case "end_turn":
	case "max_tokens":
		r = "max_tokens"
	case "stop_sequence":
		r = "stop_sequence"
	case "tool_use":
		r = "tool_use"
	case "pause_turn":
		r = "pause_turn"
	case "refusal":
		r = "refusal"
	case "model_context_window_exceeded":
		r = "model_context_window_exceeded"
	default:
		switch finish {
		case "length":
			r = "max_tokens"
		case "tool_calls":
			r = "tool_use"
		case "content_filter":
			r = "refusal"
		}
	}
	switch {
	case toolUse && (r == "end_turn" || r == "stop_sequence"):
		r = "tool_use"
	case !toolUse && r == "tool_use":
		r = "end_turn"
	}
	return r
}

// appendToolUseID appends a tool call's id, or one made from the
// response id and the call's position when the upstream sent none.
func appendToolUseID(b []byte, id, respID string, n int) []byte {
	if id != "" {
		return peek.AppendString(b, id)
	}
	b = append(b, `"call_`...)
	b = appendStringBody(b, respID)
	b = append(b, '_')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '"')
}

// InboundResponse converts the gateway's OpenAI chat.completion JSON into
// an Anthropic Message appended to dst: the gen- id and the model that
// served; content = a thinking block (the reasoning, signature ""), a text
// block (content, else the refusal), then a tool_use block per tool call
// (input = the arguments object, {} when they are not a JSON object);
// stop_reason by stopReason; stop_sequence null (OpenAI does not say which
// sequence matched); usage with input_tokens net of cache reads and writes.
func InboundResponse(dst, openaiBody []byte) ([]byte, error) {
	var c inCompletion
	err := checkJSON(openaiBody)
	if err == nil {
		err = json.Unmarshal(openaiBody, &c)
	}
	if err != nil {
		return dst, fmt.Errorf("anthropic: cannot convert the chat completion: %w", err)
	}
	var m *inAssistant
	finish, native := "", ""
	if len(c.Choices) > 0 {
		ch := &c.Choices[0]
		m, finish, native = &ch.Message, ch.FinishReason, ch.NativeFinishReason
	} else {
		m = &inAssistant{}
	}
	text, err := provider.AppendContentText(nil, m.Content, true)
	if err != nil {
		return dst, fmt.Errorf("anthropic: cannot convert the chat completion: %w", err)
	}
	if len(text) == 0 {
		text = append(text, m.Refusal...)
	}
	reasoning := m.Reasoning
	if reasoning == "" {
		reasoning = m.ReasoningContent
	}

	b := append(dst, `{"id":`...)
	b = peek.AppendString(b, c.ID)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = peek.AppendString(b, c.Model)
	b = append(b, `,"content":[`...)
	n := 0
	if reasoning != "" {
		b = append(b, `{"type":"thinking","thinking":`...)
		b = peek.AppendString(b, reasoning)
		b = append(b, `,"signature":""}`...)
		n++
	}
	if len(text) > 0 {
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"text","text":`...)
		b = peek.AppendStringBytes(b, text)
		b = append(b, '}')
		n++
	}
	for i := range m.ToolCalls {
		tc := &m.ToolCalls[i]
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, `{"type":"tool_use","id":`...)
		b = appendToolUseID(b, tc.ID, c.ID, i)
		b = append(b, `,"name":`...)
		b = peek.AppendString(b, tc.Function.Name)
		b = append(b, `,"input":`...)
		b = appendToolInput(b, tc.Function.Arguments)
		b = append(b, '}')
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, stopReason(finish, native, len(m.ToolCalls) > 0)...)
	b = append(b, `","stop_sequence":null,"usage":`...)
	b = appendAnthropicUsage(b, &c.Usage)
	return append(b, '}'), nil
}

// InboundError renders an error in Anthropic's envelope
// {"type":"error","error":{"type":…,"message":…}} for an HTTP status, with
// the error types Anthropic documents: 400 (and any other 4xx)
// invalid_request_error, 401 authentication_error, 402 billing_error,
// 403 permission_error, 404 not_found_error, 413 request_too_large,
// 429 rate_limit_error, 408 and 504 timeout_error, 503 and 529
// overloaded_error (Tollgate's 503 means no provider can take the request
// now: retry later), 500, 502 and any other status api_error.
func InboundError(dst []byte, status int, msg string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":"`...)
	dst = append(dst, errorType(status)...)
	dst = append(dst, `","message":`...)
	dst = peek.AppendString(dst, msg)
	return append(dst, "}}"...)
}

func errorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 408, 504:
		return "timeout_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 503, StatusOverloaded:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// inToolDelta is one element of delta.tool_calls; the members it shares
// with complete tool calls come from chatToolCall.
type inToolDelta struct {
	Index int `json:"index"`
	chatToolCall
}

// inChunk is one chat.completion.chunk (or the gateway's error chunk).
type inChunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content          string        `json:"content"`
			Reasoning        string        `json:"reasoning"`
			ReasoningContent string        `json:"reasoning_content"`
			Refusal          string        `json:"refusal"`
			ToolCalls        []inToolDelta `json:"tool_calls"`
		} `json:"delta"`
		FinishReason       string `json:"finish_reason"`
		NativeFinishReason string `json:"native_finish_reason"`
	} `json:"choices"`
	Usage *provider.ChatUsage `json:"usage"`
	Error *struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	} `json:"error"`
}

// InboundStream converts the gateway's OpenAI SSE stream into Anthropic
// SSE events, in the order the Messages API documents:
//
//	first chunk          message_start (id, model, empty content, usage 0)
//	delta.reasoning      a thinking block: content_block_start {thinking "",
//	                     signature ""}, thinking_delta …, and a signature_delta
//	                     "" before its content_block_stop, as Anthropic sends
//	delta.content        a text block: text_delta … (a refusal too)
//	delta.tool_calls     one tool_use block per tool-call index: start {id,
//	                     name, input {}}, then input_json_delta with the
//	                     argument fragments
//	finish_reason        remembered (see stopReason)
//	usage chunk, [DONE]  content_block_stop of the open block, message_delta
//	                     {stop_reason, stop_sequence null, usage with
//	                     cumulative output_tokens and the input counts},
//	                     message_stop
//	error chunk          one error event, then nothing more
//
// Block indexes count the blocks in order, and a block of another kind
// closes the open ones. A new tool call closes the previous one when that
// one's arguments are complete JSON, as every known upstream sends them
// one call after the other; an upstream that interleaves calls leaves the
// unfinished ones open until the end (the SDKs accumulate deltas by
// index, and a closed block's input is final to them). Every event has an
// event: line, which Anthropic SDKs need. Frame keeps no reference to
// data.
type InboundStream struct {
	chunk   inChunk
	id      []byte
	model   []byte
	tools   []toolBlock // by OpenAI tool-call index
	args    []byte      // the arguments so far of the last tool call started
	last    int         // OpenAI index of the last tool call started
	usage   provider.ChatUsage
	stop    string // finish_reason, as finishConst
	native  string // native_finish_reason, as nativeConst
	blocks  int    // content blocks started
	open    byte   // blockText or blockThinking while one is open, else blockOther
	nOpen   int    // tool_use blocks open
	toolUse bool   // a tool_use block was started
	started bool   // message_start sent
	ended   bool   // message_stop or error sent
}

// toolBlock is the content block of one OpenAI tool call.
type toolBlock struct {
	index   int32 // content block index; -1: not started
	stopped bool
}

// NewInboundStream returns the converter of one stream. It is not safe for
// concurrent use.
func NewInboundStream() *InboundStream {
	return &InboundStream{}
}

func appendEvent(b []byte, name string) []byte {
	b = append(b, "event: "...)
	b = append(b, name...)
	b = append(b, "\ndata: "...)
	return b
}

func endEvent(b []byte) []byte { return append(b, "\n\n"...) }

// Frame takes the payload of one OpenAI "data:" line (a chunk, an error
// chunk or [DONE]) and appends zero or more complete Anthropic events to
// dst. A payload that is not a chunk is an error and leaves dst and the
// stream as they were.
func (s *InboundStream) Frame(dst, data []byte) ([]byte, error) {
	data = bytes.TrimSpace(data)
	if s.ended || len(data) == 0 {
		return dst, nil
	}
	if sse.IsDone(data) {
		return s.finish(dst), nil
	}
	if err := checkJSON(data); err != nil {
		return dst, fmt.Errorf("anthropic: cannot convert a stream chunk: %w", err)
	}
	c := &s.chunk
	*c = inChunk{Choices: c.Choices[:0]}
	if err := json.UnmarshalNoEscape(data, c); err != nil {
		return dst, fmt.Errorf("anthropic: cannot convert a stream chunk: %w", err)
	}
	if c.Error != nil {
		s.ended = true
		return s.appendError(dst), nil
	}
	// Check the tool-call indexes before anything is written, so a bad
	// chunk changes nothing.
	for i := range c.Choices {
		for j := range c.Choices[i].Delta.ToolCalls {
			if idx := c.Choices[i].Delta.ToolCalls[j].Index; idx < 0 || idx >= maxBlocks {
				return dst, fmt.Errorf("anthropic: cannot convert a stream chunk: tool-call index %d out of range", idx)
			}
		}
	}
	if !s.started {
		dst = s.start(dst, c.ID, c.Model)
	}
	if c.Usage != nil {
		s.usage = *c.Usage
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // n > 1 has no Anthropic equivalent
		}
		d := &ch.Delta
		if r := d.Reasoning; r != "" {
			dst = s.text(dst, blockThinking, r)
		} else if d.ReasoningContent != "" {
			dst = s.text(dst, blockThinking, d.ReasoningContent)
		}
		if d.Content != "" {
			dst = s.text(dst, blockText, d.Content)
		}
		if d.Refusal != "" {
			dst = s.text(dst, blockText, d.Refusal)
		}
		for j := range d.ToolCalls {
			dst = s.toolDelta(dst, &d.ToolCalls[j])
		}
		if ch.FinishReason != "" {
			s.stop = finishConst(ch.FinishReason)
			s.native = nativeConst(ch.NativeFinishReason)
		}
	}
	if len(c.Choices) == 0 && c.Usage != nil {
		dst = s.finish(dst)
	}
	return dst, nil
}

// finishConst and nativeConst return the constants stopReason tells apart,
// so the stream keeps no string aliasing a decoded chunk.
func finishConst(f string) string {
	switch f {
	case "length":
		return "length"
	case "tool_calls":
		return "tool_calls"
	case "content_filter":
		return "content_filter"
	}
	return "stop"
}

func nativeConst(n string) string {
	switch n {
	case "end_turn":
		return "end_turn"
	case "max_tokens":
		return "max_tokens"
	case "stop_sequence":
		return "stop_sequence"
	case "tool_use":
		return "tool_use"
	case "pause_turn":
		return "pause_turn"
	case "refusal":
		return "refusal"
	case "model_context_window_exceeded":
		return "model_context_window_exceeded"
	}
	return ""
}

func (s *InboundStream) start(b []byte, id, model string) []byte {
	s.started = true
	s.id = append(s.id[:0], id...)
	s.model = append(s.model[:0], model...)
	b = appendEvent(b, "message_start")
	b = append(b, `{"type":"message_start","message":{"id":`...)
	b = peek.AppendStringBytes(b, s.id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = peek.AppendStringBytes(b, s.model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}`...)
	return endEvent(b)
}

func appendBlockStop(b []byte, idx int) []byte {
	b = appendEvent(b, "content_block_stop")
	b = append(b, `{"type":"content_block_stop","index":`...)
	b = strconv.AppendInt(b, int64(idx), 10)
	b = append(b, '}')
	return endEvent(b)
}

// closeBlocks ends the open text or thinking block, or the open tool_use
// blocks in index order.
func (s *InboundStream) closeBlocks(b []byte) []byte {
	if s.open != blockOther {
		idx := s.blocks - 1
		if s.open == blockThinking {
			b = appendEvent(b, "content_block_delta")
			b = append(b, `{"type":"content_block_delta","index":`...)
			b = strconv.AppendInt(b, int64(idx), 10)
			b = append(b, `,"delta":{"type":"signature_delta","signature":""}}`...)
			b = endEvent(b)
		}
		s.open = blockOther
		return appendBlockStop(b, idx)
	}
	for s.nOpen > 0 {
		// Blocks start in tool-call order, so the lowest open index is
		// the first open tool call found.
		first := -1
		for i := range s.tools {
			t := &s.tools[i]
			if t.index >= 0 && !t.stopped && (first < 0 || t.index < s.tools[first].index) {
				first = i
			}
		}
		s.tools[first].stopped = true
		s.nOpen--
		b = appendBlockStop(b, int(s.tools[first].index))
	}
	return b
}

// text appends a text or thinking delta, starting a block of that kind
// unless one is open.
func (s *InboundStream) text(b []byte, kind byte, t string) []byte {
	if s.open != kind {
		b = s.closeBlocks(b)
		s.open = kind
		b = appendEvent(b, "content_block_start")
		b = append(b, `{"type":"content_block_start","index":`...)
		b = strconv.AppendInt(b, int64(s.blocks), 10)
		if kind == blockThinking {
			b = append(b, `,"content_block":{"type":"thinking","thinking":"","signature":""}}`...)
		} else {
			b = append(b, `,"content_block":{"type":"text","text":""}}`...)
		}
		b = endEvent(b)
		s.blocks++
	}
	b = appendEvent(b, "content_block_delta")
	b = append(b, `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(s.blocks-1), 10)
	if kind == blockThinking {
		b = append(b, `,"delta":{"type":"thinking_delta","thinking":`...)
	} else {
		b = append(b, `,"delta":{"type":"text_delta","text":`...)
	}
	b = peek.AppendString(b, t)
	b = append(b, "}}"...)
	return endEvent(b)
}

// toolDelta appends the events of one tool-call delta.
func (s *InboundStream) toolDelta(b []byte, tc *inToolDelta) []byte {
	for len(s.tools) <= tc.Index {
		s.tools = append(s.tools, toolBlock{index: -1})
	}
	t := &s.tools[tc.Index]
	if t.index < 0 {
		if s.open != blockOther {
			b = s.closeBlocks(b)
		} else if s.toolUse {
			if prev := &s.tools[s.last]; !prev.stopped && json.Valid(s.args) {
				prev.stopped = true
				s.nOpen--
				b = appendBlockStop(b, int(prev.index))
			}
		}
		t.index = int32(s.blocks)
		s.blocks++
		s.nOpen++
		s.toolUse = true
		s.last, s.args = tc.Index, s.args[:0]
		b = appendEvent(b, "content_block_start")
		b = append(b, `{"type":"content_block_start","index":`...)
		b = strconv.AppendInt(b, int64(t.index), 10)
		b = append(b, `,"content_block":{"type":"tool_use","id":`...)
		if tc.ID != "" {
			b = peek.AppendString(b, tc.ID)
		} else {
			b = append(b, `"call_`...)
			b = appendStringBody(b, string(s.id))
			b = append(b, '_')
			b = strconv.AppendInt(b, int64(tc.Index), 10)
			b = append(b, '"')
		}
		b = append(b, `,"name":`...)
		b = peek.AppendString(b, tc.Function.Name)
		b = append(b, `,"input":{}}}`...)
		b = endEvent(b)
	}
	if tc.Function.Arguments == "" {
		return b
	}
	if tc.Index == s.last {
		s.args = append(s.args, tc.Function.Arguments...)
	}
	b = appendEvent(b, "content_block_delta")
	b = append(b, `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(t.index), 10)
	b = append(b, `,"delta":{"type":"input_json_delta","partial_json":`...)
	b = peek.AppendString(b, tc.Function.Arguments)
	b = append(b, "}}"...)
	return endEvent(b)
}

// finish ends the message: the open block's stop, message_delta with the
// stop reason and usage, message_stop.
func (s *InboundStream) finish(b []byte) []byte {
	if !s.started {
		b = s.start(b, "", "")
	}
	s.ended = true
	b = s.closeBlocks(b)
	b = appendEvent(b, "message_delta")
	b = append(b, `{"type":"message_delta","delta":{"stop_reason":"`...)
	b = append(b, stopReason(s.stop, s.native, s.toolUse)...)
	b = append(b, `","stop_sequence":null},"usage":`...)
	b = appendAnthropicUsage(b, &s.usage)
	b = append(b, '}')
	b = endEvent(b)
	b = appendEvent(b, "message_stop")
	b = append(b, `{"type":"message_stop"}`...)
	return endEvent(b)
}

// appendError appends the error event of an error chunk; its type comes
// from the chunk's code (an HTTP status).
func (s *InboundStream) appendError(b []byte) []byte {
	status, msg := provider.StreamError(s.chunk.Error.Code, s.chunk.Error.Message)
	b = appendEvent(b, "error")
	b = append(b, `{"type":"error","error":{"type":"`...)
	b = append(b, errorType(status)...)
	b = append(b, `","message":`...)
	b = peek.AppendString(b, msg)
	b = append(b, "}}"...)
	return endEvent(b)
}
