package ledger

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestReserveInsufficientCredits(t *testing.T) {
	l, _, acct, k := newFixture(t, 10e9, KeyOptions{})
	res, err := l.Reserve(k, 7e9)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustBalance(t, l, acct.ID); got != 3e9 {
		t.Fatalf("balance with a reservation = %d, want 3e9", got)
	}
	_, err = l.Reserve(k, 4e9)
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrInsufficientCredits) || le.Affordable != 3e9 || le.Requested != 4e9 {
		t.Fatalf("Reserve over balance = %v, want LimitError{insufficient, affordable 3e9}", err)
	}
	// Free requests fit even when nothing is left.
	free, err := l.Reserve(k, 0)
	if err != nil {
		t.Fatalf("free request: %v", err)
	}
	l.Release(free)
	l.Release(res)
	if got := mustBalance(t, l, acct.ID); got != 10e9 {
		t.Fatalf("balance after release = %d", got)
	}
}

func TestSettleChargesOnce(t *testing.T) {
	l, _, acct, k := newFixture(t, 10e9, KeyOptions{})
	res, err := l.Reserve(k, 5e9)
	if err != nil {
		t.Fatal(err)
	}
	copyOfRes := res
	if err := l.Settle(res, 2e9, &Generation{ID: "gen-n1-1"}); err != nil {
		t.Fatal(err)
	}
	// Settle again, through a copy, release after settle: all no-ops.
	if err := l.Settle(res, 2e9, &Generation{ID: "gen-n1-1"}); err != nil {
		t.Fatalf("second Settle = %v, want nil no-op", err)
	}
	if err := l.Settle(copyOfRes, 9e9, nil); err != nil {
		t.Fatal(err)
	}
	l.Release(res)
	if total, usage := mustCredits(t, l, acct.ID); total != 10e9 || usage != 2e9 {
		t.Fatalf("credits = %d/%d, want 10e9/2e9", total, usage)
	}
	if b := mustBalance(t, l, acct.ID); b != 8e9 {
		t.Fatalf("balance = %d, want 8e9", b)
	}
	// A stale copy cannot close a later reservation that reuses the pooled
	// body.
	for range 100 {
		r2, err := l.Reserve(k, 1e9)
		if err != nil {
			t.Fatal(err)
		}
		_ = l.Settle(res, 1e9, nil)
		if b := mustBalance(t, l, acct.ID); b != 7e9 {
			t.Fatalf("a stale reservation closed a live one: balance %d", b)
		}
		l.Release(r2)
	}
	// The zero Reservation is inert.
	if err := l.Settle(Reservation{}, 1, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Settle(copyOfRes, -1, nil); err == nil {
		t.Fatal("negative cost accepted")
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	g, err := l.GetGeneration("gen-n1-1")
	if err != nil || g.Cost != 2e9 {
		t.Fatalf("generation = %+v, %v", g, err)
	}
}

func TestSettleAboveReservation(t *testing.T) {
	l, _, acct, k := newFixture(t, 10e9, KeyOptions{})
	res, err := l.Reserve(k, 9e9)
	if err != nil {
		t.Fatal(err)
	}
	// The provider billed more than the estimate: charge what it billed.
	if err := l.Settle(res, 11e9, nil); err != nil {
		t.Fatal(err)
	}
	if b := mustBalance(t, l, acct.ID); b != -1e9 {
		t.Fatalf("balance = %d, want -1e9", b)
	}
	var le *LimitError
	if _, err := l.Reserve(k, 1); !errors.As(err, &le) || le.Affordable != 0 {
		t.Fatalf("Reserve on a negative balance = %v, want affordable 0", err)
	}
}

func TestKeyLimitSpans(t *testing.T) {
	// 2026-03-11 is a Wednesday.
	f := func(reset LimitReset, step time.Duration, fresh bool) {
		t.Helper()
		l, clock, _, k := newFixture(t, 100e9, KeyOptions{Limit: ptr(int64(3e9)), LimitReset: reset})
		for range 3 {
			res, err := l.Reserve(k, 1e9)
			if err != nil {
				t.Fatalf("%s: %v", reset, err)
			}
			if err := l.Settle(res, 1e9, nil); err != nil {
				t.Fatal(err)
			}
		}
		_, err := l.Reserve(k, 1)
		var le *LimitError
		if !errors.As(err, &le) || !errors.Is(err, ErrKeyLimit) || le.Affordable != 0 {
			t.Fatalf("%s: at the limit: %v", reset, err)
		}
		clock.Advance(step)
		_, err = l.Reserve(k, 1e9)
		if fresh && err != nil {
			t.Fatalf("%s: after %s: %v, want a fresh span", reset, step, err)
		}
		if !fresh && !errors.Is(err, ErrKeyLimit) {
			t.Fatalf("%s: after %s: %v, want still limited", reset, step, err)
		}
	}
	f(LimitResetNever, 400*24*time.Hour, false)
	f(LimitResetDaily, 13*time.Hour+30*time.Minute, true)  // Thursday 00:00
	f(LimitResetDaily, 13*time.Hour, false)                // still Wednesday 23:30
	f(LimitResetWeekly, 4*24*time.Hour, false)             // Sunday
	f(LimitResetWeekly, 4*24*time.Hour+14*time.Hour, true) // Monday 00:30
	f(LimitResetMonthly, 20*24*time.Hour, false)           // 31 March
	f(LimitResetMonthly, 21*24*time.Hour, true)            // 1 April
}

func TestKeyInfoUsage(t *testing.T) {
	l, clock, _, k := newFixture(t, 100e9, KeyOptions{Limit: ptr(int64(10e9)), LimitReset: LimitResetDaily})
	settle := func(cost int64) {
		t.Helper()
		res, err := l.Reserve(k, cost)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(res, cost, nil); err != nil {
			t.Fatal(err)
		}
	}
	settle(1e9)
	clock.Advance(24 * time.Hour) // Thursday
	settle(2e9)
	info, err := l.Key(k.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if info.Usage != 3e9 || info.UsageDaily != 2e9 || info.UsageWeekly != 3e9 || info.UsageMonthly != 3e9 || *info.LimitRemaining != 8e9 {
		t.Fatalf("KeyInfo = %+v (remaining %d)", info, *info.LimitRemaining)
	}
	// Reservations count against the limit but are not usage.
	res, err := l.Reserve(k, 8e9)
	if err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if _, err := l.Reserve(k, 1); !errors.As(err, &le) || le.Reason != ErrKeyLimit {
		t.Fatalf("limit with a reservation: %v", err)
	}
	l.Release(res)
}

// TestConcurrentReserve: 200 goroutines race for credit that covers 50
// requests; exactly 50 win, and the balance never goes below zero.
func TestConcurrentReserve(t *testing.T) {
	const price = int64(1e8)
	l, _, acct, k := newFixture(t, 50*price, KeyOptions{})
	var (
		wins, fails atomic.Int64
		wg          sync.WaitGroup
		start       = make(chan struct{})
		held        = make(chan Reservation, 200)
	)
	for range 200 {
		wg.Go(func() {
			<-start
			res, err := l.Reserve(k, price)
			if err != nil {
				if !errors.Is(err, ErrInsufficientCredits) {
					t.Errorf("Reserve: %v", err)
				}
				fails.Add(1)
				return
			}
			wins.Add(1)
			held <- res
		})
	}
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if b := mustBalance(t, l, acct.ID); b < 0 {
				t.Errorf("balance went negative: %d", b)
				return
			}
		}
	})
	close(start)
	wg.Wait()
	close(held)
	if wins.Load() != 50 || fails.Load() != 150 {
		t.Fatalf("%d reservations won, %d failed; want 50 and 150", wins.Load(), fails.Load())
	}
	// Settle concurrently at the reserved price.
	var settle sync.WaitGroup
	for res := range held {
		settle.Go(func() {
			if err := l.Settle(res, price, &Generation{Model: "m"}); err != nil {
				t.Errorf("Settle: %v", err)
			}
		})
	}
	settle.Wait()
	close(stop)
	watcher.Wait()
	if b := mustBalance(t, l, acct.ID); b != 0 {
		t.Fatalf("final balance = %d, want 0", b)
	}
	if _, usage := mustCredits(t, l, acct.ID); usage != 50*price {
		t.Fatalf("usage = %d, want %d", usage, 50*price)
	}
}

// TestConcurrentReserveSettle mixes reserving and settling from many
// goroutines with costs below the reservation; the balance stays ≥ 0 and
// spend equals what was settled.
func TestConcurrentReserveSettle(t *testing.T) {
	l, _, acct, k := newFixture(t, 1e9, KeyOptions{})
	var spent atomic.Int64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			for i := range 200 {
				res, err := l.Reserve(k, 1e6)
				if err != nil {
					continue
				}
				cost := int64((g*7+i)%1000) * 1e3
				if err := l.Settle(res, cost, nil); err != nil {
					t.Error(err)
				}
				spent.Add(cost)
				if b := mustBalance(t, l, acct.ID); b < 0 {
					t.Errorf("negative balance %d", b)
				}
			}
		})
	}
	wg.Wait()
	if _, usage := mustCredits(t, l, acct.ID); usage != spent.Load() {
		t.Fatalf("usage %d, settled %d", usage, spent.Load())
	}
}

func TestPartitionAllowance(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	cfg.PartitionAllowance = 2e9
	l := openTest(t, cfg)
	acct, _ := l.CreateAccount("acme")
	if err := l.Grant(acct.ID, 100e9, "g"); err != nil {
		t.Fatal(err)
	}
	_, k, _ := l.CreateKey(acct.ID, KeyOptions{})
	_, other, _ := l.CreateKey(acct.ID, KeyOptions{})

	l.SetPartitioned(true)
	if !l.Partitioned() {
		t.Fatal("Partitioned() = false")
	}
	res, err := l.Reserve(k, 1500e6)
	if err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if _, err := l.Reserve(k, 600e6); !errors.As(err, &le) || !errors.Is(err, ErrPartitionAllowance) || le.Affordable != 500e6 {
		t.Fatalf("over the allowance: %v", err)
	}
	if err := l.Settle(res, 1e9, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve(k, 1001e6); !errors.Is(err, ErrPartitionAllowance) {
		t.Fatalf("allowance after settle: %v", err)
	}
	// The allowance is per key.
	r2, err := l.Reserve(other, 2e9)
	if err != nil {
		t.Fatalf("other key: %v", err)
	}
	l.Release(r2)
	// Healing lifts it; a new partition starts a new allowance.
	l.SetPartitioned(false)
	r3, err := l.Reserve(k, 5e9)
	if err != nil {
		t.Fatalf("after heal: %v", err)
	}
	l.Release(r3)
	l.SetPartitioned(true)
	r4, err := l.Reserve(k, 2e9)
	if err != nil {
		t.Fatalf("new partition: %v", err)
	}
	l.Release(r4)
}

func TestPartitionForbidsSpend(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	cfg.PartitionAllowance = -1
	l := openTest(t, cfg)
	acct, _ := l.CreateAccount("acme")
	_ = l.Grant(acct.ID, 100e9, "g")
	_, k, _ := l.CreateKey(acct.ID, KeyOptions{})
	l.SetPartitioned(true)
	if _, err := l.Reserve(k, 1); !errors.Is(err, ErrPartitionAllowance) {
		t.Fatalf("paid request while partitioned: %v", err)
	}
	if res, err := l.Reserve(k, 0); err != nil {
		t.Fatalf("free request while partitioned: %v", err)
	} else {
		l.Release(res)
	}
}

func TestSyncDurability(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	cfg.Durability = DurabilitySync
	fs := cfg.FS
	l := openTest(t, cfg)
	acct, _ := l.CreateAccount("acme")
	_ = l.Grant(acct.ID, 10e9, "g")
	_, k, _ := l.CreateKey(acct.ID, KeyOptions{})
	for i := range 5 {
		res, err := l.Reserve(k, 1e9)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(res, 1e8, &Generation{ID: "gen-n1-" + string(rune('a'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	// No Flush: with sync durability every Settle is on disk already.
	crashed := crashClone(fs, 0, nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.FS = crashed
	l2 := openTest(t, cfg)
	if _, usage := mustCredits(t, l2, acct.ID); usage != 5e8 {
		t.Fatalf("usage after crash = %d, want 5e8", usage)
	}
	if _, err := l2.GetGeneration("gen-n1-e"); err != nil {
		t.Fatal(err)
	}
}

func TestClosedLedger(t *testing.T) {
	l, _, acct, k := newFixture(t, 10e9, KeyOptions{})
	res, err := l.Reserve(k, 1e9)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve(k, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reserve after Close: %v", err)
	}
	if err := l.Settle(res, 1, &Generation{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Settle after Close: %v", err)
	}
	if err := l.Flush(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close: %v", err)
	}
	if _, _, err := l.CreateKey(acct.ID, KeyOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("CreateKey after Close: %v", err)
	}
}

func TestOnCommitHook(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	var mu sync.Mutex
	var groups, settles int
	cfg.OnCommit = func(n int, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil || took < 0 {
			t.Errorf("OnCommit(%d, %v, %v)", n, took, err)
		}
		groups++
		settles += n
	}
	l := openTest(t, cfg)
	acct, _ := l.CreateAccount("acme")
	_ = l.Grant(acct.ID, 10e9, "g")
	_, k, _ := l.CreateKey(acct.ID, KeyOptions{})
	for range 10 {
		spend(t, l, k, 1)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if settles != 10 || groups < 1 || groups > 10 {
		t.Fatalf("OnCommit saw %d settles in %d groups", settles, groups)
	}
}
