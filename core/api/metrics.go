package api

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate/tollgate/routing"
)

// Metrics are the gateway's Prometheus series. Every series is created up
// front (per route × status, per endpoint when the catalog loads), never
// per request.
type Metrics struct {
	set *metrics.Set

	requests [numRoutes][len(statusCodes) + 1]*metrics.Counter
	overhead *metrics.PrometheusHistogram
	inflight *metrics.Gauge
	fallback *metrics.Counter
	streams  *metrics.Counter
	aborted  *metrics.Counter

	mu    sync.Mutex
	eps   map[string]*endpointMetrics // by endpoint key provider/model
	byPtr atomic.Pointer[map[*routing.Endpoint]*endpointMetrics]
}

type endpointMetrics struct {
	latency  *metrics.PrometheusHistogram
	ttft     *metrics.PrometheusHistogram
	prompt   *metrics.Counter
	complete *metrics.Counter
	costNano *metrics.Counter
	errors   *metrics.Counter
}

type routeID uint8

const (
	routeChat routeID = iota
	routeCompletions
	routeEmbeddings
	routeMessages
	routeResponses
	routeModels
	routeOther
	numRoutes
)

var routeNames = [numRoutes]string{"chat_completions", "completions", "embeddings", "messages", "responses", "models", "other"}

// statusCodes are the statuses that get their own series; anything else
// counts as "other".
var statusCodes = [...]int{200, 400, 401, 402, 403, 404, 405, 408, 413, 429, 499, 500, 502, 503, 504}

// Latency buckets from 1 ms to ~2 min.
var latencyBuckets = metrics.ExponentialBuckets(0.001, 2, 18)

// Overhead buckets from 5 µs to ~40 ms.
var overheadBuckets = metrics.ExponentialBuckets(0.000005, 2, 14)

// NewMetrics registers the gateway series in set (a new set if nil).
func NewMetrics(set *metrics.Set) *Metrics {
	if set == nil {
		set = metrics.NewSet()
	}
	m := &Metrics{set: set, eps: map[string]*endpointMetrics{}}
	for r := range routeNames {
		for i, code := range statusCodes {
			m.requests[r][i] = set.NewCounter(fmt.Sprintf(`tollgate_http_requests_total{route=%q,status="%d"}`, routeNames[r], code))
		}
		m.requests[r][len(statusCodes)] = set.NewCounter(fmt.Sprintf(`tollgate_http_requests_total{route=%q,status="other"}`, routeNames[r]))
	}
	m.overhead = set.NewPrometheusHistogramExt("tollgate_gateway_overhead_seconds", overheadBuckets)
	m.fallback = set.NewCounter("tollgate_routing_fallbacks_total")
	m.streams = set.NewCounter("tollgate_http_streams_total")
	m.aborted = set.NewCounter("tollgate_http_streams_client_aborted_total")
	return m
}

// Set is the underlying metrics set (for /metrics and other packages'
// series).
func (m *Metrics) Set() *metrics.Set { return m.set }

// WritePrometheus writes every series in Prometheus text format.
func (m *Metrics) WritePrometheus(w io.Writer) { m.set.WritePrometheus(w) }

func (m *Metrics) route(r routeID, status int) {
	for i, c := range statusCodes {
		if c == status {
			m.requests[r][i].Inc()
			return
		}
	}
	m.requests[r][len(statusCodes)].Inc()
}

// RegisterInflight exposes the in-flight gauge of a.
func (m *Metrics) registerInflight(f func() float64) {
	if m.inflight == nil {
		m.inflight = m.set.NewGauge("tollgate_http_inflight_requests", f)
	}
}

// SyncEndpoints creates the per-endpoint series of every endpoint in snap
// that has none yet. Called when the catalog changes, never per request.
func (m *Metrics) SyncEndpoints(snap *routing.Snapshot) {
	m.mu.Lock()
	defer m.mu.Unlock()
	byPtr := map[*routing.Endpoint]*endpointMetrics{}
	for _, md := range snap.Models() {
		for _, ep := range md.Endpoints {
			k := ep.Key()
			if em, ok := m.eps[k]; ok {
				byPtr[ep] = em
				continue
			}
			lbl := fmt.Sprintf(`provider=%q,model=%q`, ep.Provider, ep.Model)
			m.eps[k] = &endpointMetrics{
				latency:  m.set.NewPrometheusHistogramExt("tollgate_upstream_latency_seconds{"+lbl+"}", latencyBuckets),
				ttft:     m.set.NewPrometheusHistogramExt("tollgate_upstream_ttft_seconds{"+lbl+"}", latencyBuckets),
				prompt:   m.set.NewCounter("tollgate_upstream_prompt_tokens_total{" + lbl + "}"),
				complete: m.set.NewCounter("tollgate_upstream_completion_tokens_total{" + lbl + "}"),
				costNano: m.set.NewCounter("tollgate_upstream_cost_nanousd_total{" + lbl + "}"),
				errors:   m.set.NewCounter("tollgate_upstream_errors_total{" + lbl + "}"),
			}
			byPtr[ep] = m.eps[k]
		}
	}
	m.byPtr.Store(&byPtr)
}

func (m *Metrics) endpoint(ep *routing.Endpoint) *endpointMetrics {
	if p := m.byPtr.Load(); p != nil {
		return (*p)[ep]
	}
	return nil
}

func (m *Metrics) observeAttempt(ep *routing.Endpoint, ok bool, ttft, latency time.Duration, u *routing.Usage, cost int64) {
	em := m.endpoint(ep)
	if em == nil {
		return
	}
	if !ok {
		em.errors.Inc()
		return
	}
	em.latency.Update(latency.Seconds())
	if ttft > 0 {
		em.ttft.Update(ttft.Seconds())
	}
	if u != nil {
		em.prompt.Add(u.PromptTokens)
		em.complete.Add(u.CompletionTokens)
	}
	if cost > 0 {
		em.costNano.AddInt64(cost)
	}
}
