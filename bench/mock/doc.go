// Package mock is Tollgate's simulated LLM provider: a fasthttp server that
// speaks the providers' wire protocols exactly, generates deterministic
// text at a chosen pace, and injects the faults a gateway must survive.
// Proxy tests, the demo mode (`tollgate serve` without a config), `tollgate
// mock` and the benchmarks all use it as the upstream, so it is built to
// stay out of the way: non-stream responses are assembled into pooled
// buffers without allocating, and a stream costs no allocation per event.
//
// # Endpoints
//
// OpenAI protocol (openai.go), under /v1, /api/v1 and bare paths:
//
//	POST /v1/chat/completions   chat.completion and chat.completion.chunk streams, tool calls
//	POST /v1/completions        legacy text_completion, stream or not
//	POST /v1/embeddings         deterministic unit vectors, float or base64
//	GET  /v1/models[/{id}]      Config.Models
//
// Anthropic Messages (anthropic.go), same prefixes; requires the
// anthropic-version header and takes the key as x-api-key:
//
//	POST /v1/messages               message, or message_start … message_stop events
//	POST /v1/messages/count_tokens  {"input_tokens": N}
//
// Gemini (gemini.go); takes the key as x-goog-api-key or ?key=:
//
//	POST /v1beta/models/{model}:generateContent
//	POST /v1beta/models/{model}:streamGenerateContent?alt=sse
//
// A protocol is a dialect (how to authenticate, shape an error and break
// a stream in its words) plus its handlers; auth, overrides, faults before
// the body, pacing, stream faults and accounting are shared (server.go,
// stream.go), so every fault works the same way in every protocol.
//
// Control (never authenticated, not counted in Stats):
//
//	GET  /stats                 Stats as JSON
//	GET  /mock/config           the configuration, keyed by flag name
//	PUT  /mock/config           partial update, e.g. {"ttft":"200ms","error-rate":0.1}
//	POST /mock/reset            zero the counters and forget the history
//
// # Generation
//
// Completion tokens are min(Tokens, max_tokens or max_completion_tokens):
// "length" when capped, else "stop" (max_tokens/end_turn, MAX_TOKENS/STOP
// in the other protocols). Prompt tokens are ceil(bytes of the messages
// JSON / 4) (prompt for completions, input for embeddings, messages plus
// system for Anthropic, contents plus systemInstruction for Gemini). The
// text is a fixed word sequence, the same streamed or not. Tool calls
// count one token per call plus one per 6-byte argument fragment and are
// not capped by max_tokens. An OpenAI chat stream is:
// headers at once; a role chunk; TTFT; one chunk per token, TokenGap
// apart; a chunk with finish_reason and an empty delta; a "choices": []
// usage chunk only if stream_options.include_usage (or AlwaysUsage); then
// data: [DONE]. Every chunk has the same id, created and model.
//
// # Per-request overrides
//
// Request headers override the configuration for one request, so one mock
// can serve many concurrent test cases (full table in the Config doc):
//
//	X-Mock-Status: 503           answer with this status (200 forces success)
//	X-Mock-Retry-After: 2        Retry-After of a 429 (seconds, or "1500ms")
//	X-Mock-TTFT: 250ms           X-Mock-Token-Gap: 10ms   X-Mock-Tokens: 40
//	X-Mock-Latency: 50ms         X-Mock-Response-Bytes: 100000
//	X-Mock-Hang: 5s              hang before headers this long (or until the client leaves)
//	X-Mock-Stall-After: 3        X-Mock-Stall-For: 2s     X-Mock-Stall-Close: true
//	X-Mock-Reset-After: 3        TCP reset after 3 stream events
//	X-Mock-Malformed-After: 3    invalid JSON data line after 3 events
//	X-Mock-Error-After: 3        in-band error event after 3 events, then the stream ends
//	X-Mock-Tool-Calls: 2         X-Mock-Model: name       X-Mock-Keep-Alive: 1s
//	X-Mock-Usage-In-Last-Choice: true   X-Mock-Always-Usage: true
//	X-Mock-Reasoning-Tokens: 8   X-Mock-Cached-Tokens: 4
//
// Two knobs have no header: ResetRate resets a random share of requests
// at a random event (soak tests), and Script gives the first requests
// their own overrides in the header syntax ("status=503", "hang=5s",
// "ttft=2s tokens=5"), so a test can script a burst of failures followed
// by recovery. OpenConns counts the open client connections, for leak
// checks.
//
// Fault counts are stream events (data: lines) the mock sends normally:
// the first is the role chunk (OpenAI chat), message_start (Anthropic) or
// the first token chunk (legacy completions, Gemini). A fault whose count
// is not reached never fires. An unknown or unparsable X-Mock-* header is
// a 400.
//
// # Lifecycle
//
// New, then Listen or Serve, which return once the server accepts
// connections; Close ends hangs, stalls and streams at once and waits for
// every goroutine the Server started. fasthttp's worker-pool cleaner, which
// Shutdown does not join, exits within a second after.
//
// # Who imports it
//
// bench/ and tests anywhere; cmd/ wires `tollgate mock` from Config and
// RegisterFlags. The package imports nothing of Tollgate's, so it can
// stand in for any provider in any test.
package mock
