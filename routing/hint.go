package routing

import (
	"math"
	"time"
)

// Health hints: what other nodes have measured about an endpoint, used only
// where this node has (almost) no measurements of its own, so that a node
// that just started — or an endpoint this node has not used lately — is
// not routed blindly into a provider its peers already know is failing.
//
// A node publishes HealthSummaries (its own measurements only, never hints
// it received) and applies its peers' with ApplyHints. Per endpoint the
// hints of all sources are combined, weighted by their sample counts, into
// one immutable hint that Rank reads with a single atomic load:
//
//   - a hint counts in proportion f = 1 − local/HintLocalSamples, where
//     local is this node's decayed sample weight for the endpoint (the
//     error-rate weight); at HintLocalSamples or more local samples the
//     hint is ignored, so local statistics are never overridden, only
//     bootstrapped;
//   - the error rate used by the default weighting is f·hint + (1−f)·local;
//     an unmeasured TTFT or throughput (weighting, sort by latency or
//     throughput) takes the hint's value;
//   - from a source in the same region, an unhealthy report (open or
//     half-open circuit, 429 cooldown, outage) places the endpoint in the
//     unhealthy tier while f > 0 and the report lasts: it stays a fallback,
//     never excluded. A source in another region measures another network
//     path (and other rate-limit buckets), so its report feeds only the
//     error rate, never the tier nor the latency or throughput;
//   - every source's hint expires HintTTL after it arrived unless renewed.

// HealthSummary is one endpoint's health as measured by the node that
// publishes it. Durations are relative to the moment it was made, so clock
// skew between nodes does not matter.
type HealthSummary struct {
	// Endpoint is the endpoint key, "provider/model" (provider lower case).
	Endpoint string
	// TTFT (EWMA) and Throughput (tokens/s EWMA); zero when unmeasured.
	TTFT       time.Duration
	Throughput float64
	// ErrorRate is the decayed share of health failures, in [0, 1].
	ErrorRate float64
	// Samples is the decayed weight behind ErrorRate.
	Samples float64
	// Circuit is the breaker state.
	Circuit CircuitState
	// UnhealthyFor is how much longer the endpoint stays unhealthy at the
	// source (open circuit, cooldown or outage, whichever ends last); zero
	// when it is healthy or half-open.
	UnhealthyFor time.Duration
	// Published is when the source took the summary (its own clock).
	// Gossip can deliver an older summary after a newer one (a relayed
	// broadcast after a push/pull); ApplyHints keeps the newest per source.
	Published time.Time
}

// unhealthy reports whether the source routes around the endpoint.
func (h *HealthSummary) unhealthy() bool {
	return h.Circuit != CircuitClosed || h.UnhealthyFor > 0
}

// valid reports whether the summary's numbers are usable.
func (h *HealthSummary) valid() bool {
	ok := func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) && !math.IsNaN(v) }
	return h.Endpoint != "" && h.TTFT >= 0 && h.UnhealthyFor >= 0 && h.Circuit <= CircuitHalfOpen &&
		ok(h.Throughput) && ok(h.Samples) && ok(h.ErrorRate) && h.ErrorRate <= 1
}

// hint is the combined, immutable view of the hints about one endpoint.
type hint struct {
	expires   int64   // unix ns: ignored from then on
	unhealthy int64   // unix ns: same-region unhealthy report lasts until
	errRate   float64 // sample-weighted, all sources
	ttft      float64 // ns, same-region sources; 0 unknown
	tput      float64 // tokens/s, same-region sources; 0 unknown
}

// sourceHint is one source's latest summary of one endpoint.
type sourceHint struct {
	sum        HealthSummary
	sameRegion bool
	received   int64
}

// hintMinPublishSamples is the decayed sample weight below which an
// endpoint that is healthy is not worth a summary.
const hintMinPublishSamples = 0.5

// HealthSummaries appends a summary of every endpoint of the current
// catalog that this node has measured recently (or considers unhealthy)
// and returns dst. Only local measurements are summarised: hints received
// from peers are never passed on.
func (r *Router) HealthSummaries(dst []HealthSummary) []HealthSummary {
	now := r.now().UnixNano()
	cfg := &r.cfg
	s := r.snap.Load()
	for _, m := range s.models {
		for _, e := range m.Endpoints {
			st := e.st
			st.mu.Lock()
			rate, weight := errorRate(st.errE.s, st.errE.w, st.errE.t, now, float64(cfg.ErrorHalfLife))
			h := HealthSummary{
				Published:  time.Unix(0, now),
				Endpoint:   e.key,
				TTFT:       time.Duration(st.ttftE.value()),
				Throughput: st.tputE.value(),
				ErrorRate:  rate,
				Samples:    weight,
			}
			st.mu.Unlock()
			until := max(st.cooldownUntil.Load(), st.outageUntil.Load())
			switch ou := st.openUntil.Load(); {
			case ou == 0:
			case now < ou:
				h.Circuit = CircuitOpen
				until = max(until, ou)
			default:
				h.Circuit = CircuitHalfOpen
			}
			if until > now {
				h.UnhealthyFor = time.Duration(until - now)
			}
			if h.Samples >= hintMinPublishSamples || h.unhealthy() {
				dst = append(dst, h)
			}
		}
	}
	return dst
}

// ApplyHints records the summaries that node from (in this node's region
// when sameRegion) published, replacing that node's earlier summary of the
// same endpoints, and drops every source's expired hints. Summaries of
// endpoints not in the current catalog and invalid ones are ignored; it
// returns how many were applied.
func (r *Router) ApplyHints(from string, sameRegion bool, hs []HealthSummary) int {
	now := r.now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	applied := 0
	for i := range hs {
		h := &hs[i]
		if !h.valid() {
			continue
		}
		if _, ok := r.stats[h.Endpoint]; !ok {
			continue
		}
		if r.hints == nil {
			r.hints = make(map[string]map[string]sourceHint)
		}
		srcs := r.hints[h.Endpoint]
		if srcs == nil {
			srcs = make(map[string]sourceHint)
			r.hints[h.Endpoint] = srcs
		}
		if old, ok := srcs[from]; ok && h.Published.Before(old.sum.Published) {
			continue // stale: the source has published since
		}
		srcs[from] = sourceHint{sum: *h, sameRegion: sameRegion, received: now}
		applied++
	}
	r.publishHintsLocked(now)
	return applied
}

// ForgetHints drops every hint node from published (it left the cluster).
func (r *Router) ForgetHints(from string) {
	now := r.now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, srcs := range r.hints {
		delete(srcs, from)
	}
	r.publishHintsLocked(now)
}

// publishHintsLocked drops expired source hints and publishes the
// combined hint of every endpoint. r.mu held.
func (r *Router) publishHintsLocked(now int64) {
	ttl := int64(r.cfg.HintTTL)
	for key, srcs := range r.hints {
		for from, sh := range srcs {
			if now-sh.received >= ttl {
				delete(srcs, from)
			}
		}
		if len(srcs) == 0 || r.stats[key] == nil {
			delete(r.hints, key)
		}
	}
	for key, st := range r.stats {
		srcs := r.hints[key]
		if len(srcs) == 0 {
			if st.hint.Load() != nil {
				st.hint.Store(nil)
			}
			continue
		}
		st.hint.Store(combineHints(srcs, ttl))
	}
}

// combineHints merges the sources' summaries of one endpoint.
func combineHints(srcs map[string]sourceHint, ttl int64) *hint {
	h := &hint{}
	var errW, errS, latW, ttftS, tputW, tputS float64
	for _, sh := range srcs {
		sum := &sh.sum
		h.expires = max(h.expires, sh.received+ttl)
		// Every source counts at least a little, so that a report from a
		// node that has only just started measuring is not lost.
		w := max(sum.Samples, hintMinPublishSamples)
		errW += w
		errS += w * sum.ErrorRate
		if !sh.sameRegion {
			continue
		}
		if sum.unhealthy() {
			until := sh.received + ttl // half-open: until the next report
			if sum.UnhealthyFor > 0 {
				until = sh.received + int64(sum.UnhealthyFor)
			}
			h.unhealthy = max(h.unhealthy, until)
		}
		if sum.TTFT > 0 {
			latW += w
			ttftS += w * float64(sum.TTFT)
		}
		if sum.Throughput > 0 {
			tputW += w
			tputS += w * sum.Throughput
		}
	}
	if errW > 0 {
		h.errRate = min(errS/errW, 1)
	}
	if latW > 0 {
		h.ttft = ttftS / latW
	}
	if tputW > 0 {
		h.tput = tputS / tputW
	}
	return h
}

// hintFor returns the endpoint's live hint and the share f in (0, 1] it
// counts for, or nil when there is none, it expired, or local samples
// suffice. Rank calls it once per candidate; it does not allocate.
func (c *rankCtx) hintFor(st *epStats) (*hint, float64) {
	h := st.hint.Load()
	if h == nil || c.now >= h.expires {
		return nil, 0
	}
	cfg := &c.r.cfg
	_, local := errorRate(math.Float64frombits(st.errS.Load()), math.Float64frombits(st.errW.Load()), st.errT.Load(), c.now, float64(cfg.ErrorHalfLife))
	f := 1 - local/cfg.HintLocalSamples
	if f <= 0 {
		return nil, 0
	}
	return h, f
}

// HintStats describes the combined hint about an endpoint, for operators.
type HintStats struct {
	// Active is true while a hint is in force (not expired).
	Active bool
	// Sources is how many nodes contributed.
	Sources int
	// ErrorRate, TTFT and Throughput are the combined values.
	ErrorRate  float64
	TTFT       time.Duration
	Throughput float64
	// UnhealthyUntil is when a same-region unhealthy report ends (zero if
	// none).
	UnhealthyUntil time.Time
}

// Hint returns the combined hint about ep at the router's now.
func (r *Router) Hint(ep *Endpoint) HintStats {
	now := r.now().UnixNano()
	h := ep.st.hint.Load()
	if h == nil || now >= h.expires {
		return HintStats{}
	}
	r.mu.Lock()
	n := len(r.hints[ep.key])
	r.mu.Unlock()
	out := HintStats{Active: true, Sources: n, ErrorRate: h.errRate, TTFT: time.Duration(h.ttft), Throughput: h.tput}
	if h.unhealthy > now {
		out.UnhealthyUntil = time.Unix(0, h.unhealthy)
	}
	return out
}
