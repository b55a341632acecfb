package ledger

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestClusterSimulation runs three nodes that spend concurrently on shared
// keys while a gossip loop ships deltas (dropping some) and runs
// anti-entropy. At the end every node reports the same balances, equal to
// grants − everything settled anywhere.
func TestClusterSimulation(t *testing.T) {
	clock := newTestClock()
	nodes := []*Ledger{openNode(t, "a", clock), openNode(t, "b", clock), openNode(t, "c", clock)}
	var secrets []string
	var accounts []string
	for i := range 4 {
		acct, err := nodes[0].CreateAccount(fmt.Sprintf("acct-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, acct.ID)
		s, _, err := nodes[0].CreateKey(acct.ID, KeyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	for _, n := range nodes[1:] {
		antiEntropy(t, nodes[0], n)
	}
	// Credits granted on every node.
	for i, acct := range accounts {
		for ni, n := range nodes {
			if err := n.Grant(acct, int64(1+i+ni)*1e11, fmt.Sprintf("grant-%d", ni)); err != nil {
				t.Fatal(err)
			}
		}
	}

	var settled atomic.Int64
	var wg sync.WaitGroup
	for ni, n := range nodes {
		for w := range 2 {
			wg.Go(func() {
				for i := range 4000 {
					k, err := n.Authenticate([]byte(secrets[(ni+w+i)%len(secrets)]))
					if err != nil {
						t.Errorf("%s: %v", n.Node(), err)
						return
					}
					res, err := n.Reserve(k, 1e6)
					if err != nil {
						t.Errorf("%s: %v", n.Node(), err)
						return
					}
					cost := int64(1 + (i*31+ni)%1000)
					if err := n.Settle(res, cost, nil); err != nil {
						t.Errorf("%s: %v", n.Node(), err)
						return
					}
					settled.Add(cost)
				}
			})
		}
	}
	spending := make(chan struct{})
	go func() {
		wg.Wait()
		close(spending)
	}()
	// Gossip while they spend: every tick each node broadcasts its deltas;
	// every third delivery is dropped; every few ticks a pair runs
	// anti-entropy.
	var drop, ticks int
	for tick := 0; ; tick++ {
		if isClosed(spending) {
			break
		}
		ticks++
		for _, from := range nodes {
			for _, d := range from.Deltas() {
				for _, to := range nodes {
					if to == from {
						continue
					}
					if drop++; drop%3 == 0 {
						continue
					}
					if err := to.Merge(from.Node(), d); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if tick%5 == 4 {
			antiEntropy(t, nodes[tick%3], nodes[(tick+1)%3])
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("%d gossip ticks overlapped the spending", ticks)
	// Heal: a final full round.
	for range 2 {
		for i := range nodes {
			for j := range nodes {
				if i != j {
					antiEntropy(t, nodes[i], nodes[j])
				}
			}
		}
	}
	var total int64
	for _, acct := range accounts {
		t0, u0 := mustCredits(t, nodes[0], acct)
		for _, n := range nodes[1:] {
			tn, un := mustCredits(t, n, acct)
			if tn != t0 || un != u0 {
				t.Fatalf("%s on %s: %d/%d, on a: %d/%d", acct, n.Node(), tn, un, t0, u0)
			}
		}
		total += u0
	}
	if total != settled.Load() {
		t.Fatalf("Σ usage %d, settled %d", total, settled.Load())
	}
	if d0 := nodes[0].Digest(); d0 != nodes[1].Digest() || d0 != nodes[2].Digest() {
		t.Fatal("digests differ after healing")
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
