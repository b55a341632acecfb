// Package routing owns the model catalog (models, provider endpoints, prices,
// data policies), the live per-endpoint statistics (EWMA latency, throughput,
// error rate, circuit breaker, cooldowns, windowed percentiles) and the pure
// ranking function that turns a request plus a catalog snapshot into an
// ordered list of upstream candidates.
//
// The package does no I/O, starts no goroutines and imports no other tollgate
// package; time comes from an injected clock and randomness from a seeded
// source, so every decision can be replayed in tests. core/ imports it; it
// imports nothing of tollgate.
package routing
