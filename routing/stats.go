package routing

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrorKind classifies the result of one upstream attempt.
type ErrorKind uint8

// Attempt results.
const (
	// ErrNone is a success.
	ErrNone ErrorKind = iota
	// ErrConnect: the connection could not be made.
	ErrConnect
	// ErrTimeout: connect, first-byte or idle timeout, or HTTP 408.
	ErrTimeout
	// ErrStatus5xx: the provider answered 5xx.
	ErrStatus5xx
	// ErrRateLimited: the provider answered 429; RetryAfter sets the cooldown.
	ErrRateLimited
	// ErrBadRequest: another 4xx; the request's fault, not counted against
	// the endpoint's health.
	ErrBadRequest
	// ErrContextLength: the prompt did not fit; not counted against health.
	ErrContextLength
	// ErrCanceled: the client went away; not the provider's fault.
	ErrCanceled
	// ErrStreamBroken: the upstream stream ended abnormally.
	ErrStreamBroken
)

var errorKindNames = [...]string{"none", "connect", "timeout", "status_5xx", "rate_limited", "bad_request", "context_length", "canceled", "stream_broken"}

func (k ErrorKind) String() string {
	if int(k) < len(errorKindNames) {
		return errorKindNames[k]
	}
	return "invalid"
}

// healthFailure reports whether k counts against the endpoint's health
// (error rate, circuit, outage).
func (k ErrorKind) healthFailure() bool {
	switch k {
	case ErrConnect, ErrTimeout, ErrStatus5xx, ErrStreamBroken:
		return true
	}
	return false
}

// KindFromStatus classifies an upstream HTTP status (0 or 2xx is ErrNone).
// A 400 that says the context was exceeded is ErrContextLength; core detects
// that from the body.
func KindFromStatus(status int) ErrorKind {
	switch {
	case status == 408:
		return ErrTimeout
	case status == 429:
		return ErrRateLimited
	case status >= 500:
		return ErrStatus5xx
	case status >= 400:
		return ErrBadRequest
	}
	return ErrNone
}

// Outcome is what core reports when an upstream attempt ends.
type Outcome struct {
	Err    ErrorKind
	Status int
	// TTFT is the time to the first byte of the body (0 if none arrived).
	TTFT time.Duration
	// Latency is the attempt's total duration; 0 means "measure it from
	// Begin with the router's clock".
	Latency      time.Duration
	OutputTokens int
	// RetryAfter is the 429 Retry-After value (0 if absent).
	RetryAfter time.Duration
}

// Retryable reports whether core may try the next candidate after o. It is
// only meaningful before the first byte reached the client: connect errors,
// timeouts (and 408), 5xx, 429, context-length errors and broken streams
// are retryable; other 4xx (400, 401, 403, 404 …), cancellations and
// successes are not.
func Retryable(o Outcome) bool {
	switch o.Err {
	case ErrConnect, ErrTimeout, ErrStatus5xx, ErrRateLimited, ErrContextLength, ErrStreamBroken:
		return true
	case ErrBadRequest:
		return o.Status == 408
	}
	return false
}

// CircuitState is the endpoint's breaker state.
type CircuitState uint8

// Circuit states.
const (
	CircuitClosed CircuitState = iota
	CircuitOpen
	CircuitHalfOpen
)

func (s CircuitState) String() string {
	switch s {
	case CircuitClosed:
		return "closed"
	case CircuitOpen:
		return "open"
	case CircuitHalfOpen:
		return "half_open"
	}
	return "invalid"
}

// Attempt is the token Begin returns and End consumes.
type Attempt struct {
	ep    *Endpoint
	start int64
	probe bool
}

// Endpoint returns the endpoint the attempt went to.
func (a Attempt) Endpoint() *Endpoint { return a.ep }

// Probe reports whether the attempt is the half-open probe.
func (a Attempt) Probe() bool { return a.probe }

// epStats is the live state of one endpoint. It is shared by every snapshot
// in which the endpoint's key exists. Rank reads only the atomics; End
// updates the rest under mu and republishes the atomics.
type epStats struct {
	// inflight changes twice per attempt; keep it off the cache line of
	// the fields Rank reads.
	inflight atomic.Int64
	_        [56]byte
	// ttft is the TTFT EWMA in ns and tput the throughput EWMA in tokens/s,
	// as float64 bits; 0 means no sample.
	ttft atomic.Uint64
	tput atomic.Uint64
	// errS, errW and errT publish the error-rate EWMA (sum, weight, time) so
	// Rank can decay it to the present.
	errS, errW atomic.Uint64
	errT       atomic.Int64
	// openUntil is 0 while the circuit is closed; otherwise the unix-nano
	// time from which a probe is admitted (open before it, half-open after).
	openUntil atomic.Int64
	// lease is the probe claim: 0 when free, a deadline when a ranking
	// claimed it, math.MaxInt64 while a probe is in flight.
	lease         atomic.Int64
	cooldownUntil atomic.Int64
	outageUntil   atomic.Int64
	// hint is the combined health hint from peers (nil: none); see hint.go.
	hint atomic.Pointer[hint]
	// Routing percentiles of the last 5 minutes, published on End at most
	// every PercentileRefresh: TTFT in ns, throughput in tokens/s (bits).
	pubAt atomic.Int64
	ttftQ [4]atomic.Int64
	tputQ [4]atomic.Uint64

	// mu guards the fields below.
	mu        sync.Mutex
	ttftE     ewma
	latE      ewma
	tputE     ewma
	errE      ewma
	consec    int
	openDelay time.Duration
	lastFail  int64
	outage    [outageSlots]outageSlot
	win       *windows // allocated on the first recorded attempt
}

// outageSlots split OutageWindow into sub-windows for the outage test.
const outageSlots = 6

type outageSlot struct {
	slot     int64
	ok, fail uint32
}

// ewma is a time-decayed average: every sample has weight 1 and weights halve
// every half-life, so bursts and idle periods are both handled and the first
// sample is taken as is.
type ewma struct {
	s, w float64
	t    int64
}

func decay(from, to int64, halfLife float64) float64 {
	if to <= from {
		return 1
	}
	return math.Exp2(-float64(to-from) / halfLife)
}

func (e *ewma) add(x float64, now int64, halfLife float64) {
	if e.w > 0 {
		d := decay(e.t, now, halfLife)
		e.s *= d
		e.w *= d
	}
	e.s += x
	e.w++
	if now > e.t {
		e.t = now
	}
}

func (e *ewma) value() float64 {
	if e.w == 0 {
		return 0
	}
	return e.s / e.w
}

// errorRate is the decayed error rate at now, shrunk towards 0 by one
// pseudo-success so that old evidence fades instead of freezing.
func errorRate(s, w float64, t, now int64, halfLife float64) (rate, weight float64) {
	if s <= 0 {
		return 0, w * decay(t, now, halfLife)
	}
	d := decay(t, now, halfLife)
	s, w = s*d, w*d
	return min(s/(w+1), 1), w
}

// Begin records the start of an attempt on ep and returns the token to pass
// to End. An attempt on a half-open endpoint becomes its probe unless
// another probe is already in flight. It does not allocate.
func (r *Router) Begin(ep *Endpoint) Attempt {
	st := ep.st
	st.inflight.Add(1)
	now := r.now().UnixNano()
	a := Attempt{ep: ep, start: now}
	if ou := st.openUntil.Load(); ou != 0 && now >= ou {
		if l := st.lease.Load(); l != math.MaxInt64 && st.lease.CompareAndSwap(l, math.MaxInt64) {
			a.probe = true
		}
	}
	return a
}

// End records the outcome of an attempt. Call it exactly once per Begin.
// It updates the averages, error rate, circuit, cooldown, outage state and
// percentile windows; it allocates only on an endpoint's first attempt.
//
// Successes close an open or half-open circuit. Health failures (connect,
// timeout, 5xx, broken stream) open a closed circuit after CircuitFailures
// consecutive failures or when the error rate reaches CircuitErrorRate over
// at least CircuitMinSamples; a failure in half-open re-opens it with twice
// the previous delay (at most CircuitMaxOpenDelay). 429 sets a cooldown and
// leaves the circuit alone. Bad requests, context-length errors and
// cancellations change nothing but in-flight and the probe lease.
func (r *Router) End(a Attempt, o Outcome) {
	st := a.ep.st
	st.inflight.Add(-1)
	now := r.now().UnixNano()
	cfg := &r.cfg
	st.mu.Lock()
	switch {
	case o.Err == ErrNone:
		r.recordSuccess(st, a, o, now)
	case o.Err.healthFailure():
		r.recordFailure(st, a, now)
	case o.Err == ErrRateLimited:
		cd := o.RetryAfter
		if cd <= 0 {
			cd = cfg.CooldownDefault
		}
		cd = min(max(cd, cfg.CooldownMin), cfg.CooldownMax)
		if until := now + int64(cd); until > st.cooldownUntil.Load() {
			st.cooldownUntil.Store(until)
		}
		r.window(st, now).fail++
	}
	if a.probe {
		st.lease.Store(0)
	}
	if now-st.pubAt.Load() >= int64(cfg.PercentileRefresh) && st.win != nil {
		st.publishQuantiles(now)
	}
	st.mu.Unlock()
}

func (r *Router) window(st *epStats, now int64) *minuteSlot {
	if st.win == nil {
		st.win = new(windows)
	}
	return st.win.slot(now)
}

func (r *Router) recordSuccess(st *epStats, a Attempt, o Outcome, now int64) {
	cfg := &r.cfg
	lat := o.Latency
	if lat <= 0 {
		lat = time.Duration(now - a.start)
	}
	slot := r.window(st, now)
	slot.ok++
	if lat > 0 {
		st.latE.add(float64(lat), now, float64(cfg.LatencyHalfLife))
		slot.latency[bucketOf(float64(lat), durationBase)]++
	}
	if o.TTFT > 0 {
		st.ttftE.add(float64(o.TTFT), now, float64(cfg.TTFTHalfLife))
		slot.ttft[bucketOf(float64(o.TTFT), durationBase)]++
		st.ttft.Store(math.Float64bits(st.ttftE.value()))
	}
	if o.OutputTokens > 0 {
		gen := lat
		if o.TTFT > 0 && lat > o.TTFT {
			gen = lat - o.TTFT
		}
		if gen > 0 {
			rate := float64(o.OutputTokens) / gen.Seconds()
			st.tputE.add(rate, now, float64(cfg.ThroughputHalfLife))
			slot.throughput[bucketOf(rate, rateBase)]++
			st.tput.Store(math.Float64bits(st.tputE.value()))
		}
	}
	st.consec = 0
	st.countOutage(now, int64(cfg.OutageWindow), false)
	if st.openUntil.Load() != 0 {
		// Closing forgets the failures that opened the circuit so the
		// endpoint starts afresh instead of re-tripping on its history.
		st.openUntil.Store(0)
		st.openDelay = 0
		st.errE = ewma{}
	}
	st.errE.add(0, now, float64(cfg.ErrorHalfLife))
	st.publishErr()
	st.updateOutage(now, cfg)
}

func (r *Router) recordFailure(st *epStats, a Attempt, now int64) {
	cfg := &r.cfg
	r.window(st, now).fail++
	st.consec++
	st.lastFail = now
	st.errE.add(1, now, float64(cfg.ErrorHalfLife))
	st.publishErr()
	st.countOutage(now, int64(cfg.OutageWindow), true)
	st.updateOutage(now, cfg)

	ou := st.openUntil.Load()
	switch {
	case ou == 0:
		rate, weight := errorRate(st.errE.s, st.errE.w, st.errE.t, now, float64(cfg.ErrorHalfLife))
		if st.consec >= cfg.CircuitFailures || (weight >= cfg.CircuitMinSamples && rate >= cfg.CircuitErrorRate) {
			st.openDelay = cfg.CircuitOpenDelay
			st.openUntil.Store(now + int64(st.openDelay))
		}
	case now >= ou || a.probe:
		// A failed probe (or any failure while half-open) backs off.
		st.openDelay = min(2*st.openDelay, cfg.CircuitMaxOpenDelay)
		if st.openDelay <= 0 {
			st.openDelay = cfg.CircuitOpenDelay
		}
		st.openUntil.Store(now + int64(st.openDelay))
	}
}

func (st *epStats) publishErr() {
	st.errT.Store(st.errE.t)
	st.errW.Store(math.Float64bits(st.errE.w))
	st.errS.Store(math.Float64bits(st.errE.s))
}

func (st *epStats) countOutage(now, window int64, failed bool) {
	width := max(window/outageSlots, 1)
	slot := now / width
	s := &st.outage[int(slot%outageSlots)]
	if s.slot != slot {
		*s = outageSlot{slot: slot}
	}
	if failed {
		s.fail++
	} else {
		s.ok++
	}
}

// updateOutage re-evaluates the outage rule over the last OutageWindow and
// publishes how long the endpoint counts as being in an outage.
func (st *epStats) updateOutage(now int64, cfg *Config) {
	window := int64(cfg.OutageWindow)
	width := max(window/outageSlots, 1)
	cur := now / width
	var ok, fail uint32
	for i := range st.outage {
		s := &st.outage[i]
		if s.slot > cur-outageSlots && s.slot <= cur {
			ok += s.ok
			fail += s.fail
		}
	}
	if int(fail) >= cfg.OutageMinFailures && float64(fail) >= cfg.OutageFailureRatio*float64(ok+fail) {
		st.outageUntil.Store(st.lastFail + window)
	} else {
		st.outageUntil.Store(0)
	}
}

// routingWindow is the span of the percentiles used by preferred_* checks.
const routingWindow = 5

func (st *epStats) publishQuantiles(now int64) {
	var m merged
	st.win.merge(now, routingWindow, &m)
	var q [4]float64
	quantiles(&m.ttft, durationBase, false, &q)
	for i := range q {
		st.ttftQ[i].Store(int64(q[i]))
	}
	quantiles(&m.throughput, rateBase, true, &q)
	for i := range q {
		st.tputQ[i].Store(math.Float64bits(q[i]))
	}
	st.pubAt.Store(now)
}

// Stats returns a consistent copy of ep's statistics at the router's now.
func (r *Router) Stats(ep *Endpoint) EndpointStats {
	st := ep.st
	now := r.now().UnixNano()
	cfg := &r.cfg
	st.mu.Lock()
	defer st.mu.Unlock()
	out := EndpointStats{
		TTFT:                time.Duration(st.ttftE.value()),
		Latency:             time.Duration(st.latE.value()),
		Throughput:          st.tputE.value(),
		ConsecutiveFailures: st.consec,
		InFlight:            int(st.inflight.Load()),
	}
	out.ErrorRate, out.Samples = errorRate(st.errE.s, st.errE.w, st.errE.t, now, float64(cfg.ErrorHalfLife))
	switch ou := st.openUntil.Load(); {
	case ou == 0:
		out.Circuit = CircuitClosed
	case now < ou:
		out.Circuit = CircuitOpen
		out.OpenUntil = time.Unix(0, ou)
	default:
		out.Circuit = CircuitHalfOpen
		out.OpenUntil = time.Unix(0, ou)
	}
	if cd := st.cooldownUntil.Load(); cd > now {
		out.CooldownUntil = time.Unix(0, cd)
	}
	if ot := st.outageUntil.Load(); ot > now {
		out.OutageUntil = time.Unix(0, ot)
	}
	out.Healthy = out.Circuit == CircuitClosed && out.CooldownUntil.IsZero() && out.OutageUntil.IsZero()
	out.Last5m = st.windowStats(now, 5)
	out.Last30m = st.windowStats(now, histSlots)
	return out
}

func (st *epStats) windowStats(now int64, minutes int) WindowStats {
	ws := WindowStats{Uptime: 100}
	if st.win == nil {
		return ws
	}
	var m merged
	st.win.merge(now, minutes, &m)
	ws.Requests = int(m.ok + m.fail)
	ws.Failures = int(m.fail)
	if ws.Requests > 0 {
		ws.Uptime = 100 * float64(m.ok) / float64(ws.Requests)
	}
	var q [4]float64
	quantiles(&m.latency, durationBase, false, &q)
	ws.Latency = DurationQuantiles{time.Duration(q[0]), time.Duration(q[1]), time.Duration(q[2]), time.Duration(q[3])}
	quantiles(&m.ttft, durationBase, false, &q)
	ws.TTFT = DurationQuantiles{time.Duration(q[0]), time.Duration(q[1]), time.Duration(q[2]), time.Duration(q[3])}
	quantiles(&m.throughput, rateBase, true, &q)
	ws.Throughput = RateQuantiles{q[0], q[1], q[2], q[3]}
	return ws
}

// DurationQuantiles are latency percentiles over a window.
type DurationQuantiles struct {
	P50, P75, P90, P99 time.Duration
}

// RateQuantiles are throughput percentiles (tokens/s) over a window; pN is
// the rate that N % of requests reach or exceed, so P99 is the slow tail.
type RateQuantiles struct {
	P50, P75, P90, P99 float64
}

// WindowStats summarise the attempts of one window.
type WindowStats struct {
	// Requests counts successes, health failures and 429s; bad requests,
	// context-length errors and cancellations are not the provider's doing
	// and are not counted.
	Requests int
	// Failures counts health failures and 429s.
	Failures int
	// Uptime is 100 × (Requests − Failures) / Requests; 100 when Requests is 0.
	Uptime     float64
	Latency    DurationQuantiles
	TTFT       DurationQuantiles
	Throughput RateQuantiles
}

// EndpointStats is a point-in-time copy of an endpoint's statistics.
type EndpointStats struct {
	// TTFT, Latency and Throughput (tokens/s) are half-life EWMAs of
	// successful attempts; zero means no sample yet.
	TTFT       time.Duration
	Latency    time.Duration
	Throughput float64
	// ErrorRate is the decayed share of health failures, in [0, 1].
	ErrorRate float64
	// Samples is the decayed number of attempts behind ErrorRate.
	Samples             float64
	ConsecutiveFailures int
	InFlight            int
	Circuit             CircuitState
	// OpenUntil is when an open circuit admits a probe (zero when closed).
	OpenUntil time.Time
	// CooldownUntil is the end of the current 429 cooldown (zero if none).
	CooldownUntil time.Time
	// OutageUntil is when the current outage stops counting (zero if none).
	OutageUntil time.Time
	// Healthy is false during an outage, a cooldown, or while the circuit is
	// not closed.
	Healthy bool
	Last5m  WindowStats
	Last30m WindowStats
}
