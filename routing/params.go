package routing

// Params is a set of request parameters (OpenRouter supported_parameters
// names). Using a bit set keeps Rank allocation-free.
type Params uint64

// Known parameters. Names outside this list cannot be required.
const (
	ParamTemperature Params = 1 << iota
	ParamTopP
	ParamTopK
	ParamMinP
	ParamTopA
	ParamFrequencyPenalty
	ParamPresencePenalty
	ParamRepetitionPenalty
	ParamSeed
	ParamMaxTokens
	ParamStop
	ParamLogitBias
	ParamLogprobs
	ParamTopLogprobs
	ParamResponseFormat
	ParamStructuredOutputs
	ParamTools
	ParamToolChoice
	ParamParallelToolCalls
	ParamReasoning
	ParamIncludeReasoning
	ParamWebSearchOptions
	ParamVerbosity
	ParamN
	ParamUser
	ParamPrediction
)

var paramNames = [...]string{
	"temperature", "top_p", "top_k", "min_p", "top_a", "frequency_penalty",
	"presence_penalty", "repetition_penalty", "seed", "max_tokens", "stop",
	"logit_bias", "logprobs", "top_logprobs", "response_format",
	"structured_outputs", "tools", "tool_choice", "parallel_tool_calls",
	"reasoning", "include_reasoning", "web_search_options", "verbosity", "n",
	"user", "prediction",
}

// ParamByName returns the bit for a parameter name; ok is false for names
// the router does not know. "max_completion_tokens" maps to ParamMaxTokens.
func ParamByName(name string) (p Params, ok bool) {
	if name == "max_completion_tokens" {
		return ParamMaxTokens, true
	}
	for i, n := range paramNames {
		if n == name {
			return 1 << uint(i), true
		}
	}
	return 0, false
}

// ParseParams returns the set of known names in names; unknown names are
// ignored.
func ParseParams(names []string) Params {
	var p Params
	for _, n := range names {
		b, _ := ParamByName(n)
		p |= b
	}
	return p
}

// Has reports whether every parameter of q is in p.
func (p Params) Has(q Params) bool { return p&q == q }

// Names appends the names of the parameters in p to dst.
func (p Params) Names(dst []string) []string {
	for i, n := range paramNames {
		if p&(1<<uint(i)) != 0 {
			dst = append(dst, n)
		}
	}
	return dst
}
