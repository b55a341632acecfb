package ledger

import (
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// pruneInterval is how often the writer goroutine runs Prune.
const pruneInterval = 10 * time.Minute

// settleItem is one settle on its way to disk.
type settleItem struct {
	acct   *accountState
	key    *keyState
	cost   int64
	ps     periods // the spans the cost was counted in
	hasGen bool
	gen    Generation
	done   *waiter
}

type waiter struct{ ch chan error }

// writer is the group-commit writer: Settle appends to pending; the writer
// goroutine swaps pending out every GroupWindow (at once for sync settles
// and Flush) and commits it as one synced batch. Each batch holds the
// generation records, their rollups and the absolute values of the spend
// counters they moved, so what survives a crash is always consistent:
// persisted spend = Σ cost of persisted generations (plus cost-only
// settles).
type writer struct {
	l        *Ledger
	group    bool
	window   time.Duration
	maxItems int
	wake     chan struct{}
	done     chan struct{}
	waiters  sync.Pool

	mu       sync.Mutex
	space    *sync.Cond // signalled when pending is swapped out
	pending  []settleItem
	flushers []*waiter
	urgent   bool
	closing  bool

	// Owned by the writer goroutine.
	work         []settleItem
	workFlushers []*waiter
	kb, vb       []byte
	touchedAccts []*accountState
	touchedKeys  []*keyState
	roll         rollupAgg
}

func newWriter(l *Ledger) *writer {
	w := &writer{
		l:        l,
		group:    l.cfg.Durability == DurabilityGroup,
		window:   l.cfg.GroupWindow,
		maxItems: l.cfg.MaxPendingSettles,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		pending:  make([]settleItem, 0, 1024),
		work:     make([]settleItem, 0, 1024),
	}
	w.space = sync.NewCond(&w.mu)
	w.waiters.New = func() any { return &waiter{ch: make(chan error, 1)} }
	w.roll.init(l.cfg.MaxDimensionValues)
	return w
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// waitSpace blocks while MaxPendingSettles settles are waiting. Callers
// call it before taking an account lock, so a full queue never blocks
// anything that the writer goroutine may wait for; enqueue itself never
// blocks, and concurrent settles may overshoot the bound by a few.
func (w *writer) waitSpace() {
	if w.maxItems <= 0 {
		return
	}
	w.mu.Lock()
	for len(w.pending) >= w.maxItems && !w.closing {
		w.space.Wait()
	}
	w.mu.Unlock()
}

// enqueue hands a settle to the writer. With sync set it returns a waiter
// to pass to wait.
func (w *writer) enqueue(a *accountState, ks *keyState, cost int64, ps periods, gen *Generation, now time.Time, sync bool) (*waiter, error) {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return nil, ErrClosed
	}
	w.pending = append(w.pending, settleItem{acct: a, key: ks, cost: cost, ps: ps})
	it := &w.pending[len(w.pending)-1]
	if gen != nil {
		it.hasGen = true
		it.gen = *gen
		w.l.fillGeneration(&it.gen, a, ks, cost, now)
	}
	var wt *waiter
	if sync {
		wt = w.waiters.Get().(*waiter)
		it.done = wt
		w.urgent = true
	}
	first := len(w.pending) == 1
	w.mu.Unlock()
	if first || sync {
		w.signal()
	}
	return wt, nil
}

func (w *writer) wait(wt *waiter) error {
	err := <-wt.ch
	w.waiters.Put(wt)
	return err
}

// flush waits until everything enqueued before it is committed.
func (w *writer) flush() error {
	wt := w.waiters.Get().(*waiter)
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		w.waiters.Put(wt)
		return ErrClosed
	}
	w.flushers = append(w.flushers, wt)
	w.urgent = true
	w.mu.Unlock()
	w.signal()
	return w.wait(wt)
}

// close commits what is pending and stops the goroutine.
func (w *writer) close() error {
	w.mu.Lock()
	w.closing = true
	w.space.Broadcast()
	w.mu.Unlock()
	w.signal()
	<-w.done
	return nil
}

func (w *writer) run() {
	defer close(w.done)
	prune := time.NewTicker(pruneInterval)
	defer prune.Stop()
	for {
		select {
		case <-w.wake:
		case <-prune.C:
			if err := w.l.prune(); err != nil {
				w.l.log.Error("cannot prune", "err", err)
			}
			continue
		}
		if w.group {
			w.mu.Lock()
			wait := !w.urgent && !w.closing
			w.mu.Unlock()
			if wait {
				// Gather the settles of one window into one fsync.
				time.Sleep(w.window)
			}
		}
		w.mu.Lock()
		w.work, w.pending = w.pending, w.work[:0]
		w.workFlushers, w.flushers = w.flushers, w.workFlushers[:0]
		w.urgent = false
		closing := w.closing
		w.space.Broadcast()
		w.mu.Unlock()

		// Commit in chunks so a backlog never becomes one huge batch; only
		// the last chunk syncs, which makes the earlier ones durable too.
		var err error
		if len(w.work) > 0 {
			began := time.Now()
			for start := 0; start < len(w.work) && err == nil; start += maxCommitItems {
				end := min(start+maxCommitItems, len(w.work))
				err = w.commit(w.work[start:end], end == len(w.work))
			}
			if w.l.cfg.OnCommit != nil {
				w.l.cfg.OnCommit(len(w.work), time.Since(began), err)
			}
		}
		if len(w.workFlushers) > 0 && err == nil {
			// Flush promises disk, not just the WAL file: make the
			// syncs that walSyncFS deferred real.
			err = w.l.syncWAL()
		}
		for i := range w.work {
			if wt := w.work[i].done; wt != nil {
				wt.ch <- err
			}
		}
		clear(w.work) // drop references to generation strings
		for _, wt := range w.workFlushers {
			wt.ch <- err
		}
		clear(w.workFlushers)
		if closing {
			return
		}
	}
}

// maxCommitItems bounds the settles in one Pebble batch.
const maxCommitItems = 1024

// commit writes items as one batch, synced if sync is set.
func (w *writer) commit(items []settleItem, sync bool) error {
	l := w.l
	b := l.db.NewBatch()
	for i := range items {
		it := &items[i]
		if it.cost > 0 {
			a := it.acct
			a.durableLocal += it.cost
			if !a.wTouched {
				a.wTouched = true
				w.touchedAccts = append(w.touchedAccts, a)
			}
			ks := it.key
			ks.durable.add(it.cost, it.ps)
			if !ks.wTouched {
				ks.wTouched = true
				w.touchedKeys = append(w.touchedKeys, ks)
			}
		}
		if it.hasGen {
			g := &it.gen
			w.vb = encodeGeneration(w.vb[:0], g)
			w.kb = appendGenerationKey(w.kb[:0], g.ID)
			_ = b.Set(w.kb, w.vb, nil)
			w.roll.add(g)
		}
	}
	for _, a := range w.touchedAccts {
		a.wTouched = false
		w.kb = appendSpendKey(w.kb[:0], a.id, l.cfg.Node, l.epoch)
		w.vb = encodeCounter(w.vb[:0], a.durableLocal)
		_ = b.Set(w.kb, w.vb, nil)
	}
	w.touchedAccts = w.touchedAccts[:0]
	for _, ks := range w.touchedKeys {
		ks.wTouched = false
		u := &ks.durable
		w.setUsage(b, ks.hash, Period{Kind: PeriodTotal}, u.total)
		w.setUsage(b, ks.hash, Period{Kind: PeriodDay, Index: u.day.idx}, u.day.val)
		w.setUsage(b, ks.hash, Period{Kind: PeriodWeek, Index: u.week.idx}, u.week.val)
		w.setUsage(b, ks.hash, Period{Kind: PeriodMonth, Index: u.month.idx}, u.month.val)
	}
	clear(w.touchedKeys)
	w.touchedKeys = w.touchedKeys[:0]
	w.vb = w.roll.flush(b, w.vb, l.cfg.Now())
	var err error
	if sync {
		err = l.commitGroup(b)
	} else {
		err = l.commit(b, false)
	}
	if err != nil {
		l.log.Error("cannot commit settled spend", "settles", len(items), "err", err)
		return err
	}
	return nil
}

func (w *writer) setUsage(b *pebble.Batch, h KeyHash, p Period, v int64) {
	w.kb = appendUsageKey(w.kb[:0], h, w.l.cfg.Node, w.l.epoch, p)
	w.vb = encodeCounter(w.vb[:0], v)
	_ = b.Set(w.kb, w.vb, nil)
}

// fillGeneration completes a generation record from its reservation.
func (l *Ledger) fillGeneration(g *Generation, a *accountState, ks *keyState, cost int64, now time.Time) {
	if g.ID == "" {
		g.ID = l.NewGenerationID()
	}
	g.Node = l.cfg.Node
	if g.Region == "" {
		g.Region = l.cfg.Region
	}
	g.AccountID = a.id
	g.KeyHash = ks.hash
	g.Cost = cost
	if g.Created.IsZero() {
		g.Created = now
	}
	g.Created = g.Created.UTC()
}
