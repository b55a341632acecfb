package routing

import (
	"strings"
)

// Pricing is the price list of one endpoint. Token prices are nano-USD per
// 1,000,000 tokens (config gives USD per million tokens, so 1 USD/M = 1e9);
// Request is nano-USD per request and Image nano-USD per input image.
type Pricing struct {
	Prompt            int64
	Completion        int64
	Request           int64
	Image             int64
	InputCacheRead    int64
	InputCacheWrite   int64
	InternalReasoning int64
}

// Usage is what a provider reported for one generation.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	// CachedTokens are cache reads; they are part of PromptTokens.
	CachedTokens int
	// CacheWriteTokens are prompt tokens written to the provider's cache; they
	// are part of PromptTokens.
	CacheWriteTokens int
	// ReasoningTokens are part of CompletionTokens.
	ReasoningTokens int
	// Images is the number of input images.
	Images int
}

// Cost returns the nano-USD price of u.
//
// Every component is computed separately and rounded up to the next whole
// nano-USD, so a non-zero usage of a non-zero price never costs 0:
//
//	prompt     = ceil(Prompt × (PromptTokens − CachedTokens − CacheWriteTokens) / 1e6)
//	cache read = ceil(InputCacheRead  × CachedTokens / 1e6)   (Prompt price if InputCacheRead is 0)
//	cache write= ceil(InputCacheWrite × CacheWriteTokens / 1e6) (Prompt price if InputCacheWrite is 0)
//	completion = ceil(Completion × (CompletionTokens − ReasoningTokens) / 1e6)
//	reasoning  = ceil(InternalReasoning × ReasoningTokens / 1e6) (Completion price if 0)
//	+ Request + Image × Images
//
// Negative or inconsistent counts are clamped to 0. The sum saturates at
// math.MaxInt64 instead of overflowing.
func (p Pricing) Cost(u Usage) int64 {
	cached := max(u.CachedTokens, 0)
	written := max(u.CacheWriteTokens, 0)
	prompt := max(u.PromptTokens, 0)
	if cached+written > prompt {
		// Some providers report cache counts outside the prompt total
		// (Anthropic's input_tokens excludes them); price what was reported.
		prompt = cached + written
	}
	plain := prompt - cached - written
	reasoning := max(u.ReasoningTokens, 0)
	completion := max(u.CompletionTokens, 0)
	if reasoning > completion {
		completion = reasoning
	}
	out := completion - reasoning

	readPrice := p.InputCacheRead
	if readPrice == 0 {
		readPrice = p.Prompt
	}
	writePrice := p.InputCacheWrite
	if writePrice == 0 {
		writePrice = p.Prompt
	}
	reasonPrice := p.InternalReasoning
	if reasonPrice == 0 {
		reasonPrice = p.Completion
	}
	var total int64
	total = addSat(total, perMillionCeil(p.Prompt, plain))
	total = addSat(total, perMillionCeil(readPrice, cached))
	total = addSat(total, perMillionCeil(writePrice, written))
	total = addSat(total, perMillionCeil(p.Completion, out))
	total = addSat(total, perMillionCeil(reasonPrice, reasoning))
	total = addSat(total, max(p.Request, 0))
	total = addSat(total, mulSat(max(p.Image, 0), int64(max(u.Images, 0))))
	return total
}

// IsFree reports whether every component of p is zero.
func (p Pricing) IsFree() bool {
	return p == Pricing{}
}

// DataPolicy is what a provider does with prompts.
type DataPolicy struct {
	// Training is true when the provider may train on prompts.
	Training bool
	// RetainsPrompts is true when the provider stores prompts.
	RetainsPrompts bool
	// ZDR is true when the provider contractually retains nothing.
	ZDR bool
}

// Provider is one upstream account. Name is matched case-insensitively and
// must not contain '/'.
type Provider struct {
	Name       string
	Protocol   string
	DataPolicy DataPolicy
	Disabled   bool
}

// Endpoint is one model served by one provider.
//
// Endpoints handed out by a Snapshot are immutable and stay valid after the
// router moves to a newer snapshot.
type Endpoint struct {
	Provider string
	// Model is the canonical model id (author/slug).
	Model string
	// UpstreamModel is the id the provider expects; Model when empty.
	UpstreamModel string
	Pricing       Pricing
	// ContextLength is 0 when the model's context length applies.
	ContextLength int
	// MaxCompletionTokens is 0 when unlimited (bounded by the context).
	MaxCompletionTokens int
	// Quantization is one of int4, int8, fp4, fp6, fp8, fp16, bf16, fp32,
	// unknown; empty means unknown.
	Quantization string
	// SupportedParameters lists the request parameters the endpoint honours
	// (OpenRouter names: "tools", "response_format", "structured_outputs",
	// "temperature" …). Empty means "not declared": every parameter is
	// assumed supported.
	SupportedParameters []string
	// InputModalities overrides the model's input modalities when non-empty.
	InputModalities []string
	Disabled        bool

	key      string
	prov     *Provider
	provIdx  int32
	model    *Model
	st       *epStats
	params   Params
	allParam bool
	quant    quantMask
	images   bool
	ctx      int
}

// Key returns "provider/model" with the provider in lower case: the
// endpoint's identity in statistics and catalog records.
func (e *Endpoint) Key() string {
	if e.key != "" {
		return e.key
	}
	return endpointKey(e.Provider, e.Model)
}

func endpointKey(provider, model string) string { return lowerASCII(provider) + "/" + model }

// ProviderInfo returns the endpoint's provider as of the snapshot it came from.
func (e *Endpoint) ProviderInfo() *Provider { return e.prov }

// ModelInfo returns the endpoint's model as of the snapshot it came from.
func (e *Endpoint) ModelInfo() *Model { return e.model }

// EffectiveContextLength is the endpoint's context length, or the model's
// when the endpoint does not set one.
func (e *Endpoint) EffectiveContextLength() int { return e.ctx }

// UpstreamModelID returns UpstreamModel, or Model when it is empty.
func (e *Endpoint) UpstreamModelID() string {
	if e.UpstreamModel != "" {
		return e.UpstreamModel
	}
	return e.Model
}

// Model is one canonical model and its endpoints.
type Model struct {
	ID   string
	Name string
	// Created is a Unix timestamp (seconds).
	Created       int64
	ContextLength int
	// InputModalities defaults to ["text"]; "image" enables image inputs.
	InputModalities  []string
	OutputModalities []string
	Endpoints        []*Endpoint
}

// Catalog is the configured set of providers and models.
type Catalog struct {
	Providers []Provider
	Models    []*Model
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
