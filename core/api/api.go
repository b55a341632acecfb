// Package api holds the public HTTP endpoints of the gateway, one file per
// endpoint family (chat, models, health …), and the request pipeline they
// share: authenticate → peek → rank → call upstream with fallbacks → relay →
// account. Errors reach clients only through WriteError (errors.go).
//
// Handlers are fasthttp handlers; they never keep a RequestCtx or its byte
// slices after returning: streams copy what they need into pooled state
// first. Imported by core.
package api

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/telemetry"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// Options configure the API. Router, Upstreams and Ledger are required.
type Options struct {
	Router    *routing.Router
	Upstreams map[string]*provider.Upstream // by provider name, lower-case
	// Ledger authenticates keys (in memory), reserves and settles credits,
	// and records generations and usage rollups.
	Ledger  *ledger.Ledger
	Metrics *Metrics
	Logger  *slog.Logger
	Node    string // node name, named in generation ids
	Region  string
	// KeepAlive is the interval of ": PROCESSING" comments while a stream
	// is silent. Default 10s.
	KeepAlive time.Duration
	// MaxConcurrent caps in-flight inference requests (0 = unlimited);
	// above it requests get 503 with Retry-After instead of queueing.
	MaxConcurrent int
	// OverheadHeader adds X-Tollgate-Overhead-Us to responses.
	OverheadHeader bool
	// RequestTimeout bounds the whole fallback chain of a request: no
	// further candidate is tried after it (0 = no bound).
	RequestTimeout time.Duration
	// RateLimits are the per-key request limits (zero: none).
	RateLimits RateLimits
	// FanOut, in a cluster, asks the other members for their share of an
	// analytics query (same path, body and credentials, with
	// HeaderLocalOnly) and merges it into local; it returns the merged
	// result and the members that did not answer. nil on a single node.
	FanOut func(ctx *fasthttp.RequestCtx, local ledger.AnalyticsResult) (ledger.AnalyticsResult, []string)
	// Ready reports readiness for /readyz (nil = always ready).
	Ready func() error
	// Tracer exports OpenTelemetry spans of inference requests (nil =
	// tracing off). The caller shuts it down.
	Tracer *telemetry.Tracer
}

// API serves the public listener.
type API struct {
	o        Options
	log      *slog.Logger
	m        *Metrics
	pool     sync.Pool
	watch    *watcher
	limits   *limiter // nil when no limit is set
	inflight atomic.Int64
	closing  atomic.Bool
}

// New returns the API for o.
func New(o Options) *API {
	if o.KeepAlive <= 0 {
		o.KeepAlive = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(nil)
	}
	a := &API{o: o, log: o.Logger, m: o.Metrics}
	a.pool.New = func() any { return newReqState(a) }
	a.watch = newWatcher(o.KeepAlive)
	if o.RateLimits.enabled() {
		a.limits = newLimiter(o.RateLimits)
	}
	a.m.registerInflight(func() float64 { return float64(a.inflight.Load()) })
	return a
}

// Close stops the stream watcher. Streams still running are aborted with a
// terminal error chunk; call it after the listener stopped accepting.
func (a *API) Close() {
	a.closing.Store(true)
	a.watch.abortAll()
	a.watch.stop()
}

// AbortStreams ends every running stream with a terminal error chunk; used
// when the shutdown drain deadline passes.
func (a *API) AbortStreams() { a.watch.abortAll() }

// Streams is the number of streams being relayed.
func (a *API) Streams() int { return a.watch.count() }

// Handler is the fasthttp handler of the public listener.
func (a *API) Handler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	var rest []byte
	switch {
	case hasPrefix(path, "/api/v1/"):
		rest = path[len("/api/v1"):]
	case hasPrefix(path, "/v1/"):
		rest = path[len("/v1"):]
	default:
		switch string(path) {
		case "/healthz":
			a.healthz(ctx)
			return
		case "/readyz":
			a.readyz(ctx)
			return
		}
		a.m.route(routeOther, fasthttp.StatusNotFound)
		WriteError(ctx, errNotFound)
		return
	}
	switch string(rest) {
	case "/chat/completions":
		a.inference(ctx, peek.KindChat, routeChat)
	case "/completions":
		a.inference(ctx, peek.KindCompletion, routeCompletions)
	case "/embeddings":
		a.inference(ctx, peek.KindEmbedding, routeEmbeddings)
	case "/messages":
		a.serve(ctx, peek.KindChat, routeMessages, edgeAnthropic)
	case "/responses":
		a.serve(ctx, peek.KindChat, routeResponses, edgeResponses)
	case "/models":
		a.models(ctx)
	case "/providers":
		a.providers(ctx)
	case "/key", "/auth/key":
		a.currentKey(ctx)
	case "/credits":
		a.credits(ctx)
	case "/generation":
		a.generation(ctx)
	case "/keys":
		a.keys(ctx)
	case "/activity":
		a.activity(ctx)
	case "/analytics/query":
		a.analyticsQuery(ctx)
	default:
		if hasPrefix(rest, "/models/") {
			a.modelEndpoints(ctx, rest[len("/models/"):])
			return
		}
		if hasPrefix(rest, "/keys/") {
			a.keyByHash(ctx, rest[len("/keys/"):])
			return
		}
		if hasPrefix(rest, "/responses/") {
			// GET/DELETE /responses/{id}, /cancel, /input_items: nothing is stored.
			a.m.route(routeOther, fasthttp.StatusNotFound)
			WriteError(ctx, errNoStoredResponses)
			return
		}
		a.m.route(routeOther, fasthttp.StatusNotFound)
		WriteError(ctx, errNotFound)
	}
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// HeaderLocalOnly marks a request one cluster member sends another for its
// own share of a fanned-out query.
const HeaderLocalOnly = "X-Tollgate-Local-Only"
