package openai

// The Responses edge: POST /responses speaks OpenAI's Responses API to
// clients (the Vercel AI SDK's default OpenAI model, LangChain's
// useResponsesApi, the official SDKs' responses.create) while the gateway
// runs every request in the Chat Completions shape, whatever provider
// serves it. ResponsesRequest converts the client's body on the way in;
// ResponsesResponse and ResponsesStream convert the answer on the way out.
// HTTP errors keep the gateway's OpenAI error envelope, which the
// Responses API shares.
//
// The gateway is stateless: it keeps no responses, so everything that
// refers to a stored one is a 400 (store: true, previous_response_id,
// conversation, background, prompt templates, item_reference items,
// file_id inputs). Clients send the whole conversation as input items
// with store: false (or store absent), as with OpenRouter's stateless
// Responses API.
//
// Request (Responses → Chat Completions):
//
//	model                    kept (a Tollgate model slug)
//	instructions             a first system message
//	input                    a string: one user message; an array of items:
//	  message (or {role, content} without type)
//	                         role user: string or parts input_text → text,
//	                         input_image (image_url) → image_url {url, detail},
//	                         input_file (file_data or file_url) → file
//	                         {filename, file_data}, input_audio → input_audio;
//	                         role system, developer: a system message (text
//	                         parts only); role assistant: output_text and
//	                         refusal parts become the text content
//	  function_call          tool_calls of one assistant message: a run of
//	                         function_call items joins the assistant message
//	                         before it ({id: call_id, function{name, arguments}})
//	  function_call_output   a tool message (tool_call_id = call_id; output
//	                         string, or input_text parts; images and files in
//	                         it go to a user message after the tool messages)
//	  reasoning              dropped (encrypted content does not travel)
//	max_output_tokens        max_tokens
//	temperature, top_p       copied byte for byte (explicit 0 kept)
//	tools                    function tools {name, description, parameters,
//	                         strict} → {type: function, function{…}}; strict
//	                         only when given; built-in tools → 400
//	tool_choice              none | auto | required as is; {type: function,
//	                         name} → {type: function, function{name}};
//	                         allowed_tools → its mode, tools filtered to the
//	                         allowed ones; hosted tool choices → 400
//	parallel_tool_calls, user, metadata, stream   copied
//	safety_identifier        user, when user is absent
//	text.format              json_schema {name, schema, description, strict}
//	                         → response_format json_schema; json_object →
//	                         response_format json_object; text → nothing
//	reasoning.effort         reasoning {effort} (none … xhigh)
//	models, provider, route, transforms, plugins, usage, session_id,
//	frequency_penalty, presence_penalty, seed, stop, top_k
//	                         copied (Tollgate/OpenRouter extensions)
//	store: true, previous_response_id, conversation, background: true, prompt
//	                         400: the gateway is stateless
//
// Other members (include, truncation, service_tier, prompt_cache_key,
// stream_options, top_logprobs, max_tool_calls, text.verbosity,
// reasoning.summary …) are accepted and ignored.

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
)

// errStateless names what the gateway cannot do and what to send instead.
const errStateless = " is not supported: Tollgate does not store responses; send the whole conversation as input items with store: false"

func respBad(format string, args ...any) error {
	return &peek.BadRequest{Msg: fmt.Sprintf(format, args...)}
}

// respRequest holds the raw top-level members of a Responses request; the
// slices alias the body.
type respRequest struct {
	model, input, instructions, stream, maxOutput  []byte
	temperature, topP, tools, toolChoice, parallel []byte
	text, reasoning, user, safety, metadata        []byte
	pass                                           [][]byte // whole `"key":value` members copied as they are
}

// Members that may appear once.
const (
	rSeenModel = 1 << iota
	rSeenInput
	rSeenInstructions
	rSeenStream
	rSeenMaxOutput
	rSeenTools
	rSeenToolChoice
	rSeenText
	rSeenReasoning
	rSeenStore
)

// member files one top-level member, checking its type.
func (r *respRequest) member(body []byte, m *peek.Member, seen *uint) error {
	v := m.Value
	key := peek.Key(m.Key)
	once := func(bit uint) error {
		if *seen&bit != 0 {
			return respBad("duplicate key %q in request body", key)
		}
		*seen |= bit
		return nil
	}
	if peek.IsNull(v) {
		// null is an absent member (store: null, previous_response_id: null …).
		return nil
	}
	var err error
	switch string(key) {
	case "model":
		if err = once(rSeenModel); err == nil && v[0] != '"' {
			err = respBad("model: must be a string")
		}
		r.model = v
	case "input":
		if err = once(rSeenInput); err == nil && v[0] != '"' && v[0] != '[' {
			err = respBad("input: must be a string or an array of input items")
		}
		r.input = v
	case "instructions":
		if err = once(rSeenInstructions); err == nil && v[0] != '"' {
			err = respBad("instructions: must be a string")
		}
		r.instructions = v
	case "stream":
		if err = once(rSeenStream); err == nil {
			if _, e := peek.Bool(v); e != nil {
				err = respBad("stream: must be a boolean")
			}
		}
		r.stream = v
	case "max_output_tokens":
		if err = once(rSeenMaxOutput); err == nil {
			if n, e := peek.Int(v); e != nil || n < 1 || n > 1<<31 {
				err = respBad("max_output_tokens: must be an integer between 1 and 2147483648")
			}
		}
		r.maxOutput = v
	case "temperature", "top_p":
		if !provider.IsJSONNumber(v) {
			return respBad("%s: must be a number", key)
		}
		if string(key) == "temperature" {
			r.temperature = v
		} else {
			r.topP = v
		}
	case "tools":
		if err = once(rSeenTools); err == nil && v[0] != '[' {
			err = respBad("tools: must be an array")
		}
		r.tools = v
	case "tool_choice":
		if err = once(rSeenToolChoice); err == nil && v[0] != '"' && v[0] != '{' {
			err = respBad("tool_choice: must be a string or an object")
		}
		r.toolChoice = v
	case "parallel_tool_calls":
		if _, e := peek.Bool(v); e != nil {
			return respBad("parallel_tool_calls: must be a boolean")
		}
		r.parallel = v
	case "text":
		if err = once(rSeenText); err == nil && v[0] != '{' {
			err = respBad("text: must be an object")
		}
		r.text = v
	case "reasoning":
		if err = once(rSeenReasoning); err == nil && v[0] != '{' {
			err = respBad("reasoning: must be an object")
		}
		r.reasoning = v
	case "user":
		if v[0] != '"' {
			return respBad("user: must be a string")
		}
		r.user = v
	case "safety_identifier":
		// OpenAI's successor of user; the gateway attributes usage by it.
		if v[0] != '"' {
			return respBad("safety_identifier: must be a string")
		}
		if len(r.user) == 0 {
			r.safety = v
		}
	case "metadata":
		if v[0] != '{' {
			return respBad("metadata: must be an object")
		}
		r.metadata = v
	case "store":
		if err = once(rSeenStore); err != nil {
			return err
		}
		b, e := peek.Bool(v)
		if e != nil {
			return respBad("store: must be a boolean")
		}
		if b {
			return respBad("store: true" + errStateless)
		}
	case "previous_response_id":
		if string(v) != `""` {
			return respBad("previous_response_id" + errStateless)
		}
	case "conversation":
		return respBad("conversation" + errStateless)
	case "prompt":
		return respBad("prompt (a stored prompt template)" + errStateless)
	case "background":
		if b, e := peek.Bool(v); e != nil || b {
			return respBad("background: true" + errStateless)
		}
	case "models", "provider", "route", "transforms", "plugins", "usage", "session_id",
		"frequency_penalty", "presence_penalty", "seed", "stop", "top_k":
		r.pass = append(r.pass, body[m.Start:m.End])
	}
	return err
}

// ResponsesRequest converts a Responses API request body into an OpenAI
// chat completions request body appended to dst (see the mapping at the
// top of this file). Client errors are *peek.BadRequest naming the member
// ("input.2.content.0.type: …"); dst is returned unchanged then.
func ResponsesRequest(dst, body []byte) ([]byte, error) {
	var r respRequest
	var seen uint
	err := peek.Members(body, func(m peek.Member) error { return r.member(body, &m, &seen) })
	if err != nil {
		return dst, peek.AsBadRequest(err)
	}
	out, err := r.build(dst)
	if err != nil {
		return dst, err
	}
	return out, nil
}

func (r *respRequest) build(b []byte) ([]byte, error) {
	b, err := provider.StartChatBody(b, r.model, r.input, "input")
	if err != nil {
		return b, err
	}
	e := respEncoder{b: b}
	if len(r.instructions) > 0 && string(r.instructions) != `""` {
		e.open("system")
		e.b = append(e.b, r.instructions...)
		e.b = append(e.b, '}')
	}
	if err := e.input(r.input); err != nil {
		return e.b, err
	}
	if e.n == 0 {
		return e.b, respBad("input: at least one message is required")
	}
	b = append(e.b, ']')
	b = provider.AppendRawMember(b, "max_tokens", r.maxOutput)
	parallel := r.parallel
	if t := bytes.TrimSpace(r.tools); len(t) == 0 || string(t) == "[]" || string(t) == "null" {
		// OpenAI rejects parallel_tool_calls without tools; the Agents SDK
		// sends it on every Responses request.
		parallel = nil
	}
	b = provider.AppendRawMember(b, "temperature", r.temperature)
	b = provider.AppendRawMember(b, "top_p", r.topP)
	b = provider.AppendRawMember(b, "stream", r.stream)
	b = provider.AppendRawMember(b, "parallel_tool_calls", parallel)
	b = provider.AppendRawMember(b, "user", r.user)
	b = provider.AppendRawMember(b, "metadata", r.metadata)
	if len(r.user) == 0 {
		b = provider.AppendRawMember(b, "user", r.safety)
	}
	if b, err = appendRespTools(b, r.tools, r.toolChoice); err != nil {
		return b, err
	}
	if b, err = appendRespFormat(b, r.text); err != nil {
		return b, err
	}
	if b, err = appendRespReasoning(b, r.reasoning); err != nil {
		return b, err
	}
	for _, m := range r.pass {
		b = append(b, ',')
		b = append(b, m...)
	}
	return append(b, '}'), nil
}

type respTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

type respToolChoice struct {
	Type  string     `json:"type"`
	Name  string     `json:"name"`
	Mode  string     `json:"mode"`
	Tools []respTool `json:"tools"`
}

// appendRespTools writes tools and tool_choice; tool_choice is dropped
// when there are no tools (chat upstreams reject it then).
func appendRespTools(b, rawTools, rawChoice []byte) ([]byte, error) {
	var tools []respTool
	if len(rawTools) > 0 {
		if err := json.Unmarshal(rawTools, &tools); err != nil {
			return b, respBad("tools: %s", provider.DecodeError(err))
		}
	}
	for i := range tools {
		t := &tools[i]
		switch t.Type {
		case "function":
		case "":
			return b, respBad("tools.%d.type: field required", i)
		case "custom":
			return b, respBad("tools.%d.type: custom (free-form input) tools are not supported; use function tools", i)
		default:
			return b, respBad("tools.%d.type: %q is a built-in tool that Tollgate cannot run; only function tools can be served by every provider", i, t.Type)
		}
		if t.Name == "" {
			return b, respBad("tools.%d.name: field required", i)
		}
		if p := bytes.TrimSpace(t.Parameters); len(p) > 0 && !peek.IsNull(p) && p[0] != '{' {
			return b, respBad("tools.%d.parameters: must be an object", i)
		}
	}
	choice := ""
	var allowed []respTool
	if len(rawChoice) > 0 {
		if rawChoice[0] == '"' {
			if err := json.Unmarshal(rawChoice, &choice); err != nil {
				return b, respBad("tool_choice: invalid string")
			}
			switch choice {
			case "none", "auto", "required":
			default:
				return b, respBad("tool_choice: must be none, auto, required or an object; got %q", choice)
			}
		} else {
			var tc respToolChoice
			if err := json.Unmarshal(rawChoice, &tc); err != nil {
				return b, respBad("tool_choice: %s", provider.DecodeError(err))
			}
			switch tc.Type {
			case "function":
				if tc.Name == "" {
					return b, respBad("tool_choice.name: field required for type function")
				}
				choice = "\x00" + tc.Name // a named function, told apart from the modes
			case "allowed_tools":
				if tc.Mode != "auto" && tc.Mode != "required" {
					return b, respBad("tool_choice.mode: must be auto or required; got %q", tc.Mode)
				}
				for i := range tc.Tools {
					if tc.Tools[i].Type != "function" {
						return b, respBad("tool_choice.tools.%d.type: only function tools can be allowed; got %q", i, tc.Tools[i].Type)
					}
				}
				choice, allowed = tc.Mode, tc.Tools
				if len(allowed) == 0 {
					return b, respBad("tool_choice.tools: at least one tool is required")
				}
			default:
				return b, respBad("tool_choice.type: %q is not supported (Tollgate runs no built-in or custom tools); use function, allowed_tools, or none/auto/required", tc.Type)
			}
		}
	}
	n := 0
	for i := range tools {
		t := &tools[i]
		if allowed != nil && !respAllowed(allowed, t.Name) {
			continue
		}
		if n == 0 {
			b = append(b, `,"tools":[`...)
		} else {
			b = append(b, ',')
		}
		n++
		b = provider.AppendFunctionTool(b, t.Name, t.Description, t.Parameters, t.Strict)
		b = append(b, '}')
	}
	if n > 0 {
		b = append(b, ']')
	}
	if choice == "" || n == 0 {
		return b, nil
	}
	b = append(b, `,"tool_choice":`...)
	if name, ok := strings.CutPrefix(choice, "\x00"); ok {
		b = append(b, `{"type":"function","function":{"name":`...)
		b = peek.AppendString(b, name)
		return append(b, "}}"...), nil
	}
	b = append(b, '"')
	b = append(b, choice...)
	return append(b, '"'), nil
}

func respAllowed(allowed []respTool, name string) bool {
	for i := range allowed {
		if allowed[i].Name == name {
			return true
		}
	}
	return false
}

// appendRespFormat maps text.format to response_format.
func appendRespFormat(b, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return b, nil
	}
	var text struct {
		Format *struct {
			Type        string          `json:"type"`
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Schema      json.RawMessage `json:"schema"`
			Strict      *bool           `json:"strict"`
		} `json:"format"`
	}
	if err := json.Unmarshal(raw, &text); err != nil {
		return b, respBad("text: %s", provider.DecodeError(err))
	}
	f := text.Format
	if f == nil {
		return b, nil
	}
	switch f.Type {
	case "text":
		return b, nil
	case "json_object":
		return append(b, `,"response_format":{"type":"json_object"}`...), nil
	case "json_schema":
	default:
		return b, respBad("text.format.type: must be text, json_schema or json_object; got %q", f.Type)
	}
	schema := bytes.TrimSpace(f.Schema)
	if len(schema) == 0 || schema[0] != '{' {
		return b, respBad("text.format.schema: field required (a JSON Schema object)")
	}
	name := f.Name
	if name == "" {
		name = "response"
	}
	b = append(b, `,"response_format":{"type":"json_schema","json_schema":{"name":`...)
	b = peek.AppendString(b, name)
	if f.Description != "" {
		b = append(b, `,"description":`...)
		b = peek.AppendString(b, f.Description)
	}
	b = append(b, `,"schema":`...)
	b = append(b, schema...)
	if f.Strict != nil {
		b = append(b, `,"strict":`...)
		b = strconv.AppendBool(b, *f.Strict)
	}
	return append(b, "}}"...), nil
}

// appendRespReasoning maps reasoning.effort to OpenRouter's reasoning
// object; summary settings are ignored (reasoning is streamed as summary
// text whenever the upstream sends it).
func appendRespReasoning(b, raw []byte) ([]byte, error) {
	if len(raw) == 0 {
		return b, nil
	}
	var r struct {
		Effort *string `json:"effort"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return b, respBad("reasoning: %s", provider.DecodeError(err))
	}
	if r.Effort == nil {
		return b, nil
	}
	switch *r.Effort {
	case "none", "minimal", "low", "medium", "high", "xhigh":
	default:
		return b, respBad("reasoning.effort: must be none, minimal, low, medium, high or xhigh; got %q", *r.Effort)
	}
	b = append(b, `,"reasoning":{"effort":"`...)
	b = append(b, *r.Effort...)
	return append(b, `"}`...), nil
}

// inputItem is one element of a Responses input array.
type inputItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	Output    json.RawMessage `json:"output"`
}

// inputPart is one content part of an input message or a tool output.
type inputPart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text"`
	Refusal    string          `json:"refusal"`
	ImageURL   json.RawMessage `json:"image_url"` // a string; {"url"} tolerated
	Detail     string          `json:"detail"`
	FileID     string          `json:"file_id"`
	FileData   string          `json:"file_data"`
	FileURL    string          `json:"file_url"`
	Filename   string          `json:"filename"`
	InputAudio *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
}

// respEncoder writes the chat messages array.
type respEncoder struct {
	b     []byte
	n     int         // messages written
	media []inputPart // images and files of tool outputs, for a user message after them
}

func (e *respEncoder) open(role string) {
	e.b = provider.AppendMessageHead(e.b, e.n, role)
	e.n++
}

func (e *respEncoder) input(raw []byte) error {
	if raw[0] == '"' {
		e.open("user")
		e.b = append(e.b, raw...)
		e.b = append(e.b, '}')
		return nil
	}
	var items []inputItem
	i := 0
	err := peek.Elements(raw, func(v []byte) error {
		if len(v) == 0 || v[0] != '{' {
			return respBad("input.%d: must be an object", i)
		}
		items = append(items, inputItem{})
		if err := json.Unmarshal(v, &items[i]); err != nil {
			return respBad("input.%d: %s", i, provider.DecodeError(err))
		}
		i++
		return nil
	})
	if err != nil {
		return err
	}
	for i := range items {
		if err := checkItem(&items[i], i); err != nil {
			return err
		}
	}
	for i := 0; i < len(items); {
		it := &items[i]
		switch it.Type {
		case "reasoning":
			i++
			continue
		case "function_call_output":
			if err := e.toolOutput(it, i); err != nil {
				return err
			}
			i++
			continue
		}
		e.flushMedia()
		if it.Type == "message" && it.Role != "assistant" {
			if err := e.message(it, i); err != nil {
				return err
			}
			i++
			continue
		}
		// An assistant message and the function calls that follow it
		// (reasoning items between them skipped) are one chat message.
		start := i
		if it.Type == "message" {
			i++
		}
		calls := 0
		for ; i < len(items) && (items[i].Type == "function_call" || items[i].Type == "reasoning"); i++ {
			if items[i].Type == "function_call" {
				calls++
			}
		}
		if err := e.assistant(items[start:i], start, calls); err != nil {
			return err
		}
	}
	e.flushMedia()
	return nil
}

// checkItem normalises an item's type and rejects what cannot be served.
func checkItem(it *inputItem, i int) error {
	switch it.Type {
	case "":
		if it.Role == "" {
			return respBad("input.%d.type: field required", i)
		}
		it.Type = "message"
	case "message", "reasoning":
	case "function_call":
		if it.CallID == "" {
			return respBad("input.%d.call_id: field required", i)
		}
		if it.Name == "" {
			return respBad("input.%d.name: field required", i)
		}
		return nil
	case "function_call_output":
		if it.CallID == "" {
			return respBad("input.%d.call_id: field required", i)
		}
		return nil
	case "item_reference":
		return respBad("input.%d: item_reference%s (Vercel AI SDK: providerOptions.openai.store = false)", i, errStateless)
	default:
		return respBad("input.%d.type: input item type %q is not supported (Tollgate serves messages, function_call, function_call_output and reasoning items)", i, it.Type)
	}
	if it.Type == "message" {
		switch it.Role {
		case "user", "assistant", "system", "developer":
		default:
			return respBad("input.%d.role: must be user, assistant, system or developer; got %q", i, it.Role)
		}
		if c := bytes.TrimSpace(it.Content); len(c) == 0 || peek.IsNull(c) {
			return respBad("input.%d.content: field required", i)
		} else if c[0] != '"' && c[0] != '[' {
			return respBad("input.%d.content: must be a string or an array of content parts", i)
		}
	}
	return nil
}

func decodeParts(raw json.RawMessage, path string) ([]inputPart, error) {
	var parts []inputPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, respBad("%s: must be a string or an array of content parts: %s", path, provider.DecodeError(err))
	}
	return parts, nil
}

// message writes a user, system or developer message.
func (e *respEncoder) message(it *inputItem, i int) error {
	c := bytes.TrimSpace(it.Content)
	role := it.Role
	if role == "developer" {
		role = "system" // every upstream protocol takes system
	}
	if c[0] == '"' {
		e.open(role)
		e.b = append(e.b, c...)
		e.b = append(e.b, '}')
		return nil
	}
	path := "input." + strconv.Itoa(i) + ".content"
	parts, err := decodeParts(c, path)
	if err != nil {
		return err
	}
	if role == "system" {
		for j := range parts {
			if t := parts[j].Type; t != "input_text" && t != "text" {
				return respBad("%s.%d.type: a %s message takes input_text parts only; got %q", path, j, it.Role, t)
			}
		}
	}
	for j := range parts {
		if msg := partProblem(&parts[j]); msg != "" {
			return respBad("%s.%d.%s", path, j, msg)
		}
	}
	e.open(role)
	switch {
	case len(parts) == 0:
		e.b = append(e.b, `""`...)
	case len(parts) == 1 && isTextPart(&parts[0]):
		e.b = peek.AppendString(e.b, parts[0].Text)
	default:
		e.b = append(e.b, '[')
		for j := range parts {
			if j > 0 {
				e.b = append(e.b, ',')
			}
			e.b = appendChatPart(e.b, &parts[j])
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
	return nil
}

func isTextPart(p *inputPart) bool {
	return p.Type == "input_text" || p.Type == "text" || p.Type == "output_text"
}

// partProblem says what is wrong with a user content part, "" when
// nothing is.
func partProblem(p *inputPart) string {
	switch p.Type {
	case "input_text", "text", "output_text":
	case "input_image":
		if p.FileID != "" {
			return "file_id" + errFiles
		}
		if _, ok := imageURL(p); !ok {
			return "image_url: field required"
		}
	case "input_file":
		switch {
		case p.FileID != "":
			return "file_id" + errFiles
		case p.FileData == "" && p.FileURL == "":
			return "file_data or file_url: field required"
		}
	case "input_audio":
		if p.InputAudio == nil || p.InputAudio.Data == "" {
			return "input_audio.data: field required"
		}
	default:
		return "type: content part type " + strconv.Quote(p.Type) + " is not supported"
	}
	return ""
}

const errFiles = " is not supported: Tollgate has no Files API; send the content inline (image_url as a URL or data: URL, file_data)"

// imageURL returns an input_image's URL (a string, or {"url"}).
func imageURL(p *inputPart) (string, bool) {
	v := bytes.TrimSpace(p.ImageURL)
	if len(v) == 0 || peek.IsNull(v) {
		return "", false
	}
	if v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) != nil || s == "" {
			return "", false
		}
		return s, true
	}
	var o struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(v, &o) != nil || o.URL == "" {
		return "", false
	}
	return o.URL, true
}

// appendChatPart writes one part (checked by partProblem) as a chat
// content part.
func appendChatPart(b []byte, p *inputPart) []byte {
	switch p.Type {
	case "input_image":
		u, _ := imageURL(p)
		b = append(b, `{"type":"image_url","image_url":{"url":`...)
		b = peek.AppendString(b, u)
		if p.Detail != "" {
			b = append(b, `,"detail":`...)
			b = peek.AppendString(b, p.Detail)
		}
		return append(b, "}}"...)
	case "input_file":
		name := p.Filename
		if name == "" {
			name = "file"
		}
		data := p.FileData
		if data == "" {
			data = p.FileURL
		}
		b = provider.AppendFilePartHead(b, name)
		b = peek.AppendString(b, data)
		return append(b, "}}"...)
	case "input_audio":
		b = append(b, `{"type":"input_audio","input_audio":{"data":`...)
		b = peek.AppendString(b, p.InputAudio.Data)
		b = append(b, `,"format":`...)
		b = peek.AppendString(b, p.InputAudio.Format)
		return append(b, "}}"...)
	}
	b = provider.AppendTextPart(b, p.Text)
	return append(b, '}')
}

// assistant writes one assistant message from items: an optional
// assistant message item first, then function_call (and reasoning) items.
func (e *respEncoder) assistant(items []inputItem, first, calls int) error {
	var text []byte
	hasText := false
	if it := &items[0]; it.Type == "message" {
		c := bytes.TrimSpace(it.Content)
		if c[0] == '"' {
			var s string
			if err := json.Unmarshal(c, &s); err != nil {
				return respBad("input.%d.content: invalid string", first)
			}
			text, hasText = append(text, s...), true
		} else {
			path := "input." + strconv.Itoa(first) + ".content"
			parts, err := decodeParts(c, path)
			if err != nil {
				return err
			}
			for j := range parts {
				p := &parts[j]
				switch p.Type {
				case "output_text", "input_text", "text":
					text = append(text, p.Text...)
				case "refusal":
					text = append(text, p.Refusal...)
				default:
					return respBad("%s.%d.type: an assistant message takes output_text and refusal parts; got %q", path, j, p.Type)
				}
				hasText = true
			}
		}
	}
	e.open("assistant")
	switch {
	case len(text) > 0 || (hasText && calls == 0):
		e.b = peek.AppendStringBytes(e.b, text)
	case calls > 0:
		e.b = append(e.b, "null"...)
	default:
		e.b = append(e.b, `""`...)
	}
	if calls > 0 {
		e.b = append(e.b, `,"tool_calls":[`...)
		n := 0
		for j := range items {
			it := &items[j]
			if it.Type != "function_call" {
				continue
			}
			if n > 0 {
				e.b = append(e.b, ',')
			}
			n++
			e.b = provider.AppendToolCallHead(e.b, it.CallID, it.Name)
			args := it.Arguments
			if strings.TrimSpace(args) == "" {
				args = "{}"
			}
			e.b = peek.AppendString(e.b, args)
			e.b = append(e.b, "}}"...)
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
	return nil
}

// toolOutput writes a tool message; images and files of the output wait
// in e.media for the user message that follows the tool messages.
func (e *respEncoder) toolOutput(it *inputItem, i int) error {
	path := "input." + strconv.Itoa(i) + ".output"
	var texts []string
	o := bytes.TrimSpace(it.Output)
	switch {
	case len(o) == 0 || peek.IsNull(o):
	case o[0] == '"':
		var s string
		if err := json.Unmarshal(o, &s); err != nil {
			return respBad("%s: invalid string", path)
		}
		texts = append(texts, s)
	case o[0] == '[':
		parts, err := decodeParts(o, path)
		if err != nil {
			return err
		}
		for j := range parts {
			p := &parts[j]
			if msg := partProblem(p); msg != "" {
				return respBad("%s.%d.%s", path, j, msg)
			}
			if isTextPart(p) {
				texts = append(texts, p.Text)
			} else {
				e.media = append(e.media, *p)
			}
		}
	default:
		return respBad("%s: must be a string or an array of content parts", path)
	}
	e.b = provider.AppendToolMessageHead(e.b, e.n, it.CallID)
	e.n++
	if len(texts) <= 1 {
		s := ""
		if len(texts) == 1 {
			s = texts[0]
		}
		e.b = peek.AppendString(e.b, s)
	} else {
		e.b = append(e.b, '[')
		for j, t := range texts {
			if j > 0 {
				e.b = append(e.b, ',')
			}
			e.b = provider.AppendTextPart(e.b, t)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, '}')
	return nil
}

// flushMedia writes the images and files of earlier tool outputs as a
// user message.
func (e *respEncoder) flushMedia() {
	if len(e.media) == 0 {
		return
	}
	e.open("user")
	e.b = append(e.b, '[')
	for j := range e.media {
		if j > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendChatPart(e.b, &e.media[j])
	}
	e.b = append(e.b, "]}"...)
	e.media = e.media[:0]
}

// ---------------------------------------------------------------------
// Responses (Chat Completions → Responses)

// appendRespUsage appends the Responses usage object, with the gateway's
// cost beside the documented members.
func appendRespUsage(b []byte, u *provider.ChatUsage) []byte {
	in, out := max(u.PromptTokens, 0), max(u.CompletionTokens, 0)
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, max(u.PromptTokensDetails.CachedTokens, 0), 10)
	if w := u.PromptTokensDetails.CacheWriteTokens; w > 0 {
		b = append(b, `,"cache_write_tokens":`...)
		b = strconv.AppendInt(b, w, 10)
	}
	b = append(b, `},"output_tokens":`...)
	b = strconv.AppendInt(b, out, 10)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, max(u.CompletionTokensDetails.ReasoningTokens, 0), 10)
	b = append(b, `},"total_tokens":`...)
	b = strconv.AppendInt(b, in+out, 10)
	if c := bytes.TrimSpace(u.Cost); provider.IsJSONNumber(c) {
		b = append(b, `,"cost":`...)
		b = append(b, c...)
	}
	return append(b, '}')
}

// Kinds of output item.
const (
	itemMessage byte = iota
	itemReasoning
	itemCall
)

// outItem is one output item of a response, as far as it is known.
type outItem struct {
	kind   byte
	status string // in_progress, completed, incomplete
	parts  []outPart
	callID string
	name   string
	args   []byte
	open   bool // a stream has not sent its output_item.done yet
}

// outPart is a content part of a message item (output_text or refusal),
// or the summary text of a reasoning item.
type outPart struct {
	refusal bool
	text    []byte
}

// respHead is what every response object of one generation shares.
type respHead struct {
	id       []byte // the generation id
	model    []byte
	provider []byte
	created  int64
}

func (h *respHead) set(id, model, provider string, created int64) {
	h.id = append(h.id[:0], id...)
	h.model = append(h.model[:0], model...)
	h.provider = append(h.provider[:0], provider...)
	h.created = created
}

// appendItemID appends the id of output item i: msg_, rs_ or fc_, the
// generation id and the output index.
func (h *respHead) appendItemID(b []byte, kind byte, i int) []byte {
	b = append(b, '"')
	switch kind {
	case itemMessage:
		b = append(b, "msg_"...)
	case itemReasoning:
		b = append(b, "rs_"...)
	default:
		b = append(b, "fc_"...)
	}
	b = appendStringBody(b, h.id)
	b = append(b, '_')
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, '"')
}

// appendStringBody appends s JSON-escaped without the quotes.
func appendStringBody(b, s []byte) []byte {
	start := len(b)
	b = peek.AppendStringBytes(b, s)
	copy(b[start:], b[start+1:len(b)-1])
	return b[:len(b)-2]
}

// appendItem appends output item i; empty=true writes it as
// output_item.added shows it (no content yet).
func (h *respHead) appendItem(b []byte, it *outItem, i int, empty bool) []byte {
	b = append(b, `{"id":`...)
	b = h.appendItemID(b, it.kind, i)
	switch it.kind {
	case itemMessage:
		b = append(b, `,"type":"message","status":"`...)
		b = append(b, it.status...)
		b = append(b, `","content":[`...)
		if !empty {
			for j := range it.parts {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendOutPart(b, &it.parts[j])
			}
		}
		b = append(b, `],"role":"assistant"}`...)
	case itemReasoning:
		b = append(b, `,"type":"reasoning","summary":[`...)
		if !empty && len(it.parts) > 0 {
			b = appendSummaryPart(b, it.parts[0].text)
		}
		b = append(b, "]}"...)
	default:
		b = append(b, `,"type":"function_call","status":"`...)
		b = append(b, it.status...)
		b = append(b, `","arguments":`...)
		if empty {
			b = append(b, `""`...)
		} else {
			b = peek.AppendStringBytes(b, it.args)
		}
		b = append(b, `,"call_id":`...)
		b = peek.AppendString(b, it.callID)
		b = append(b, `,"name":`...)
		b = peek.AppendString(b, it.name)
		b = append(b, '}')
	}
	return b
}

func appendOutPart(b []byte, p *outPart) []byte {
	if p.refusal {
		b = append(b, `{"type":"refusal","refusal":`...)
		b = peek.AppendStringBytes(b, p.text)
		return append(b, '}')
	}
	b = append(b, `{"type":"output_text","annotations":[],"logprobs":[],"text":`...)
	b = peek.AppendStringBytes(b, p.text)
	return append(b, '}')
}

func appendSummaryPart(b, text []byte) []byte {
	b = append(b, `{"type":"summary_text","text":`...)
	b = peek.AppendStringBytes(b, text)
	return append(b, '}')
}

// respState is the outcome part of a response object.
type respState struct {
	status      string // in_progress, completed, incomplete, failed
	incomplete  string // incomplete_details.reason
	errCode     string
	errMsg      string
	completedAt int64
	usage       *provider.ChatUsage
}

// appendResponse appends a response object. The gateway keeps no request
// state between conversion stages, so request parameters are not echoed:
// instructions, max_output_tokens, temperature, top_p, text and reasoning
// are null, tools [], tool_choice "auto".
func (h *respHead) appendResponse(b []byte, st *respState, items []outItem) []byte {
	b = append(b, `{"id":"resp_`...)
	b = appendStringBody(b, h.id)
	b = append(b, `","object":"response","created_at":`...)
	b = strconv.AppendInt(b, h.created, 10)
	b = append(b, `,"status":"`...)
	b = append(b, st.status...)
	b = append(b, `","background":false,"completed_at":`...)
	if st.status == "completed" && st.completedAt > 0 {
		b = strconv.AppendInt(b, st.completedAt, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"error":`...)
	if st.status == "failed" {
		b = append(b, `{"code":`...)
		b = peek.AppendString(b, st.errCode)
		b = append(b, `,"message":`...)
		b = peek.AppendString(b, st.errMsg)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	if st.incomplete != "" {
		b = append(b, `{"reason":"`...)
		b = append(b, st.incomplete...)
		b = append(b, `"}`...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"instructions":null,"max_output_tokens":null,"model":`...)
	b = peek.AppendStringBytes(b, h.model)
	b = append(b, `,"output":[`...)
	for i := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = h.appendItem(b, &items[i], i, false)
	}
	b = append(b, `],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":null,"store":false,"temperature":null,"text":null,"tool_choice":"auto","tools":[],"top_p":null,"truncation":"disabled","usage":`...)
	if st.usage != nil {
		b = appendRespUsage(b, st.usage)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"user":null,"metadata":{}`...)
	if len(h.provider) > 0 {
		b = append(b, `,"provider":`...)
		b = peek.AppendStringBytes(b, h.provider)
	}
	return append(b, '}')
}

// finishState maps a normalised finish reason to the response status:
// length → incomplete (max_output_tokens), content_filter → incomplete
// (content_filter), error → failed, anything else completed.
func finishState(finish string, st *respState) {
	switch finish {
	case "length":
		st.status, st.incomplete = "incomplete", "max_output_tokens"
	case "content_filter":
		st.status, st.incomplete = "incomplete", "content_filter"
	case "error":
		st.status, st.errCode, st.errMsg = "failed", "server_error", "the provider ended the generation with an error"
	default:
		st.status = "completed"
	}
}

// itemStatus is the status of the items a response in state st ends.
func itemStatus(st *respState) string {
	if st.status == "completed" {
		return "completed"
	}
	return "incomplete"
}

type respToolCall struct {
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type respCompletion struct {
	ID       string `json:"id"`
	Created  int64  `json:"created"`
	Model    string `json:"model"`
	Provider string `json:"provider"`
	Choices  []struct {
		Message struct {
			Content          json.RawMessage `json:"content"`
			Reasoning        string          `json:"reasoning"`
			ReasoningContent string          `json:"reasoning_content"`
			Refusal          string          `json:"refusal"`
			ToolCalls        []respToolCall  `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *provider.ChatUsage `json:"usage"`
}

// ResponsesResponse converts the gateway's chat.completion JSON into a
// Responses API response object appended to dst: id "resp_" + the
// generation id; output = a reasoning item (summary = the reasoning text),
// a message item (output_text, or refusal), then a function_call item per
// tool call; status completed, or incomplete with incomplete_details for
// length (max_output_tokens) and content_filter; usage in input/output
// tokens with the cost. now is the completion time (unix seconds).
func ResponsesResponse(dst, chatBody []byte, now int64) ([]byte, error) {
	var c respCompletion
	err := provider.CheckJSON(chatBody)
	if err == nil {
		err = json.Unmarshal(chatBody, &c)
	}
	if err != nil {
		return dst, fmt.Errorf("openai: cannot convert the chat completion to a response: %w", err)
	}
	var h respHead
	h.set(c.ID, c.Model, c.Provider, c.Created)
	st := respState{completedAt: now, usage: c.Usage}
	if st.usage == nil {
		st.usage = &provider.ChatUsage{}
	}
	var items []outItem
	if len(c.Choices) > 0 {
		ch := &c.Choices[0]
		m := &ch.Message
		finishState(ch.FinishReason, &st)
		status := itemStatus(&st)
		reasoning := m.Reasoning
		if reasoning == "" {
			reasoning = m.ReasoningContent
		}
		if reasoning != "" {
			items = append(items, outItem{kind: itemReasoning, parts: []outPart{{text: []byte(reasoning)}}})
		}
		text, err := provider.AppendContentText(nil, m.Content, false)
		if err != nil {
			return dst, fmt.Errorf("openai: cannot convert the chat completion to a response: %w", err)
		}
		msg := outItem{kind: itemMessage, status: status}
		if len(text) > 0 {
			msg.parts = append(msg.parts, outPart{text: text})
		}
		if m.Refusal != "" {
			msg.parts = append(msg.parts, outPart{refusal: true, text: []byte(m.Refusal)})
		}
		if len(msg.parts) > 0 || len(m.ToolCalls) == 0 {
			if len(msg.parts) == 0 {
				msg.parts = append(msg.parts, outPart{})
			}
			items = append(items, msg)
		}
		for i := range m.ToolCalls {
			tc := &m.ToolCalls[i]
			it := outItem{kind: itemCall, status: status, callID: tc.ID, name: tc.Function.Name, args: []byte(tc.Function.Arguments)}
			if len(it.args) == 0 {
				it.args = append(it.args, "{}"...)
			}
			if it.callID == "" {
				it.callID = "call_" + c.ID + "_" + strconv.Itoa(i)
			}
			items = append(items, it)
		}
	} else {
		st.status = "completed"
	}
	return h.appendResponse(dst, &st, items), nil
}

// ---------------------------------------------------------------------
// Streams

// respChunk is one chat.completion.chunk (or the gateway's error chunk).
type respChunk struct {
	ID       string `json:"id"`
	Created  int64  `json:"created"`
	Model    string `json:"model"`
	Provider string `json:"provider"`
	Choices  []struct {
		Index int `json:"index"`
		Delta struct {
			Content          string `json:"content"`
			Reasoning        string `json:"reasoning"`
			ReasoningContent string `json:"reasoning_content"`
			Refusal          string `json:"refusal"`
			ToolCalls        []struct {
				Index int `json:"index"`
				respToolCall
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *provider.ChatUsage `json:"usage"`
	Error *struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	} `json:"error"`
}

// maxRespCalls bounds the tool-call index a chunk may use.
const maxRespCalls = 128

// ResponsesStream converts the gateway's OpenAI SSE stream into Responses
// API events (each with an event: line and a sequence_number counting
// from 0), in the order the Responses API documents:
//
//	first chunk       response.created, response.in_progress (status
//	                  in_progress, output [])
//	delta.reasoning   a reasoning item: output_item.added,
//	                  reasoning_summary_part.added, reasoning_summary_text.delta …
//	delta.content     a message item: output_item.added, content_part.added
//	                  (output_text), output_text.delta … (logprobs [])
//	delta.refusal     a refusal part of the message item: refusal.delta …
//	delta.tool_calls  a function_call item per tool-call index:
//	                  output_item.added {call_id, name, arguments ""},
//	                  function_call_arguments.delta …
//	usage chunk, [DONE]   the open items end (…text.done, content_part.done,
//	                  output_item.done; function_call_arguments.done), then
//	                  response.completed, or response.incomplete for length
//	                  (max_output_tokens) and content_filter, with the whole
//	                  output and usage {input_tokens, input_tokens_details,
//	                  output_tokens, output_tokens_details, total_tokens, cost}
//	error chunk       an error event (code, message, param and the same in
//	                  "error"), then response.failed; nothing more
//
// An item of another kind ends the open message or reasoning item.
// Function calls stay open until the response ends, so an upstream that
// interleaves the argument fragments of parallel calls loses none: each
// item has its own output_index and item_id.
// No [DONE] is sent: the terminal event ends a Responses stream. Frame
// keeps no reference to data.
type ResponsesStream struct {
	chunk   respChunk
	head    respHead
	now     func() int64
	seq     int64
	items   []outItem
	open    int   // index of the open message or reasoning item, -1 if none
	calls   []int // item index of each tool-call index, -1 until started
	usage   provider.ChatUsage
	finish  string
	started bool
	ended   bool
}

// NewResponsesStream returns the converter of one stream; now gives the
// completion time (unix seconds; nil means the wall clock). It is not
// safe for concurrent use.
func NewResponsesStream(now func() int64) *ResponsesStream {
	if now == nil {
		now = func() int64 { return time.Now().Unix() }
	}
	return &ResponsesStream{now: now, open: -1}
}

// event starts an event of type typ; the caller appends its members and
// ends it with s.end.
func (s *ResponsesStream) event(b []byte, typ string) []byte {
	b = append(b, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, typ...)
	return append(b, '"')
}

func (s *ResponsesStream) end(b []byte) []byte {
	b = append(b, `,"sequence_number":`...)
	b = strconv.AppendInt(b, s.seq, 10)
	s.seq++
	return append(b, "}\n\n"...)
}

// ref appends item_id and output_index of item i.
func (s *ResponsesStream) ref(b []byte, i int) []byte {
	b = append(b, `,"item_id":`...)
	b = s.head.appendItemID(b, s.items[i].kind, i)
	b = append(b, `,"output_index":`...)
	return strconv.AppendInt(b, int64(i), 10)
}

// Frame takes the payload of one OpenAI "data:" line (a chunk, an error
// chunk or [DONE]) and appends zero or more complete Responses events to
// dst. A payload that is not a chunk is an error and leaves dst and the
// stream as they were.
func (s *ResponsesStream) Frame(dst, data []byte) ([]byte, error) {
	data = bytes.TrimSpace(data)
	if s.ended || len(data) == 0 {
		return dst, nil
	}
	if sse.IsDone(data) {
		return s.finishStream(dst), nil
	}
	if err := provider.CheckJSON(data); err != nil {
		return dst, fmt.Errorf("openai: cannot convert a stream chunk to response events: %w", err)
	}
	c := &s.chunk
	*c = respChunk{Choices: c.Choices[:0]}
	if err := json.UnmarshalNoEscape(data, c); err != nil {
		return dst, fmt.Errorf("openai: cannot convert a stream chunk to response events: %w", err)
	}
	for i := range c.Choices {
		for j := range c.Choices[i].Delta.ToolCalls {
			if idx := c.Choices[i].Delta.ToolCalls[j].Index; idx < 0 || idx >= maxRespCalls {
				return dst, fmt.Errorf("openai: cannot convert a stream chunk to response events: tool-call index %d out of range", idx)
			}
		}
	}
	if !s.started {
		s.head.set(c.ID, c.Model, c.Provider, c.Created)
		dst = s.start(dst)
	}
	if e := c.Error; e != nil {
		status, msg := provider.StreamError(e.Code, e.Message)
		return s.fail(dst, status, msg), nil
	}
	if c.Usage != nil {
		s.usage = *c.Usage
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // n > 1 has no Responses equivalent
		}
		d := &ch.Delta
		if r := d.Reasoning; r != "" {
			dst = s.reasoning(dst, r)
		} else if d.ReasoningContent != "" {
			dst = s.reasoning(dst, d.ReasoningContent)
		}
		if d.Content != "" {
			dst = s.text(dst, false, d.Content)
		}
		if d.Refusal != "" {
			dst = s.text(dst, true, d.Refusal)
		}
		for j := range d.ToolCalls {
			tc := &d.ToolCalls[j]
			dst = s.toolDelta(dst, tc.Index, &tc.respToolCall)
		}
		if ch.FinishReason != "" {
			s.finish = finishConst(ch.FinishReason)
		}
	}
	if len(c.Choices) == 0 && c.Usage != nil {
		dst = s.finishStream(dst)
	}
	return dst, nil
}

// finishConst returns the constant for a finish reason, so the stream
// keeps no string aliasing a decoded chunk.
func finishConst(f string) string {
	switch f {
	case "length":
		return "length"
	case "content_filter":
		return "content_filter"
	case "error":
		return "error"
	case "tool_calls":
		return "tool_calls"
	}
	return "stop"
}

func (s *ResponsesStream) start(b []byte) []byte {
	s.started = true
	st := respState{status: "in_progress"}
	for _, typ := range [...]string{"response.created", "response.in_progress"} {
		b = s.event(b, typ)
		b = append(b, `,"response":`...)
		b = s.head.appendResponse(b, &st, nil)
		b = s.end(b)
	}
	return b
}

// addItem starts output item it: output_item.added.
func (s *ResponsesStream) addItem(b []byte, it outItem) ([]byte, int) {
	it.open = true
	it.status = "in_progress"
	s.items = append(s.items, it)
	i := len(s.items) - 1
	b = s.event(b, "response.output_item.added")
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"item":`...)
	b = s.head.appendItem(b, &s.items[i], i, true)
	return s.end(b), i
}

// reasoning appends a reasoning delta, starting a reasoning item unless
// one is open.
func (s *ResponsesStream) reasoning(b []byte, t string) []byte {
	if s.open < 0 || s.items[s.open].kind != itemReasoning {
		b = s.closeOpen(b, "completed")
		b, s.open = s.addItem(b, outItem{kind: itemReasoning, parts: []outPart{{}}})
		b = s.event(b, "response.reasoning_summary_part.added")
		b = s.ref(b, s.open)
		b = append(b, `,"summary_index":0,"part":{"type":"summary_text","text":""}`...)
		b = s.end(b)
	}
	it := &s.items[s.open]
	it.parts[0].text = append(it.parts[0].text, t...)
	b = s.event(b, "response.reasoning_summary_text.delta")
	b = s.ref(b, s.open)
	b = append(b, `,"summary_index":0,"delta":`...)
	b = peek.AppendString(b, t)
	return s.end(b)
}

// text appends a text or refusal delta to the open message item (started
// unless one is open), in a part of that kind.
func (s *ResponsesStream) text(b []byte, refusal bool, t string) []byte {
	if s.open < 0 || s.items[s.open].kind != itemMessage {
		b = s.closeOpen(b, "completed")
		b, s.open = s.addItem(b, outItem{kind: itemMessage})
	}
	it := &s.items[s.open]
	if n := len(it.parts); n == 0 || it.parts[n-1].refusal != refusal {
		if n > 0 {
			b = s.closePart(b, s.open, n-1)
		}
		it.parts = append(it.parts, outPart{refusal: refusal})
		b = s.event(b, "response.content_part.added")
		b = s.ref(b, s.open)
		b = append(b, `,"content_index":`...)
		b = strconv.AppendInt(b, int64(len(it.parts)-1), 10)
		b = append(b, `,"part":`...)
		b = appendOutPart(b, &it.parts[len(it.parts)-1])
		b = s.end(b)
	}
	k := len(it.parts) - 1
	it.parts[k].text = append(it.parts[k].text, t...)
	if refusal {
		b = s.event(b, "response.refusal.delta")
	} else {
		b = s.event(b, "response.output_text.delta")
	}
	b = s.ref(b, s.open)
	b = append(b, `,"content_index":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `,"delta":`...)
	b = peek.AppendString(b, t)
	if !refusal {
		b = append(b, `,"logprobs":[]`...)
	}
	return s.end(b)
}

// closePart ends content part k of message item i.
func (s *ResponsesStream) closePart(b []byte, i, k int) []byte {
	p := &s.items[i].parts[k]
	if p.refusal {
		b = s.event(b, "response.refusal.done")
	} else {
		b = s.event(b, "response.output_text.done")
	}
	b = s.ref(b, i)
	b = append(b, `,"content_index":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	if p.refusal {
		b = append(b, `,"refusal":`...)
		b = peek.AppendStringBytes(b, p.text)
	} else {
		b = append(b, `,"text":`...)
		b = peek.AppendStringBytes(b, p.text)
		b = append(b, `,"logprobs":[]`...)
	}
	b = s.end(b)
	b = s.event(b, "response.content_part.done")
	b = s.ref(b, i)
	b = append(b, `,"content_index":`...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, `,"part":`...)
	b = appendOutPart(b, p)
	return s.end(b)
}

// closeOpen ends the open message or reasoning item with status.
func (s *ResponsesStream) closeOpen(b []byte, status string) []byte {
	if s.open < 0 {
		return b
	}
	i := s.open
	s.open = -1
	it := &s.items[i]
	if it.kind == itemReasoning {
		text := it.parts[0].text
		b = s.event(b, "response.reasoning_summary_text.done")
		b = s.ref(b, i)
		b = append(b, `,"summary_index":0,"text":`...)
		b = peek.AppendStringBytes(b, text)
		b = s.end(b)
		b = s.event(b, "response.reasoning_summary_part.done")
		b = s.ref(b, i)
		b = append(b, `,"summary_index":0,"part":`...)
		b = appendSummaryPart(b, text)
		b = s.end(b)
	} else if n := len(it.parts); n > 0 {
		b = s.closePart(b, i, n-1)
	}
	return s.doneItem(b, i, status)
}

// doneItem sends output_item.done for item i.
func (s *ResponsesStream) doneItem(b []byte, i int, status string) []byte {
	it := &s.items[i]
	it.open = false
	it.status = status
	b = s.event(b, "response.output_item.done")
	b = append(b, `,"output_index":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"item":`...)
	b = s.head.appendItem(b, it, i, false)
	return s.end(b)
}

// closeCall ends function_call item i. A call streamed without
// arguments gets "{}", sent as a delta too so the deltas add up to it.
func (s *ResponsesStream) closeCall(b []byte, i int, status string) []byte {
	it := &s.items[i]
	if len(it.args) == 0 {
		it.args = append(it.args, "{}"...)
		b = s.event(b, "response.function_call_arguments.delta")
		b = s.ref(b, i)
		b = append(b, `,"delta":"{}"`...)
		b = s.end(b)
	}
	b = s.event(b, "response.function_call_arguments.done")
	b = s.ref(b, i)
	b = append(b, `,"name":`...)
	b = peek.AppendString(b, it.name)
	b = append(b, `,"arguments":`...)
	b = peek.AppendStringBytes(b, it.args)
	b = s.end(b)
	return s.doneItem(b, i, status)
}

// toolDelta appends the events of one tool-call delta.
func (s *ResponsesStream) toolDelta(b []byte, idx int, tc *respToolCall) []byte {
	for len(s.calls) <= idx {
		s.calls = append(s.calls, -1)
	}
	if s.calls[idx] < 0 {
		b = s.closeOpen(b, "completed")
		callID := tc.ID
		if callID == "" {
			callID = "call_" + string(s.head.id) + "_" + strconv.Itoa(idx)
		}
		b, s.calls[idx] = s.addItem(b, outItem{kind: itemCall, callID: strings.Clone(callID), name: strings.Clone(tc.Function.Name)})
	}
	i := s.calls[idx]
	if tc.Function.Arguments == "" {
		return b
	}
	s.items[i].args = append(s.items[i].args, tc.Function.Arguments...)
	b = s.event(b, "response.function_call_arguments.delta")
	b = s.ref(b, i)
	b = append(b, `,"delta":`...)
	b = peek.AppendString(b, tc.Function.Arguments)
	return s.end(b)
}

// finishStream ends the response: every open item, then
// response.completed or response.incomplete with the whole output.
func (s *ResponsesStream) finishStream(b []byte) []byte {
	if !s.started {
		b = s.start(b)
	}
	if s.finish == "error" {
		return s.fail(b, 502, "the provider ended the generation with an error")
	}
	s.ended = true
	st := respState{completedAt: s.now(), usage: &s.usage}
	finishState(s.finish, &st)
	status := itemStatus(&st)
	if len(s.items) == 0 {
		// Nothing was generated: an empty message, as a complete response has.
		b, s.open = s.addItem(b, outItem{kind: itemMessage, parts: []outPart{{}}})
		b = s.event(b, "response.content_part.added")
		b = s.ref(b, s.open)
		b = append(b, `,"content_index":0,"part":`...)
		b = appendOutPart(b, &outPart{})
		b = s.end(b)
	}
	b = s.closeOpen(b, status)
	for i := range s.items {
		if s.items[i].open {
			b = s.closeCall(b, i, status)
		}
	}
	if st.status == "completed" {
		b = s.event(b, "response.completed")
	} else {
		b = s.event(b, "response.incomplete")
	}
	b = append(b, `,"response":`...)
	b = s.head.appendResponse(b, &st, s.items)
	return s.end(b)
}

// fail appends the error event of a failed stream (OpenAI's documented
// members code, message and param, and the same inside "error" as the API
// sends it, so every SDK reports it) and response.failed.
func (s *ResponsesStream) fail(b []byte, status int, msg string) []byte {
	s.ended = true
	code, typ := respErrorCode(status)
	b = s.event(b, "error")
	b = append(b, `,"code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = peek.AppendString(b, msg)
	b = append(b, `,"param":null,"error":{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","code":"`...)
	b = append(b, code...)
	b = append(b, `","message":`...)
	b = peek.AppendString(b, msg)
	b = append(b, `,"param":null}`...)
	b = s.end(b)
	for i := range s.items {
		if s.items[i].open {
			s.items[i].open = false
			s.items[i].status = "incomplete"
		}
	}
	s.open = -1
	st := respState{status: "failed", errCode: code, errMsg: msg}
	b = s.event(b, "response.failed")
	b = append(b, `,"response":`...)
	b = s.head.appendResponse(b, &st, s.items)
	return s.end(b)
}

// respErrorCode maps an HTTP status to the code and type of an OpenAI
// stream error.
func respErrorCode(status int) (code, typ string) {
	switch {
	case status == 429:
		return "rate_limit_exceeded", "rate_limit_error"
	case status == 402:
		return "insufficient_quota", "insufficient_quota"
	case status >= 400 && status < 500:
		return "invalid_request_error", "invalid_request_error"
	}
	return "server_error", "server_error"
}
