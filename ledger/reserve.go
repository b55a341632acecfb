package ledger

import (
	"fmt"
	"sync/atomic"
)

// Reservation holds a request's maximum cost out of its account's balance
// and its key's limit until Settle or Release closes it. It is a small
// value; copies refer to the same reservation, and only the first Settle or
// Release of any copy has an effect.
type Reservation struct {
	r      *resv
	seq    uint64
	amount int64
}

// Amount returns the reserved nano-USD.
func (r Reservation) Amount() int64 { return r.amount }

// resv is the pooled body of a Reservation. seq is odd while the
// reservation is open; closing it makes it even, and reuse from the pool
// makes it odd again with a larger value, so a stale copy can never close a
// later reservation.
type resv struct {
	seq     atomic.Uint64
	key     *keyState
	amount  int64
	partGen uint64
}

// Reserve takes maxCost nano-USD (the request's worst case) out of what the
// key may spend. It checks, in one critical section per account: the
// account balance, the key's limit for the current span of its LimitReset,
// and, while partitioned, the key's partition allowance. When maxCost does
// not fit it returns a *LimitError carrying what does fit. A zero maxCost
// (free models) always fits. Management keys get ErrManagementKey; disabled,
// expired or deleted keys get their sentinel.
//
// Core calls Reserve for every inference request, free ones included
// (maxCost 0): it is where management keys are refused. Every Reservation
// must be closed by one Settle or Release (more are no-ops).
func (l *Ledger) Reserve(k *Key, maxCost int64) (Reservation, error) {
	if l.closed.Load() {
		return Reservation{}, ErrClosed
	}
	if k == nil || k.st == nil {
		return Reservation{}, ErrKeyNotFound
	}
	if maxCost < 0 {
		return Reservation{}, fmt.Errorf("%w: reserve %d", ErrInvalidAmount, maxCost)
	}
	ks := k.st
	cur := ks.rec.Load()
	if cur == nil {
		return Reservation{}, ErrKeyNotFound
	}
	now := l.cfg.Now()
	switch {
	case cur.Deleted:
		return Reservation{}, ErrKeyNotFound
	case cur.Disabled:
		return Reservation{}, ErrKeyDisabled
	case !cur.ExpiresAt.IsZero() && !now.Before(cur.ExpiresAt):
		return Reservation{}, ErrKeyExpired
	case cur.Management:
		return Reservation{}, ErrManagementKey
	}
	ps := l.periods.at(now)
	partitioned := l.partitioned.Load()
	gen := l.partGen.Load()
	a := ks.acct

	a.mu.Lock()
	if partitioned && ks.partGen != gen {
		ks.partGen, ks.partUsed, ks.partReserved = gen, 0, 0
	}
	if maxCost > 0 {
		afford, reason := a.balanceLocked(), ErrInsufficientCredits
		if lim := cur.Limit; lim != nil {
			if rem := *lim - ks.usageInLocked(cur.LimitReset.kind(), ps) - ks.reserved; rem < afford {
				afford, reason = rem, ErrKeyLimit
			}
		}
		if partitioned {
			rem := max(l.cfg.PartitionAllowance, 0) - ks.partUsed - ks.partReserved
			if rem < afford {
				afford, reason = rem, ErrPartitionAllowance
			}
		}
		if maxCost > afford {
			a.mu.Unlock()
			return Reservation{}, &LimitError{Reason: reason, Requested: maxCost, Affordable: max(afford, 0)}
		}
	}
	a.reserved += maxCost
	ks.reserved += maxCost
	var pg uint64
	if partitioned {
		ks.partReserved += maxCost
		pg = gen
	}
	a.mu.Unlock()

	r := l.resvPool.Get().(*resv)
	r.key, r.amount, r.partGen = ks, maxCost, pg
	return Reservation{r: r, seq: r.seq.Add(1), amount: maxCost}, nil
}

// Settle closes res with the request's real cost: it releases the
// reservation, adds cost to the account's and the key's spend at once (in
// memory), and hands the spend, the generation record and its rollups to
// the group writer. Settle copies *gen, so the caller may reuse it (nil
// records nothing); the Tags and Attempts slices are kept and must not be
// modified afterwards. The recorded copy gets ID (if empty), Region (if
// empty) and Created (if zero) filled in, and Node, AccountID, KeyHash and
// Cost set from the reservation. Call Settle once per request, with the sum
// of what every billed attempt cost.
//
// The real cost is charged in full even when it exceeds the reservation
// (the estimate undershot): the balance then dips below zero by at most
// that excess. A second Settle (or a Settle after Release) of the same
// reservation is a no-op returning nil, so a request is never charged twice.
// With DurabilitySync, Settle returns once the spend is synced.
func (l *Ledger) Settle(res Reservation, cost int64, gen *Generation) error {
	if cost < 0 {
		l.closeReservation(res, 0, nil)
		return fmt.Errorf("%w: settle %d", ErrInvalidAmount, cost)
	}
	return l.closeReservation(res, cost, gen)
}

// Release closes res without charging or recording anything, for a request
// that never reached a provider. Releasing a closed reservation is a no-op.
func (l *Ledger) Release(res Reservation) {
	_ = l.closeReservation(res, 0, nil)
}

func (l *Ledger) closeReservation(res Reservation, cost int64, gen *Generation) error {
	r := res.r
	if r == nil || !r.seq.CompareAndSwap(res.seq, res.seq+1) {
		return nil
	}
	ks, amount, pg := r.key, r.amount, r.partGen
	r.key = nil
	l.resvPool.Put(r)

	now := l.cfg.Now()
	ps := l.periods.at(now)
	a := ks.acct
	record := gen != nil || cost > 0
	sync := l.cfg.Durability == DurabilitySync && record

	if record {
		l.w.waitSpace()
	}
	a.mu.Lock()
	a.reserved -= amount
	ks.reserved -= amount
	if pg != 0 && pg == ks.partGen {
		ks.partReserved -= amount
	}
	used := ps
	if cost > 0 {
		if l.partitioned.Load() && ks.partGen == l.partGen.Load() {
			ks.partUsed += cost
		}
		a.local += cost
		a.spent += cost
		used = ks.local.add(cost, ps)
		ks.usage[Period{Kind: PeriodTotal}] += cost
		ks.usage[Period{Kind: PeriodDay, Index: used.day}] += cost
		ks.usage[Period{Kind: PeriodWeek, Index: used.week}] += cost
		ks.usage[Period{Kind: PeriodMonth, Index: used.month}] += cost
		ks.usageDirty = true
		l.listKeyLocked(ks)
	}
	var wt *waiter
	var err error
	if record {
		// Enqueued under a.mu so the writer sees an account's settles in
		// the order they were counted in memory.
		wt, err = l.w.enqueue(a, ks, cost, used, gen, now, sync)
	}
	a.mu.Unlock()
	if err != nil || wt == nil {
		return err
	}
	return l.w.wait(wt)
}

// SetPartitioned switches partition mode. While on, each key's new spend
// on this node is limited to Config.PartitionAllowance, counted from the
// moment the mode was switched on (reservations count against it too);
// switching it on again starts a new allowance. The cluster turns it on
// when this node sees less than a majority of the known members.
func (l *Ledger) SetPartitioned(on bool) {
	if on && !l.partitioned.Load() {
		l.partGen.Add(1)
	}
	l.partitioned.Store(on)
}

// Partitioned reports whether partition mode is on.
func (l *Ledger) Partitioned() bool { return l.partitioned.Load() }
