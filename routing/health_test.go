package routing

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

func endpoint(t *testing.T, r *Router, model, provider string) *Endpoint {
	t.Helper()
	e, ok := r.Snapshot().Endpoint(provider, model)
	if !ok {
		t.Fatalf("no endpoint %s/%s", provider, model)
	}
	return e
}

func attempt(r *Router, e *Endpoint, o Outcome) Attempt {
	a := r.Begin(e)
	r.End(a, o)
	return a
}

var (
	ok5xx    = Outcome{Err: ErrStatus5xx, Status: 503}
	okResult = Outcome{TTFT: 200 * time.Millisecond, Latency: time.Second, OutputTokens: 80}
)

func TestCircuitTransitions(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/big", "pricey")
	state := func() CircuitState { return r.Stats(e).Circuit }

	// Four failures: still closed (threshold 5), consecutive count kept.
	for i := 0; i < 4; i++ {
		attempt(r, e, Outcome{Err: ErrConnect})
	}
	if s := r.Stats(e); s.Circuit != CircuitClosed || s.ConsecutiveFailures != 4 {
		t.Fatalf("after 4 failures: %v, %d", s.Circuit, s.ConsecutiveFailures)
	}
	// A success resets the streak.
	attempt(r, e, okResult)
	if r.Stats(e).ConsecutiveFailures != 0 {
		t.Fatal("success did not reset the streak")
	}
	// Client-side errors and cancellations change nothing.
	before := r.Stats(e)
	for _, o := range []Outcome{{Err: ErrBadRequest, Status: 400}, {Err: ErrContextLength, Status: 400}, {Err: ErrCanceled}} {
		for i := 0; i < 10; i++ {
			attempt(r, e, o)
		}
	}
	if s := r.Stats(e); s.Circuit != CircuitClosed || s.ConsecutiveFailures != 0 || s.ErrorRate != before.ErrorRate ||
		s.Samples != before.Samples || s.Last5m.Requests != before.Last5m.Requests {
		t.Fatalf("neutral outcomes counted: %+v", s)
	}
	for i := 0; i < 5; i++ {
		attempt(r, e, ok5xx)
	}
	if state() != CircuitOpen {
		t.Fatalf("want open after 5 consecutive failures, got %v", state())
	}
	got, _ := r.Rank(&Request{Model: "acme/big"}, nil)
	if got[0].Reason != ReasonFallback {
		t.Fatalf("open endpoint ranked %v", got[0].Reason)
	}

	// Half-open after the open delay (10s).
	clk.Advance(9 * time.Second)
	if state() != CircuitOpen {
		t.Fatal("half-open too early")
	}
	clk.Advance(time.Second)
	if state() != CircuitHalfOpen {
		t.Fatalf("want half-open, got %v", state())
	}
	// The probe fails: open again with twice the delay.
	got, _ = r.Rank(&Request{Model: "acme/big"}, nil)
	if got[0].Reason != ReasonProbe {
		t.Fatalf("want probe, got %v", got[0].Reason)
	}
	a := r.Begin(e)
	if !a.Probe() {
		t.Fatal("attempt is not the probe")
	}
	r.End(a, Outcome{Err: ErrTimeout})
	if s := r.Stats(e); s.Circuit != CircuitOpen || s.OpenUntil.Sub(clk.Now()) != 20*time.Second {
		t.Fatalf("want open for 20s, got %v until %v", s.Circuit, s.OpenUntil.Sub(clk.Now()))
	}
	// Backoff doubles up to CircuitMaxOpenDelay (5m).
	for i := 0; i < 10; i++ {
		clk.Advance(r.Stats(e).OpenUntil.Sub(clk.Now()))
		attempt(r, e, Outcome{Err: ErrTimeout})
	}
	if d := r.Stats(e).OpenUntil.Sub(clk.Now()); d != 5*time.Minute {
		t.Fatalf("backoff not capped: %v", d)
	}
	// A successful probe closes the circuit and forgets the errors.
	clk.Advance(5 * time.Minute)
	a = r.Begin(e)
	r.End(a, okResult)
	if s := r.Stats(e); s.Circuit != CircuitClosed || s.ErrorRate != 0 || !s.Healthy {
		t.Fatalf("after successful probe: %+v", s)
	}
	// And the next trip starts again from the base delay.
	for i := 0; i < 5; i++ {
		attempt(r, e, ok5xx)
	}
	if d := r.Stats(e).OpenUntil.Sub(clk.Now()); d != 10*time.Second {
		t.Fatalf("delay not reset: %v", d)
	}
}

func TestCircuitOpensOnErrorRate(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/big", "pricey")
	// Alternate failure/success: never 5 in a row, but the rate reaches
	// 0.5 once enough samples exist.
	opened := -1
	for i := 0; i < 40 && opened < 0; i++ {
		if i%3 == 2 {
			attempt(r, e, okResult)
		} else {
			attempt(r, e, ok5xx)
		}
		clk.Advance(100 * time.Millisecond)
		if r.Stats(e).Circuit == CircuitOpen {
			opened = i
		}
	}
	if opened < 9 {
		t.Fatalf("opened after %d attempts; want ≥ 10 samples first", opened+1)
	}
}

func TestHalfOpenSingleProbe(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/chat", "pricey")
	for i := 0; i < 5; i++ {
		attempt(r, e, ok5xx)
	}
	clk.Advance(10 * time.Second)

	// Many concurrent rankings: exactly one gets the probe.
	var mu sync.Mutex
	probes := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]Candidate, 0, 8)
			for i := 0; i < 50; i++ {
				got, err := r.Rank(&Request{Model: "acme/chat"}, dst[:0])
				if err != nil {
					t.Error(err)
					return
				}
				for _, c := range got {
					if c.Reason == ReasonProbe {
						mu.Lock()
						probes++
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	if probes != 1 {
		t.Fatalf("%d probes handed out, want 1", probes)
	}
	// While the probe is in flight nobody else probes, even after the lease.
	a := r.Begin(e)
	if !a.Probe() {
		t.Fatal("Begin did not take the probe")
	}
	clk.Advance(time.Minute)
	got, _ := r.Rank(&Request{Model: "acme/chat"}, nil)
	for _, c := range got {
		if c.Endpoint == e && c.Reason != ReasonFallback {
			t.Fatalf("second probe while one is in flight: %v", c.Reason)
		}
	}
	if b := r.Begin(e); b.Probe() {
		t.Fatal("second concurrent attempt also marked as probe")
	} else {
		r.End(b, Outcome{Err: ErrCanceled})
	}
	// A cancelled probe releases the slot without changing the state.
	r.End(a, Outcome{Err: ErrCanceled})
	if r.Stats(e).Circuit != CircuitHalfOpen {
		t.Fatal("cancelled probe changed the circuit")
	}
	got, _ = r.Rank(&Request{Model: "acme/chat"}, nil)
	if got[0].Endpoint != e || got[0].Reason != ReasonProbe {
		t.Fatalf("probe not offered again first: %v %v", got[0].Endpoint.Provider, got[0].Reason)
	}
	// An unused lease expires after ProbeLease.
	got, _ = r.Rank(&Request{Model: "acme/chat"}, nil)
	if slices.ContainsFunc(got, func(c Candidate) bool { return c.Reason == ReasonProbe }) {
		t.Fatal("lease not held")
	}
	clk.Advance(5 * time.Second)
	got, _ = r.Rank(&Request{Model: "acme/chat"}, nil)
	if got[0].Reason != ReasonProbe {
		t.Fatal("expired lease not re-offered")
	}
}

func TestProbeKeepsPlaceUnderSort(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/chat", "mid")
	for i := 0; i < 5; i++ {
		attempt(r, e, ok5xx)
	}
	req := Request{Model: "acme/chat", Provider: mustPrefs(t, `{"sort":"price"}`)}
	got, _ := r.Rank(&req, nil)
	if g := providers(got); !slices.Equal(g, []string{"free", "cheap", "fast", "pricey", "mid"}) {
		t.Fatalf("open: %v", g)
	}
	clk.Advance(10 * time.Second)
	got, _ = r.Rank(&req, nil)
	if g := providers(got); !slices.Equal(g, []string{"free", "cheap", "mid", "fast", "pricey"}) || got[2].Reason != ReasonProbe {
		t.Fatalf("half-open: %v %v", g, got[2].Reason)
	}
}

func TestCooldownFromRetryAfter(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/chat", "cheap")
	req := Request{Model: "acme/chat", Provider: mustPrefs(t, `{"sort":"price"}`)}

	attempt(r, e, Outcome{Err: ErrRateLimited, Status: 429, RetryAfter: 30 * time.Second})
	s := r.Stats(e)
	if s.CooldownUntil.Sub(clk.Now()) != 30*time.Second || s.Healthy || s.Circuit != CircuitClosed || s.ErrorRate != 0 {
		t.Fatalf("after 429: %+v", s)
	}
	got, _ := r.Rank(&req, nil)
	if g := providers(got); !slices.Equal(g, []string{"free", "mid", "fast", "pricey", "cheap"}) {
		t.Fatalf("cooling endpoint not last: %v", g)
	}
	clk.Advance(30 * time.Second)
	got, _ = r.Rank(&req, nil)
	if g := providers(got); g[1] != "cheap" {
		t.Fatalf("cooldown did not end: %v", g)
	}
	// No Retry-After: the default; huge values are clamped; a shorter
	// cooldown never shortens a running one.
	f := func(retry, want time.Duration) {
		t.Helper()
		clk.Advance(time.Hour)
		attempt(r, e, Outcome{Err: ErrRateLimited, Status: 429, RetryAfter: retry})
		if got := r.Stats(e).CooldownUntil.Sub(clk.Now()); got != want {
			t.Fatalf("Retry-After %v: cooldown %v, want %v", retry, got, want)
		}
	}
	f(0, 5*time.Second)
	f(time.Millisecond, time.Second)
	f(24*time.Hour, 10*time.Minute)
	attempt(r, e, Outcome{Err: ErrRateLimited, RetryAfter: 2 * time.Second})
	if got := r.Stats(e).CooldownUntil.Sub(clk.Now()); got != 10*time.Minute {
		t.Fatalf("shorter cooldown replaced a longer one: %v", got)
	}
	if s := r.Stats(e); s.Last5m.Failures == 0 || s.Last5m.Uptime == 100 {
		t.Fatalf("429s not counted against uptime: %+v", s.Last5m)
	}
}

func TestOutageDeprioritises(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/chat", "cheap")
	req := Request{Model: "acme/chat", Provider: mustPrefs(t, `{"sort":"price"}`)}
	for i := 0; i < 10; i++ {
		attempt(r, e, okResult)
	}
	// Two failures among many successes: no outage.
	attempt(r, e, ok5xx)
	attempt(r, e, ok5xx)
	attempt(r, e, okResult)
	if !r.Stats(e).Healthy {
		t.Fatal("two failures made an outage")
	}
	clk.Advance(31 * time.Second)
	for i := 0; i < 3; i++ {
		attempt(r, e, ok5xx)
	}
	s := r.Stats(e)
	if s.Healthy || s.OutageUntil.Sub(clk.Now()) != 30*time.Second || s.Circuit != CircuitClosed {
		t.Fatalf("want an outage for 30s with a closed circuit: %+v", s)
	}
	got, _ := r.Rank(&req, nil)
	if g := providers(got); g[len(g)-1] != "cheap" || got[len(g)-1].Reason != ReasonFallback {
		t.Fatalf("outage endpoint not last: %v", g)
	}
	clk.Advance(30 * time.Second)
	if !r.Stats(e).Healthy {
		t.Fatal("outage did not expire")
	}
	got, _ = r.Rank(&req, nil)
	if g := providers(got); g[1] != "cheap" {
		t.Fatalf("recovered endpoint not back in place: %v", g)
	}
}

func TestEWMAAndPercentiles(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/chat", "fast")
	// 100 attempts with TTFT 10ms…1000ms, 1 s of generation, 100 tokens.
	for i := 1; i <= 100; i++ {
		ttft := time.Duration(i) * 10 * time.Millisecond
		attempt(r, e, Outcome{TTFT: ttft, Latency: ttft + time.Second, OutputTokens: 10 * i})
	}
	s := r.Stats(e)
	within := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 0.1*want {
			t.Errorf("%s = %g, want %g ±10%%", name, got, want)
		}
	}
	within("p50 ttft", s.Last5m.TTFT.P50.Seconds(), 0.5)
	within("p90 ttft", s.Last5m.TTFT.P90.Seconds(), 0.9)
	within("p99 ttft", s.Last5m.TTFT.P99.Seconds(), 0.99)
	within("p50 latency", s.Last30m.Latency.P50.Seconds(), 1.5)
	// Throughput 10…1000 tok/s; pN is what N % of requests reach.
	within("p50 throughput", s.Last5m.Throughput.P50, 500)
	within("p90 throughput", s.Last5m.Throughput.P90, 100)
	if s.Last5m.Requests != 100 || s.Last30m.Requests != 100 || s.Last5m.Uptime != 100 {
		t.Fatalf("window counts: %+v", s.Last5m)
	}
	// All samples share one instant, so the EWMA is their plain mean.
	within("ewma ttft", s.TTFT.Seconds(), 0.505)
	within("ewma throughput", s.Throughput, 505)

	// Half-life: after one TTFT half-life the old sample weighs 1/2.
	r2 := newTestRouter(t, testCatalog(), clk)
	e2 := endpoint(t, r2, "acme/chat", "fast")
	attempt(r2, e2, Outcome{TTFT: time.Second, Latency: 2 * time.Second, OutputTokens: 1})
	clk.Advance(5 * time.Second) // one TTFT half-life
	attempt(r2, e2, Outcome{TTFT: 2 * time.Second, Latency: 3 * time.Second, OutputTokens: 1})
	// (0.5·1 + 1·2) / 1.5
	within("decayed ttft", r2.Stats(e2).TTFT.Seconds(), 2.5/1.5)

	// Windows: after 6 minutes the 5-minute window is empty, the 30-minute
	// one is not; after 31 minutes both are.
	clk.Advance(6 * time.Minute)
	s = r.Stats(e)
	if s.Last5m.Requests != 0 || s.Last30m.Requests != 100 || s.Last5m.TTFT.P50 != 0 {
		t.Fatalf("after 6m: 5m=%d 30m=%d", s.Last5m.Requests, s.Last30m.Requests)
	}
	clk.Advance(25 * time.Minute)
	if s = r.Stats(e); s.Last30m.Requests != 0 {
		t.Fatalf("after 31m: 30m=%d", s.Last30m.Requests)
	}
	// In-flight.
	a := r.Begin(e)
	if r.Stats(e).InFlight != 1 {
		t.Fatal("in-flight not counted")
	}
	r.End(a, okResult)
	if r.Stats(e).InFlight != 0 {
		t.Fatal("in-flight not released")
	}
}

func TestErrorRateDecays(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/chat", "fast")
	for i := 0; i < 4; i++ {
		attempt(r, e, okResult)
		attempt(r, e, ok5xx)
	}
	r1 := r.Stats(e).ErrorRate
	if r1 < 0.4 || r1 > 0.5 {
		t.Fatalf("error rate %g, want about 4/9", r1)
	}
	clk.Advance(5 * time.Minute) // ten half-lives without traffic
	if r2 := r.Stats(e).ErrorRate; r2 > 0.01 {
		t.Fatalf("error rate did not fade: %g", r2)
	}
}

func TestUpdateKeepsStats(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	e := endpoint(t, r, "acme/chat", "fast")
	for i := 0; i < 5; i++ {
		attempt(r, e, ok5xx)
	}
	a := r.Begin(e) // in flight across the swap
	cat := testCatalog()
	cat.Models[0].Endpoints[2].Pricing.Prompt = usd(9) // price change keeps identity
	cat.Models[0].Endpoints = slices.Delete(cat.Models[0].Endpoints, 0, 1)
	if err := r.Update(cat); err != nil {
		t.Fatal(err)
	}
	e2 := endpoint(t, r, "acme/chat", "FAST")
	if e2 == e || e2.Pricing.Prompt != usd(9) {
		t.Fatal("snapshot not replaced")
	}
	if s := r.Stats(e2); s.Circuit != CircuitOpen || s.InFlight != 1 {
		t.Fatalf("stats lost across Update: %+v", s)
	}
	r.End(a, okResult) // the old endpoint pointer still works
	if s := r.Stats(e2); s.Circuit != CircuitClosed || s.InFlight != 0 {
		t.Fatalf("End on old pointer not seen: %+v", s)
	}
	if _, ok := r.Snapshot().Endpoint("cheap", "acme/chat"); ok {
		t.Fatal("removed endpoint still present")
	}
	// Removing and re-adding an endpoint starts it afresh.
	attempt(r, e2, ok5xx)
	cat.Models[0].Endpoints = slices.DeleteFunc(cat.Models[0].Endpoints, func(e *Endpoint) bool { return e.Provider == "fast" })
	if err := r.Update(cat); err != nil {
		t.Fatal(err)
	}
	if err := r.Update(testCatalog()); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(endpoint(t, r, "acme/chat", "fast")); s.ConsecutiveFailures != 0 {
		t.Fatalf("stats of a removed endpoint survived: %+v", s)
	}
	// Invalid catalogs are rejected and change nothing.
	bad := testCatalog()
	bad.Models[0].Endpoints[0].Provider = "nosuch"
	v := r.Snapshot().Version()
	if err := r.Update(bad); err == nil || r.Snapshot().Version() != v {
		t.Fatalf("bad catalog accepted: %v", err)
	}
}

func TestRetryable(t *testing.T) {
	f := func(o Outcome, want bool) {
		t.Helper()
		if got := Retryable(o); got != want {
			t.Fatalf("Retryable(%v %d) = %v", o.Err, o.Status, got)
		}
	}
	f(Outcome{Err: ErrConnect}, true)
	f(Outcome{Err: ErrTimeout}, true)
	f(Outcome{Err: KindFromStatus(408), Status: 408}, true)
	f(Outcome{Err: KindFromStatus(500), Status: 500}, true)
	f(Outcome{Err: KindFromStatus(503), Status: 503}, true)
	f(Outcome{Err: KindFromStatus(429), Status: 429}, true)
	f(Outcome{Err: ErrContextLength, Status: 400}, true)
	f(Outcome{Err: ErrStreamBroken}, true)
	f(Outcome{Err: KindFromStatus(400), Status: 400}, false)
	f(Outcome{Err: KindFromStatus(401), Status: 401}, false)
	f(Outcome{Err: KindFromStatus(403), Status: 403}, false)
	f(Outcome{Err: ErrCanceled}, false)
	f(Outcome{}, false)
	if KindFromStatus(200) != ErrNone || ErrStatus5xx.String() != "status_5xx" || CircuitHalfOpen.String() != "half_open" {
		t.Fatal("names")
	}
}
