// Package load is Tollgate's load generator: it sends OpenAI chat
// completions to any OpenAI-compatible base URL, open loop at a rate or
// closed loop at a concurrency, and measures each request the way LLM
// serving benchmarks do (vllm bench serve), into HDR histograms.
//
// It owns the client side of a benchmark: the request shape (Request), the
// load shape (Plan), the fasthttp client (Client) and the measurements
// (Result). Reports, plots and the overhead comparison live in bench/report,
// bench/plot and bench/overhead; cmd/tollgate wires flags. It imports
// nothing of Tollgate's but core/sse, so it measures any gateway or
// provider, not only Tollgate.
//
// # What is measured
//
//	e2e     from the request's start (see below) to the end of the response:
//	        [DONE] for a stream, the last body byte otherwise
//	ttft    (streams) from the start to the first content delta: the first
//	        chunk whose choices[0].delta carries non-empty content, reasoning
//	        or tool-call text. Role chunks, empty deltas, SSE comments and
//	        the response headers do not count: a gateway that flushes
//	        headers early does not get a better TTFT for it
//	itl     (streams) every gap between two consecutive content deltas
//	tpot    (streams) per request (e2e − ttft) / (output tokens − 1), for
//	        requests with at least two output tokens
//	tokens  output tokens of a request: usage.completion_tokens when the
//	        response reports usage (streams ask for it with
//	        stream_options.include_usage), else the number of content deltas
//	        (streams) or ceil(content bytes / 4) (non-stream)
//	lag     open loop only: from the intended send time to the moment the
//	        request was handed to the client, i.e. the generator's own delay
//	server  the X-Tollgate-Overhead-Us response header (a gateway's own view
//	        of what it added), when the target sends it
//
// Latencies are recorded in microseconds with three significant digits
// (HdrHistogram), up to one hour. Requests record into a few sharded
// histogram sets (one per recorder shard, not one per goroutine: a set at
// three digits is about a megabyte, and an open-loop run may hold
// thousands of requests in flight) that are merged when the run ends.
// Only successful requests enter the latency histograms; failures are
// counted by HTTP status and by error kind.
//
// # Coordinated omission
//
// The open-loop generator computes every request's intended send time from
// the arrival process alone (Poisson: exponential gaps; constant: 1/rate),
// never from when earlier requests finished, and each request's latencies
// are measured from its intended send time. When the target (or the
// generator) falls behind, the time a request spent waiting to be sent is
// part of its latency instead of silently vanishing — the correction wrk2
// makes. The lag histogram shows how late the generator itself was; on
// Linux the pacer sleeps with a high-resolution nanosleep on a dedicated
// thread (Go timers round sub-millisecond sleeps up to about a millisecond
// when the process is idle), so the lag is typically 10–30 µs. Requests in
// flight are capped by Plan.MaxInFlight; when the cap is reached the
// schedule keeps its times and the wait shows up as latency.
//
// Closed loop (Plan.Concurrency) measures from the actual send: each worker
// sends its next request when the previous one ends, as a closed-loop
// client does.
//
// # Warm-up and bounds
//
// Requests whose start falls inside Plan.Warmup are sent but not recorded.
// The measured phase ends after Plan.Duration or Plan.Requests requests,
// whichever comes first; requests in flight then finish (each is bounded
// by Request.Timeout) and count. Throughput figures divide by the measured
// elapsed time: from the start of the measured phase to the last
// completion of a measured request.
package load
