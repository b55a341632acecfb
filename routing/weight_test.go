package routing

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// chiSquare returns Σ (observed − expected)² / expected.
func chiSquare(observed []int, probs []float64, n int) float64 {
	var x float64
	for i, o := range observed {
		e := probs[i] * float64(n)
		x += (float64(o) - e) * (float64(o) - e) / e
	}
	return x
}

// TestDefaultWeightingFollowsInversePriceSquared is the property test of
// the default order: with fixed (equal) statistics and a fixed seed, the
// first pick is distributed ∝ cost⁻².
func TestDefaultWeightingFollowsInversePriceSquared(t *testing.T) {
	prices := []float64{1, 1.5, 2, 3, 4} // USD per million, prompt = completion
	var cat Catalog
	m := &Model{ID: "w/model", ContextLength: 100000}
	for i, p := range prices {
		name := fmt.Sprintf("p%d", i)
		cat.Providers = append(cat.Providers, Provider{Name: name})
		m.Endpoints = append(m.Endpoints, &Endpoint{Provider: name, Pricing: Pricing{Prompt: usd(p), Completion: usd(p)}})
	}
	cat.Models = []*Model{m}
	for _, seed := range []uint64{1, 2, 3} {
		r, err := New(Config{}, cat, newClock().Now, seed)
		if err != nil {
			t.Fatal(err)
		}
		const n = 20000
		counts := make([]int, len(prices))
		dst := make([]Candidate, 0, 8)
		req := &Request{Model: "w/model", PromptTokens: 1000, MaxTokens: 1000}
		for i := 0; i < n; i++ {
			got, err := r.Rank(req, dst[:0])
			if err != nil {
				t.Fatal(err)
			}
			counts[got[0].Endpoint.Provider[1]-'0']++
		}
		probs := make([]float64, len(prices))
		var sum float64
		for i, p := range prices {
			probs[i] = 1 / (p * p)
			sum += probs[i]
		}
		for i := range probs {
			probs[i] /= sum
		}
		// 4 degrees of freedom: P(χ² > 18.47) = 0.001.
		if x := chiSquare(counts, probs, n); x > 18.47 {
			t.Fatalf("seed %d: χ² = %.2f for counts %v, want ∝ %v", seed, x, counts, probs)
		}
	}
}

// TestDefaultWeightingScalesByLatencyAndErrors checks the two live factors
// on equally priced endpoints.
func TestDefaultWeightingScalesByLatencyAndErrors(t *testing.T) {
	cat := Catalog{Providers: []Provider{{Name: "a"}, {Name: "b"}}, Models: []*Model{{ID: "w/m", Endpoints: []*Endpoint{
		{Provider: "a", Pricing: Pricing{Prompt: usd(1), Completion: usd(1)}},
		{Provider: "b", Pricing: Pricing{Prompt: usd(1), Completion: usd(1)}},
	}}}}
	f := func(name string, feed func(r *Router, b *Endpoint), wantB float64) {
		t.Helper()
		clk := newClock()
		r, err := New(Config{}, cat, clk.Now, 7)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.Snapshot().Endpoint("b", "w/m")
		feed(r, b)
		const n = 20000
		firstB := 0
		for i := 0; i < n; i++ {
			got, _ := r.Rank(&Request{Model: "w/m"}, nil)
			if got[0].Endpoint == b {
				firstB++
			}
		}
		// 1 degree of freedom: P(χ² > 10.83) = 0.001.
		if x := chiSquare([]int{n - firstB, firstB}, []float64{1 - wantB, wantB}, n); x > 10.83 {
			t.Fatalf("%s: b first %d/%d, want share %.3f (χ² %.1f)", name, firstB, n, wantB, x)
		}
	}
	f("equal", func(*Router, *Endpoint) {}, 0.5)
	// TTFT = LatencyScale (2s) halves the weight: 0.5/(1+0.5) = 1/3.
	f("latency", func(r *Router, b *Endpoint) {
		attempt(r, b, Outcome{TTFT: 2 * time.Second, Latency: 3 * time.Second})
	}, 1.0/3)
	// One failure in three (below the outage and circuit thresholds),
	// shrunk by one pseudo-success: factor (1 − r)², r = 20/61.
	f("errors", func(r *Router, b *Endpoint) {
		for i := 0; i < 20; i++ {
			attempt(r, b, Outcome{Latency: time.Second})
			attempt(r, b, Outcome{Latency: time.Second})
			attempt(r, b, Outcome{Err: ErrStreamBroken})
		}
	}, func() float64 {
		rate := 20.0 / 61
		w := math.Pow(1-rate, 2)
		return w / (1 + w)
	}())
}
