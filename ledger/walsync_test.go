package ledger

import (
	"testing"
	"time"
)

// TestWALSyncSpacing checks walSyncFS: group commits reach the WAL file
// at once but are fsynced at most about once per SyncInterval, acknowledged
// writes and Flush are synced before they return, and an idle ledger is
// synced within one interval of its last group.
//
// The crash clones here drop everything not fsynced: a power loss.
func TestWALSyncSpacing(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	cfg.GroupWindow = time.Millisecond
	cfg.SyncInterval = 300 * time.Millisecond
	l := openTest(t, cfg)
	if l.wal == nil {
		t.Fatal("group durability with a sync interval must wrap the WAL")
	}
	acct, err := l.CreateAccount("acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Grant(acct.ID, 1e12, "g1"); err != nil {
		t.Fatal(err)
	}
	_, key, err := l.CreateKey(acct.ID, KeyOptions{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}

	// An acknowledged grant survives a power loss at once, however recent
	// the last sync was.
	if err := l.Grant(acct.ID, 5, "g2"); err != nil {
		t.Fatal(err)
	}
	if got := grantsAfterPowerLoss(t, cfg); got != 1e12+5 {
		t.Fatalf("grants after a power loss right after Grant = %d, want %d", got, int64(1e12+5))
	}

	// Many small groups within one interval: few real syncs.
	syncs0, skips0 := l.wal.syncs.Load(), l.wal.skips.Load()
	began := time.Now()
	for range 40 {
		r, err := l.Reserve(key, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(r, 7, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // a group each
	}
	elapsed := time.Since(began)
	syncs, skips := l.wal.syncs.Load()-syncs0, l.wal.skips.Load()-skips0
	t.Logf("40 groups in %s: %d real syncs, %d deferred", elapsed, syncs, skips)
	if skips == 0 {
		t.Fatal("no sync was deferred")
	}
	if limit := int64(elapsed/cfg.SyncInterval) + 2; syncs > limit {
		t.Fatalf("%d real syncs in %s, want at most %d", syncs, elapsed, limit)
	}

	// Idle: the trailing sync lands within one interval.
	deadline := time.Now().Add(5 * time.Second)
	for l.wal.syncs.Load() == syncs0+syncs {
		if time.Now().After(deadline) {
			t.Fatal("no trailing sync after the ledger went idle")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := spendAfterPowerLoss(t, cfg, acct.ID); got != 40*7 {
		t.Fatalf("spend after a power loss once idle = %d, want %d", got, 40*7)
	}

	// Flush promises disk.
	for range 3 {
		r, err := l.Reserve(key, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(r, 7, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := spendAfterPowerLoss(t, cfg, acct.ID); got != 43*7 {
		t.Fatalf("spend after a power loss right after Flush = %d, want %d", got, 43*7)
	}
}

// reopenAfterPowerLoss opens what a power loss would leave of cfg's store.
func reopenAfterPowerLoss(t *testing.T, cfg Config) *Ledger {
	t.Helper()
	cfg.FS = crashClone(cfg.FS, 0, nil)
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("reopen after power loss: %v", err)
	}
	return l
}

func grantsAfterPowerLoss(t *testing.T, cfg Config) int64 {
	l := reopenAfterPowerLoss(t, cfg)
	defer l.Close()
	accts := l.Accounts()
	if len(accts) != 1 {
		t.Fatalf("%d accounts after power loss, want 1", len(accts))
	}
	granted, _ := mustCredits(t, l, accts[0].ID)
	return granted
}

func spendAfterPowerLoss(t *testing.T, cfg Config, account string) int64 {
	l := reopenAfterPowerLoss(t, cfg)
	defer l.Close()
	_, spent := mustCredits(t, l, account)
	return spent
}
