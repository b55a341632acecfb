package routing

import (
	"testing"
	"time"
)

func benchRank(b *testing.B, req *Request) {
	clk := newClock()
	r := newTestRouter(b, bigCatalog(20), clk)
	warm(r, clk)
	dst := make([]Candidate, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		dst, err = r.Rank(req, dst[:0])
		if err != nil || len(dst) == 0 {
			b.Fatalf("Rank: %v, %d candidates", err, len(dst))
		}
	}
}

// fullRequest is a request for a 20-endpoint model with a models[]
// fallback, every provider field set, and a key restriction.
func fullRequest() *Request {
	return &Request{Model: "bench/model", Models: []string{"bench/other"}, Provider: fullPreferences(),
		PromptTokens: 1200, MaxTokens: 800, Tools: true, JSONSchema: true,
		Params: ParamTemperature | ParamTopP | ParamSeed | ParamMaxTokens, AllowedProviders: []string{"p01", "p02", "p03", "p07"}}
}

// BenchmarkRankFullPreferences is the SPEC §9 / issue 3 budget: one ranking
// of a 20-endpoint model with a full provider object (≤ 1 µs, 0 allocs).
func BenchmarkRankFullPreferences(b *testing.B) {
	benchRank(b, fullRequest())
}

// BenchmarkRankLargeLists resolves 31 provider names (14 only, 12 allowed).
func BenchmarkRankLargeLists(b *testing.B) {
	req := fullRequest()
	req.Provider = largeListPreferences()
	req.AllowedProviders = []string{"p00", "p01", "p02", "p03", "p05", "p06", "p07", "p08", "p10", "p11", "p12", "p13"}
	benchRank(b, req)
}

// BenchmarkRankFullPreferencesWeighted is the full object without order and
// sort, so the default weighting orders the survivors.
func BenchmarkRankFullPreferencesWeighted(b *testing.B) {
	req := fullRequest()
	p := *req.Provider
	p.Order, p.Sort = nil, Sort{}
	req.Provider = &p
	benchRank(b, req)
}

func BenchmarkRankDefault(b *testing.B) {
	benchRank(b, &Request{Model: "bench/model", PromptTokens: 1200, MaxTokens: 800})
}

func BenchmarkRankSortLatency(b *testing.B) {
	benchRank(b, &Request{Model: "bench/model", Provider: &Preferences{Sort: Sort{By: SortLatency}}, PromptTokens: 1200})
}

func BenchmarkBeginEnd(b *testing.B) {
	clk := newClock()
	r := newTestRouter(b, bigCatalog(20), clk)
	ep := r.Snapshot().Models()[0].Endpoints[3]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := r.Begin(ep)
		r.End(a, Outcome{TTFT: 120 * time.Millisecond, Latency: 900 * time.Millisecond, OutputTokens: 200})
	}
}
