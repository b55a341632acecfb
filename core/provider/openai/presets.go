package openai

import "github.com/tollgate/tollgate/core/provider"

// Preset is a vendor that speaks the OpenAI protocol: where it lives, the
// environment variable that holds its key, and its quirks.
type Preset struct {
	Name    string
	BaseURL string
	KeyEnv  string
	Quirks  provider.Quirks
}

// Presets are the built-in OpenAI-protocol vendors. A provider in config
// names one with `preset:` and may override its base_url.
var Presets = []Preset{
	{Name: "openai", BaseURL: "https://api.openai.com/v1", KeyEnv: "OPENAI_API_KEY"},
	{Name: "openrouter", BaseURL: "https://openrouter.ai/api/v1", KeyEnv: "OPENROUTER_API_KEY", Quirks: provider.Quirks{KeepExtensions: true}},
	{Name: "groq", BaseURL: "https://api.groq.com/openai/v1", KeyEnv: "GROQ_API_KEY"},
	{Name: "together", BaseURL: "https://api.together.xyz/v1", KeyEnv: "TOGETHER_API_KEY"},
	{Name: "fireworks", BaseURL: "https://api.fireworks.ai/inference/v1", KeyEnv: "FIREWORKS_API_KEY"},
	{Name: "deepinfra", BaseURL: "https://api.deepinfra.com/v1/openai", KeyEnv: "DEEPINFRA_API_KEY"},
	{Name: "mistral", BaseURL: "https://api.mistral.ai/v1", KeyEnv: "MISTRAL_API_KEY", Quirks: provider.Quirks{MistralToolIDs: true}},
	{Name: "deepseek", BaseURL: "https://api.deepseek.com/v1", KeyEnv: "DEEPSEEK_API_KEY", Quirks: provider.Quirks{ReasoningContent: true}},
	{Name: "xai", BaseURL: "https://api.x.ai/v1", KeyEnv: "XAI_API_KEY"},
	{Name: "vllm", BaseURL: "http://127.0.0.1:8000/v1"},
	{Name: "ollama", BaseURL: "http://127.0.0.1:11434/v1"},
	{Name: "llamacpp", BaseURL: "http://127.0.0.1:8080/v1"},
}

// PresetByName returns the preset called name.
func PresetByName(name string) (Preset, bool) {
	for _, p := range Presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}
