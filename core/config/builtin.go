package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/routing"
)

// The built-in catalog: the providers that `tollgate serve` enables from
// their usual environment variables when no config names providers
// (docs/SPEC.md §7), with their main models and published prices.
//
// It is data, read 2026-11-25 from each vendor's own model and pricing pages
// (snapshots as stored then; the source of each row is named next to it).
// Vendors change prices and retire models; a config file always wins, and
// this table is refreshed by editing it, not at run time.
//
// Rules the rows follow:
//   - Prices are the vendor's pay-as-you-go list price in USD per million
//     tokens, never a promotion or an off-peak rate, so the ledger never
//     charges less than the upstream bills.
//   - A model whose price rises above a prompt length (a "long context"
//     tier) has its endpoint's context_length capped at that length, so the
//     router never sends it a prompt the listed price does not cover.
//   - input_cache_read and input_cache_write are set only where published;
//     unset, cached tokens are charged as prompt tokens.
//   - Models the vendor has retired or scheduled for shutdown before 2027
//     are left out (Claude 3.5 Sonnet retired 2025-10-28, Claude Sonnet 4
//     2026-06-15, Gemini 1.5 and 2.0, Gemini 2.5 Pro/Flash 2026-12-01,
//     DeepSeek's deepseek-chat/deepseek-reasoner aliases 2026-07-24).

// builtinVendor is one provider the catalog can enable.
type builtinVendor struct {
	name     string // provider name, and preset name for the openai protocol
	env      string // variable holding the API key
	protocol string
	preset   string
	// baseURL duplicates the preset's (core/provider/openai.Presets) or the
	// adapter's DefaultBaseURL: config sits below core/provider and must not
	// import it.
	baseURL string
	policy  DataPolicy
}

// builtinVendors, in the order providers are returned and documented.
//
// Data policies claim only what the vendor's terms state for API traffic;
// where the answer depends on the account (a free tier, an opt-in, the
// account's own settings) the catalog assumes the less private one, since a
// wrong "does not train" routes prompts of users who asked for
// data_collection: deny. No vendor here offers zero data retention without a
// separate agreement, and every one keeps API traffic for some days for
// abuse monitoring, so zdr is false and retains_prompts true throughout.
var builtinVendors = []builtinVendor{
	// OpenAI API data usage policy: API inputs and outputs are not used for
	// training unless the organisation opts in; kept up to 30 days.
	{name: "openai", env: "OPENAI_API_KEY", protocol: "openai", preset: "openai", baseURL: "https://api.openai.com/v1",
		policy: DataPolicy{RetainsPrompts: true}},
	// Anthropic Commercial Terms: no training on API customer content.
	{name: "anthropic", env: "ANTHROPIC_API_KEY", protocol: "anthropic", baseURL: "https://api.anthropic.com/v1",
		policy: DataPolicy{RetainsPrompts: true}},
	// Gemini API terms: content sent with a free-tier key is "used to
	// improve our products" (pricing page, Free tier); a key's tier is not
	// visible to us.
	{name: "gemini", env: "GEMINI_API_KEY", protocol: "gemini", baseURL: "https://generativelanguage.googleapis.com/v1beta",
		policy: DataPolicy{Training: true, RetainsPrompts: true}},
	// Groq, Together and Fireworks do not train on customer inference data
	// (Together: training is an account opt-in, off by default).
	{name: "groq", env: "GROQ_API_KEY", protocol: "openai", preset: "groq", baseURL: "https://api.groq.com/openai/v1",
		policy: DataPolicy{RetainsPrompts: true}},
	// DeepSeek's privacy policy lets it use inputs to improve its services.
	{name: "deepseek", env: "DEEPSEEK_API_KEY", protocol: "openai", preset: "deepseek", baseURL: "https://api.deepseek.com/v1",
		policy: DataPolicy{Training: true, RetainsPrompts: true}},
	// Mistral may train on traffic of its free (Experiment) API plan.
	{name: "mistral", env: "MISTRAL_API_KEY", protocol: "openai", preset: "mistral", baseURL: "https://api.mistral.ai/v1",
		policy: DataPolicy{Training: true, RetainsPrompts: true}},
	{name: "together", env: "TOGETHER_API_KEY", protocol: "openai", preset: "together", baseURL: "https://api.together.xyz/v1",
		policy: DataPolicy{RetainsPrompts: true}},
	{name: "fireworks", env: "FIREWORKS_API_KEY", protocol: "openai", preset: "fireworks", baseURL: "https://api.fireworks.ai/inference/v1",
		policy: DataPolicy{RetainsPrompts: true}},
	// xAI: API traffic is not used for training unless the team joins the
	// data-sharing programme.
	{name: "xai", env: "XAI_API_KEY", protocol: "openai", preset: "xai", baseURL: "https://api.x.ai/v1",
		policy: DataPolicy{RetainsPrompts: true}},
	// OpenRouter routes to upstreams whose policies depend on the account's
	// privacy settings.
	{name: "openrouter", env: "OPENROUTER_API_KEY", protocol: "openai", preset: "openrouter", baseURL: "https://openrouter.ai/api/v1",
		policy: DataPolicy{Training: true, RetainsPrompts: true}},
}

// builtinEndpoint is one vendor's offer of a model. Prices are decimal
// strings in USD per million tokens, parsed exactly like config values.
type builtinEndpoint struct {
	vendor       string
	upstream     string
	prompt       string
	completion   string
	cacheRead    string // "" when not published
	cacheWrite   string // "" when not published
	ctx          int    // 0: the model's context length
	maxOut       int
	quantization string
	params       []string
}

// builtinModel is one canonical model. viaOpenRouter adds an OpenRouter
// endpoint, copying the first endpoint's prices and limits, when
// OPENROUTER_API_KEY is set: OpenRouter bills a model's author price for the
// proprietary models marked so. Open-weight models are left off it because
// OpenRouter bills whichever host it routes to, at prices the catalog does
// not know.
type builtinModel struct {
	id            string
	name          string
	ctx           int
	input         []string
	endpoints     []builtinEndpoint
	viaOpenRouter bool
}

// Supported parameters (OpenRouter names) by family.
var (
	// GPT-5 reasoning models reject sampling parameters.
	paramsOpenAIReasoning = []string{"tools", "tool_choice", "parallel_tool_calls", "response_format", "structured_outputs",
		"reasoning", "include_reasoning", "max_tokens", "seed", "stop"}
	// Claude 5.x: adaptive thinking is on, non-default temperature, top_p
	// or top_k is a 400 (Sonnet 5 "What's new").
	paramsClaude5 = []string{"tools", "tool_choice", "reasoning", "include_reasoning", "response_format", "structured_outputs",
		"max_tokens", "stop"}
	paramsClaudeHaiku45 = []string{"tools", "tool_choice", "reasoning", "include_reasoning", "temperature", "top_p", "top_k",
		"max_tokens", "stop"}
	paramsGemini = []string{"tools", "tool_choice", "response_format", "structured_outputs", "reasoning", "include_reasoning",
		"temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "frequency_penalty", "presence_penalty"}
	paramsOpenWeights = []string{"tools", "tool_choice", "response_format", "temperature", "top_p", "max_tokens", "stop",
		"seed", "frequency_penalty", "presence_penalty"}
	paramsGptOss = []string{"tools", "tool_choice", "response_format", "reasoning", "include_reasoning", "temperature",
		"top_p", "max_tokens", "stop", "seed"}
	paramsDeepSeek = []string{"tools", "tool_choice", "response_format", "reasoning", "include_reasoning", "temperature",
		"top_p", "max_tokens", "stop", "frequency_penalty", "presence_penalty"}
	paramsMistral = []string{"tools", "tool_choice", "response_format", "structured_outputs", "temperature", "top_p",
		"max_tokens", "stop", "seed", "frequency_penalty", "presence_penalty"}
	paramsGrok = []string{"tools", "tool_choice", "response_format", "structured_outputs", "reasoning", "include_reasoning",
		"max_tokens", "seed", "stop"}
)

// withoutParams returns params minus drop.
func withoutParams(params []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(params), func(p string) bool { return slices.Contains(drop, p) })
}

var builtinModels = []builtinModel{
	// OpenAI: developers.openai.com model page and pricing. Prompts over
	// 272K input tokens cost 2x input and 1.5x output, hence the cap.
	{id: "openai/gpt-5.5", name: "OpenAI: GPT-5.5", ctx: 272_000, input: []string{"text", "image", "file"}, viaOpenRouter: true,
		endpoints: []builtinEndpoint{
			{vendor: "openai", upstream: "gpt-5.5", prompt: "5", completion: "30", cacheRead: "0.50", maxOut: 128_000, params: paramsOpenAIReasoning},
		}},

	// Anthropic: platform.claude.com model pages and pricing (cache reads of
	// Sonnet 5.5 cut to $0.10 on 2026-10-07); cache writes are the 5-minute
	// rate. Sonnet 5.5 returns an error for forced tool use, so tool_choice
	// is not offered.
	// Claude Opus 5.5 is left out: its API id could not be confirmed from
	// Anthropic's pages, and a guessed id would fail every request.
	{id: "anthropic/claude-sonnet-5.5", name: "Anthropic: Claude Sonnet 5.5", ctx: 1_000_000, input: []string{"text", "image", "file"}, viaOpenRouter: true,
		endpoints: []builtinEndpoint{
			{vendor: "anthropic", upstream: "claude-sonnet-5-5", prompt: "2", completion: "10", cacheRead: "0.10", cacheWrite: "2.50", maxOut: 128_000,
				params: withoutParams(paramsClaude5, "tool_choice")},
		}},
	// Haiku 5.5 costs $0.50/$2.50 once the prompt exceeds 100K tokens. Its
	// 128K output limit cannot be reached inside that window; 64K leaves
	// room for the prompt.
	{id: "anthropic/claude-haiku-5.5", name: "Anthropic: Claude Haiku 5.5", ctx: 100_000, input: []string{"text", "image", "file"}, viaOpenRouter: true,
		endpoints: []builtinEndpoint{
			{vendor: "anthropic", upstream: "claude-haiku-5-5", prompt: "0.10", completion: "0.50", cacheRead: "0.01", cacheWrite: "0.125", maxOut: 64_000, params: paramsClaude5},
		}},
	{id: "anthropic/claude-haiku-4.5", name: "Anthropic: Claude Haiku 4.5", ctx: 200_000, input: []string{"text", "image", "file"}, viaOpenRouter: true,
		endpoints: []builtinEndpoint{
			{vendor: "anthropic", upstream: "claude-haiku-4-5-20251001", prompt: "1", completion: "5", cacheRead: "0.10", cacheWrite: "1.25", maxOut: 64_000, params: paramsClaudeHaiku45},
		}},

	// Google: ai.google.dev pricing (paid tier) and deprecations. 3.1 Pro
	// costs $4/$18 above 200K prompt tokens. Gemini 3.8 Flash is left out
	// while its list price is a promotion ending 2026-12-31.
	{id: "google/gemini-3.5-flash", name: "Google: Gemini 3.5 Flash", ctx: 1_048_576, input: []string{"text", "image", "file", "audio"}, viaOpenRouter: true,
		endpoints: []builtinEndpoint{
			{vendor: "gemini", upstream: "gemini-3.5-flash", prompt: "1.50", completion: "9", cacheRead: "0.15", maxOut: 65_536, params: paramsGemini},
		}},
	{id: "google/gemini-3.1-pro-preview", name: "Google: Gemini 3.1 Pro Preview", ctx: 200_000, input: []string{"text", "image", "file", "audio"}, viaOpenRouter: true,
		endpoints: []builtinEndpoint{
			{vendor: "gemini", upstream: "gemini-3.1-pro-preview", prompt: "2", completion: "12", maxOut: 65_536, params: paramsGemini},
		}},
	{id: "google/gemini-2.5-flash-lite", name: "Google: Gemini 2.5 Flash-Lite", ctx: 1_048_576, input: []string{"text", "image", "file", "audio"}, viaOpenRouter: true,
		endpoints: []builtinEndpoint{
			{vendor: "gemini", upstream: "gemini-2.5-flash-lite", prompt: "0.10", completion: "0.40", maxOut: 65_536, params: paramsGemini},
		}},

	// Open-weight models on several hosts: console.groq.com/docs/models,
	// docs.together.ai serverless models, fireworks.ai/pricing.
	{id: "openai/gpt-oss-120b", name: "OpenAI: gpt-oss-120b", ctx: 131_072,
		endpoints: []builtinEndpoint{
			{vendor: "groq", upstream: "openai/gpt-oss-120b", prompt: "0.15", completion: "0.60", maxOut: 65_536, params: paramsGptOss},
			{vendor: "together", upstream: "openai/gpt-oss-120b", prompt: "0.15", completion: "0.60", ctx: 128_000, params: paramsGptOss},
			{vendor: "fireworks", upstream: "accounts/fireworks/models/gpt-oss-120b", prompt: "0.15", completion: "0.60", params: paramsGptOss},
		}},
	{id: "meta-llama/llama-3.1-8b-instruct", name: "Meta: Llama 3.1 8B Instruct", ctx: 131_072,
		endpoints: []builtinEndpoint{
			{vendor: "groq", upstream: "llama-3.1-8b-instant", prompt: "0.05", completion: "0.08", maxOut: 131_072, params: paramsOpenWeights},
			{vendor: "together", upstream: "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo", prompt: "0.18", completion: "0.18", quantization: "fp8", params: paramsOpenWeights},
		}},

	// DeepSeek: api-docs.deepseek.com Models & Pricing. Billing is peak /
	// off-peak (off-peak half); the peak rate is listed. deepseek-flash is a
	// rolling name for the current Flash release (V4.1 Flash when read).
	{id: "deepseek/deepseek-flash", name: "DeepSeek: DeepSeek Flash", ctx: 1_000_000, input: []string{"text", "image"},
		endpoints: []builtinEndpoint{
			{vendor: "deepseek", upstream: "deepseek-flash", prompt: "0.30", completion: "1.20", cacheRead: "0.006", maxOut: 384_000, params: paramsDeepSeek},
		}},
	{id: "deepseek/deepseek-v4-pro", name: "DeepSeek: DeepSeek V4 Pro", ctx: 1_000_000,
		endpoints: []builtinEndpoint{
			{vendor: "deepseek", upstream: "deepseek-v4-pro", prompt: "1.32", completion: "3.96", cacheRead: "0.044", maxOut: 384_000, params: paramsDeepSeek},
		}},

	// Mistral: docs.mistral.ai models and mistral.ai/pricing, pinned
	// versions so a "-latest" alias moving on cannot change the price.
	{id: "mistralai/mistral-large-2512", name: "Mistral: Mistral Large 3", ctx: 262_144, input: []string{"text", "image"},
		endpoints: []builtinEndpoint{
			{vendor: "mistral", upstream: "mistral-large-2512", prompt: "0.50", completion: "1.50", params: paramsMistral},
		}},
	{id: "mistralai/mistral-small-3.2-24b-instruct", name: "Mistral: Mistral Small 3.2 24B", ctx: 131_072, input: []string{"text", "image"},
		endpoints: []builtinEndpoint{
			{vendor: "mistral", upstream: "mistral-small-2506", prompt: "0.10", completion: "0.30", params: paramsMistral},
		}},

	// xAI: docs.x.ai/developers/models. Prompts over 200K tokens cost
	// double; reasoning is always on.
	{id: "x-ai/grok-4.3", name: "xAI: Grok 4.3", ctx: 200_000, input: []string{"text", "image"}, viaOpenRouter: true,
		endpoints: []builtinEndpoint{
			{vendor: "xai", upstream: "grok-4.3", prompt: "1.25", completion: "2.50", cacheRead: "0.20", params: paramsGrok},
		}},
}

// Builtin returns the providers whose API key variable lookup finds set and
// non-empty, and the catalog's models served by them: one Model per
// canonical id, with an endpoint per configured vendor that serves it.
// Both are nil when no variable is set. The result is the caller's to
// modify; lookup is os.LookupEnv in production.
func Builtin(lookup func(string) (string, bool)) (providers []Provider, models []Model) {
	enabled := map[string]bool{}
	for _, v := range builtinVendors {
		key, ok := lookup(v.env)
		if key = strings.TrimSpace(key); !ok || key == "" {
			continue
		}
		enabled[v.name] = true
		providers = append(providers, Provider{
			Name:       v.name,
			Protocol:   v.protocol,
			Preset:     v.preset,
			BaseURL:    v.baseURL,
			APIKey:     key,
			DataPolicy: v.policy,
		})
	}
	for _, bm := range builtinModels {
		var eps []Endpoint
		for _, be := range bm.endpoints {
			if enabled[be.vendor] {
				eps = append(eps, be.endpoint(be.vendor, be.upstream))
			}
		}
		if bm.viaOpenRouter && enabled["openrouter"] {
			eps = append(eps, bm.endpoints[0].endpoint("openrouter", bm.id))
		}
		if len(eps) == 0 {
			continue
		}
		models = append(models, Model{
			ID:            bm.id,
			Name:          bm.name,
			ContextLength: bm.ctx,
			Modalities:    Modalities{Input: slices.Clone(bm.input)},
			Endpoints:     eps,
		})
	}
	return providers, models
}

// endpoint is be offered by provider under the upstream id.
func (be builtinEndpoint) endpoint(provider, upstream string) Endpoint {
	return Endpoint{
		Provider:      provider,
		UpstreamModel: upstream,
		Pricing: Pricing{
			Prompt:          builtinUSD(be.prompt),
			Completion:      builtinUSD(be.completion),
			InputCacheRead:  builtinUSD(be.cacheRead),
			InputCacheWrite: builtinUSD(be.cacheWrite),
		},
		Quantization:        be.quantization,
		ContextLength:       be.ctx,
		MaxCompletionTokens: be.maxOut,
		SupportedParameters: slices.Clone(be.params),
	}
}

// builtinUSD parses a price of the table; "" is 0. TestBuiltinPrices parses
// every entry, so a failure here is a typo that escaped it.
func builtinUSD(s string) USD {
	if s == "" {
		return 0
	}
	n, err := routing.ParseUSD(s)
	if err != nil {
		panic(fmt.Sprintf("BUG: built-in catalog price %q: %v", s, err))
	}
	return USD(n)
}

// BuiltinDoc returns the built-in catalog as a markdown table for the
// README: each provider, the variable that enables it, and its models.
func BuiltinDoc() string {
	var b strings.Builder
	b.WriteString("| Provider | Environment variable | Protocol | Models |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, v := range builtinVendors {
		var ids []string
		for _, bm := range builtinModels {
			if bm.viaOpenRouter && v.name == "openrouter" || slices.ContainsFunc(bm.endpoints, func(e builtinEndpoint) bool { return e.vendor == v.name }) {
				ids = append(ids, "`"+bm.id+"`")
			}
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", v.name, v.env, v.protocol, strings.Join(ids, ", "))
	}
	return b.String()
}
