package routing

import (
	"math"
	"testing"
	"time"
)

// hintPair is a node that has measured the catalog (src) and a fresh one
// (dst) with the same catalog and clock.
func hintPair(t *testing.T) (src, dst *Router, clk *fakeClock) {
	t.Helper()
	clk = newClock()
	src = newTestRouter(t, bigCatalog(4), clk)
	dst = newTestRouter(t, bigCatalog(4), clk)
	return src, dst, clk
}

// failing makes p00 (the cheapest, so the default's favourite) fail until
// its circuit opens on r, and gives the others a few successes.
func failing(t *testing.T, r *Router) {
	t.Helper()
	for _, e := range r.Snapshot().Models()[0].Endpoints {
		for i := 0; i < 6; i++ {
			if e.Provider == "p00" {
				attempt(r, e, ok5xx)
			} else {
				attempt(r, e, okResult)
			}
		}
	}
}

// positions ranks the default request n times and counts, for provider p,
// how often it came first and how often it was a fallback.
func positions(t *testing.T, r *Router, p string, n int) (first, fallback int) {
	t.Helper()
	var dst []Candidate
	for i := 0; i < n; i++ {
		var err error
		dst, err = r.Rank(&Request{Model: "bench/model", PromptTokens: 100}, dst[:0])
		if err != nil {
			t.Fatal(err)
		}
		if dst[0].Endpoint.Provider == p {
			first++
		}
		for _, c := range dst {
			if c.Endpoint.Provider == p && c.Reason == ReasonFallback {
				fallback++
			}
		}
	}
	return first, fallback
}

func summaryOf(t *testing.T, hs []HealthSummary, key string) HealthSummary {
	t.Helper()
	for _, h := range hs {
		if h.Endpoint == key {
			return h
		}
	}
	t.Fatalf("no summary of %s in %+v", key, hs)
	return HealthSummary{}
}

func TestHealthSummaries(t *testing.T) {
	src, dst, clk := hintPair(t)
	if hs := src.HealthSummaries(nil); len(hs) != 0 {
		t.Fatalf("summaries before any attempt: %+v", hs)
	}
	failing(t, src)
	hs := src.HealthSummaries(nil)
	bad := summaryOf(t, hs, "p00/bench/model")
	if bad.Circuit != CircuitOpen || bad.UnhealthyFor <= 0 || bad.UnhealthyFor > 30*time.Second || bad.ErrorRate < 0.5 || bad.Samples < 5 {
		t.Fatalf("failing endpoint summary: %+v", bad)
	}
	good := summaryOf(t, hs, "p01/bench/model")
	if good.Circuit != CircuitClosed || good.UnhealthyFor != 0 || good.ErrorRate != 0 || good.TTFT != 200*time.Millisecond || good.Throughput <= 0 {
		t.Fatalf("healthy endpoint summary: %+v", good)
	}
	// The fresh node applies them but never passes them on (no echo).
	if n := dst.ApplyHints("a", true, hs); n != len(hs) {
		t.Fatalf("applied %d of %d", n, len(hs))
	}
	if got := dst.HealthSummaries(nil); len(got) != 0 {
		t.Fatalf("a node re-published hints it received: %+v", got)
	}
	// Half-open at the source (and the outage over): still unhealthy, for
	// the hint's lifetime.
	clk.Advance(31 * time.Second)
	if h := summaryOf(t, src.HealthSummaries(nil), "p00/bench/model"); h.Circuit != CircuitHalfOpen || h.UnhealthyFor != 0 {
		t.Fatalf("half-open summary: %+v", h)
	}
	// Idle endpoints stop being summarised as their samples decay.
	clk.Advance(5 * time.Minute)
	for _, h := range src.HealthSummaries(nil) {
		if h.Endpoint != "p00/bench/model" {
			t.Fatalf("idle healthy endpoint still summarised: %+v", h)
		}
	}
}

// TestHintRanksFailingProviderDownOnNewNode is the cold start: a node that
// has never called p00 ranks it as a fallback because its same-region peer
// saw it fail, until its own samples take over.
func TestHintRanksFailingProviderDownOnNewNode(t *testing.T) {
	src, dst, clk := hintPair(t)
	if first, _ := positions(t, dst, "p00", 200); first == 0 {
		t.Fatal("p00 never first before any hint: the test catalog changed")
	}
	failing(t, src)
	dst.ApplyHints("a", true, src.HealthSummaries(nil))
	if first, fb := positions(t, dst, "p00", 200); first != 0 || fb != 200 {
		t.Fatalf("with the peer's hint p00 came first %d times and was a fallback %d of 200", first, fb)
	}
	hs := dst.Hint(endpoint(t, dst, "bench/model", "p00"))
	if !hs.Active || hs.Sources != 1 || hs.UnhealthyUntil.IsZero() || hs.ErrorRate < 0.5 {
		t.Fatalf("Hint: %+v", hs)
	}
	// The peer's TTFT stands in for the unmeasured local one under a
	// latency sort.
	r, err := dst.Rank(&Request{Model: "bench/model", Provider: &Preferences{Sort: Sort{By: SortLatency}}}, nil)
	if err != nil || r[0].Endpoint.Provider == "p00" || math.IsInf(r[0].key, 1) {
		t.Fatalf("latency sort with hints: %v %+v", err, r[0])
	}
	// Local evidence takes over: HintLocalSamples successes on p00 and the
	// hint no longer counts.
	e := endpoint(t, dst, "bench/model", "p00")
	for i := 0; i < 5; i++ {
		attempt(dst, e, okResult)
	}
	if first, fb := positions(t, dst, "p00", 200); first == 0 || fb != 0 {
		t.Fatalf("after local successes p00 came first %d times, fallback %d: the hint overrode local stats", first, fb)
	}
	// A hint expires HintTTL after it arrived.
	clk.Advance(dst.Config().HintTTL)
	if hs := dst.Hint(e); hs.Active {
		t.Fatalf("hint still active after its TTL: %+v", hs)
	}
}

// TestHintOtherRegion: a report from another region lowers the weight but
// never changes the tier.
func TestHintOtherRegion(t *testing.T) {
	src, dst, _ := hintPair(t)
	failing(t, src)
	base, _ := positions(t, dst, "p00", 400)
	dst.ApplyHints("eu-1", false, src.HealthSummaries(nil))
	first, fb := positions(t, dst, "p00", 400)
	if fb != 0 {
		t.Fatalf("another region's report made p00 a fallback %d times", fb)
	}
	if first >= base/2 {
		t.Fatalf("another region's error report left p00 first %d of 400 times (without it %d)", first, base)
	}
	if hs := dst.Hint(endpoint(t, dst, "bench/model", "p00")); !hs.UnhealthyUntil.IsZero() || hs.TTFT != 0 {
		t.Fatalf("other-region hint carries tier or latency: %+v", hs)
	}
}

func TestApplyHintsValidates(t *testing.T) {
	_, dst, _ := hintPair(t)
	bad := []HealthSummary{
		{Endpoint: ""},
		{Endpoint: "nope/bench/model"},
		{Endpoint: "p00/bench/model", ErrorRate: 1.5},
		{Endpoint: "p00/bench/model", ErrorRate: math.NaN()},
		{Endpoint: "p00/bench/model", Samples: math.Inf(1)},
		{Endpoint: "p00/bench/model", TTFT: -1},
		{Endpoint: "p00/bench/model", Circuit: 7},
	}
	if n := dst.ApplyHints("a", true, bad); n != 0 {
		t.Fatalf("applied %d invalid summaries", n)
	}
	if hs := dst.Hint(endpoint(t, dst, "bench/model", "p00")); hs.Active {
		t.Fatalf("hint from invalid summaries: %+v", hs)
	}
	// A later summary replaces the source's earlier one; ForgetHints drops
	// the source.
	dst.ApplyHints("a", true, []HealthSummary{{Endpoint: "p00/bench/model", Circuit: CircuitOpen, UnhealthyFor: time.Minute, Samples: 10, ErrorRate: 1}})
	dst.ApplyHints("b", true, []HealthSummary{{Endpoint: "p00/bench/model", Samples: 10}})
	if hs := dst.Hint(endpoint(t, dst, "bench/model", "p00")); hs.Sources != 2 || hs.ErrorRate != 0.5 || hs.UnhealthyUntil.IsZero() {
		t.Fatalf("two sources: %+v", hs)
	}
	dst.ApplyHints("a", true, []HealthSummary{{Endpoint: "p00/bench/model", Samples: 10}})
	if hs := dst.Hint(endpoint(t, dst, "bench/model", "p00")); hs.ErrorRate != 0 || !hs.UnhealthyUntil.IsZero() {
		t.Fatalf("replaced summary: %+v", hs)
	}
	// A summary older than the source's last one (a relayed broadcast that
	// arrives after a push/pull) is ignored.
	t1 := time.Unix(1_795_000_000, 0)
	dst.ApplyHints("a", true, []HealthSummary{{Published: t1, Endpoint: "p00/bench/model", Circuit: CircuitOpen, UnhealthyFor: time.Minute, Samples: 10, ErrorRate: 1}})
	if n := dst.ApplyHints("a", true, []HealthSummary{{Published: t1.Add(-time.Second), Endpoint: "p00/bench/model", Samples: 10}}); n != 0 {
		t.Fatalf("a stale summary was applied (%d)", n)
	}
	if hs := dst.Hint(endpoint(t, dst, "bench/model", "p00")); hs.UnhealthyUntil.IsZero() {
		t.Fatalf("a stale summary replaced a newer one: %+v", hs)
	}
	dst.ForgetHints("a")
	dst.ForgetHints("b")
	if hs := dst.Hint(endpoint(t, dst, "bench/model", "p00")); hs.Active {
		t.Fatalf("hint after every source was forgotten: %+v", hs)
	}
}
