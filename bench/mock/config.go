package mock

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-json"
	"github.com/spf13/pflag"
)

// Config drives the simulator. The zero value is usable: New fills every
// zero field that has a default (see EnsureDefaults). Fields whose zero value
// means "off" (faults, delays, APIKey, Model) have no default.
//
// Every field has a command-line flag (RegisterFlags) and the same name is
// accepted as a key by PUT /mock/config. Most fields can also be overridden
// for one request by a header, so that one mock serves many test cases at
// once:
//
//	Field                   Flag / config key             Default        Request header
//	Addr                    --addr                        127.0.0.1:8089 -
//	APIKey                  --api-key                     "" (no auth)   -
//	Model                   --model                       "" (echo)      X-Mock-Model
//	Models                  --models                      mock-chat,mock-embed -
//	Tokens                  --tokens                      16             X-Mock-Tokens
//	TTFT                    --ttft                        0              X-Mock-TTFT
//	TokenGap                --token-gap                   0              X-Mock-Token-Gap
//	RoleAfterTTFT           --role-after-ttft             false          -
//	KeepAlive               --keep-alive                  0 (off)        X-Mock-Keep-Alive
//	Latency                 --latency                     0              X-Mock-Latency
//	ResponseBytes           --response-bytes              0 (off)        X-Mock-Response-Bytes
//	ToolCalls               --tool-calls                  0 (off)        X-Mock-Tool-Calls
//	ReasoningTokens         --reasoning-tokens            0              X-Mock-Reasoning-Tokens
//	CachedTokens            --cached-tokens               0              X-Mock-Cached-Tokens
//	ContextLength           --context-length              0 (no limit)   -
//	EmbeddingDims           --embedding-dims              1536           -
//	ErrorRate               --error-rate                  0              -
//	ErrorStatus             --error-status                500            X-Mock-Status (forces it)
//	RateLimitRate           --rate-limit-rate             0              X-Mock-Status: 429
//	RetryAfter              --retry-after                 1s             X-Mock-Retry-After
//	HangBeforeHeaders       --hang-before-headers         false          X-Mock-Hang (a duration)
//	HangFor                 --hang-for                    60s            X-Mock-Hang
//	StallAfter              --stall-after                 0 (off)        X-Mock-Stall-After
//	StallFor                --stall-for                   10s            X-Mock-Stall-For
//	StallClose              --stall-close                 false          X-Mock-Stall-Close
//	ResetAfter              --reset-after                 0 (off)        X-Mock-Reset-After
//	ResetRate               --reset-rate                  0              -
//	MalformedAfter          --malformed-after             0 (off)        X-Mock-Malformed-After
//	InBandErrorAfter        --in-band-error-after         0 (off)        X-Mock-Error-After
//	UsageInLastChoiceChunk  --usage-in-last-choice-chunk  false          X-Mock-Usage-In-Last-Choice
//	AlwaysUsage             --always-usage                false          X-Mock-Always-Usage
//	Script                  --script                      none           -
//	History                 --history                     16             -
//
// Header values: durations are Go durations ("250ms", "2s") or a bare
// integer meaning milliseconds (X-Mock-Retry-After: a bare integer means
// seconds, as in Retry-After); counts are integers, 0 turning the fault off
// for that request; booleans are "true"/"false"/"1"/"0". A header that does
// not parse is answered with 400, so a typo in a test does not pass silently.
type Config struct {
	// Addr is the listen address used when Listen is called with "".
	Addr string
	// APIKey, when set, is required as "Authorization: Bearer <key>"
	// (OpenAI protocol); requests without it get 401.
	APIKey string
	// Model, when set, is the model name echoed in responses instead of the
	// requested one.
	Model string
	// Models is the list served by GET /v1/models.
	Models []string

	// Tokens is the number of completion tokens generated (before
	// max_tokens capping). 0 means 16; use X-Mock-Tokens: 0 for an empty
	// completion.
	Tokens int
	// TTFT is the delay before the first content token of a stream.
	TTFT time.Duration
	// TokenGap is the delay between two content tokens of a stream.
	TokenGap time.Duration
	// RoleAfterTTFT delays the first chunk (the role delta) by TTFT too,
	// like a real provider whose first byte comes after prefill. By default
	// the role chunk goes out with the headers, so a gateway that measures
	// TTFT at the first byte instead of the first token shows it.
	RoleAfterTTFT bool
	// KeepAlive, when > 0, sends an SSE comment (": PROCESSING") every
	// KeepAlive during TTFT and token gaps longer than it. Stalls stay
	// silent.
	KeepAlive time.Duration
	// Latency is an extra delay before a non-stream response.
	Latency time.Duration
	// ResponseBytes, when > 0, pads the generated text to about this many
	// bytes (each token carries an equal share), for large-response tests.
	ResponseBytes int
	// ToolCalls, when > 0 and the request has tools and its last message
	// is from the user, answers with this many parallel tool calls.
	ToolCalls int
	// ReasoningTokens are added to completion_tokens and reported as
	// completion_tokens_details.reasoning_tokens.
	ReasoningTokens int
	// CachedTokens are reported as prompt_tokens_details.cached_tokens
	// (capped at prompt_tokens).
	CachedTokens int
	// ContextLength, when > 0, rejects a request whose prompt tokens plus
	// max tokens exceed it (400, code context_length_exceeded).
	ContextLength int
	// EmbeddingDims is the default embedding size. 0 means 1536.
	EmbeddingDims int

	// ErrorRate is the probability (0..1) that a request fails with
	// ErrorStatus before anything else happens.
	ErrorRate float64
	// ErrorStatus is the status of injected errors. 0 means 500.
	ErrorStatus int
	// RateLimitRate is the probability (0..1) of a 429.
	RateLimitRate float64
	// RetryAfter is sent with every 429 as Retry-After (seconds, rounded
	// up) and retry-after-ms. 0 means 1s.
	RetryAfter time.Duration
	// HangBeforeHeaders makes every request sleep before writing anything
	// until the client gives up or HangFor elapses; then it is answered
	// normally.
	HangBeforeHeaders bool
	// HangFor bounds a hang. 0 means 60s.
	HangFor time.Duration
	// StallAfter, when > 0, makes a stream go silent for StallFor after
	// that many events.
	StallAfter int
	// StallFor is the length of a stall. 0 means 10s.
	StallFor time.Duration
	// StallClose ends the stream after the stall (no more events, no
	// [DONE]) instead of resuming it.
	StallClose bool
	// ResetAfter, when > 0, resets the TCP connection (RST, no terminating
	// chunk) after that many stream events. A non-stream request with it
	// set is reset before any byte of the response.
	ResetAfter int
	// ResetRate is the probability (0..1) that a request without its own
	// reset gets one: a stream is reset after a random number of events
	// (at least one, at most one per token), a non-stream request before
	// its response. It is drawn after ErrorRate and RateLimitRate.
	ResetRate float64
	// MalformedAfter, when > 0, sends a data: line that is not valid JSON
	// after that many stream events; the stream then goes on. A non-stream
	// chat completion with it set gets a 200 whose JSON body is cut in
	// half (and reports no usage).
	MalformedAfter int
	// InBandErrorAfter, when > 0, sends an error event after that many
	// stream events and ends the stream (no [DONE]).
	InBandErrorAfter int
	// UsageInLastChoiceChunk puts usage in the chunk that carries
	// finish_reason instead of a separate "choices": [] chunk.
	UsageInLastChoiceChunk bool
	// AlwaysUsage reports usage in streams even when the request did not
	// ask for it with stream_options.include_usage.
	AlwaysUsage bool

	// Script scripts the first requests: the i-th API request (counted
	// from New, SetConfig or ResetStats) gets the overrides of Script[i],
	// then requests follow the configuration again. A step is
	// space-separated name=value pairs named like the X-Mock-* headers
	// without the prefix, e.g. "status=503" or "ttft=2s tokens=5"; "" or
	// "-" is a request without overrides. Request headers still win.
	Script []string

	// History is how many requests LastRequests keeps. 0 means 16.
	History int
}

// Defaults of the fields that have one.
const (
	DefaultAddr          = "127.0.0.1:8089"
	DefaultTokens        = 16
	DefaultErrorStatus   = 500
	DefaultRetryAfter    = time.Second
	DefaultHangFor       = 60 * time.Second
	DefaultStallFor      = 10 * time.Second
	DefaultHistory       = 16
	DefaultEmbeddingDims = 1536
)

// DefaultModels is the default of Config.Models.
func DefaultModels() []string { return []string{"mock-chat", "mock-embed"} }

// EnsureDefaults sets every zero field that has a default.
func (c *Config) EnsureDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if len(c.Models) == 0 {
		c.Models = DefaultModels()
	}
	if c.Tokens == 0 {
		c.Tokens = DefaultTokens
	}
	if c.ErrorStatus == 0 {
		c.ErrorStatus = DefaultErrorStatus
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.HangFor == 0 {
		c.HangFor = DefaultHangFor
	}
	if c.StallFor == 0 {
		c.StallFor = DefaultStallFor
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if c.EmbeddingDims == 0 {
		c.EmbeddingDims = DefaultEmbeddingDims
	}
}

// Validate reports the first field out of range.
func (c *Config) Validate() error {
	switch {
	case c.ErrorRate < 0 || c.ErrorRate > 1:
		return fmt.Errorf("mock: error-rate %v is not in [0, 1]", c.ErrorRate)
	case c.RateLimitRate < 0 || c.RateLimitRate > 1:
		return fmt.Errorf("mock: rate-limit-rate %v is not in [0, 1]", c.RateLimitRate)
	case c.ResetRate < 0 || c.ResetRate > 1:
		return fmt.Errorf("mock: reset-rate %v is not in [0, 1]", c.ResetRate)
	case c.ErrorStatus < 400 || c.ErrorStatus > 599:
		return fmt.Errorf("mock: error-status %d is not an error status", c.ErrorStatus)
	case c.Tokens < 0 || c.ResponseBytes < 0 || c.ToolCalls < 0 || c.ReasoningTokens < 0 ||
		c.CachedTokens < 0 || c.ContextLength < 0 || c.EmbeddingDims < 0 || c.History < 0:
		return errors.New("mock: token, byte and size settings must not be negative")
	case c.StallAfter < 0 || c.ResetAfter < 0 || c.MalformedAfter < 0 || c.InBandErrorAfter < 0:
		return errors.New("mock: fault event counts must not be negative")
	case c.TTFT < 0 || c.TokenGap < 0 || c.KeepAlive < 0 || c.Latency < 0 || c.RetryAfter < 0 ||
		c.HangFor < 0 || c.StallFor < 0:
		return errors.New("mock: durations must not be negative")
	case c.ToolCalls > maxToolCalls:
		return fmt.Errorf("mock: tool-calls %d is more than %d", c.ToolCalls, maxToolCalls)
	case c.EmbeddingDims > maxEmbeddingDims:
		return fmt.Errorf("mock: embedding-dims %d is more than %d", c.EmbeddingDims, maxEmbeddingDims)
	}
	for i, step := range c.Script {
		var p plan
		if err := p.applyStep(step); err != nil {
			return fmt.Errorf("mock: script step %d %q: %w", i, step, err)
		}
	}
	return nil
}

// RegisterFlags binds every field to a kebab-case flag in fs. Defaults are
// filled first, and the flags' defaults are c's values, so a caller may
// preset fields before registering.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	c.EnsureDefaults()
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "require this key as a Bearer token (empty: no auth)")
	fs.StringVar(&c.Model, "model", c.Model, "model name echoed in responses (empty: the requested one)")
	fs.StringSliceVar(&c.Models, "models", c.Models, "models listed by GET /v1/models")

	fs.IntVar(&c.Tokens, "tokens", c.Tokens, "completion tokens generated before max_tokens capping")
	fs.DurationVar(&c.TTFT, "ttft", c.TTFT, "delay before the first content token of a stream")
	fs.DurationVar(&c.TokenGap, "token-gap", c.TokenGap, "delay between stream tokens")
	fs.BoolVar(&c.RoleAfterTTFT, "role-after-ttft", c.RoleAfterTTFT, "delay the first (role) chunk by the TTFT too")
	fs.DurationVar(&c.KeepAlive, "keep-alive", c.KeepAlive, "send an SSE comment this often during silences (0: never)")
	fs.DurationVar(&c.Latency, "latency", c.Latency, "extra delay before a non-stream response")
	fs.IntVar(&c.ResponseBytes, "response-bytes", c.ResponseBytes, "pad the generated text to about this many bytes (0: no padding)")
	fs.IntVar(&c.ToolCalls, "tool-calls", c.ToolCalls, "answer requests with tools with this many parallel tool calls (0: never)")
	fs.IntVar(&c.ReasoningTokens, "reasoning-tokens", c.ReasoningTokens, "reasoning tokens added to the usage")
	fs.IntVar(&c.CachedTokens, "cached-tokens", c.CachedTokens, "cached prompt tokens reported in the usage")
	fs.IntVar(&c.ContextLength, "context-length", c.ContextLength, "reject prompt+max tokens above this (0: no limit)")
	fs.IntVar(&c.EmbeddingDims, "embedding-dims", c.EmbeddingDims, "default embedding dimensions")

	fs.Float64Var(&c.ErrorRate, "error-rate", c.ErrorRate, "probability (0..1) of an injected error")
	fs.IntVar(&c.ErrorStatus, "error-status", c.ErrorStatus, "HTTP status of injected errors")
	fs.Float64Var(&c.RateLimitRate, "rate-limit-rate", c.RateLimitRate, "probability (0..1) of a 429")
	fs.DurationVar(&c.RetryAfter, "retry-after", c.RetryAfter, "Retry-After sent with a 429")
	fs.BoolVar(&c.HangBeforeHeaders, "hang-before-headers", c.HangBeforeHeaders, "sleep before writing anything until the client gives up or hang-for elapses")
	fs.DurationVar(&c.HangFor, "hang-for", c.HangFor, "longest hang")
	fs.IntVar(&c.StallAfter, "stall-after", c.StallAfter, "go silent after this many stream events (0: never)")
	fs.DurationVar(&c.StallFor, "stall-for", c.StallFor, "length of a stall")
	fs.BoolVar(&c.StallClose, "stall-close", c.StallClose, "end the stream after a stall instead of resuming")
	fs.IntVar(&c.ResetAfter, "reset-after", c.ResetAfter, "reset the connection after this many stream events (0: never)")
	fs.Float64Var(&c.ResetRate, "reset-rate", c.ResetRate, "probability (0..1) of a connection reset at a random point")
	fs.IntVar(&c.MalformedAfter, "malformed-after", c.MalformedAfter, "send invalid JSON after this many stream events (0: never)")
	fs.IntVar(&c.InBandErrorAfter, "in-band-error-after", c.InBandErrorAfter, "send an error event and end the stream after this many events (0: never)")
	fs.BoolVar(&c.UsageInLastChoiceChunk, "usage-in-last-choice-chunk", c.UsageInLastChoiceChunk, "put stream usage in the finish_reason chunk instead of a separate one")
	fs.BoolVar(&c.AlwaysUsage, "always-usage", c.AlwaysUsage, "report stream usage even when not requested")
	fs.StringSliceVar(&c.Script, "script", c.Script, "overrides of the first requests, one step each (\"status=503\", \"ttft=2s tokens=5\", \"-\" for none)")
	fs.IntVar(&c.History, "history", c.History, "requests kept for LastRequests")
}

// applyJSON applies a partial update: a JSON object whose keys are flag
// names (snake_case is accepted too). Durations are strings ("250ms");
// models is an array of strings or a comma-separated string.
func (c *Config) applyJSON(body []byte) error {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(body, &patch); err != nil {
		return fmt.Errorf("mock: cannot parse config patch: %w", err)
	}
	fs := pflag.NewFlagSet("mock", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	keys := make([]string, 0, len(patch))
	for k := range patch {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := patch[k]
		name := strings.ReplaceAll(k, "_", "-")
		f := fs.Lookup(name)
		if f == nil {
			return fmt.Errorf("mock: unknown config key %q", k)
		}
		val, err := flagText(raw)
		if err != nil {
			return fmt.Errorf("mock: config key %q: %w", k, err)
		}
		if err := fs.Set(name, val); err != nil {
			return fmt.Errorf("mock: config key %q: %w", k, err)
		}
	}
	c.EnsureDefaults()
	return c.Validate()
}

// flagText turns a JSON value into the text a flag parses.
func flagText(raw json.RawMessage) (string, error) {
	switch {
	case len(raw) > 0 && raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", err
		}
		return s, nil
	case len(raw) > 0 && raw[0] == '[':
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return "", err
		}
		return strings.Join(ss, ","), nil
	case len(raw) > 0 && (raw[0] == '{' || string(raw) == "null"):
		return "", errors.New("value must be a string, number, boolean or array of strings")
	}
	return string(raw), nil
}

// marshalJSON renders c with the flag names as keys, as GET and PUT
// /mock/config return it.
func (c *Config) marshalJSON() ([]byte, error) {
	cc := *c
	cc.Models = append([]string(nil), c.Models...)
	fs := pflag.NewFlagSet("mock", pflag.ContinueOnError)
	cc.RegisterFlags(fs)
	out := make(map[string]any)
	fs.VisitAll(func(f *pflag.Flag) {
		switch f.Value.Type() {
		case "int", "float64", "bool":
			out[f.Name] = json.RawMessage(f.Value.String())
		case "stringSlice":
			v, _ := fs.GetStringSlice(f.Name)
			out[f.Name] = v
		default:
			out[f.Name] = f.Value.String()
		}
	})
	return json.Marshal(out)
}
