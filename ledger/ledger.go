package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// Ledger is the money and key store of one node. All methods are safe for
// concurrent use.
type Ledger struct {
	cfg     Config
	log     *slog.Logger
	db      *pebble.DB
	epoch   uint64
	clock   hlc
	periods periodCache

	// writeMu serialises the operations that read-check-write durable
	// records (grants, accounts, keys, merges), so each one's check still
	// holds when its batch commits.
	writeMu sync.Mutex

	// mu guards the two indexes. Entries are never removed, so a pointer
	// read under mu stays valid.
	mu       sync.RWMutex
	accounts map[string]*accountState
	keys     map[KeyHash]*keyState

	// dirtyMu guards dirty: accounts with changes not yet in a delta. Lock
	// order: accountState.mu before dirtyMu.
	dirtyMu sync.Mutex
	dirty   []*accountState

	// dbMu keeps Close from closing the store under a reader (Query,
	// GetGeneration); readers hold it shared.
	dbMu sync.RWMutex

	partitioned atomic.Bool
	partGen     atomic.Uint64

	resvPool sync.Pool
	wal      *walSyncFS // nil: every requested sync is real
	w        *writer
	closed   atomic.Bool
}

// Open opens (or creates) the ledger in cfg.Dir, loads its state into
// memory, starts a new epoch (synced before Open returns) and starts the
// group writer. Close it when done.
func Open(cfg Config) (*Ledger, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &Ledger{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "ledger"),
		accounts: make(map[string]*accountState),
		keys:     make(map[KeyHash]*keyState),
	}
	l.clock.now = cfg.Now
	l.resvPool.New = func() any { return new(resv) }

	fs := cfg.FS
	if cfg.Durability == DurabilityGroup && cfg.SyncInterval > 0 {
		l.wal = newWALSyncFS(fs, cfg.SyncInterval)
		fs = l.wal
	}
	opts := &pebble.Options{
		FS:     fs,
		Logger: pebbleLogger{l.log.With("component", "pebble")},
		Merger: rollupMerger,
		// Named, not FormatNewest, so a Pebble upgrade never ratchets the
		// on-disk format by itself. It includes WAL sync chunks, which let
		// replay tell a torn tail from corruption after a crash.
		FormatMajorVersion: pebble.FormatValueSeparation,
	}
	db, err := pebble.Open(cfg.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("ledger: cannot open pebble in %q: %w", cfg.Dir, err)
	}
	l.db = db
	if err := l.startEpoch(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := l.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	l.w = newWriter(l)
	go l.w.run()
	return l, nil
}

// Close flushes the group writer, stops it and closes the store. Reserve,
// Settle and every write fail with ErrClosed afterwards. Close is safe to
// call twice.
func (l *Ledger) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	werr := l.w.close()
	l.writeMu.Lock() // wait for an in-flight grant, key change or merge
	defer l.writeMu.Unlock()
	l.dbMu.Lock()
	defer l.dbMu.Unlock()
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("ledger: cannot close pebble: %w", err)
	}
	return werr
}

// readDB runs fn with the store open, or returns ErrClosed.
func (l *Ledger) readDB(fn func() error) error {
	l.dbMu.RLock()
	defer l.dbMu.RUnlock()
	if l.closed.Load() {
		return ErrClosed
	}
	return fn()
}

// Flush waits until everything settled before the call is synced to disk.
func (l *Ledger) Flush() error {
	if l.closed.Load() {
		return ErrClosed
	}
	return l.w.flush()
}

// Node returns the node name the ledger was opened with.
func (l *Ledger) Node() string { return l.cfg.Node }

// Epoch returns this node's epoch: a number larger than in any earlier life
// of this store, and not smaller than the Unix milliseconds at Open, so a
// node that lost its data still gets a fresh one.
func (l *Ledger) Epoch() uint64 { return l.epoch }

func (l *Ledger) startEpoch() error {
	key := metaKey(metaEpoch)
	var prev uint64
	v, closer, err := l.db.Get(key)
	switch {
	case err == nil:
		if len(v) != 8 {
			_ = closer.Close()
			return fmt.Errorf("ledger: cannot read epoch: %w", errBadValue)
		}
		prev = binary.BigEndian.Uint64(v)
		_ = closer.Close()
	case errors.Is(err, pebble.ErrNotFound):
	default:
		return fmt.Errorf("ledger: cannot read epoch: %w", err)
	}
	epoch := prev + 1
	if ms := uint64(l.cfg.Now().UnixMilli()); ms > epoch {
		epoch = ms
	}
	if err := l.durable(func() error { return l.db.Set(key, binary.BigEndian.AppendUint64(nil, epoch), pebble.Sync) }); err != nil {
		return fmt.Errorf("ledger: cannot write epoch: %w", err)
	}
	l.epoch = epoch
	return nil
}

// scan calls fn for every record whose key starts with prefix.
func (l *Ledger) scan(prefix []byte, fn func(k, v []byte) error) error {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

// load rebuilds the in-memory state from the store.
func (l *Ledger) load() error {
	cur := l.periods.at(l.cfg.Now())
	err := l.scan([]byte{prefixAccount}, func(k, v []byte) error {
		a, err := decodeAccount(v)
		if err != nil {
			return fmt.Errorf("account %x: %w", k, err)
		}
		l.clock.observe(a.Version.HLC)
		st := l.accountLocked(a.ID)
		st.rec = &a
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: cannot load accounts: %w", err)
	}
	err = l.scan([]byte{prefixKey}, func(k, v []byte) error {
		rec, err := decodeKey(v)
		if err != nil {
			return fmt.Errorf("key %x: %w", k, err)
		}
		l.clock.observe(rec.Version.HLC)
		ks := l.keyLocked(rec.Hash, rec.AccountID)
		l.publishKey(ks, rec)
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: cannot load keys: %w", err)
	}
	err = l.scan([]byte{prefixGrant}, func(k, v []byte) error {
		g, err := decodeGrant(v)
		if err != nil {
			return fmt.Errorf("grant %x: %w", k, err)
		}
		l.clock.observe(g.Version.HLC)
		a := l.accountLocked(g.AccountID)
		a.grants[g.IdempotencyKey] = &g
		a.granted += g.Amount
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: cannot load grants: %w", err)
	}
	err = l.scan([]byte{prefixSpend}, func(k, v []byte) error {
		acct, ne, err := decodeSpendKey(k)
		if err != nil {
			return err
		}
		n, err := decodeCounter(v)
		if err != nil {
			return fmt.Errorf("spend %x: %w", k, err)
		}
		a := l.accountLocked(acct)
		a.counters[ne] = n
		a.spent += n
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: cannot load spend: %w", err)
	}
	err = l.scan([]byte{prefixKeyUsage}, func(k, v []byte) error {
		h, ne, p, err := decodeUsageKey(k)
		if err != nil {
			return err
		}
		if !p.valid() || p.stale(cur) {
			return nil // pruned by the writer
		}
		n, err := decodeCounter(v)
		if err != nil {
			return fmt.Errorf("key usage %x: %w", k, err)
		}
		ks := l.keys[h]
		if ks == nil {
			// Usage of a key whose record is gone cannot be attributed
			// to an account; it was merged without its record.
			return nil
		}
		ks.counters[usageCounterKey{ne, p}] = n
		ks.usage[p] += n
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: cannot load key usage: %w", err)
	}
	return nil
}

// accountLocked returns the state of account id, creating an empty one.
// The caller holds l.mu for writing (or is the only goroutine, in load).
func (l *Ledger) accountLocked(id string) *accountState {
	a := l.accounts[id]
	if a == nil {
		a = newAccountState(id)
		l.accounts[id] = a
	}
	return a
}

// keyLocked returns the state of key h of account acct, creating it. The
// caller holds l.mu for writing. A key never changes account.
func (l *Ledger) keyLocked(h KeyHash, acct string) *keyState {
	ks := l.keys[h]
	if ks == nil {
		a := l.accountLocked(acct)
		ks = newKeyState(h, a)
		l.keys[h] = ks
		a.mu.Lock()
		a.keys[h] = ks
		a.mu.Unlock()
	}
	return ks
}

func (l *Ledger) account(id string) *accountState {
	l.mu.RLock()
	a := l.accounts[id]
	l.mu.RUnlock()
	return a
}

func (l *Ledger) ensureAccount(id string) *accountState {
	if a := l.account(id); a != nil {
		return a
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accountLocked(id)
}

func (l *Ledger) ensureKey(h KeyHash, acct string) *keyState {
	l.mu.RLock()
	ks := l.keys[h]
	l.mu.RUnlock()
	if ks != nil {
		return ks
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keyLocked(h, acct)
}

// publishKey makes rec the key's current record.
func (l *Ledger) publishKey(ks *keyState, rec Key) {
	rec.st = ks
	ks.rec.Store(&rec)
}

// markDirty queues a for the next Deltas call. The caller holds a.mu.
func (l *Ledger) markDirtyLocked(a *accountState) {
	if a.dirty {
		return
	}
	a.dirty = true
	l.dirtyMu.Lock()
	l.dirty = append(l.dirty, a)
	l.dirtyMu.Unlock()
}

// commit applies b and closes it; with sync set it returns once b is on
// disk (an acknowledged write: a grant, an account, a key).
func (l *Ledger) commit(b *pebble.Batch, sync bool) error {
	if !sync {
		err := b.Commit(pebble.NoSync)
		_ = b.Close()
		return err
	}
	return l.durable(func() error {
		err := b.Commit(pebble.Sync)
		_ = b.Close()
		return err
	})
}

// commitGroup applies a group of settles and closes b. It is written to
// the WAL before it returns; with Durability group its fsync may follow
// within Config.SyncInterval (walSyncFS).
func (l *Ledger) commitGroup(b *pebble.Batch) error {
	if l.cfg.Durability == DurabilitySync {
		return l.commit(b, true)
	}
	err := b.Commit(pebble.Sync)
	_ = b.Close()
	return err
}

// syncWAL makes everything committed so far durable, deferred syncs
// included.
func (l *Ledger) syncWAL() error {
	if l.wal == nil {
		return nil
	}
	return l.wal.forced(func() error { return l.db.LogData(nil, pebble.Sync) })
}

// durable runs commit with every WAL sync real.
func (l *Ledger) durable(commit func() error) error {
	if l.wal == nil {
		return commit()
	}
	return l.wal.forced(commit)
}

// pebbleLogger sends Pebble's logs to slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug(fmt.Sprintf(format, args...))
	}
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf is called by Pebble on states it cannot continue from (corruption);
// it must not return.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic("BUG: pebble: " + msg)
}
