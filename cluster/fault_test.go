package cluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cluster/clustertest"
)

// hookLog records the partition hook's calls.
type hookLog struct {
	mu    sync.Mutex
	calls []bool
}

func (h *hookLog) record(p bool) {
	h.mu.Lock()
	h.calls = append(h.calls, p)
	h.mu.Unlock()
}

func (h *hookLog) get() []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bool(nil), h.calls...)
}

func (h *hookLog) last() (bool, bool) {
	c := h.get()
	if len(c) == 0 {
		return false, false
	}
	return c[len(c)-1], true
}

// TestPartitionHeal runs five nodes over a lossy, delaying network, cuts it
// 3|2, and heals it: the minority loses the majority and says so through
// the hook, the majority keeps it, both sides keep counting, and after the
// heal every node sees every member again and the grow-only max-counter
// channel holds identical state everywhere.
func TestPartitionHeal(t *testing.T) {
	nw := clustertest.NewNetwork()
	nw.SetLoss(0.02)
	nw.SetDelay(time.Millisecond)
	const n = 5
	var cs []*Cluster
	var ctrs []*maxCounter
	var hooks []*hookLog
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		ctr := newMaxCounter(name, TypeLedger)
		h := &hookLog{}
		var join []string
		if i > 0 {
			join = []string{cs[0].Addr()}
		}
		c, _ := node(t, nw, name, join, nil, func(c *Cluster) {
			ctr.c = c
			if err := c.Register(TypeLedger, "ledger", 1, ctr); err != nil {
				t.Fatal(err)
			}
			c.OnPartitionChange(h.record)
		})
		cs, ctrs, hooks = append(cs, c), append(ctrs, ctr), append(hooks, h)
	}
	eventually(t, 15*time.Second, "5 nodes joined", allSeeAlive(cs, n))
	// A node configured with Join reports a partition until it has joined.
	eventually(t, 5*time.Second, "no node reports a partition once joined", func() bool {
		for _, h := range hooks {
			if p, _ := h.last(); p {
				return false
			}
		}
		return true
	})
	baseline := make([]int, n)
	for i, h := range hooks {
		baseline[i] = len(h.get())
	}
	for i, ctr := range ctrs {
		ctr.inc(t, uint64(i+1), true)
	}
	converged := func(want map[string]uint64) func() bool {
		w := string(encodeCounters(want))
		return func() bool {
			for _, ctr := range ctrs {
				if ctr.snapshot() != w {
					return false
				}
			}
			return true
		}
	}
	eventually(t, 5*time.Second, "counters converge before the partition",
		converged(map[string]uint64{"n0": 1, "n1": 2, "n2": 3, "n3": 4, "n4": 5}))

	majority, minority := cs[:3], cs[3:]
	nw.Partition([]string{"n0", "n1", "n2"}, []string{"n3", "n4"})
	cut := time.Now()
	took := eventually(t, 20*time.Second, "the minority loses its majority", func() bool {
		for i, c := range minority {
			p, ok := hooks[3+i].last()
			if c.Majority() || !ok || !p {
				return false
			}
		}
		for _, c := range majority {
			if len(aliveNames(c)) != 3 {
				return false
			}
		}
		return true
	})
	t.Logf("partition detected by every node in %s", took)
	for i, c := range majority {
		if !c.Majority() {
			t.Fatalf("%s lost the majority with 3 of 5 alive", c.Name())
		}
		if calls := hooks[i].get(); len(calls) != baseline[i] {
			t.Fatalf("%s partition hook fired %v during the partition", c.Name(), calls[baseline[i]:])
		}
	}

	// Both sides keep serving.
	ctrs[0].inc(t, 10, true)
	ctrs[3].inc(t, 20, true)
	time.Sleep(300 * time.Millisecond)
	if got := ctrs[4].snapshot(); got == ctrs[0].snapshot() {
		t.Fatal("the partition let a broadcast through")
	}

	nw.Heal()
	healed := time.Now()
	want := map[string]uint64{"n0": 11, "n1": 2, "n2": 3, "n3": 24, "n4": 5}
	took = eventually(t, 30*time.Second, "members and counters converge after the heal", func() bool {
		if !allSeeAlive(cs, n)() || !converged(want)() {
			return false
		}
		for i := range minority {
			if p, ok := hooks[3+i].last(); !ok || p {
				return false
			}
		}
		return true
	})
	t.Logf("partitioned for %s; after the heal, members, majority and state converged in %s",
		healed.Sub(cut).Round(time.Millisecond), took)
	for _, c := range cs {
		if !c.Majority() {
			t.Fatalf("%s has no majority after the heal", c.Name())
		}
	}

	// New increments after the heal arrive everywhere by broadcast.
	start := time.Now()
	ctrs[4].inc(t, 100, true)
	want["n4"] = 105
	eventually(t, 5*time.Second, "broadcast after the heal", converged(want))
	t.Logf("a broadcast after the heal converged in %s", time.Since(start))
}
