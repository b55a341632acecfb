package ledger

import (
	"fmt"
	"sort"
	"unicode/utf8"
)

// Grant adds amount nano-USD to the account's credits, once per
// idempotency key: a repeat with the same key and amount is a successful
// no-op, a repeat with another amount fails with ErrIdempotencyConflict.
// The grant is synced to disk before Grant returns.
//
// Across nodes, the first grant (lowest HLC version) under a key wins if two
// nodes accept different amounts for it concurrently; every node converges
// on that one.
func (l *Ledger) Grant(account string, amount int64, idempotencyKey string) error {
	if amount <= 0 {
		return fmt.Errorf("%w: grant of %d", ErrInvalidAmount, amount)
	}
	if idempotencyKey == "" || len(idempotencyKey) > 256 || !utf8.ValidString(idempotencyKey) {
		return fmt.Errorf("%w: idempotency key: want 1–256 bytes of UTF-8", ErrInvalidArgument)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	return l.grantLocked(account, amount, idempotencyKey)
}

func (l *Ledger) grantLocked(account string, amount int64, idem string) error {
	a := l.account(account)
	if a == nil {
		return ErrAccountNotFound
	}
	a.mu.Lock()
	exists := a.rec != nil
	prev := a.grants[idem]
	a.mu.Unlock()
	if !exists {
		return ErrAccountNotFound
	}
	if prev != nil {
		if prev.Amount == amount {
			return nil
		}
		return fmt.Errorf("%w: key %q holds %d nano-USD", ErrIdempotencyConflict, idem, prev.Amount)
	}
	g := &GrantRecord{
		AccountID:      account,
		IdempotencyKey: idem,
		Amount:         amount,
		Created:        l.cfg.Now().UTC(),
		Version:        Version{HLC: l.clock.next(), Node: l.cfg.Node},
	}
	b := l.db.NewBatch()
	_ = b.Set(appendGrantKey(nil, account, idem), encodeGrant(nil, g), nil)
	if err := l.commit(b, true); err != nil {
		return fmt.Errorf("ledger: cannot grant to %s: %w", account, err)
	}
	a.mu.Lock()
	a.grants[idem] = g
	a.granted += amount
	a.newGrants = append(a.newGrants, idem)
	l.markDirtyLocked(a)
	a.mu.Unlock()
	return nil
}

// Credits returns the account's total credits (Σ grants) and total usage
// (Σ settled spend, on every node known here), as GET /credits shows them.
func (l *Ledger) Credits(account string) (total, usage int64, err error) {
	a := l.account(account)
	if a == nil {
		return 0, 0, ErrAccountNotFound
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rec == nil {
		return 0, 0, ErrAccountNotFound
	}
	return a.granted, a.spent, nil
}

// Balance returns Σ grants − Σ settled spend − Σ outstanding reservations.
func (l *Ledger) Balance(account string) (int64, error) {
	a := l.account(account)
	if a == nil {
		return 0, ErrAccountNotFound
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rec == nil {
		return 0, ErrAccountNotFound
	}
	return a.balanceLocked(), nil
}

// Grants returns the account's grants, oldest first.
func (l *Ledger) Grants(account string) ([]GrantRecord, error) {
	a := l.account(account)
	if a == nil {
		return nil, ErrAccountNotFound
	}
	a.mu.Lock()
	out := make([]GrantRecord, 0, len(a.grants))
	for _, g := range a.grants {
		out = append(out, *g)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Version.Less(out[j].Version) })
	return out, nil
}
