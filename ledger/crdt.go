package ledger

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// Delta is a change to one account's replicated state, or (from StateSince)
// all of it. Every part merges idempotently and commutatively:
//
//   - Account and Keys are last-writer-wins registers (higher Version wins;
//     a deleted key is a tombstone record);
//   - Grants is a grow-only map keyed by idempotency key (if two nodes
//     accepted different amounts for one key, the lower Version wins);
//   - Spend and KeyUsage are grow-only counters per (node, epoch[, key,
//     period]) merged by max, so a delta that would lower one changes
//     nothing.
type Delta struct {
	AccountID string
	Account   *Account
	Grants    []GrantRecord
	Spend     []SpendCounter
	Keys      []Key
	KeyUsage  []UsageCounter
}

// SpendCounter is the absolute spend of one account by one node in one
// epoch, nano-USD.
type SpendCounter struct {
	Node  string
	Epoch uint64
	Value int64
}

// UsageCounter is the absolute usage of one key by one node in one epoch
// and one period, nano-USD.
type UsageCounter struct {
	Key    KeyHash
	Node   string
	Epoch  uint64
	Period Period
	Value  int64
}

func (d *Delta) empty() bool {
	return d.Account == nil && len(d.Grants) == 0 && len(d.Spend) == 0 && len(d.Keys) == 0 && len(d.KeyUsage) == 0
}

// markKeyDirtyLocked notes a local change of ks's record. The caller holds
// ks.acct.mu.
func (l *Ledger) markKeyDirtyLocked(ks *keyState) {
	ks.recDirty = true
	l.listKeyLocked(ks)
}

func (l *Ledger) listKeyLocked(ks *keyState) {
	a := ks.acct
	if !ks.listed {
		ks.listed = true
		a.dirtyKeys = append(a.dirtyKeys, ks)
	}
	l.markDirtyLocked(a)
}

func keyCopy(k *Key) Key {
	c := *k
	c.st = nil
	c.Limit = copyLimit(k.Limit)
	return c
}

// Deltas returns what changed on this node since the previous call,
// coalesced into one Delta per account: new local grants, changed account
// and key records, and this node's current spend and key usage counters
// (absolute values, so a lost or repeated delta does no harm). The cluster
// calls it once per tick and broadcasts the result; Split cuts a delta that
// is too large for one message.
func (l *Ledger) Deltas() []Delta {
	l.dirtyMu.Lock()
	dirty := l.dirty
	l.dirty = nil
	l.dirtyMu.Unlock()
	out := make([]Delta, 0, len(dirty))
	for _, a := range dirty {
		a.mu.Lock()
		a.dirty = false
		d := Delta{AccountID: a.id}
		if a.recDirty && a.rec != nil {
			rec := *a.rec
			d.Account = &rec
		}
		a.recDirty = false
		for _, idem := range a.newGrants {
			if g := a.grants[idem]; g != nil {
				d.Grants = append(d.Grants, *g)
			}
		}
		a.newGrants = nil
		if a.local != a.sentLocal {
			d.Spend = append(d.Spend, SpendCounter{Node: l.cfg.Node, Epoch: l.epoch, Value: a.local})
			a.sentLocal = a.local
		}
		for _, ks := range a.dirtyKeys {
			if ks.recDirty {
				if rec := ks.rec.Load(); rec != nil {
					d.Keys = append(d.Keys, keyCopy(rec))
				}
			}
			if ks.usageDirty {
				d.KeyUsage = l.appendLocalUsage(d.KeyUsage, ks)
			}
			ks.recDirty, ks.usageDirty, ks.listed = false, false, false
		}
		clear(a.dirtyKeys)
		a.dirtyKeys = a.dirtyKeys[:0]
		a.mu.Unlock()
		if !d.empty() {
			out = append(out, d)
		}
	}
	return out
}

func (l *Ledger) appendLocalUsage(dst []UsageCounter, ks *keyState) []UsageCounter {
	u := &ks.local
	if !u.used {
		return dst
	}
	for _, c := range [...]struct {
		p Period
		v int64
	}{
		{Period{Kind: PeriodTotal}, u.total},
		{Period{Kind: PeriodDay, Index: u.day.idx}, u.day.val},
		{Period{Kind: PeriodWeek, Index: u.week.idx}, u.week.val},
		{Period{Kind: PeriodMonth, Index: u.month.idx}, u.month.val},
	} {
		dst = append(dst, UsageCounter{Key: ks.hash, Node: l.cfg.Node, Epoch: l.epoch, Period: c.p, Value: c.v})
	}
	return dst
}

// Merge applies a delta broadcast by node sender. Besides records and
// grants, it may only raise sender's own counters: a delta carrying a
// counter of another node is rejected whole with ErrForeignCounter (a
// correct sender never makes one). Merging the same delta again, or deltas
// in another order, gives the same state. New grants and records are synced
// before Merge returns; counters are written without sync (they come back
// from their owner by anti-entropy if lost).
func (l *Ledger) Merge(sender string, d Delta) error {
	if err := validateNodeName(sender); err != nil {
		return fmt.Errorf("%w: sender: %v", ErrBadDelta, err)
	}
	if sender == l.cfg.Node {
		return fmt.Errorf("%w: delta from this node's own name %q", ErrBadDelta, sender)
	}
	if err := l.validateDelta(&d, sender); err != nil {
		return err
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	return l.applyDelta(&d)
}

// MergeState applies the anti-entropy state that sender produced with
// StateSince. Unlike Merge it accepts counters of any node, since a peer
// relays what it learned from nodes that may be gone; it ignores counters of
// this node's current epoch, which only this node writes. Max-merging keeps
// it idempotent: a relayed counter can raise a value, never lower one.
func (l *Ledger) MergeState(sender string, state []Delta) error {
	if err := validateNodeName(sender); err != nil {
		return fmt.Errorf("%w: sender: %v", ErrBadDelta, err)
	}
	for i := range state {
		if err := l.validateDelta(&state[i], ""); err != nil {
			return err
		}
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	for i := range state {
		if err := l.applyDelta(&state[i]); err != nil {
			return err
		}
	}
	return nil
}

// validateDelta checks a delta's shape. With owner set, counters must be
// owner's.
func (l *Ledger) validateDelta(d *Delta, owner string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: account %q: %s", ErrBadDelta, d.AccountID, fmt.Sprintf(format, args...))
	}
	if d.AccountID == "" || len(d.AccountID) > 128 {
		return bad("bad account id")
	}
	if a := d.Account; a != nil {
		if a.ID != d.AccountID || AccountID(a.Name) != a.ID {
			return bad("account record does not match its id")
		}
	}
	for i := range d.Grants {
		g := &d.Grants[i]
		if g.AccountID != d.AccountID || g.Amount <= 0 || g.IdempotencyKey == "" || len(g.IdempotencyKey) > 256 {
			return bad("bad grant %q", g.IdempotencyKey)
		}
	}
	for _, s := range d.Spend {
		if validateNodeName(s.Node) != nil || s.Epoch == 0 || s.Value < 0 {
			return bad("bad spend counter")
		}
		if owner != "" && s.Node != owner {
			return fmt.Errorf("%w: %s sent a spend counter of %s", ErrForeignCounter, owner, s.Node)
		}
	}
	for i := range d.Keys {
		k := &d.Keys[i]
		if k.AccountID != d.AccountID || k.Hash.IsZero() || (k.Limit != nil && *k.Limit < 0) || k.LimitReset.Validate() != nil {
			return bad("bad key record")
		}
		if err := l.checkKeyAccount(k.Hash, d.AccountID); err != nil {
			return bad("%v", err)
		}
	}
	for _, u := range d.KeyUsage {
		if validateNodeName(u.Node) != nil || u.Epoch == 0 || u.Value < 0 || !u.Period.valid() || u.Key.IsZero() {
			return bad("bad usage counter")
		}
		if owner != "" && u.Node != owner {
			return fmt.Errorf("%w: %s sent a usage counter of %s", ErrForeignCounter, owner, u.Node)
		}
		if err := l.checkKeyAccount(u.Key, d.AccountID); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

func (l *Ledger) checkKeyAccount(h KeyHash, account string) error {
	l.mu.RLock()
	ks := l.keys[h]
	l.mu.RUnlock()
	if ks != nil && ks.acct.id != account {
		return ErrKeyAccountMismatch
	}
	return nil
}

// applyDelta merges d into memory and the store. The caller holds writeMu,
// so only Settle (which moves this node's current counters, never the ones
// merged here) runs concurrently.
func (l *Ledger) applyDelta(d *Delta) error {
	cur := l.periods.at(l.cfg.Now())
	self := nodeEpoch{l.cfg.Node, l.epoch}
	a := l.ensureAccount(d.AccountID)
	kss := make(map[KeyHash]*keyState, len(d.Keys)+len(d.KeyUsage)/4)
	for i := range d.Keys {
		kss[d.Keys[i].Hash] = l.ensureKey(d.Keys[i].Hash, d.AccountID)
	}
	for _, u := range d.KeyUsage {
		if kss[u.Key] == nil {
			kss[u.Key] = l.ensureKey(u.Key, d.AccountID)
		}
	}
	for _, ks := range kss {
		if ks.acct != a {
			return fmt.Errorf("%w: key %s is not in account %s", ErrBadDelta, ks.hash, d.AccountID)
		}
	}

	// Pick what raises the local state.
	var (
		acctRec *Account
		grants  []*GrantRecord
		spend   []SpendCounter
		keys    []*Key
		usage   []UsageCounter
	)
	a.mu.Lock()
	if d.Account != nil && (a.rec == nil || a.rec.Version.Less(d.Account.Version)) {
		acctRec = d.Account
	}
	for i := range d.Grants {
		g := &d.Grants[i]
		if prev := a.grants[g.IdempotencyKey]; prev == nil || grantWins(g, prev) {
			grants = append(grants, g)
		}
	}
	for _, s := range d.Spend {
		ne := nodeEpoch{s.Node, s.Epoch}
		if ne != self && s.Value > a.counters[ne] {
			spend = append(spend, s)
		}
	}
	for i := range d.Keys {
		k := &d.Keys[i]
		if old := kss[k.Hash].rec.Load(); old == nil || old.Version.Less(k.Version) {
			keys = append(keys, k)
		}
	}
	for _, u := range d.KeyUsage {
		ne := nodeEpoch{u.Node, u.Epoch}
		if ne == self || u.Period.stale(cur) {
			continue
		}
		if u.Value > kss[u.Key].counters[usageCounterKey{ne, u.Period}] {
			usage = append(usage, u)
		}
	}
	a.mu.Unlock()
	for _, g := range d.Grants {
		l.clock.observe(g.Version.HLC)
	}
	if d.Account != nil {
		l.clock.observe(d.Account.Version.HLC)
	}
	for i := range d.Keys {
		l.clock.observe(d.Keys[i].Version.HLC)
	}
	if acctRec == nil && len(grants) == 0 && len(spend) == 0 && len(keys) == 0 && len(usage) == 0 {
		return nil
	}

	// Persist, then apply.
	b := l.db.NewBatch()
	var kb, vb []byte
	if acctRec != nil {
		_ = b.Set(appendAccountKey(kb[:0], acctRec.ID), encodeAccount(vb[:0], acctRec), nil)
	}
	for _, g := range grants {
		_ = b.Set(appendGrantKey(kb[:0], g.AccountID, g.IdempotencyKey), encodeGrant(vb[:0], g), nil)
	}
	for _, s := range spend {
		_ = b.Set(appendSpendKey(kb[:0], d.AccountID, s.Node, s.Epoch), encodeCounter(vb[:0], s.Value), nil)
	}
	for _, k := range keys {
		_ = b.Set(appendKeyRecKey(kb[:0], k.Hash), encodeKey(vb[:0], k), nil)
	}
	for _, u := range usage {
		_ = b.Set(appendUsageKey(kb[:0], u.Key, u.Node, u.Epoch, u.Period), encodeCounter(vb[:0], u.Value), nil)
	}
	sync := acctRec != nil || len(grants) > 0 || len(keys) > 0
	if err := l.commit(b, sync); err != nil {
		return fmt.Errorf("ledger: cannot merge delta for %s: %w", d.AccountID, err)
	}

	a.mu.Lock()
	if acctRec != nil {
		rec := *acctRec
		a.rec = &rec
	}
	for _, g := range grants {
		prev := a.grants[g.IdempotencyKey]
		if prev != nil {
			if prev.Amount != g.Amount {
				l.log.Warn("conflicting grants under one idempotency key; the first one wins",
					"account", d.AccountID, "idempotency_key", g.IdempotencyKey,
					"kept_nano", g.Amount, "dropped_nano", prev.Amount)
			}
			a.granted -= prev.Amount
		}
		rec := *g
		a.grants[g.IdempotencyKey] = &rec
		a.granted += g.Amount
	}
	for _, s := range spend {
		ne := nodeEpoch{s.Node, s.Epoch}
		if old := a.counters[ne]; s.Value > old {
			a.counters[ne] = s.Value
			a.spent += s.Value - old
		}
	}
	for _, u := range usage {
		ks := kss[u.Key]
		ck := usageCounterKey{nodeEpoch{u.Node, u.Epoch}, u.Period}
		if old := ks.counters[ck]; u.Value > old {
			ks.counters[ck] = u.Value
			ks.usage[u.Period] += u.Value - old
		}
	}
	for _, k := range keys {
		l.publishKey(kss[k.Hash], keyCopy(k))
	}
	a.mu.Unlock()
	return nil
}

// DigestBuckets is the number of buckets in a Digest.
const DigestBuckets = 128

// Digest summarises the replicated state compactly for anti-entropy:
// accounts are spread over DigestBuckets buckets by id, and each bucket
// holds an order-independent hash of its accounts' records, grants and
// counters. Two nodes with equal buckets hold equal state there.
type Digest struct {
	Buckets [DigestBuckets]uint64
}

// Digest returns this node's digest.
func (l *Ledger) Digest() Digest {
	var dg Digest
	cur := l.periods.at(l.cfg.Now())
	var scratch []byte
	for _, a := range l.accountStates() {
		var h uint64
		h, scratch = l.accountHash(a, cur, scratch)
		dg.Buckets[digestBucket(a.id)] += h
	}
	return dg
}

// StateSince returns the full state of every account in the buckets where
// remote differs from this node's digest, for the peer to MergeState.
func (l *Ledger) StateSince(remote Digest) []Delta {
	local := l.Digest()
	cur := l.periods.at(l.cfg.Now())
	var out []Delta
	for _, a := range l.accountStates() {
		b := digestBucket(a.id)
		if local.Buckets[b] == remote.Buckets[b] {
			continue
		}
		if d := l.accountState(a, cur); !d.empty() {
			out = append(out, d)
		}
	}
	return out
}

func (l *Ledger) accountStates() []*accountState {
	l.mu.RLock()
	out := make([]*accountState, 0, len(l.accounts))
	for _, a := range l.accounts {
		out = append(out, a)
	}
	l.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// eachEntry calls the given functions for every replicated entry of a,
// this node's current counters included. The caller holds a.mu.
func (l *Ledger) eachEntry(a *accountState, cur periods, onKey func(*Key), onGrant func(*GrantRecord), onSpend func(SpendCounter), onUsage func(UsageCounter)) {
	for _, g := range a.grants {
		onGrant(g)
	}
	for ne, v := range a.counters {
		onSpend(SpendCounter{Node: ne.node, Epoch: ne.epoch, Value: v})
	}
	if a.local > 0 {
		onSpend(SpendCounter{Node: l.cfg.Node, Epoch: l.epoch, Value: a.local})
	}
	for _, ks := range a.keys {
		if rec := ks.rec.Load(); rec != nil {
			onKey(rec)
		}
		for ck, v := range ks.counters {
			if !ck.p.stale(cur) {
				onUsage(UsageCounter{Key: ks.hash, Node: ck.ne.node, Epoch: ck.ne.epoch, Period: ck.p, Value: v})
			}
		}
		var local [4]UsageCounter
		for _, u := range l.appendLocalUsage(local[:0], ks) {
			if !u.Period.stale(cur) {
				onUsage(u)
			}
		}
	}
}

func (l *Ledger) accountHash(a *accountState, cur periods, scratch []byte) (uint64, []byte) {
	var sum uint64
	add := func(b []byte) { sum += mix64(fnv64(b)) }
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rec != nil {
		scratch = appendAccountBody(append(scratch[:0], 'A'), a.rec)
		add(scratch)
	}
	l.eachEntry(a, cur,
		func(k *Key) {
			scratch = append(append(scratch[:0], 'K'), k.Hash[:]...)
			scratch = appendString(appendUvarint(scratch, k.Version.HLC), k.Version.Node)
			add(scratch)
		},
		func(g *GrantRecord) {
			scratch = appendGrantBody(append(scratch[:0], 'G'), g)
			add(scratch)
		},
		func(s SpendCounter) {
			scratch = appendSpendBody(append(scratch[:0], 'S'), s)
			add(scratch)
		},
		func(u UsageCounter) {
			scratch = appendUsageBody(append(scratch[:0], 'U'), u)
			add(scratch)
		})
	return sum, scratch
}

// accountState returns the full replicated state of a.
func (l *Ledger) accountState(a *accountState, cur periods) Delta {
	d := Delta{AccountID: a.id}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rec != nil {
		rec := *a.rec
		d.Account = &rec
	}
	l.eachEntry(a, cur,
		func(k *Key) { d.Keys = append(d.Keys, keyCopy(k)) },
		func(g *GrantRecord) { d.Grants = append(d.Grants, *g) },
		func(s SpendCounter) { d.Spend = append(d.Spend, s) },
		func(u UsageCounter) { d.KeyUsage = append(d.KeyUsage, u) })
	return d
}

func digestBucket(accountID string) int { return int(fnv64([]byte(accountID)) % DigestBuckets) }

// fnv64 is 64-bit FNV-1a: stable across processes and versions, unlike
// hash/maphash, which a digest compared between nodes needs.
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finalizer: it spreads FNV's weak high bits so that
// summing entry hashes stays a good set hash.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func appendSpendBody(dst []byte, s SpendCounter) []byte {
	dst = appendString(dst, s.Node)
	dst = appendUvarint(dst, s.Epoch)
	return appendUvarint(dst, uint64(s.Value))
}

func appendUsageBody(dst []byte, u UsageCounter) []byte {
	dst = append(dst, u.Key[:]...)
	dst = appendString(dst, u.Node)
	dst = appendUvarint(dst, u.Epoch)
	dst = append(dst, byte(u.Period.Kind))
	dst = appendVarint(dst, u.Period.Index)
	return appendUvarint(dst, uint64(u.Value))
}

// Digest wire format: version byte, uvarint bucket count, 8 bytes
// big-endian per bucket.
const digestV1 byte = 1

// AppendBinary appends the encoding of d.
func (d *Digest) AppendBinary(dst []byte) ([]byte, error) {
	dst = appendUvarint(append(dst, digestV1), DigestBuckets)
	for _, v := range d.Buckets {
		dst = binary.BigEndian.AppendUint64(dst, v)
	}
	return dst, nil
}

// UnmarshalBinary decodes a digest made by AppendBinary.
func (d *Digest) UnmarshalBinary(b []byte) error {
	r := reader{b: b}
	if v := r.byte(); v != digestV1 {
		return fmt.Errorf("%w: digest version %d", ErrBadDelta, v)
	}
	if n := r.uvarint(); r.err != nil || n != DigestBuckets || len(r.b) != 8*DigestBuckets {
		return fmt.Errorf("%w: digest size", ErrBadDelta)
	}
	for i := range d.Buckets {
		d.Buckets[i] = binary.BigEndian.Uint64(r.b[8*i:])
	}
	return nil
}
