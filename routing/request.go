package routing

import "strings"

// Variant is a model-id suffix that changes routing.
type Variant uint8

// Model variants (OpenRouter semantics).
const (
	VariantNone     Variant = iota
	VariantFree             // ":free": only endpoints whose every price is zero
	VariantNitro            // ":nitro": sort by throughput
	VariantFloor            // ":floor": sort by price
	VariantThinking         // ":thinking": only endpoints that support reasoning; core enables it
)

var variantNames = [...]string{"", "free", "nitro", "floor", "thinking"}

// String returns the suffix without the colon ("" for VariantNone).
func (v Variant) String() string {
	if int(v) < len(variantNames) {
		return variantNames[v]
	}
	return "invalid"
}

// AutoModel is the model id that lets the router pick the model.
const AutoModel = "tollgate/auto"

// openRouterAutoModel is accepted as an alias so OpenRouter clients work unchanged.
const openRouterAutoModel = "openrouter/auto"

// ParseModel splits a client model string into the canonical id and variant.
// An unknown suffix is left in the id ("a/b:beta" stays "a/b:beta").
func ParseModel(s string) (id string, v Variant) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, VariantNone
	}
	switch s[i+1:] {
	case "free":
		return s[:i], VariantFree
	case "nitro":
		return s[:i], VariantNitro
	case "floor":
		return s[:i], VariantFloor
	case "thinking":
		return s[:i], VariantThinking
	}
	return s, VariantNone
}

// Request is what the ranking needs to know about one client request.
// Core fills it from the peeked body; it is read-only for Rank.
type Request struct {
	// Model is the model as the client sent it; it may carry a variant suffix
	// (":free", ":nitro", ":floor", ":thinking") or be AutoModel.
	Model string
	// Models are OpenRouter models[] fallbacks, tried after Model.
	Models []string
	// Provider holds the request's provider preferences; nil if absent.
	Provider *Preferences
	// PromptTokens is the estimated prompt size; 0 if unknown.
	PromptTokens int
	// MaxTokens is the requested completion limit; 0 if not given.
	MaxTokens int
	// Features the request uses.
	Tools, ToolChoice, Images, JSONObject, JSONSchema, Reasoning bool
	// Params are the request's top-level parameters that matter for
	// require_parameters; build it with ParamByName or ParseParams.
	Params Params
	// AllowedProviders restricts the providers the API key may use
	// (case-insensitive); nil means all, an empty non-nil slice none.
	AllowedProviders []string
}
