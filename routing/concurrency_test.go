package routing

import (
	"sync"
	"testing"
	"time"
)

// TestConcurrentUse runs rankings, attempts, stats reads, catalog updates
// and record merges at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	run := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i)
			}
		}()
	}
	outcomes := []Outcome{okResult, ok5xx, {Err: ErrRateLimited, RetryAfter: time.Second}, {Err: ErrCanceled}, {Err: ErrTimeout}}
	for g := 0; g < 3; g++ {
		run(func(i int) {
			dst := make([]Candidate, 0, 8)
			got, err := r.Rank(&Request{Model: "acme/chat", Models: []string{"acme/big"}}, dst)
			if err != nil {
				t.Error(err)
				return
			}
			a := r.Begin(got[0].Endpoint)
			r.End(a, outcomes[i%len(outcomes)])
		})
	}
	run(func(i int) {
		for _, m := range r.Snapshot().Models() {
			for _, e := range m.Endpoints {
				_ = r.Stats(e)
			}
		}
	})
	run(func(i int) {
		clk.Advance(100 * time.Millisecond)
		if i%10 == 0 {
			if err := r.Update(testCatalog()); err != nil {
				t.Error(err)
			}
		}
		if _, err := r.Apply(PriceRecord("mid", "acme/chat", Pricing{Prompt: int64(i)}, r.NextVersion(), "n")); err != nil {
			t.Error(err)
		}
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	for _, m := range r.Snapshot().Models() {
		for _, e := range m.Endpoints {
			if n := r.Stats(e).InFlight; n != 0 {
				t.Fatalf("%s: %d in flight after all attempts ended", e.Key(), n)
			}
		}
	}
}

func TestApplyAll(t *testing.T) {
	r := newTestRouter(t, testCatalog(), newClock())
	v := r.Snapshot().Version()
	n, err := r.ApplyAll([]CatalogRecord{
		PriceRecord("cheap", "acme/chat", Pricing{Prompt: 1}, 2, "a"),
		PriceRecord("cheap", "acme/chat", Pricing{Prompt: 2}, 1, "a"), // older
		{Kind: KindDisable, Key: "x", Value: []byte{7}},               // invalid
		DisableRecord("fast", true, 3, "a"),
	})
	if n != 2 || err == nil {
		t.Fatalf("ApplyAll = %d, %v", n, err)
	}
	if r.Snapshot().Version() != v+1 {
		t.Fatal("ApplyAll rebuilt more than once")
	}
	e, _ := r.Snapshot().Endpoint("cheap", "acme/chat")
	p, _ := r.Snapshot().Provider("FAST")
	if e.Pricing.Prompt != 1 || !p.Disabled {
		t.Fatal("ApplyAll did not apply")
	}
}
