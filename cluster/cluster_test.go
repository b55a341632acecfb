package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cluster/clustertest"
)

// TestJoinMetadataBroadcast starts five nodes: every node sees every other
// with its metadata, a broadcast from any node reaches all others within a
// second, metadata updates propagate, and direct sends arrive.
func TestJoinMetadataBroadcast(t *testing.T) {
	nw := clustertest.NewNetwork()
	const n = 5
	var cs []*Cluster
	var recs []*recorder
	seed := ""
	for i := range n {
		name := fmt.Sprintf("n%d", i)
		rec := &recorder{}
		var join []string
		if seed != "" {
			join = []string{seed}
		}
		c, _ := node(t, nw, name, join, func(cfg *Config) {
			cfg.Region = []string{"eu", "us"}[i%2]
			cfg.Epoch = uint64(100 + i)
		}, func(c *Cluster) {
			if err := c.Register(TypeLedger, "ledger", 3, rec); err != nil {
				t.Fatal(err)
			}
		})
		if seed == "" {
			seed = c.Addr()
		}
		cs = append(cs, c)
		recs = append(recs, rec)
	}
	took := eventually(t, 10*time.Second, "all nodes see 5 alive members", allSeeAlive(cs, n))
	t.Logf("5 nodes joined in %s", took)

	for _, c := range cs {
		ms := c.Members()
		for i, m := range ms {
			want := Meta{Name: fmt.Sprintf("n%d", i), Region: []string{"eu", "us"}[i%2], APIAddr: "127.0.0.1:8080",
				AdminAddr: "127.0.0.1:8081", Version: "test", Epoch: uint64(100 + i)}
			if m.Meta != want || m.BadMeta || m.Addr == "" || m.LastSeen.IsZero() || m.Local != (m.Name == c.Name()) {
				t.Fatalf("%s sees %+v, want meta %+v", c.Name(), m, want)
			}
		}
		if !c.Majority() {
			t.Fatalf("%s has no majority with all members alive", c.Name())
		}
	}

	// A broadcast from every node reaches every other node.
	var worst time.Duration
	for i, c := range cs {
		payload := fmt.Sprintf("hello from %d", i)
		start := time.Now()
		if err := c.Broadcast(TypeLedger, "greeting", []byte(payload)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "broadcast "+payload+" delivered everywhere", func() bool {
			for j, r := range recs {
				if j != i && !r.has(payload) {
					return false
				}
			}
			return true
		})
		for j, r := range recs {
			if j == i {
				continue
			}
			at, _ := r.firstAt(payload)
			if d := at.Sub(start); d > worst {
				worst = d
			}
		}
	}
	t.Logf("broadcast delivered to all 4 peers: worst %s", worst)
	if worst > time.Second {
		t.Errorf("a broadcast took %s to reach every node, want ≤ 1 s", worst)
	}
	for j, r := range recs {
		for _, m := range r.all() {
			if m.ver != 3 || m.from == fmt.Sprintf("n%d", j) || !strings.HasPrefix(m.payload, "hello from ") ||
				m.from != "n"+strings.TrimPrefix(m.payload, "hello from ") {
				t.Fatalf("n%d received %+v", j, m)
			}
		}
		if len(r.all()) != n-1 {
			t.Fatalf("n%d received %d messages, want %d (no duplicates)", j, len(r.all()), n-1)
		}
	}
	// Each member's lag is that of its latest broadcast: positive, and
	// no more than the worst delivery time.
	for _, c := range cs {
		for _, m := range c.Members() {
			if !m.Local && (m.Lag <= 0 || m.Lag > worst+time.Millisecond) {
				t.Fatalf("%s sees %s with lag %s (worst delivery %s)", c.Name(), m.Name, m.Lag, worst)
			}
		}
	}

	// Metadata updates reach everyone.
	if err := cs[0].UpdateMeta(Meta{Name: "n0", Region: "ap", Epoch: 101}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "metadata update seen everywhere", func() bool {
		for _, c := range cs {
			m, ok := c.Member("n0")
			if !ok || m.Epoch != 101 || m.Region != "ap" {
				return false
			}
		}
		return true
	})

	// Direct sends.
	if err := cs[1].Send("n3", TypeLedger, []byte("direct")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "direct message", func() bool { return recs[3].has("direct") })
	if err := cs[1].Send("nobody", TypeLedger, nil); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("Send to unknown member: %v", err)
	}

	var buf bytes.Buffer
	cs[0].m.set.WritePrometheus(&buf)
	for _, name := range []string{
		"tollgate_cluster_members_alive 5",
		`tollgate_cluster_messages_sent_total{type="ledger"}`,
		`tollgate_cluster_messages_received_total{type="ledger"}`,
		`tollgate_cluster_rejected_total{reason="key"}`,
		`tollgate_cluster_dropped_total{reason="channel_full"}`,
		"tollgate_cluster_broadcast_lag_seconds_bucket",
		"tollgate_cluster_gossip_transmits_total",
	} {
		if !strings.Contains(buf.String(), name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

// TestInvalidatesKeepsNewest queues several versions of one key on a node
// with no peers (so nothing is sent yet), then lets a peer join: only the
// newest version travels.
func TestInvalidatesKeepsNewest(t *testing.T) {
	nw := clustertest.NewNetwork()
	a, _ := node(t, nw, "a", nil, nil, func(c *Cluster) {
		if err := c.Register(TypeCatalog, "catalog", 1, &recorder{}); err != nil {
			t.Fatal(err)
		}
	})
	for i := 1; i <= 5; i++ {
		if err := a.Broadcast(TypeCatalog, "model/gpt", []byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * a.cfg.GossipTick) // each version is flushed on its own
	}
	if err := a.Broadcast(TypeCatalog, "model/other", []byte("o1")); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "both keys queued", func() bool { return a.queue.NumQueued() == 2 })
	rec := &recorder{}
	node(t, nw, "b", []string{a.Addr()}, nil, func(c *Cluster) {
		if err := c.Register(TypeCatalog, "catalog", 1, rec); err != nil {
			t.Fatal(err)
		}
	})
	eventually(t, 5*time.Second, "newest version arrives", func() bool { return rec.has("v5") && rec.has("o1") })
	time.Sleep(500 * time.Millisecond) // anything older would have come by now
	for _, m := range rec.all() {
		if m.payload != "v5" && m.payload != "o1" {
			t.Fatalf("received superseded payload %q", m.payload)
		}
	}
	if got := len(rec.all()); got != 2 {
		t.Fatalf("received %d payloads, want 2", got)
	}
}

// TestAntiEntropyLateJoiner: counters that are never broadcast still reach
// every node, and a node that joins late, through push/pull alone.
func TestAntiEntropyLateJoiner(t *testing.T) {
	nw := clustertest.NewNetwork()
	var cs []*Cluster
	var ctrs []*maxCounter
	add := func(name string, join []string) {
		ctr := newMaxCounter(name, TypeLedger)
		c, _ := node(t, nw, name, join, nil, func(c *Cluster) {
			ctr.c = c
			if err := c.Register(TypeLedger, "ledger", 1, ctr); err != nil {
				t.Fatal(err)
			}
		})
		cs, ctrs = append(cs, c), append(ctrs, ctr)
	}
	add("a", nil)
	add("b", []string{cs[0].Addr()})
	add("c", []string{cs[0].Addr()})
	eventually(t, 10*time.Second, "3 nodes joined", allSeeAlive(cs, 3))
	for i, ctr := range ctrs {
		ctr.inc(t, uint64(10*(i+1)), false) // silent: no broadcast
	}
	add("late", []string{cs[1].Addr()})
	ctrs[3].inc(t, 5, false)
	want := string(encodeCounters(map[string]uint64{"a": 10, "b": 20, "c": 30, "late": 5}))
	took := eventually(t, 15*time.Second, "push/pull converges all counters", func() bool {
		for _, ctr := range ctrs {
			if ctr.snapshot() != want {
				return false
			}
		}
		return true
	})
	t.Logf("anti-entropy converged in %s (push/pull interval %s)", took, cs[0].mlConf.PushPullInterval)
}

// TestLargeStateRepairAndDeferred: a Repairer with a large state repairs a
// late joiner through chunked reliable transfers, and a plain state too
// large for one push/pull is shipped to the peer in chunks.
func TestLargeStateRepairAndDeferred(t *testing.T) {
	nw := clustertest.NewNetwork()
	mk := func(name string, join []string) (*Cluster, *blobSet, *bigState) {
		set, big := newBlobSet(), &bigState{}
		c, _ := node(t, nw, name, join, func(cfg *Config) {
			cfg.MaxInlineState = 32 << 10
			cfg.PushPullInterval = 10 * time.Second // the join exchange alone must do it
		}, func(c *Cluster) {
			if err := c.Register(TypeLedger, "ledger", 1, set); err != nil {
				t.Fatal(err)
			}
			if err := c.Register(TypeCatalog, "catalog", 1, big); err != nil {
				t.Fatal(err)
			}
		})
		return c, set, big
	}
	a, setA, bigA := mk("a", nil)
	for i := range 2000 {
		setA.add(fmt.Sprintf("%04d:%s", i, strings.Repeat("x", 250)))
	}
	bigA.MergeState("test", 1, bytes.Repeat([]byte("catalog!"), 40<<10)) // 320 KiB
	b, setB, bigB := mk("b", []string{a.Addr()})
	eventually(t, 10*time.Second, "late joiner repaired", func() bool {
		return setB.len() == 2000 && bigB.size() == bigA.size()
	})
	if s := b.Stats(); s.ChunksReceived < 10 || s.StateMerges < 2 {
		t.Fatalf("chunks %d, state merges %d: the state did not travel in chunks", s.ChunksReceived, s.StateMerges)
	}
	if s := a.Stats(); s.RepairBytes < 500<<10 {
		t.Fatalf("repair bytes sent %d", s.RepairBytes)
	}
}

// TestLargeBroadcastReliable: a payload that fits a gossip packet exactly
// goes by gossip; one byte more, and a payload larger than a chunk, go over
// TCP to every member and still arrive.
func TestLargeBroadcastReliable(t *testing.T) {
	nw := clustertest.NewNetwork()
	var cs []*Cluster
	var recs []*recorder
	for i := range 3 {
		rec := &recorder{}
		var join []string
		if i > 0 {
			join = []string{cs[0].Addr()}
		}
		c, _ := node(t, nw, fmt.Sprintf("n%d", i), join, nil, func(c *Cluster) {
			if err := c.Register(TypeHealth, "health", 1, rec); err != nil {
				t.Fatal(err)
			}
		})
		cs, recs = append(cs, c), append(recs, rec)
	}
	eventually(t, 10*time.Second, "3 nodes joined", allSeeAlive(cs, 3))
	limit := cs[0].BroadcastLimit("k")
	t.Logf("broadcast limit with key %q: %d bytes", "k", limit)
	fits := strings.Repeat("f", limit)
	over := strings.Repeat("o", limit+1)
	huge := strings.Repeat("h", 300<<10) // > ChunkBytes (64 KiB)
	arrivedEverywhere := func(p string) func() bool {
		return func() bool { return recs[1].has(p) && recs[2].has(p) }
	}
	if err := cs[0].Broadcast(TypeHealth, "k", []byte(fits)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "max-size gossip broadcast", arrivedEverywhere(fits))
	if s := cs[0].Stats(); s.ReliableFallbacks != 0 {
		t.Fatalf("a payload of exactly BroadcastLimit fell back to TCP")
	}
	if err := cs[0].Broadcast(TypeHealth, "k", []byte(over)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "one byte over the limit", arrivedEverywhere(over))
	if err := cs[0].Broadcast(TypeHealth, "", []byte(huge)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "300 KiB broadcast", arrivedEverywhere(huge))
	if s := cs[0].Stats(); s.ReliableFallbacks != 2 || s.DroppedTotal() != 0 {
		t.Fatalf("reliable fallbacks %d, drops %v; want 2 and none", s.ReliableFallbacks, s.Dropped)
	}
	if s := cs[1].Stats(); s.ChunksReceived < 5 {
		t.Fatalf("n1 received %d chunks, want the 300 KiB payload chunked", s.ChunksReceived)
	}
}

// TestRejectWrongKeyAndLabel: nodes with the wrong key, no key, or another
// label cannot join, and the good node counts each refusal. The good node
// uses memberlist's own UDP/TCP transport.
func TestRejectWrongKeyAndLabel(t *testing.T) {
	good, _ := node(t, nil, "good", nil, nil, nil)
	seed := []string{good.Addr()}
	wrongKey, _ := node(t, nil, "wrong-key", seed, func(cfg *Config) {
		cfg.SecretKey = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
	}, nil)
	eventually(t, 5*time.Second, "wrong key counted", func() bool { return good.Stats().RejectedKey > 0 })
	noKey, _ := node(t, nil, "no-key", seed, func(cfg *Config) { cfg.SecretKey, cfg.Insecure = "", true }, nil)
	before := good.Stats().RejectedKey
	eventually(t, 5*time.Second, "missing key counted", func() bool { return good.Stats().RejectedKey > before })
	wrongLabel, _ := node(t, nil, "wrong-label", seed, func(cfg *Config) { cfg.Label = "other-cluster" }, nil)
	eventually(t, 5*time.Second, "wrong label counted", func() bool { return good.Stats().RejectedLabel > 0 })

	time.Sleep(300 * time.Millisecond)
	if names := aliveNames(good); len(names) != 1 {
		t.Fatalf("good node sees %v", names)
	}
	for _, c := range []*Cluster{wrongKey, noKey, wrongLabel} {
		if names := aliveNames(c); len(names) != 1 {
			t.Fatalf("%s joined: sees %v", c.Name(), names)
		}
		if c.Majority() {
			t.Fatalf("%s claims a majority without ever joining", c.Name())
		}
	}
}

// TestLeaveAndFailureMajority: a graceful leave removes the node from the
// known members (the majority holds); a crash does not (it is lost).
func TestLeaveAndFailureMajority(t *testing.T) {
	nw := clustertest.NewNetwork()
	var mu sync.Mutex
	var hook []bool
	a, _ := node(t, nw, "a", nil, nil, func(c *Cluster) {
		c.OnPartitionChange(func(p bool) {
			mu.Lock()
			hook = append(hook, p)
			mu.Unlock()
		})
	})
	b, _ := node(t, nw, "b", []string{a.Addr()}, nil, nil)
	c, _ := node(t, nw, "c", []string{a.Addr()}, nil, nil)
	eventually(t, 10*time.Second, "3 nodes joined", allSeeAlive([]*Cluster{a, b, c}, 3))
	if s := a.Stats(); s.MembersKnown != 3 || !s.Majority {
		t.Fatalf("stats %+v", s)
	}

	ctx, cancel := contextTimeout(5 * time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	eventually(t, 5*time.Second, "c seen as left", func() bool {
		m, ok := a.Member("c")
		return ok && m.State == MemberLeft
	})
	if s := a.Stats(); s.MembersKnown != 2 || s.MembersAlive != 2 || !a.Majority() {
		t.Fatalf("after a graceful leave: known %d alive %d majority %v", s.MembersKnown, s.MembersAlive, a.Majority())
	}

	crash(t, b)
	took := eventually(t, 10*time.Second, "b seen as failed", func() bool {
		m, ok := a.Member("b")
		return ok && m.State == MemberFailed
	})
	t.Logf("crash detected in %s", took)
	if a.Majority() {
		t.Fatal("a keeps the majority with 1 of 2 known members alive")
	}
	eventually(t, time.Second, "partition hook fired", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hook) == 1 && hook[0]
	})
	if err := a.Forget("b"); err != nil {
		t.Fatal(err)
	}
	if !a.Majority() {
		t.Fatal("no majority after forgetting the failed member")
	}
	eventually(t, time.Second, "hook reports the majority back", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hook) == 2 && !hook[1]
	})
	if err := a.Forget("a"); !errors.Is(err, ErrMemberIsAlive) {
		t.Fatalf("Forget(self): %v", err)
	}
}

// TestChannelQueueDrops: a channel that stops consuming loses messages at
// its bounded queue, counted, while memberlist's goroutines never block.
func TestChannelQueueDrops(t *testing.T) {
	nw := clustertest.NewNetwork()
	a, _ := node(t, nw, "a", nil, nil, func(c *Cluster) {
		if err := c.Register(TypeHealth, "health", 1, &recorder{}); err != nil {
			t.Fatal(err)
		}
	})
	rec := &recorder{gate: make(chan struct{})}
	b, _ := node(t, nw, "b", []string{a.Addr()}, func(cfg *Config) { cfg.ChannelQueue = 2 }, func(c *Cluster) {
		if err := c.Register(TypeHealth, "health", 1, rec); err != nil {
			t.Fatal(err)
		}
	})
	defer close(rec.gate)
	eventually(t, 10*time.Second, "joined", allSeeAlive([]*Cluster{a, b}, 2))
	for i := range 20 {
		if err := a.Broadcast(TypeHealth, fmt.Sprintf("k%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "drops counted", func() bool { return b.Stats().Dropped[dropChannelFull] > 0 })
	if !b.isAlive("a") || !a.isAlive("b") {
		t.Fatal("a blocked channel disturbed membership")
	}
}

// TestShutdownBeforeStart and other lifecycle edges.
func TestLifecycle(t *testing.T) {
	cfg := testConfig("x")
	cfg.Bind = "127.0.0.1:0"
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextTimeout(time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	c2, _ := node(t, nil, "y", nil, nil, nil)
	if err := c2.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	if err := c2.Register(TypeLedger, "ledger", 1, &recorder{}); !errors.Is(err, ErrStarted) {
		t.Fatalf("Register after Start: %v", err)
	}
	if err := c2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c2.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := c2.Broadcast(TypeLedger, "k", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Broadcast after Shutdown: %v", err)
	}
}

// TestGrantVisibleWithinOneSecondLAN is issue 7's consistency rule at the
// cluster layer: on the LAN profile's own timings, with five nodes, a
// unique payload (how a grant or key change travels) broadcast on one node
// is on every other node within a second.
func TestGrantVisibleWithinOneSecondLAN(t *testing.T) {
	nw := clustertest.NewNetwork()
	lan := func(cfg *Config) {
		cfg.Profile = ProfileLAN
		cfg.GossipTick = DefaultGossipTick
		cfg.ProbeInterval, cfg.ProbeTimeout, cfg.GossipInterval, cfg.PushPullInterval, cfg.TCPTimeout = 0, 0, 0, 0, 0
		cfg.SuspicionMult = 0
	}
	var cs []*Cluster
	var recs []*recorder
	for i := range 5 {
		rec := &recorder{}
		var join []string
		if i > 0 {
			join = []string{cs[0].Addr()}
		}
		c, _ := node(t, nw, fmt.Sprintf("n%d", i), join, lan, func(c *Cluster) {
			if err := c.Register(TypeLedger, "ledger", 1, rec); err != nil {
				t.Fatal(err)
			}
		})
		cs, recs = append(cs, c), append(recs, rec)
	}
	eventually(t, 10*time.Second, "5 nodes joined", allSeeAlive(cs, 5))
	var worst time.Duration
	for round := range 3 {
		grant := fmt.Sprintf("grant-%d", round)
		from := round % 5
		start := time.Now()
		if err := cs[from].Broadcast(TypeLedger, "", []byte(grant)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, grant+" everywhere", func() bool {
			for i, r := range recs {
				if i != from && !r.has(grant) {
					return false
				}
			}
			return true
		})
		for i, r := range recs {
			if at, ok := r.firstAt(grant); ok && i != from {
				worst = max(worst, at.Sub(start))
			}
		}
	}
	t.Logf("LAN profile, 5 nodes: a unique broadcast reached every node within %s", worst)
	if worst > time.Second {
		t.Errorf("took %s, want ≤ 1 s", worst)
	}
	for i, r := range recs {
		if n := len(r.all()); n != 3-boolInt(i < 3) {
			t.Errorf("n%d received %d grants (duplicates?)", i, n)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
