package ledger

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// crashClone returns the file system a crash would leave now: everything
// synced, and pct percent of what was not.
func crashClone(fs vfs.FS, pct int, rng *rand.Rand) vfs.FS {
	cfg := vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng}
	if pct > 0 && rng == nil {
		cfg.RNG = rand.New(rand.NewPCG(1, 2))
	}
	return fs.(*vfs.MemFS).CrashClone(cfg)
}

// keySnap is the part of a key record the crash test checks.
type keySnap struct {
	name     string
	disabled bool
	limit    int64 // -1: none
	deleted  bool
}

func snapOf(k *Key) keySnap {
	s := keySnap{name: k.Name, disabled: k.Disabled, limit: -1, deleted: k.Deleted}
	if k.Limit != nil {
		s.limit = *k.Limit
	}
	return s
}

type trackedKey struct {
	states []keySnap // in the order they were attempted
	acked  int       // index of the last acknowledged state
}

type grantTrack struct {
	amount int64
	acked  bool
}

// crashModel records what the workers attempted and what the ledger
// acknowledged. mu is held across the crash clone, so no operation starts
// while the clone is taken: the ones in flight are exactly those attempted
// but not acknowledged.
type crashModel struct {
	mu             sync.Mutex
	grants         map[string]map[string]grantTrack
	keys           map[KeyHash]*trackedKey
	secrets        map[KeyHash]string
	attempted      map[string]int64 // Σ cost of settles called
	settled        map[string]int64 // Σ cost of settles returned
	flushed        map[string]int64 // lower bound: settles returned before a Flush that returned
	pendingCreates int
}

// TestCrashRecovery crashes a loaded ledger at random points, many times in
// a row, and checks after each restart: every acknowledged grant and key
// change is there; nothing appears that was not attempted; persisted spend
// equals the costs of the persisted generation records, lies between what a
// completed Flush covered and what was attempted, and balance = grants −
// spend; the epoch grows.
func TestCrashRecovery(t *testing.T) {
	iterations := 40
	if testing.Short() {
		iterations = 10
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	clock := newTestClock()
	cfg := testConfig(clock)

	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &crashModel{
		grants:    map[string]map[string]grantTrack{},
		keys:      map[KeyHash]*trackedKey{},
		secrets:   map[KeyHash]string{},
		attempted: map[string]int64{},
		settled:   map[string]int64{},
		flushed:   map[string]int64{},
	}
	var accounts []string
	for i := range 3 {
		a, err := l.CreateAccount(fmt.Sprintf("acct-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, a.ID)
		m.grants[a.ID] = map[string]grantTrack{}
	}
	prevEpoch := l.Epoch()
	var idem atomic.Int64
	var lostSettles int64 // acknowledged-but-unflushed spend lost in crashes

	for iter := range iterations {
		const workers = 4
		stop := make(chan struct{})
		var ops atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wrng := rand.New(rand.NewPCG(rng.Uint64(), uint64(w)))
			wg.Go(func() { crashWorker(t, l, m, accounts, w, workers, wrng, &idem, &ops, stop) })
		}
		target := int64(10 + rng.IntN(150))
		for ops.Load() < target {
			time.Sleep(50 * time.Microsecond)
		}
		pct := []int{0, 0, 30, 100}[rng.IntN(4)]

		m.mu.Lock()
		crashed := crashClone(cfg.FS, pct, rand.New(rand.NewPCG(rng.Uint64(), 1)))
		snapshot := m.copyLocked()
		m.mu.Unlock()

		close(stop)
		wg.Wait()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		cfg.FS = crashed
		l, err = Open(cfg)
		if err != nil {
			t.Fatalf("iteration %d (unsynced %d%%): reopen: %v", iter, pct, err)
		}
		if l.Epoch() <= prevEpoch {
			t.Fatalf("iteration %d: epoch %d not above %d", iter, l.Epoch(), prevEpoch)
		}
		prevEpoch = l.Epoch()
		lostSettles += verifyCrash(t, iter, l, snapshot, accounts)
		m.rebuild(l, accounts)
		if t.Failed() {
			break
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d crashes; %d nano-USD of settled but not yet committed spend lost inside the group window", iterations, lostSettles)
}

func crashWorker(t *testing.T, l *Ledger, m *crashModel, accounts []string, w, workers int, rng *rand.Rand,
	idem, ops *atomic.Int64, stop chan struct{}) {
	// Keys this worker owns: only it changes them, so each has at most one
	// change in flight.
	mine := func() []KeyHash {
		m.mu.Lock()
		defer m.mu.Unlock()
		var out []KeyHash
		for h := range m.keys {
			if int(h[0])%workers == w {
				out = append(out, h)
			}
		}
		return out
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		ops.Add(1)
		acct := accounts[rng.IntN(len(accounts))]
		switch p := rng.IntN(100); {
		case p < 25: // grant
			id := fmt.Sprintf("g-%d", idem.Add(1))
			amount := int64(1+rng.IntN(1000)) * 1e6
			m.mu.Lock()
			m.grants[acct][id] = grantTrack{amount: amount}
			m.mu.Unlock()
			if err := l.Grant(acct, amount, id); err != nil {
				t.Errorf("Grant: %v", err)
				return
			}
			m.mu.Lock()
			m.grants[acct][id] = grantTrack{amount: amount, acked: true}
			m.mu.Unlock()
		case p < 32: // create a key
			m.mu.Lock()
			m.pendingCreates++
			m.mu.Unlock()
			secret, k, err := l.CreateKey(acct, KeyOptions{Name: "k"})
			if err != nil {
				t.Errorf("CreateKey: %v", err)
				return
			}
			m.mu.Lock()
			m.pendingCreates--
			// A key this worker does not own is still tracked; its owner
			// changes it from now on.
			m.keys[k.Hash] = &trackedKey{states: []keySnap{snapOf(k)}}
			m.secrets[k.Hash] = secret
			m.mu.Unlock()
		case p < 45: // change or delete an own key
			hs := mine()
			if len(hs) == 0 {
				continue
			}
			h := hs[rng.IntN(len(hs))]
			m.mu.Lock()
			tk := m.keys[h]
			last := tk.states[len(tk.states)-1]
			m.mu.Unlock()
			if last.deleted {
				continue
			}
			next := last
			var patch KeyPatch
			switch rng.IntN(4) {
			case 0:
				next.disabled = !last.disabled
				patch.Disabled = &next.disabled
			case 1:
				next.limit = int64(rng.IntN(1000)) * 1e6
				patch.SetLimit, patch.Limit = true, &next.limit
			case 2:
				next.name = fmt.Sprintf("k%d", rng.IntN(1000))
				patch.Name = &next.name
			case 3:
				next.deleted = true
			}
			m.mu.Lock()
			tk.states = append(tk.states, next)
			idx := len(tk.states) - 1
			m.mu.Unlock()
			var err error
			if next.deleted {
				err = l.DeleteKey(h)
			} else {
				_, err = l.UpdateKey(h, patch)
			}
			if err != nil {
				t.Errorf("key change: %v", err)
				return
			}
			m.mu.Lock()
			tk.acked = idx
			m.mu.Unlock()
		case p < 95: // a request
			hs := mine()
			if len(hs) == 0 {
				continue
			}
			h := hs[rng.IntN(len(hs))]
			m.mu.Lock()
			secret := m.secrets[h]
			m.mu.Unlock()
			k, err := l.Authenticate([]byte(secret))
			if err != nil {
				continue // disabled or deleted
			}
			res, err := l.Reserve(k, 2e6)
			if err != nil {
				continue // out of credit or over the limit
			}
			cost := int64(1 + rng.IntN(2e6))
			m.mu.Lock()
			m.attempted[k.AccountID] += cost
			m.mu.Unlock()
			if err := l.Settle(res, cost, &Generation{Model: "m", Provider: "p", PromptTokens: 10}); err != nil {
				t.Errorf("Settle: %v", err)
				return
			}
			m.mu.Lock()
			m.settled[k.AccountID] += cost
			m.mu.Unlock()
		default: // flush
			m.mu.Lock()
			covered := make(map[string]int64, len(m.settled))
			for a, v := range m.settled {
				covered[a] = v
			}
			m.mu.Unlock()
			if err := l.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
				return
			}
			m.mu.Lock()
			for a, v := range covered {
				m.flushed[a] = max(m.flushed[a], v)
			}
			m.mu.Unlock()
		}
	}
}

func (m *crashModel) copyLocked() *crashModel {
	c := &crashModel{
		grants:         map[string]map[string]grantTrack{},
		keys:           map[KeyHash]*trackedKey{},
		secrets:        m.secrets,
		attempted:      map[string]int64{},
		settled:        map[string]int64{},
		flushed:        map[string]int64{},
		pendingCreates: m.pendingCreates,
	}
	for a, gs := range m.grants {
		c.grants[a] = map[string]grantTrack{}
		for id, g := range gs {
			c.grants[a][id] = g
		}
	}
	for h, tk := range m.keys {
		c.keys[h] = &trackedKey{states: append([]keySnap(nil), tk.states...), acked: tk.acked}
	}
	for a, v := range m.attempted {
		c.attempted[a] = v
	}
	for a, v := range m.settled {
		c.settled[a] = v
	}
	for a, v := range m.flushed {
		c.flushed[a] = v
	}
	return c
}

// verifyCrash checks the recovered ledger against the model and returns
// how much returned-but-unflushed spend the crash lost.
func verifyCrash(t *testing.T, iter int, l *Ledger, m *crashModel, accounts []string) (lost int64) {
	t.Helper()
	for _, acct := range accounts {
		grants, err := l.Grants(acct)
		if err != nil {
			t.Fatalf("iteration %d: Grants: %v", iter, err)
		}
		got := map[string]int64{}
		var sum int64
		for _, g := range grants {
			got[g.IdempotencyKey] = g.Amount
			sum += g.Amount
			if tr, ok := m.grants[acct][g.IdempotencyKey]; !ok || tr.amount != g.Amount {
				t.Errorf("iteration %d: grant %s/%s = %d was never attempted", iter, acct, g.IdempotencyKey, g.Amount)
			}
		}
		for id, tr := range m.grants[acct] {
			if tr.acked && got[id] != tr.amount {
				t.Errorf("iteration %d: acknowledged grant %s/%s lost", iter, acct, id)
			}
		}
		total, usage := mustCredits(t, l, acct)
		if total != sum {
			t.Errorf("iteration %d: total credits %d, Σ grants %d", iter, total, sum)
		}
		if usage < m.flushed[acct] || usage > m.attempted[acct] {
			t.Errorf("iteration %d: %s usage %d outside [flushed %d, attempted %d]", iter, acct, usage, m.flushed[acct], m.attempted[acct])
		}
		lost += max(m.settled[acct]-usage, 0)
		if gens := generationCost(t, l, acct); gens != usage {
			t.Errorf("iteration %d: %s usage %d but generations cost %d", iter, acct, usage, gens)
		}
		if b := mustBalance(t, l, acct); b != total-usage {
			t.Errorf("iteration %d: balance %d, want grants − spend = %d", iter, b, total-usage)
		}
	}
	unknown := 0
	l.mu.RLock()
	recovered := make(map[KeyHash]*Key, len(l.keys))
	for h, ks := range l.keys {
		if rec := ks.rec.Load(); rec != nil {
			recovered[h] = rec
		}
	}
	l.mu.RUnlock()
	for h, rec := range recovered {
		tk, ok := m.keys[h]
		if !ok {
			unknown++
			continue
		}
		s := snapOf(rec)
		okState := false
		for _, want := range tk.states[tk.acked:] {
			if s == want {
				okState = true
			}
		}
		if !okState {
			t.Errorf("iteration %d: key %s recovered as %+v; acknowledged %+v, attempted %+v", iter, rec.Label, s, tk.states[tk.acked], tk.states)
		}
	}
	for h := range m.keys {
		if recovered[h] == nil {
			t.Errorf("iteration %d: acknowledged key %x lost", iter, h[:4])
		}
	}
	if unknown > m.pendingCreates {
		t.Errorf("iteration %d: %d unknown keys, %d creates in flight", iter, unknown, m.pendingCreates)
	}
	return lost
}

// generationCost sums the cost of the account's persisted generations.
func generationCost(t *testing.T, l *Ledger, acct string) int64 {
	var sum int64
	err := l.scan([]byte{prefixGeneration}, func(_, v []byte) error {
		g, err := decodeGeneration(v)
		if err != nil {
			return err
		}
		if g.AccountID == acct {
			sum += g.Cost
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// rebuild resets the model to what the recovered ledger holds.
func (m *crashModel) rebuild(l *Ledger, accounts []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pendingCreates = 0
	for _, acct := range accounts {
		m.grants[acct] = map[string]grantTrack{}
		grants, _ := l.Grants(acct)
		for _, g := range grants {
			m.grants[acct][g.IdempotencyKey] = grantTrack{amount: g.Amount, acked: true}
		}
		_, usage, _ := l.Credits(acct)
		m.attempted[acct], m.settled[acct], m.flushed[acct] = usage, usage, usage
	}
	m.keys = map[KeyHash]*trackedKey{}
	l.mu.RLock()
	defer l.mu.RUnlock()
	for h, ks := range l.keys {
		if rec := ks.rec.Load(); rec != nil {
			m.keys[h] = &trackedKey{states: []keySnap{snapOf(rec)}}
		}
	}
}
