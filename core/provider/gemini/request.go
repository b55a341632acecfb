package gemini

import (
	"bytes"
	"path"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
)

// Defaults of the request translation.
const (
	// DefaultBaseURL is the Gemini API base (Google AI Studio keys);
	// POST {base}/models/{model}:generateContent.
	DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"
	// DefaultThinkingBase is the max_tokens a reasoning.effort ratio
	// applies to when neither the client nor the endpoint gives one.
	DefaultThinkingBase = 8192
	// minThinkingBudget and maxThinkingBudget bound a budget derived from
	// an effort ratio to what every Gemini 2.5 model accepts (Flash-Lite
	// needs at least 512, Flash allows at most 24576).
	minThinkingBudget = 512
	maxThinkingBudget = 24576
	// skipSignature is Google's documented stand-in for a thought
	// signature: Gemini 3 rejects a replayed functionCall part without
	// one, and an OpenAI client never has the real one.
	skipSignature = "skip_thought_signature_validator"
)

// chatRequest is what the adapter reads from the client's OpenAI Chat
// Completions body. Pointers and raw values keep an explicit 0, false or
// null apart from an absent member.
type chatRequest struct {
	Messages         []chatMessage   `json:"messages"`
	Temperature      *float64        `json:"temperature"`
	TopP             *float64        `json:"top_p"`
	TopK             *int64          `json:"top_k"`
	Seed             *int64          `json:"seed"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	Stop             json.RawMessage `json:"stop"`
	Tools            []chatTool      `json:"tools"`
	ToolChoice       json.RawMessage `json:"tool_choice"`
	ResponseFormat   *responseFormat `json:"response_format"`
	Reasoning        *reasoning      `json:"reasoning"`
	ReasoningEffort  string          `json:"reasoning_effort"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
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
}

type responseFormat = provider.ResponseFormat

// reasoning is OpenRouter's reasoning object.
type reasoning = provider.Reasoning

func badRequest(msg string) error { return &peek.BadRequest{Msg: msg} }

// thinkingConfig decides generationConfig.thinkingConfig: set reports
// whether to send one at all (no reasoning asked: the model's default),
// budget is thinkingBudget (0 turns thinking off, which Gemini's Pro
// models refuse), include is includeThoughts (false with
// reasoning.exclude). reasoning.max_tokens is the budget as given; an
// effort is a ratio of base, bounded to 512..24576.
func thinkingConfig(r *reasoning, topEffort string, base int64) (set bool, budget int64, include bool, err error) {
	effort := topEffort
	on := topEffort != ""
	explicit := int64(-1)
	if r != nil {
		if r.Effort != "" {
			effort, on = r.Effort, true
		}
		if r.Enabled != nil {
			on = *r.Enabled
		}
		if r.MaxTokens != nil {
			explicit, on = max(*r.MaxTokens, 0), true
		}
		if r.Enabled != nil && !*r.Enabled {
			return true, 0, false, nil
		}
	}
	if !on {
		return false, 0, false, nil
	}
	include = r == nil || !r.Exclude
	if explicit >= 0 {
		return true, explicit, include && explicit > 0, nil
	}
	ratio, ok := provider.EffortRatio(effort)
	if !ok {
		return false, 0, false, badRequest("'reasoning.effort' must be one of none, minimal, low, medium, high, xhigh; got " + strconv.Quote(effort))
	}
	if ratio == 0 {
		return true, 0, false, nil
	}
	return true, min(max(int64(float64(base)*ratio), minThinkingBudget), maxThinkingBudget), include, nil
}

// imageMimeType guesses the type of an image URL from its extension;
// fileData needs one and a URL does not say. JPEG when unknown.
func imageMimeType(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	switch strings.ToLower(path.Ext(u)) {
	case ".png":
		return "image/png"
	case ".webp":
		return "image/webp"
	case ".gif":
		return "image/gif"
	case ".heic":
		return "image/heic"
	case ".heif":
		return "image/heif"
	case ".pdf":
		return "application/pdf"
	}
	return "image/jpeg"
}

// encoder writes the GenerateContentRequest. Consecutive parts of one
// role go into one content.
type encoder struct {
	b      []byte
	role   string // role of the open content, "" when none is open
	parts  int
	nTurns int
	signed bool // the open model content has its thought signature
	names  map[string]string
}

func (e *encoder) part(role string) {
	if e.role == role {
		e.b = append(e.b, ',')
		e.parts++
		return
	}
	e.closeTurn()
	if e.nTurns > 0 {
		e.b = append(e.b, ',')
	}
	e.nTurns++
	e.role, e.parts, e.signed = role, 1, false
	e.b = append(e.b, `{"role":`...)
	e.b = peek.AppendString(e.b, role)
	e.b = append(e.b, `,"parts":[`...)
}

func (e *encoder) closeTurn() {
	if e.role != "" {
		e.b = append(e.b, "]}"...)
		e.role = ""
	}
}

// appendMedia appends an inlineData (data: URL) or fileData (http URL)
// part.
func appendMedia(b []byte, u, mimeType string) ([]byte, error) {
	mt, data, inline, err := provider.MediaURL(u)
	if err != nil {
		return b, err
	}
	if inline {
		b = append(b, `{"inlineData":{"mimeType":`...)
		b = peek.AppendString(b, mt)
		b = append(b, `,"data":`...)
		b = peek.AppendString(b, data)
		return append(b, "}}"...), nil
	}
	if mimeType == "" {
		mimeType = imageMimeType(u)
	}
	b = append(b, `{"fileData":{"mimeType":`...)
	b = peek.AppendString(b, mimeType)
	b = append(b, `,"fileUri":`...)
	b = peek.AppendString(b, u)
	return append(b, "}}"...), nil
}

// userPart appends one user content part; empty text is skipped.
func (e *encoder) userPart(role string, p *provider.ContentPart) error {
	if provider.IsTextPart(p) {
		if p.Text != "" {
			e.part(role)
			e.b = append(e.b, `{"text":`...)
			e.b = peek.AppendString(e.b, p.Text)
			e.b = append(e.b, '}')
		}
		return nil
	}
	switch p.Type {
	case "image_url", "input_image":
		u, err := p.URL()
		if err != nil {
			return err
		}
		e.part(role)
		e.b, err = appendMedia(e.b, u, "")
		return err
	case "file":
		u, err := provider.FileData(p, "Gemini")
		if err != nil {
			return err
		}
		e.part(role)
		e.b, err = appendMedia(e.b, u, "application/pdf")
		return err
	case "input_audio":
		if p.InputAudio == nil || p.InputAudio.Data == "" {
			return badRequest("input_audio.data is required")
		}
		e.part(role)
		e.b = append(e.b, `{"inlineData":{"mimeType":`...)
		e.b = peek.AppendString(e.b, "audio/"+strings.ToLower(p.InputAudio.Format))
		e.b = append(e.b, `,"data":`...)
		e.b = peek.AppendString(e.b, p.InputAudio.Data)
		e.b = append(e.b, "}}"...)
	default:
		return badRequest("content part type " + strconv.Quote(p.Type) + " is not supported by Gemini endpoints")
	}
	return nil
}

// appendToolResponse appends the functionResponse.response object for a
// tool message's content: a JSON object as it is, anything else under
// "output" (the key Gemini documents for a function's result).
func appendToolResponse(b []byte, text string) []byte {
	t := bytes.TrimSpace([]byte(text))
	if len(t) > 0 && t[0] == '{' && json.Valid(t) {
		return append(b, t...)
	}
	b = append(b, `{"output":`...)
	b = peek.AppendString(b, text)
	return append(b, '}')
}

// buildBody writes the GenerateContentRequest for c into dst.
func buildBody(dst []byte, c *provider.Call) ([]byte, error) {
	var r chatRequest
	if err := json.Unmarshal(c.Body, &r); err != nil {
		return dst, badRequest("invalid request body: " + err.Error())
	}
	e := encoder{b: dst}
	var parts []provider.ContentPart
	var err error

	// System and developer messages become systemInstruction.
	var sys []byte
	nSys := 0
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
				sys = append(sys, ',')
			}
			nSys++
			sys = append(sys, `{"text":`...)
			sys = peek.AppendString(sys, p.Text)
			sys = append(sys, '}')
		}
	}

	e.b = append(e.b, `{"contents":[`...)
	for i := range r.Messages {
		if err := e.message(&r.Messages[i], &parts); err != nil {
			return dst, err
		}
	}
	if e.nTurns == 0 && nSys > 0 {
		// Only system messages: contents may not be empty, so the
		// instructions become the user's turn.
		e.b = append(e.b, `{"role":"user","parts":[`...)
		e.b = append(e.b, sys...)
		e.b = append(e.b, "]}"...)
		nSys = 0
	}
	e.closeTurn()
	e.b = append(e.b, ']')
	if nSys > 0 {
		e.b = append(e.b, `,"systemInstruction":{"parts":[`...)
		e.b = append(e.b, sys...)
		e.b = append(e.b, "]}"...)
	}

	// Tools.
	nTools := 0
	for i := range r.Tools {
		t := &r.Tools[i]
		if err := provider.CheckFunctionTool(i, t.Type, t.Function.Name, "Gemini"); err != nil {
			return dst, err
		}
		if nTools == 0 {
			e.b = append(e.b, `,"tools":[{"functionDeclarations":[`...)
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
		if p := bytes.TrimSpace(t.Function.Parameters); len(p) > 0 && p[0] == '{' && hasProperties(p) {
			e.b = append(e.b, `,"parameters":`...)
			if e.b, err = appendSchema(e.b, p); err != nil {
				return dst, badRequest("tools[" + strconv.Itoa(i) + "].function.parameters: " + err.Error())
			}
		}
		e.b = append(e.b, '}')
	}
	if nTools > 0 {
		e.b = append(e.b, "]}]"...)
		if e.b, err = appendToolConfig(e.b, r.ToolChoice); err != nil {
			return dst, err
		}
	}

	// generationConfig.
	e.b = append(e.b, `,"generationConfig":{"candidateCount":1`...)
	if c.Chat.MaxTokens > 0 {
		e.b = append(e.b, `,"maxOutputTokens":`...)
		e.b = strconv.AppendInt(e.b, c.Chat.MaxTokens, 10)
	}
	if r.Temperature != nil {
		e.b = append(e.b, `,"temperature":`...)
		e.b = provider.AppendFloat(e.b, *r.Temperature)
	}
	if r.TopP != nil {
		e.b = append(e.b, `,"topP":`...)
		e.b = provider.AppendFloat(e.b, *r.TopP)
	}
	if r.TopK != nil {
		e.b = append(e.b, `,"topK":`...)
		e.b = strconv.AppendInt(e.b, *r.TopK, 10)
	}
	if e.b, err = appendStop(e.b, r.Stop); err != nil {
		return dst, err
	}
	if r.Seed != nil {
		e.b = append(e.b, `,"seed":`...)
		e.b = strconv.AppendInt(e.b, *r.Seed, 10)
	}
	if r.PresencePenalty != nil {
		e.b = append(e.b, `,"presencePenalty":`...)
		e.b = provider.AppendFloat(e.b, *r.PresencePenalty)
	}
	if r.FrequencyPenalty != nil {
		e.b = append(e.b, `,"frequencyPenalty":`...)
		e.b = provider.AppendFloat(e.b, *r.FrequencyPenalty)
	}
	if rf := r.ResponseFormat; rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema") {
		e.b = append(e.b, `,"responseMimeType":"application/json"`...)
		if rf.Type == "json_schema" && rf.JSONSchema != nil {
			if s := bytes.TrimSpace(rf.JSONSchema.Schema); len(s) > 0 && s[0] == '{' {
				e.b = append(e.b, `,"responseSchema":`...)
				if e.b, err = appendSchema(e.b, s); err != nil {
					return dst, badRequest("response_format.json_schema.schema: " + err.Error())
				}
			}
		}
	}
	set, budget, include, err := thinkingConfig(r.Reasoning, r.ReasoningEffort, provider.MaxTokens(c, DefaultThinkingBase))
	if err != nil {
		return dst, err
	}
	if set {
		e.b = append(e.b, `,"thinkingConfig":{"thinkingBudget":`...)
		e.b = strconv.AppendInt(e.b, budget, 10)
		if include {
			e.b = append(e.b, `,"includeThoughts":true`...)
		}
		e.b = append(e.b, '}')
	}
	return append(e.b, "}}"...), nil
}

// message appends the parts of one non-system message.
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
			if err := e.userPart("user", &(*parts)[i]); err != nil {
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
			e.part("model")
			e.b = append(e.b, `{"text":`...)
			e.b = peek.AppendString(e.b, text)
			e.b = append(e.b, '}')
		}
		for i := range m.ToolCalls {
			tc := &m.ToolCalls[i]
			if tc.Function.Name == "" {
				return badRequest("assistant tool_calls need function.name")
			}
			if e.names == nil {
				e.names = make(map[string]string)
			}
			e.names[tc.ID] = tc.Function.Name
			e.part("model")
			e.b = append(e.b, `{"functionCall":{"name":`...)
			e.b = peek.AppendString(e.b, tc.Function.Name)
			e.b = append(e.b, `,"args":`...)
			e.b = provider.AppendArgsObject(e.b, tc.Function.Arguments)
			e.b = append(e.b, '}')
			if !e.signed {
				e.signed = true
				e.b = append(e.b, `,"thoughtSignature":"`+skipSignature+`"`...)
			}
			e.b = append(e.b, '}')
		}
	case "tool":
		name := e.names[m.ToolCallID]
		if name == "" {
			name = m.Name
		}
		if name == "" {
			return badRequest("tool message " + strconv.Quote(m.ToolCallID) + " answers no earlier assistant tool call (Gemini needs the function name)")
		}
		text, err := toolText(m.Content, parts)
		if err != nil {
			return err
		}
		e.part("user")
		e.b = append(e.b, `{"functionResponse":{"name":`...)
		e.b = peek.AppendString(e.b, name)
		e.b = append(e.b, `,"response":`...)
		e.b = appendToolResponse(e.b, text)
		e.b = append(e.b, "}}"...)
	default:
		return badRequest("message role " + strconv.Quote(m.Role) + " is not supported by Gemini endpoints")
	}
	return nil
}

// toolText is a tool message's content as text: array parts are joined.
func toolText(raw json.RawMessage, parts *[]provider.ContentPart) (string, error) {
	var err error
	if *parts, err = provider.ParseContent(raw, (*parts)[:0]); err != nil {
		return "", err
	}
	if len(*parts) == 1 && ((*parts)[0].Type == "text" || (*parts)[0].Type == "") {
		return (*parts)[0].Text, nil
	}
	var sb strings.Builder
	for i := range *parts {
		p := &(*parts)[i]
		if p.Type != "text" && p.Type != "" {
			return "", badRequest("tool message content may only hold text for Gemini endpoints")
		}
		sb.WriteString(p.Text)
	}
	return sb.String(), nil
}

// appendToolConfig appends toolConfig.functionCallingConfig for
// tool_choice: auto AUTO, required ANY, none NONE, a named function ANY
// with allowedFunctionNames. Gemini has no switch for parallel calls.
func appendToolConfig(b []byte, raw json.RawMessage) ([]byte, error) {
	choice, name, err := provider.ParseToolChoice(raw)
	if err != nil || choice == provider.ToolChoiceAbsent {
		return b, err
	}
	mode := "AUTO"
	switch choice {
	case provider.ToolChoiceRequired, provider.ToolChoiceFunction:
		mode = "ANY"
	case provider.ToolChoiceNone:
		mode = "NONE"
	}
	b = append(b, `,"toolConfig":{"functionCallingConfig":{"mode":"`...)
	b = append(b, mode...)
	b = append(b, '"')
	if name != "" {
		b = append(b, `,"allowedFunctionNames":[`...)
		b = peek.AppendString(b, name)
		b = append(b, ']')
	}
	return append(b, "}}"...), nil
}

// appendStop appends stopSequences from OpenAI's stop (a string or an
// array); empty sequences are dropped.
func appendStop(b []byte, raw json.RawMessage) ([]byte, error) {
	list, err := provider.ParseStop(raw)
	if err != nil {
		return b, err
	}
	n := 0
	for _, s := range list {
		if s == "" {
			continue
		}
		if n == 0 {
			b = append(b, `,"stopSequences":[`...)
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
