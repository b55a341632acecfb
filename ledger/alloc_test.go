//go:build !race

package ledger

import "testing"

// TestHotPathAllocs pins the allocation-free parts of the hot path.
// Excluded under -race, which allocates on its own.
func TestHotPathAllocs(t *testing.T) {
	l, _, _, k := newFixture(t, 1e12, KeyOptions{Limit: ptr(int64(1e12)), LimitReset: LimitResetWeekly})
	secret, k2, err := l.CreateKey(k.AccountID, KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := []byte(secret)
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := l.Authenticate(s); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Authenticate: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(1000, func() {
		res, err := l.Reserve(k2, 1000)
		if err != nil {
			t.Fatal(err)
		}
		l.Release(res)
	}); n != 0 {
		t.Errorf("Reserve+Release: %v allocs, want 0", n)
	}
}
