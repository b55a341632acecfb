//go:build !race

package routing

import (
	"testing"
	"time"
	"unsafe"
)

func TestRankDoesNotAllocate(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, bigCatalog(20), clk)
	warm(r, clk)
	// One endpoint half-open so the probe path runs too.
	e := r.Snapshot().Models()[0].Endpoints[5]
	for i := 0; i < 5; i++ {
		attempt(r, e, Outcome{Err: ErrConnect})
	}
	clk.Advance(11 * time.Second)
	dst := make([]Candidate, 0, 64)
	for name, req := range map[string]*Request{
		"full":     fullRequest(),
		"default":  {Model: "bench/model", PromptTokens: 1000},
		"auto":     {Model: AutoModel, Tools: true},
		"latency":  {Model: "bench/model:nitro", Models: []string{"bench/other"}, Provider: &Preferences{Sort: Sort{By: SortLatency, Partition: PartitionNone}}},
		"no-fallb": {Model: "bench/model", Provider: &Preferences{AllowFallbacks: new(bool)}},
	} {
		allocs := testing.AllocsPerRun(200, func() {
			var err error
			dst, err = r.Rank(req, dst[:0])
			if err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Rank %s: %v allocs per run, want 0", name, allocs)
		}
	}
}

func TestBeginEndDoNotAllocate(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, bigCatalog(20), clk)
	e := r.Snapshot().Models()[0].Endpoints[0]
	outcomes := []Outcome{
		{TTFT: 100 * time.Millisecond, Latency: time.Second, OutputTokens: 50},
		{Err: ErrStatus5xx, Status: 502},
		{Err: ErrRateLimited, Status: 429, RetryAfter: time.Second},
		{Err: ErrCanceled},
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		a := r.Begin(e)
		r.End(a, outcomes[i%len(outcomes)])
		i++
		clk.Advance(time.Second)
	})
	if allocs != 0 {
		t.Fatalf("Begin/End: %v allocs per run, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() { _ = r.Stats(e) })
	if allocs != 0 {
		t.Fatalf("Stats: %v allocs per run, want 0", allocs)
	}
}

func TestCandidateSize(t *testing.T) {
	if n := unsafe.Sizeof(Candidate{}); n != 32 {
		t.Fatalf("Candidate is %d bytes, want 32", n)
	}
}

func TestRankWithHintsDoesNotAllocate(t *testing.T) {
	clk := newClock()
	src := newTestRouter(t, bigCatalog(20), clk)
	r := newTestRouter(t, bigCatalog(20), clk)
	warm(src, clk)
	e := src.Snapshot().Models()[0].Endpoints[2]
	for i := 0; i < 5; i++ {
		attempt(src, e, Outcome{Err: ErrConnect})
	}
	r.ApplyHints("peer", true, src.HealthSummaries(nil))
	dst := make([]Candidate, 0, 64)
	for name, req := range map[string]*Request{
		"default": {Model: "bench/model", PromptTokens: 1000},
		"latency": {Model: "bench/model", Provider: &Preferences{Sort: Sort{By: SortLatency}}},
	} {
		allocs := testing.AllocsPerRun(200, func() {
			var err error
			dst, err = r.Rank(req, dst[:0])
			if err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Rank %s with hints: %v allocs per run, want 0", name, allocs)
		}
	}
}
