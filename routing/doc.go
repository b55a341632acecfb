// Package routing owns the model catalog (models, provider endpoints, prices,
// data policies), the live per-endpoint statistics (EWMAs, error rate,
// circuit breaker, cooldowns, windowed percentiles) and the ranking function
// that turns a request and a catalog snapshot into the ordered list of
// upstream candidates core tries.
//
// The package does no I/O, starts no goroutines and imports no other
// tollgate package: time comes from an injected clock and randomness from a
// seeded generator, so every decision can be replayed in tests. Only core
// imports it (SPEC §1). Money is int64 nano-USD throughout; floats appear
// only in scores.
//
// # Catalog
//
// A Router holds an immutable *Snapshot behind an atomic pointer. Update
// swaps in a new configured catalog; Apply merges a CatalogRecord, a
// versioned last-writer-wins change (model, endpoint, provider, price,
// disable) made at runtime and gossiped between nodes. The effective
// catalog is the configured one overlaid with the winning records. Live
// statistics are keyed by endpoint ("provider/model", provider lower case)
// and survive every swap that keeps the key.
//
// # Statistics
//
// Core calls Begin before and End after every upstream attempt. Averages
// are time-decayed: every sample has weight 1 and all weights halve every
// half-life, so the value is Σ2^(−age/h)·x / Σ2^(−age/h). TTFT (h = 5s),
// end-to-end latency (10s) and output tokens/s (10s, measured over the
// generation time, latency − TTFT) use successful attempts. The error rate
// (h = 30s) counts health failures (connect, timeout, 5xx, broken stream) as
// 1 and successes as 0, and reads Σerr / (Σweight + 1) so that old evidence
// fades to 0 when traffic stops. 429s set a cooldown (Retry-After, or 5s,
// clamped to [1s, 10m]) instead; bad requests, context-length errors and
// client cancellations are nobody's fault and count nowhere.
//
// The circuit opens after 5 consecutive health failures, or when the error
// rate reaches 0.5 over at least 10 decayed samples. After 10s it is
// half-open: exactly one probe at a time is admitted (a ranking claims a
// 5s lease; Begin turns it into an in-flight probe held until End). A
// success closes the circuit and forgets the error history; a failure
// re-opens it with twice the delay, up to 5m. An endpoint is in an outage
// when the last 30s hold at least 3 health failures making up at least half
// of its attempts. Percentiles of latency, TTFT and throughput for the last
// 5 and 30 minutes come from 30 one-minute slots of 80-bucket log-scale
// histograms (4 buckets per doubling, ±9 %): fixed memory per endpoint.
//
// # Health hints from peers
//
// HealthSummaries lists this node's own measurements (endpoints with recent
// samples or unhealthy); a cluster node gossips them and its peers pass
// them to ApplyHints. A hint counts only while the local decayed sample
// weight is below HintLocalSamples, in proportion 1 − local/HintLocalSamples,
// and expires HintTTL after it arrived: it fills the error rate and, for
// unmeasured endpoints, TTFT and throughput; a same-region report of an
// open circuit, cooldown or outage puts the endpoint in the unhealthy tier
// (a fallback, never excluded). Reports from other regions feed only the
// error rate. Local statistics are never overwritten (hint.go).
//
// # Ranking
//
// Rank applies hard filters, in this order (the first one that empties the
// set is named in *NoEndpointError): disabled provider or endpoint; the key's
// allowed providers; provider.only; provider.ignore; provider.order when
// allow_fallbacks is false; ":free" (every price zero); context length ≥
// prompt tokens + max_tokens; max_tokens ≤ max_completion_tokens; images need
// an "image" input modality; tools/tool_choice need "tools" and
// response_format needs "response_format" even without require_parameters;
// ":thinking" needs "reasoning"; require_parameters needs every request
// parameter; data_collection "deny" drops providers that train on or retain
// prompts; zdr; quantizations; max_price prompt, completion, request and
// (when the request has images) image. An endpoint that declares no
// supported parameters is assumed to support them all, and one without a
// context length (nor its model) is not filtered by size.
// Provider names in order, only, ignore and the key's list match
// case-insensitively; an empty only or ignore list restricts nothing;
// OpenRouter's "provider/variant" slugs are not interpreted and match
// nothing.
//
// Every model in [model, models...] (duplicates and unknown ids skipped; an
// error only if none is known) contributes a group. Within a group the
// order is:
//
//   - provider.order given: its providers in the given order; with
//     allow_fallbacks (default true) the others follow, ordered by sort if
//     given, else by the default weighting (Reason fallback).
//   - else sort given (or ":nitro" = throughput, ":floor" = price): price =
//     expected cost ascending; latency = TTFT EWMA ascending (unmeasured last,
//     by price); throughput = tokens/s EWMA descending (unmeasured last).
//   - else the default: healthy endpoints in a weighted random order (see
//     below), which is what OpenRouter calls price-based load balancing.
//
// Tiers come first: candidates that are healthy and meet
// preferred_max_latency / preferred_min_throughput, then healthy ones that
// miss them, then unhealthy ones (outage in the last 30s, open circuit,
// cooldown, or half-open with its probe taken) as ordered fallbacks (by the
// group's sort, or by expected cost). With sort.partition "model" (default)
// models stay in request order inside each tier; with "none" all models'
// endpoints are merged and ordered together. A half-open endpoint whose
// probe lease is free is admitted: in the default weighting it is placed
// first in its group (Reason probe, one per group per ranking); under order
// or sort it keeps its natural position. allow_fallbacks false without
// order keeps only the first candidate of each group.
//
// The expected cost of a request on endpoint e (nano-USD, a float score):
//
//	cost(e) = Prompt·P/1e6 + Completion·C/1e6 + Request + Image·[request has images]
//
// with P = the prompt-token estimate (default 1000 when unknown) and C =
// max_tokens (default 250 when not given). The default weight is
//
//	w(e) = 1 / max(cost(e), 1)² × 1/(1 + TTFT/2s) × max((1 − errRate)², 0.01)
//
// where TTFT is the EWMA (factor 1 when unmeasured) and errRate the decayed
// error rate at ranking time (0 when none). The first four positions are
// drawn one after another without replacement, each draw ∝ w, from the
// seeded generator; the rest (reached only after four failed attempts)
// follow in descending w. With equal stats the first pick is ∝ cost⁻².
//
// preferred_max_latency compares TTFT percentiles (seconds) and
// preferred_min_throughput throughput percentiles of the last 5 minutes,
// refreshed at most every second; a number means p50; endpoints without
// recent data get the benefit of the doubt.
//
// AutoModel ("tollgate/auto", alias "openrouter/auto") picks the model
// whose cheapest endpoint passing every filter above — plus
// "structured_outputs" for json_schema and "reasoning" for reasoning — has
// the lowest expected cost for this request (ties: smaller id), then the
// next 2 such models as fallbacks.
//
// Rank allocates nothing when dst has room and takes no locks; it may claim
// a probe lease, its only side effect.
package routing
