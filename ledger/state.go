package ledger

import (
	"sync"
	"sync/atomic"
)

// nodeEpoch names one grow-only counter: the spend a node made during one
// life (between an Open and the next).
type nodeEpoch struct {
	node  string
	epoch uint64
}

type usageCounterKey struct {
	ne nodeEpoch
	p  Period
}

// periodValue is a counter for the latest span of one kind. The index only
// moves forward: if the clock steps back over a boundary, spend keeps going
// to the newer span rather than lowering a counter already written.
type periodValue struct {
	idx int64
	val int64
}

func (v *periodValue) add(idx, cost int64) int64 {
	if idx > v.idx {
		v.idx, v.val = idx, 0
	}
	v.val += cost
	return v.idx
}

// localUsage is one key's spend on this node in the current epoch.
type localUsage struct {
	total            int64
	day, week, month periodValue
	used             bool // any spend recorded
}

// add records cost and returns the spans it was counted in.
func (u *localUsage) add(cost int64, ps periods) periods {
	u.used = true
	u.total += cost
	return periods{
		day:   u.day.add(ps.day, cost),
		week:  u.week.add(ps.week, cost),
		month: u.month.add(ps.month, cost),
	}
}

// accountState is the live money state of one account. Every field below mu
// is guarded by it, and so are the money fields of the account's keys, so
// that Reserve checks the balance and the key limit in one critical section.
type accountState struct {
	id string

	mu       sync.Mutex
	rec      *Account // nil while only counters of the account are known
	grants   map[string]*GrantRecord
	granted  int64
	counters map[nodeEpoch]int64 // every (node, epoch) but this node's current one
	local    int64               // this node, current epoch
	spent    int64               // Σ counters + local
	reserved int64
	keys     map[KeyHash]*keyState

	// Delta bookkeeping: what changed here since the last Deltas call.
	dirty     bool
	recDirty  bool
	newGrants []string
	dirtyKeys []*keyState // keys with recDirty or usageDirty set
	sentLocal int64

	// Touched only by the group writer goroutine.
	durableLocal int64
	wTouched     bool
}

func newAccountState(id string) *accountState {
	return &accountState{
		id:       id,
		grants:   make(map[string]*GrantRecord),
		counters: make(map[nodeEpoch]int64),
		keys:     make(map[KeyHash]*keyState),
	}
}

func (a *accountState) balanceLocked() int64 { return a.granted - a.spent - a.reserved }

// keyState is the live state of one key. rec is swapped atomically so that
// Authenticate reads it without a lock; the money fields are guarded by
// acct.mu.
type keyState struct {
	hash KeyHash
	acct *accountState
	rec  atomic.Pointer[Key] // nil while only usage counters of the key are known

	reserved     int64
	usage        map[Period]int64 // Σ over every (node, epoch), local included
	counters     map[usageCounterKey]int64
	local        localUsage
	usageDirty   bool // local usage changed since the last delta
	recDirty     bool // record changed here since the last delta
	listed       bool // in acct.dirtyKeys
	partGen      uint64
	partUsed     int64
	partReserved int64

	// Touched only by the group writer goroutine.
	durable  localUsage
	wTouched bool
}

func newKeyState(h KeyHash, a *accountState) *keyState {
	return &keyState{
		hash:     h,
		acct:     a,
		usage:    make(map[Period]int64),
		counters: make(map[usageCounterKey]int64),
	}
}

// usageInLocked returns the key's usage in the span of kind k that
// contains ps.
func (ks *keyState) usageInLocked(k PeriodKind, ps periods) int64 {
	return ks.usage[Period{Kind: k, Index: ps.index(k)}]
}
