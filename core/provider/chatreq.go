package provider

import (
	"bytes"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/tollgate/tollgate/core/peek"
)

// The pieces of a client's OpenAI chat request that translating adapters
// (anthropic, gemini) decode the same way. The body reaching them was
// validated strictly by peek, so go-json only sees well-formed JSON.

// ContentPart is one part of an OpenAI message's content array.
type ContentPart struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	Refusal      string          `json:"refusal"`
	ImageURL     json.RawMessage `json:"image_url"` // {"url","detail"}, or a bare URL string
	File         *FilePart       `json:"file"`
	CacheControl json.RawMessage `json:"cache_control"`
	InputAudio   *struct {
		Data   string `json:"data"`
		Format string `json:"format"`
	} `json:"input_audio"`
}

// FilePart is the "file" of a content part.
type FilePart struct {
	Filename string `json:"filename"`
	FileData string `json:"file_data"`
	FileID   string `json:"file_id"`
}

// ParseContent appends the parts of a message's "content" (a string or an
// array of parts) to dst; a string becomes one text part.
func ParseContent(raw json.RawMessage, dst []ContentPart) ([]ContentPart, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || peek.IsNull(raw) {
		return dst, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return dst, &peek.BadRequest{Msg: "message content is not a valid string"}
		}
		return append(dst, ContentPart{Type: "text", Text: s}), nil
	case '[':
		var parts []ContentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return dst, &peek.BadRequest{Msg: "message content must be a string or an array of content parts: " + err.Error()}
		}
		return append(dst, parts...), nil
	}
	return dst, &peek.BadRequest{Msg: "message content must be a string or an array of content parts"}
}

// URL returns an image part's URL (image_url as {"url": …} or a string).
func (p *ContentPart) URL() (string, error) {
	v := bytes.TrimSpace(p.ImageURL)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", &peek.BadRequest{Msg: "invalid image_url"}
		}
		return s, nil
	}
	var iu struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(v, &iu); err != nil || iu.URL == "" {
		return "", &peek.BadRequest{Msg: "image_url.url is required"}
	}
	return iu.URL, nil
}

// EffortRatio is the share of the output budget OpenRouter gives thinking
// for a reasoning effort; false for an unknown effort.
func EffortRatio(effort string) (float64, bool) {
	switch strings.ToLower(effort) {
	case "xhigh", "max":
		return 0.95, true
	case "high":
		return 0.8, true
	case "medium", "":
		return 0.5, true
	case "low":
		return 0.2, true
	case "minimal":
		return 0.1, true
	case "none":
		return 0, true
	}
	return 0, false
}
