package anthropic

import (
	"bytes"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
)

// Defaults of the request translation.
const (
	// DefaultBaseURL is Anthropic's API base; POST {base}/messages.
	DefaultBaseURL = "https://api.anthropic.com/v1"
	// DefaultMaxTokens is sent as max_tokens, which the Messages API
	// requires, when neither the client (max_tokens or
	// max_completion_tokens) nor the endpoint (max_completion_tokens in
	// the catalog) gives a limit.
	DefaultMaxTokens = 4096
	// APIVersion is the anthropic-version header sent upstream; a
	// provider's configured headers may override it.
	APIVersion = "2023-06-01"

	// minThinkingBudget and maxThinkingBudget bound a budget derived from
	// reasoning.effort, as OpenRouter documents for Anthropic models:
	// budget_tokens = max(min(max_tokens × ratio, 32000), 1024).
	minThinkingBudget = 1024
	maxThinkingBudget = 32000

	// jsonObjectInstruction is the system text that stands in for
	// response_format json_object: the Messages API has no plain JSON mode.
	jsonObjectInstruction = "Respond only with a single valid JSON object. Do not add any text before or after it."
)

// chatRequest is what the adapter reads from the client's OpenAI Chat
// Completions body. Pointers and raw values keep an explicit 0, false or
// null apart from an absent member.
type chatRequest struct {
	Messages          []chatMessage   `json:"messages"`
	Temperature       *float64        `json:"temperature"`
	TopP              *float64        `json:"top_p"`
	TopK              *int64          `json:"top_k"`
	Stop              json.RawMessage `json:"stop"`
	Tools             []chatTool      `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	ResponseFormat    *responseFormat `json:"response_format"`
	Reasoning         *reasoning      `json:"reasoning"`
	ReasoningEffort   string          `json:"reasoning_effort"`
	User              string          `json:"user"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []chatToolCall  `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type chatToolCall = provider.ChatToolCall

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type responseFormat = provider.ResponseFormat

// reasoning is OpenRouter's reasoning object.
type reasoning = provider.Reasoning

// thinkingBudget is budget_tokens for a request capped at maxTokens; 0
// means thinking stays off. Thinking is on when the client sent
// reasoning.effort, reasoning.max_tokens, reasoning.enabled=true or the
// top-level reasoning_effort. The budget must be at least 1024 and below
// max_tokens (the Messages API rejects anything else); max_tokens is never
// raised to make room, because it bounds what the request may be charged.
func thinkingBudget(r *reasoning, topEffort string, maxTokens int64) (int64, error) {
	effort := topEffort
	on := topEffort != ""
	var budget int64
	if r != nil {
		if r.Effort != "" {
			effort, on = r.Effort, true
		}
		if r.Enabled != nil {
			on = *r.Enabled
		}
		if r.MaxTokens != nil {
			budget, on = *r.MaxTokens, *r.MaxTokens > 0
		}
		if r.Enabled != nil && !*r.Enabled {
			on = false
		}
	}
	if !on {
		return 0, nil
	}
	if budget == 0 {
		ratio, ok := provider.EffortRatio(effort)
		if !ok {
			return 0, &peek.BadRequest{Msg: "'reasoning.effort' must be one of none, minimal, low, medium, high, xhigh; got " + strconv.Quote(effort)}
		}
		if ratio == 0 {
			return 0, nil
		}
		budget = min(max(int64(float64(maxTokens)*ratio), minThinkingBudget), maxThinkingBudget)
	}
	if budget >= maxTokens {
		budget = maxTokens - 1
	}
	if budget < minThinkingBudget {
		return 0, nil
	}
	return budget, nil
}

func badRequest(msg string) error { return &peek.BadRequest{Msg: msg} }

// encoder writes the Messages API body. Consecutive blocks of one role go
// into one message (the API wants alternating turns).
type encoder struct {
	b      []byte
	role   string // role of the open message, "" when none is open
	blocks int    // blocks written in the open message
	nMsgs  int
	// toolUse: the last assistant message so far carries tool_use blocks.
	toolUse bool
}

func (e *encoder) block(role string) {
	if e.role == role {
		e.b = append(e.b, ',')
		e.blocks++
		return
	}
	e.closeMsg()
	if e.nMsgs > 0 {
		e.b = append(e.b, ',')
	}
	e.nMsgs++
	e.role, e.blocks = role, 1
	if role == "assistant" {
		e.toolUse = false
	}
	e.b = append(e.b, `{"role":`...)
	e.b = peek.AppendString(e.b, role)
	e.b = append(e.b, `,"content":[`...)
}

func (e *encoder) closeMsg() {
	if e.role != "" {
		e.b = append(e.b, "]}"...)
		e.role = ""
	}
}

// appendCacheControl appends `,"cache_control":…` when the part carries one.
func appendCacheControl(b []byte, cc json.RawMessage) []byte {
	if cc = bytes.TrimSpace(cc); len(cc) == 0 || peek.IsNull(cc) {
		return b
	}
	b = append(b, `,"cache_control":`...)
	return append(b, cc...)
}

func appendTextBlock(b []byte, text string, cc json.RawMessage) []byte {
	b = append(b, `{"type":"text","text":`...)
	b = peek.AppendString(b, text)
	b = appendCacheControl(b, cc)
	return append(b, '}')
}

// appendMediaBlock appends an image (or PDF document) block for a URL or a
// data: URL.
func appendMediaBlock(b []byte, kind, u string, cc json.RawMessage) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = peek.AppendString(b, kind)
	b = append(b, `,"source":`...)
	mt, data, inline, err := provider.MediaURL(u)
	switch {
	case err != nil:
		return b, err
	case inline:
		b = append(b, `{"type":"base64","media_type":`...)
		b = peek.AppendString(b, mt)
		b = append(b, `,"data":`...)
		b = peek.AppendString(b, data)
		b = append(b, '}')
	default:
		b = append(b, `{"type":"url","url":`...)
		b = peek.AppendString(b, u)
		b = append(b, '}')
	}
	b = appendCacheControl(b, cc)
	return append(b, '}'), nil
}

// appendPart appends the block for one user/tool content part; ok is
// false for an empty text part, which the API rejects and is skipped.
func appendPart(b []byte, p *provider.ContentPart) ([]byte, bool, error) {
	if provider.IsTextPart(p) {
		if p.Text == "" {
			return b, false, nil
		}
		return appendTextBlock(b, p.Text, p.CacheControl), true, nil
	}
	switch p.Type {
	case "image_url", "input_image":
		u, err := p.URL()
		if err != nil {
			return b, false, err
		}
		b, err = appendMediaBlock(b, "image", u, p.CacheControl)
		return b, err == nil, err
	case "file":
		u, err := provider.FileData(p, "Anthropic")
		if err != nil {
			return b, false, err
		}
		b, err = appendMediaBlock(b, "document", u, p.CacheControl)
		return b, err == nil, err
	}
	return b, false, badRequest("content part type " + strconv.Quote(p.Type) + " is not supported by Anthropic endpoints")
}

// appendToolID appends an id made acceptable to the Messages API (^[a-zA-Z0-9_-]+$):
// ids minted by other providers ("functions.get_weather:0") would be
// rejected. The same mapping applies to tool_use and tool_result, so pairs
// still match.
func appendToolID(b []byte, id string) []byte {
	b = append(b, '"')
	if id == "" {
		id = "call"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	return append(b, '"')
}

// appendToolInput appends a tool call's arguments as the input object,
// which the Messages API requires (see provider.AppendArgsObject).
func appendToolInput(b []byte, args string) []byte {
	return provider.AppendArgsObject(b, args)
}

// buildBody writes the Messages API request for c into dst.
func buildBody(dst []byte, c *provider.Call) ([]byte, error) {
	var r chatRequest
	if err := json.Unmarshal(c.Body, &r); err != nil {
		return dst, badRequest("invalid request body: " + err.Error())
	}
	maxTokens := provider.MaxTokens(c, DefaultMaxTokens)

	e := encoder{b: dst}
	e.b = append(e.b, `{"model":`...)
	e.b = peek.AppendString(e.b, c.Endpoint.UpstreamModelID())
	e.b = append(e.b, `,"max_tokens":`...)
	e.b = strconv.AppendInt(e.b, maxTokens, 10)

	// System and developer messages, wherever they are, become the
	// system prompt in order.
	sysStart := len(e.b)
	e.b = append(e.b, `,"system":[`...)
	nSys := 0
	var parts []provider.ContentPart
	var err error
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.Role != "system" && m.Role != "developer" {
			continue
		}
		if parts, err = provider.ParseSystemContent(m.Content, parts[:0]); err != nil {
			return dst, err
		}
		for j := range parts {
			p := &parts[j]
			if p.Text == "" {
				continue
			}
			if nSys > 0 {
				e.b = append(e.b, ',')
			}
			nSys++
			e.b = appendTextBlock(e.b, p.Text, p.CacheControl)
		}
	}
	jsonMode, schema := false, json.RawMessage(nil)
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			jsonMode = true
		case "json_schema":
			if rf.JSONSchema != nil {
				schema = bytes.TrimSpace(rf.JSONSchema.Schema)
			}
			if len(schema) == 0 || schema[0] != '{' {
				schema = nil // no usable schema: plain JSON mode
				jsonMode = true
			}
		}
	}
	if jsonMode {
		if nSys > 0 {
			e.b = append(e.b, ',')
		}
		nSys++
		e.b = appendTextBlock(e.b, jsonObjectInstruction, nil)
	}
	sysEnd := len(e.b)
	e.b = append(e.b, ']')
	hasTurns := false
	for i := range r.Messages {
		if role := r.Messages[i].Role; role != "system" && role != "developer" {
			hasTurns = true
			break
		}
	}
	switch {
	case nSys == 0:
		e.b = e.b[:sysStart]
	case !hasTurns:
		// Only system messages: the API needs at least one turn, so the
		// instructions become the user's message.
		blocks := append([]byte(nil), e.b[sysStart+len(`,"system":[`):sysEnd]...)
		e.b = append(e.b[:sysStart], `,"messages":[{"role":"user","content":[`...)
		e.b = append(e.b, blocks...)
		e.b = append(e.b, "]}]"...)
	}

	if hasTurns {
		e.b = append(e.b, `,"messages":[`...)
		for i := range r.Messages {
			if err := e.message(&r.Messages[i], &parts); err != nil {
				return dst, err
			}
		}
		e.closeMsg()
		e.b = append(e.b, ']')
	}

	// Tools and tool_choice.
	forced := false
	nTools := 0
	for i := range r.Tools {
		t := &r.Tools[i]
		if err := provider.CheckFunctionTool(i, t.Type, t.Function.Name, "Anthropic"); err != nil {
			return dst, err
		}
		if nTools == 0 {
			e.b = append(e.b, `,"tools":[`...)
		} else {
			e.b = append(e.b, ',')
		}
		nTools++
		e.b = append(e.b, `{"name":`...)
		e.b = peek.AppendString(e.b, t.Function.Name)
		if t.Function.Description != "" {
			e.b = append(e.b, `,"description":`...)
			e.b = peek.AppendString(e.b, t.Function.Description)
		}
		e.b = append(e.b, `,"input_schema":`...)
		if p := bytes.TrimSpace(t.Function.Parameters); len(p) > 0 && p[0] == '{' {
			e.b = append(e.b, p...)
		} else {
			e.b = append(e.b, `{"type":"object","properties":{}}`...)
		}
		e.b = appendCacheControl(e.b, t.CacheControl)
		e.b = append(e.b, '}')
	}
	if nTools > 0 {
		e.b = append(e.b, ']')
		if e.b, forced, err = appendToolChoice(e.b, r.ToolChoice, r.ParallelToolCalls); err != nil {
			return dst, err
		}
	}

	// Thinking. It is incompatible with a forced tool choice, and a tool
	// loop whose last assistant turn carries tool_use without its
	// (signed) thinking block is rejected while thinking is on; an OpenAI
	// client never has that block, so thinking stays off then.
	budget, err := thinkingBudget(r.Reasoning, r.ReasoningEffort, maxTokens)
	if err != nil {
		return dst, err
	}
	if forced || e.toolUse {
		budget = 0
	}

	// Sampling. Temperature is clamped to the API's 0..1 (OpenAI allows
	// 0..2; OpenRouter clamps too). With thinking on, the API rejects
	// temperature and top_k and accepts top_p only in 0.95..1.
	if budget == 0 {
		if r.Temperature != nil {
			e.b = append(e.b, `,"temperature":`...)
			e.b = provider.AppendFloat(e.b, min(max(*r.Temperature, 0), 1))
		}
		if r.TopK != nil {
			e.b = append(e.b, `,"top_k":`...)
			e.b = strconv.AppendInt(e.b, *r.TopK, 10)
		}
	}
	if r.TopP != nil {
		p := *r.TopP
		if budget > 0 {
			p = max(p, 0.95)
		}
		e.b = append(e.b, `,"top_p":`...)
		e.b = provider.AppendFloat(e.b, min(max(p, 0), 1))
	}
	if e.b, err = appendStop(e.b, r.Stop); err != nil {
		return dst, err
	}
	if c.Stream {
		e.b = append(e.b, `,"stream":true`...)
	}
	if budget > 0 {
		e.b = append(e.b, `,"thinking":{"type":"enabled","budget_tokens":`...)
		e.b = strconv.AppendInt(e.b, budget, 10)
		e.b = append(e.b, '}')
	}
	if schema != nil {
		e.b = append(e.b, `,"output_config":{"format":{"type":"json_schema","schema":`...)
		e.b = append(e.b, schema...)
		e.b = append(e.b, "}}"...)
	}
	if r.User != "" {
		e.b = append(e.b, `,"metadata":{"user_id":`...)
		e.b = peek.AppendString(e.b, r.User)
		e.b = append(e.b, '}')
	}
	return append(e.b, '}'), nil
}

// message appends the blocks of one non-system message.
func (e *encoder) message(m *chatMessage, parts *[]provider.ContentPart) error {
	var err error
	switch m.Role {
	case "system", "developer":
		return nil
	case "user":
		if *parts, err = provider.ParseContent(m.Content, (*parts)[:0]); err != nil {
			return err
		}
		for i := range *parts {
			if err := e.part("user", &(*parts)[i]); err != nil {
				return err
			}
		}
	case "assistant":
		if *parts, err = provider.ParseContent(m.Content, (*parts)[:0]); err != nil {
			return err
		}
		for i := range *parts {
			p := &(*parts)[i]
			text, err := provider.AssistantText(p)
			if err != nil {
				return err
			}
			if text == "" {
				continue
			}
			e.block("assistant")
			e.b = appendTextBlock(e.b, text, p.CacheControl)
		}
		for i := range m.ToolCalls {
			tc := &m.ToolCalls[i]
			if tc.Function.Name == "" {
				return badRequest("assistant tool_calls need function.name")
			}
			e.block("assistant")
			e.toolUse = true
			e.b = append(e.b, `{"type":"tool_use","id":`...)
			e.b = appendToolID(e.b, tc.ID)
			e.b = append(e.b, `,"name":`...)
			e.b = peek.AppendString(e.b, tc.Function.Name)
			e.b = append(e.b, `,"input":`...)
			e.b = appendToolInput(e.b, tc.Function.Arguments)
			e.b = append(e.b, '}')
		}
	case "tool":
		if m.ToolCallID == "" {
			return badRequest("tool messages need tool_call_id")
		}
		e.block("user")
		e.b = append(e.b, `{"type":"tool_result","tool_use_id":`...)
		e.b = appendToolID(e.b, m.ToolCallID)
		raw := bytes.TrimSpace(m.Content)
		switch {
		case len(raw) == 0 || peek.IsNull(raw) || string(raw) == `""`:
		case raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return badRequest("tool message content is not a valid string")
			}
			e.b = append(e.b, `,"content":`...)
			e.b = peek.AppendString(e.b, s)
		default:
			if *parts, err = provider.ParseContent(raw, (*parts)[:0]); err != nil {
				return err
			}
			e.b = append(e.b, `,"content":[`...)
			n := 0
			for i := range *parts {
				mark := len(e.b)
				if n > 0 {
					e.b = append(e.b, ',')
				}
				var ok bool
				if e.b, ok, err = appendPart(e.b, &(*parts)[i]); err != nil {
					return err
				}
				if !ok {
					e.b = e.b[:mark]
					continue
				}
				n++
			}
			e.b = append(e.b, ']')
		}
		e.b = append(e.b, '}')
	default:
		return badRequest("message role " + strconv.Quote(m.Role) + " is not supported by Anthropic endpoints")
	}
	return nil
}

// part appends one content part of role as a block, skipping empty text.
func (e *encoder) part(role string, p *provider.ContentPart) error {
	if provider.IsTextPart(p) && p.Text == "" {
		return nil
	}
	e.block(role)
	var err error
	e.b, _, err = appendPart(e.b, p)
	return err
}

// appendToolChoice appends tool_choice; forced reports a choice that makes
// the model call a tool (any or a named tool).
func appendToolChoice(b []byte, raw json.RawMessage, parallel *bool) ([]byte, bool, error) {
	mode, name, err := provider.ParseToolChoice(raw)
	if err != nil {
		return b, false, err
	}
	kind := "auto"
	switch mode {
	case provider.ToolChoiceAbsent:
		if parallel == nil || *parallel {
			return b, false, nil // the API's default is auto with parallel calls
		}
	case provider.ToolChoiceRequired:
		kind = "any"
	case provider.ToolChoiceNone:
		kind = "none"
	case provider.ToolChoiceFunction:
		kind = "tool"
	}
	b = append(b, `,"tool_choice":{"type":"`...)
	b = append(b, kind...)
	b = append(b, '"')
	if name != "" {
		b = append(b, `,"name":`...)
		b = peek.AppendString(b, name)
	}
	if parallel != nil && !*parallel && kind != "none" {
		b = append(b, `,"disable_parallel_tool_use":true`...)
	}
	return append(b, '}'), kind == "any" || kind == "tool", nil
}

// appendStop appends stop_sequences from OpenAI's stop (a string or an
// array). Sequences that are empty or only whitespace, which the API
// rejects, are dropped.
func appendStop(b []byte, raw json.RawMessage) ([]byte, error) {
	list, err := provider.ParseStop(raw)
	if err != nil {
		return b, err
	}
	n := 0
	for _, s := range list {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if n == 0 {
			b = append(b, `,"stop_sequences":[`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = peek.AppendString(b, s)
	}
	if n > 0 {
		b = append(b, ']')
	}
	return b, nil
}
