package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func openNode(t testing.TB, name string, clock *testClock) *Ledger {
	t.Helper()
	cfg := testConfig(clock)
	cfg.Node = name
	return openTest(t, cfg)
}

// ship sends every pending delta of from to each of to, through the wire
// encoding.
func ship(t testing.TB, from *Ledger, to ...*Ledger) {
	t.Helper()
	for _, d := range from.Deltas() {
		b, err := d.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range to {
			var got Delta
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("decode delta: %v", err)
			}
			if err := l.Merge(from.Node(), got); err != nil {
				t.Fatalf("%s merging from %s: %v", l.Node(), from.Node(), err)
			}
		}
	}
}

// antiEntropy runs one push/pull round between a and b.
func antiEntropy(t testing.TB, a, b *Ledger) {
	t.Helper()
	toB := a.StateSince(b.Digest())
	toA := b.StateSince(a.Digest())
	if err := b.MergeState(a.Node(), toB); err != nil {
		t.Fatal(err)
	}
	if err := a.MergeState(b.Node(), toA); err != nil {
		t.Fatal(err)
	}
}

func spend(t testing.TB, l *Ledger, k *Key, cost int64) {
	t.Helper()
	res, err := l.Reserve(k, cost)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Settle(res, cost, nil); err != nil {
		t.Fatal(err)
	}
}

func TestReplicationConverges(t *testing.T) {
	clock := newTestClock()
	n1, n2 := openNode(t, "n1", clock), openNode(t, "n2", clock)
	acct, _ := n1.CreateAccount("acme")
	if err := n1.Grant(acct.ID, 10e9, "g1"); err != nil {
		t.Fatal(err)
	}
	secret, k1, err := n1.CreateKey(acct.ID, KeyOptions{Name: "k", Limit: ptr(int64(5e9)), LimitReset: LimitResetDaily})
	if err != nil {
		t.Fatal(err)
	}
	spend(t, n1, k1, 1e9)
	ship(t, n1, n2)

	if total, usage := mustCredits(t, n2, acct.ID); total != 10e9 || usage != 1e9 {
		t.Fatalf("n2 credits %d/%d, want 10e9/1e9", total, usage)
	}
	k2, err := n2.Authenticate([]byte(secret))
	if err != nil {
		t.Fatalf("n2 does not know the key: %v", err)
	}
	spend(t, n2, k2, 2e9)
	// The key limit counts usage from both nodes.
	var le *LimitError
	if _, err := n2.Reserve(k2, 2500e6); !errors.As(err, &le) || le.Reason != ErrKeyLimit || le.Affordable != 2e9 {
		t.Fatalf("limit on n2 = %v", err)
	}
	ship(t, n2, n1)
	if _, usage := mustCredits(t, n1, acct.ID); usage != 3e9 {
		t.Fatalf("n1 usage %d, want 3e9", usage)
	}
	if info := n1.KeyInfo(k1); info.UsageDaily != 3e9 || *info.LimitRemaining != 2e9 {
		t.Fatalf("n1 key info %+v", info)
	}
	// A key change replicates; the deletion wins everywhere.
	if err := n2.DeleteKey(k2.Hash); err != nil {
		t.Fatal(err)
	}
	ship(t, n2, n1)
	if _, err := n1.Authenticate([]byte(secret)); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("deleted key still authenticates on n1: %v", err)
	}
	if n1.Digest() != n2.Digest() {
		t.Fatal("digests differ after full exchange")
	}
	// Nothing changed: no deltas.
	if d := n1.Deltas(); len(d) != 0 {
		t.Fatalf("idle node emitted %d deltas", len(d))
	}
}

func TestMergeValidation(t *testing.T) {
	clock := newTestClock()
	n1, n2 := openNode(t, "n1", clock), openNode(t, "n2", clock)
	acct, _ := n1.CreateAccount("acme")
	_ = n1.Grant(acct.ID, 10e9, "g1")
	_, k, _ := n1.CreateKey(acct.ID, KeyOptions{})
	spend(t, n1, k, 1e9)
	ds := n1.Deltas()
	if len(ds) != 1 {
		t.Fatalf("%d deltas, want 1", len(ds))
	}
	d := ds[0]
	// Only n1 may raise n1's counters.
	if err := n2.Merge("n3", d); !errors.Is(err, ErrForeignCounter) {
		t.Fatalf("forged sender: %v, want ErrForeignCounter", err)
	}
	if err := n2.Merge("n2", d); !errors.Is(err, ErrBadDelta) {
		t.Fatalf("delta under the receiver's own name: %v", err)
	}
	if _, usage, err := n2.Credits(acct.ID); err == nil || usage != 0 {
		t.Fatal("a rejected delta changed state")
	}
	if err := n2.Merge("n1", d); err != nil {
		t.Fatal(err)
	}
	// Lowering a counter changes nothing.
	low := d
	low.Spend = []SpendCounter{{Node: "n1", Epoch: n1.Epoch(), Value: 1}}
	low.KeyUsage = nil
	for _, u := range d.KeyUsage {
		u.Value = 0
		low.KeyUsage = append(low.KeyUsage, u)
	}
	if err := n2.Merge("n1", low); err != nil {
		t.Fatal(err)
	}
	if _, usage := mustCredits(t, n2, acct.ID); usage != 1e9 {
		t.Fatalf("usage after a lowering delta = %d, want 1e9", usage)
	}
	f := func(mutate func(*Delta)) {
		t.Helper()
		bad := d
		bad.Grants = append([]GrantRecord(nil), d.Grants...)
		bad.Keys = append([]Key(nil), d.Keys...)
		mutate(&bad)
		if err := n2.Merge("n1", bad); !errors.Is(err, ErrBadDelta) {
			t.Errorf("Merge accepted a bad delta: %v", err)
		}
	}
	f(func(d *Delta) { d.AccountID = "" })
	f(func(d *Delta) { d.Grants[0].Amount = -5 })
	f(func(d *Delta) { d.Grants[0].AccountID = "acct_other" })
	f(func(d *Delta) { d.Account = &Account{ID: d.AccountID, Name: "someone-else"} })
	f(func(d *Delta) { d.Keys[0].AccountID = "acct_other" })
	f(func(d *Delta) { d.Spend = []SpendCounter{{Node: "n1", Epoch: 0, Value: 5}} })
	f(func(d *Delta) { d.Spend = []SpendCounter{{Node: "n1", Epoch: 1, Value: -5}} })
	// A key cannot be moved to another account by a delta.
	other, _ := n2.CreateAccount("other")
	f(func(bad *Delta) {
		bad.AccountID = other.ID
		bad.Account = nil
		bad.Grants = nil
		bad.Spend = nil
		bad.Keys[0].AccountID = other.ID
	})
}

func TestConflictingGrantsConverge(t *testing.T) {
	clock := newTestClock()
	n1, n2 := openNode(t, "n1", clock), openNode(t, "n2", clock)
	a1, _ := n1.CreateAccount("acme")
	ship(t, n1, n2)
	// The same idempotency key accepted on two nodes with two amounts.
	if err := n1.Grant(a1.ID, 5e9, "dup"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Millisecond)
	if err := n2.Grant(a1.ID, 7e9, "dup"); err != nil {
		t.Fatal(err)
	}
	ship(t, n1, n2)
	ship(t, n2, n1)
	t1, _ := mustCredits(t, n1, a1.ID)
	t2, _ := mustCredits(t, n2, a1.ID)
	if t1 != 5e9 || t2 != 5e9 {
		t.Fatalf("credits %d and %d, want both 5e9 (first grant wins)", t1, t2)
	}
}

func TestAntiEntropy(t *testing.T) {
	clock := newTestClock()
	n1, n2 := openNode(t, "n1", clock), openNode(t, "n2", clock)
	var keys []*Key
	for i := range 20 {
		a, _ := n1.CreateAccount(fmt.Sprintf("a%d", i))
		_ = n1.Grant(a.ID, 10e9, "g")
		_, k, _ := n1.CreateKey(a.ID, KeyOptions{})
		keys = append(keys, k)
	}
	for _, k := range keys[:10] {
		spend(t, n1, k, 1e8)
	}
	// Every broadcast is lost.
	_ = n1.Deltas()
	if n1.Digest() == n2.Digest() {
		t.Fatal("digests equal before anti-entropy")
	}
	antiEntropy(t, n1, n2)
	if n1.Digest() != n2.Digest() {
		t.Fatal("digests differ after anti-entropy")
	}
	for _, a := range n1.Accounts() {
		t1, u1 := mustCredits(t, n1, a.ID)
		t2, u2 := mustCredits(t, n2, a.ID)
		if t1 != t2 || u1 != u2 {
			t.Fatalf("%s: n1 %d/%d, n2 %d/%d", a.Name, t1, u1, t2, u2)
		}
	}
	// Only the changed bucket travels next time.
	spend(t, n1, keys[3], 1e8)
	_ = n1.Deltas()
	if st := n1.StateSince(n2.Digest()); len(st) != 1 || st[0].AccountID != keys[3].AccountID {
		t.Fatalf("StateSince sent %d accounts, want 1", len(st))
	}
	// Digests encode and decode.
	dg := n1.Digest()
	b, _ := dg.AppendBinary(nil)
	var back Digest
	if err := back.UnmarshalBinary(b); err != nil || back != dg {
		t.Fatalf("digest round trip: %v", err)
	}
	if len(b) > 1100 {
		t.Fatalf("digest is %d bytes", len(b))
	}
}

// TestWipedNodeRecoversOwnSpend: a node that lost its data restarts under
// the same name with a new epoch, learns its old spend from a peer and
// never hides new spend under the old counter.
func TestWipedNodeRecoversOwnSpend(t *testing.T) {
	clock := newTestClock()
	cfg1 := testConfig(clock)
	cfg1.Node = "n1"
	n1, err := Open(cfg1)
	if err != nil {
		t.Fatal(err)
	}
	n2 := openNode(t, "n2", clock)
	acct, _ := n1.CreateAccount("acme")
	_ = n1.Grant(acct.ID, 10e9, "g")
	secret, k, _ := n1.CreateKey(acct.ID, KeyOptions{})
	spend(t, n1, k, 3e9)
	ship(t, n1, n2)
	oldEpoch := n1.Epoch()
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Second)
	cfg1.FS = vfs.NewCrashableMem()
	n1b := openTest(t, cfg1)
	if n1b.Epoch() <= oldEpoch {
		t.Fatalf("wiped node reused epoch %d", n1b.Epoch())
	}
	antiEntropy(t, n1b, n2)
	if _, usage := mustCredits(t, n1b, acct.ID); usage != 3e9 {
		t.Fatalf("wiped node usage %d, want 3e9 from its peer", usage)
	}
	kb, err := n1b.Authenticate([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	spend(t, n1b, kb, 1e9)
	ship(t, n1b, n2)
	for _, l := range []*Ledger{n1b, n2} {
		if _, usage := mustCredits(t, l, acct.ID); usage != 4e9 {
			t.Fatalf("%s usage %d, want 4e9", l.Node(), usage)
		}
	}
	// The peer's anti-entropy state never overwrites n1b's live counter.
	antiEntropy(t, n1b, n2)
	if n1b.Digest() != n2.Digest() {
		t.Fatal("digests differ")
	}
}

// randomDeltas makes deltas as nodes would send them: each node's counters
// only grow, records carry distinct HLC versions, grants may conflict.
func randomDeltas(rng *rand.Rand, nodes []string) map[string][]Delta {
	accounts := []string{"a", "b", "c"}
	hashes := map[string][]KeyHash{}
	for _, a := range accounts {
		for i := range 3 {
			hashes[a] = append(hashes[a], HashSecret(fmt.Appendf(nil, "%s-%d", a, i)))
		}
	}
	out := map[string][]Delta{}
	hlc := uint64(1 << 20)
	for ni, node := range nodes {
		spendV := map[string]int64{}
		usageV := map[UsageCounter]int64{}
		for range 30 {
			name := accounts[rng.IntN(len(accounts))]
			id := AccountID(name)
			d := Delta{AccountID: id}
			hlc += uint64(1 + rng.IntN(3))
			if rng.IntN(3) == 0 {
				d.Account = &Account{ID: id, Name: name, Version: Version{HLC: hlc, Node: node}}
			}
			if rng.IntN(2) == 0 {
				d.Grants = append(d.Grants, GrantRecord{
					AccountID: id, IdempotencyKey: fmt.Sprintf("g%d", rng.IntN(6)),
					Amount: int64(1+rng.IntN(3)) * 1e9, Version: Version{HLC: hlc, Node: node},
				})
			}
			if rng.IntN(2) == 0 {
				spendV[id] += int64(rng.IntN(1e6))
				d.Spend = append(d.Spend, SpendCounter{Node: node, Epoch: uint64(1 + ni), Value: spendV[id]})
			}
			h := hashes[name][rng.IntN(3)]
			if rng.IntN(2) == 0 {
				d.Keys = append(d.Keys, Key{Hash: h, AccountID: id, Name: fmt.Sprintf("k%d", rng.IntN(100)),
					Disabled: rng.IntN(2) == 0, Version: Version{HLC: hlc, Node: node}})
			}
			if rng.IntN(2) == 0 {
				c := UsageCounter{Key: h, Node: node, Epoch: uint64(1 + ni), Period: Period{Kind: PeriodTotal}}
				usageV[c] += int64(rng.IntN(1e6))
				c2 := c
				c2.Value = usageV[c]
				d.KeyUsage = append(d.KeyUsage, c2)
			}
			out[node] = append(out[node], d)
		}
	}
	return out
}

type senderDelta struct {
	sender string
	d      Delta
}

// fingerprint is the observable replicated state of l.
func fingerprint(t testing.TB, l *Ledger) string {
	t.Helper()
	s := fmt.Sprintf("%x", l.Digest().Buckets)
	for _, name := range []string{"a", "b", "c"} {
		total, usage, err := l.Credits(AccountID(name))
		s += fmt.Sprintf("|%s:%d/%d/%v", name, total, usage, err)
	}
	return s
}

// TestMergeProperties checks that merging is idempotent (duplicates),
// commutative (any order) and associative (any grouping through
// anti-entropy state) on random deltas from three nodes.
func TestMergeProperties(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 3))
	clock := newTestClock()
	nodes := []string{"x", "y", "z"}
	for round := range 5 {
		byNode := randomDeltas(rng, nodes)
		var all []senderDelta
		for _, n := range nodes {
			for _, d := range byNode[n] {
				all = append(all, senderDelta{n, d})
			}
		}
		var want string
		for trial := range 4 {
			l := openNode(t, fmt.Sprintf("r%d", trial), clock)
			order := rng.Perm(len(all))
			for _, i := range order {
				if err := l.Merge(all[i].sender, all[i].d); err != nil {
					t.Fatal(err)
				}
				if rng.IntN(4) == 0 { // duplicate delivery
					if err := l.Merge(all[i].sender, all[i].d); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := fingerprint(t, l)
			if trial == 0 {
				want = got
			} else if got != want {
				t.Fatalf("round %d: order %d gives another state:\n%s\nwant\n%s", round, trial, got, want)
			}
			_ = l.Close()
		}
		// Associativity: (X ⊔ Y) ⊔ Z == X ⊔ (Y ⊔ Z), merging whole states.
		part := func(n string) *Ledger {
			l := openNode(t, "p"+n, clock)
			for _, d := range byNode[n] {
				if err := l.Merge(n, d); err != nil {
					t.Fatal(err)
				}
			}
			return l
		}
		x, y, z := part("x"), part("y"), part("z")
		empty := Digest{}
		mergeInto := func(dst, src *Ledger) {
			if err := dst.MergeState(src.Node(), src.StateSince(empty)); err != nil {
				t.Fatal(err)
			}
		}
		left := openNode(t, "left", clock)
		mergeInto(left, x)
		mergeInto(left, y)
		mergeInto(left, z)
		mergeInto(y, z) // y := y ⊔ z
		right := openNode(t, "right", clock)
		mergeInto(right, y)
		mergeInto(right, x)
		if l, r := fingerprint(t, left), fingerprint(t, right); l != r || l != want {
			t.Fatalf("round %d: grouping changes the state:\n%s\n%s\nwant %s", round, l, r, want)
		}
		for _, l := range []*Ledger{x, y, z, left, right} {
			_ = l.Close()
		}
	}
}

func TestDeltaSplit(t *testing.T) {
	clock := newTestClock()
	n1, n2 := openNode(t, "n1", clock), openNode(t, "n2", clock)
	acct, _ := n1.CreateAccount("big")
	for i := range 40 {
		_ = n1.Grant(acct.ID, 1e9, fmt.Sprintf("grant-with-a-long-idempotency-key-%03d", i))
		_, k, _ := n1.CreateKey(acct.ID, KeyOptions{Name: fmt.Sprintf("key-%d", i)})
		spend(t, n1, k, 1e6)
	}
	ds := n1.Deltas()
	if len(ds) != 1 {
		t.Fatalf("%d deltas, want 1 coalesced", len(ds))
	}
	parts := ds[0].Split(1400)
	if len(parts) < 2 {
		t.Fatalf("split into %d parts", len(parts))
	}
	for i, p := range parts {
		b, _ := p.AppendBinary(nil)
		if len(b) > 1400 {
			t.Fatalf("part %d is %d bytes", i, len(b))
		}
		var back Delta
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if err := n2.Merge("n1", back); err != nil {
			t.Fatal(err)
		}
	}
	if n1.Digest() != n2.Digest() {
		t.Fatal("merging the parts does not give the whole")
	}
	if one := ds[0].Split(0); len(one) != 1 {
		t.Fatal("Split(0) cut the delta")
	}
}

// FuzzDecodeDelta: the decoder never panics, and what it accepts
// re-encodes to bytes that decode to the same delta.
func FuzzDecodeDelta(f *testing.F) {
	clock := newTestClock()
	n1 := openNode(f, "n1", clock)
	acct, _ := n1.CreateAccount("acme")
	_ = n1.Grant(acct.ID, 10e9, "g")
	_, k, _ := n1.CreateKey(acct.ID, KeyOptions{Name: "k", Limit: ptr(int64(5e9)), LimitReset: LimitResetWeekly, ExpiresAt: clock.Now().Add(time.Hour)})
	spend(f, n1, k, 1e6)
	for _, d := range n1.Deltas() {
		b, _ := d.AppendBinary(nil)
		f.Add(b)
	}
	f.Add([]byte{deltaV1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{deltaV1, 1, 'a', 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Delta
		if err := d.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrBadDelta) {
				t.Fatalf("error %v does not wrap ErrBadDelta", err)
			}
			return
		}
		enc, err := d.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		var back Delta
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("re-encoded delta does not decode: %v", err)
		}
		if !reflect.DeepEqual(d, back) {
			t.Fatalf("round trip changed the delta:\n%+v\n%+v", d, back)
		}
	})
}

// FuzzDecodeDigest: the digest decoder never panics and round-trips.
func FuzzDecodeDigest(f *testing.F) {
	var dg Digest
	dg.Buckets[3] = 42
	b, _ := dg.AppendBinary(nil)
	f.Add(b)
	f.Add([]byte{digestV1, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Digest
		if err := d.UnmarshalBinary(b); err != nil {
			return
		}
		enc, _ := d.AppendBinary(nil)
		var back Digest
		if err := back.UnmarshalBinary(enc); err != nil || back != d {
			t.Fatalf("digest round trip: %v", err)
		}
	})
}
