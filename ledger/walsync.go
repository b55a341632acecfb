package ledger

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walSyncFS spaces out the fsyncs of group-committed spend, as MySQL's
// innodb_flush_log_at_trx_commit=2 does: every group is still written to
// the WAL file before its commit returns (Pebble writes a partial block
// whenever a sync is requested), so a killed process loses nothing the OS
// has; but the fdatasync itself runs at most once per interval, plus once
// more interval after the last skipped one, and when a WAL file closes.
//
// Why: an fdatasync blocks its thread for 0.1–1 ms, so the Go scheduler
// hands its P to another thread and wakes it again afterwards. At 5k
// settles/s a sync per 5 ms group cost more CPU in scheduler churn than
// the proxying itself (docs/BENCHMARKS.md). Spacing them by 50 ms bounds
// what a power loss can take to the last interval of spend; a kill -9
// still loses at most the last group window.
//
// Commits that are acknowledged to someone (grants, accounts, keys,
// merged deltas carrying those, Durability sync) hold force while they
// commit: every sync requested meanwhile is real.
type walSyncFS struct {
	vfs.FS
	every time.Duration
	force atomic.Int32 // commits in progress that need real syncs
	syncs atomic.Int64 // real syncs of WAL files (tests and metrics)
	skips atomic.Int64 // syncs deferred
}

func newWALSyncFS(fs vfs.FS, every time.Duration) *walSyncFS {
	return &walSyncFS{FS: fs, every: every}
}

// isWAL reports whether name is a write-ahead log ("000123.log", or
// "000123-001.log" with WAL failover).
func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs *walSyncFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !isWAL(fs.PathBase(name)) {
		return f, err
	}
	return &walFile{File: f, fs: fs}, nil
}

func (fs *walSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *walSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

func (fs *walSyncFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	return fs.wrap(name, f, err)
}

func (fs *walSyncFS) Unwrap() vfs.FS { return fs.FS }

// forced runs commit with every WAL sync real.
func (fs *walSyncFS) forced(commit func() error) error {
	fs.force.Add(1)
	defer fs.force.Add(-1)
	return commit()
}

// walFile is one WAL file whose Sync and SyncData may be deferred.
type walFile struct {
	vfs.File
	fs *walSyncFS

	mu     sync.Mutex
	last   time.Time   // last real sync
	dirty  bool        // a sync was skipped since last
	timer  *time.Timer // pending trailing sync
	closed bool
	err    error // the first failed sync: sticky, as Pebble's own are
}

func (f *walFile) Sync() error     { return f.sync(f.File.Sync) }
func (f *walFile) SyncData() error { return f.sync(f.File.SyncData) }

func (f *walFile) sync(real func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	now := time.Now()
	if f.fs.force.Load() == 0 && now.Sub(f.last) < f.fs.every {
		f.fs.skips.Add(1)
		f.dirty = true
		if f.timer == nil {
			f.timer = time.AfterFunc(f.fs.every-now.Sub(f.last), f.trailing)
		}
		return nil
	}
	return f.realSync(real, now)
}

// realSync syncs; f.mu is held. A failed fsync is final: Linux may drop
// the dirty pages it could not write, so a later fsync that succeeds
// proves nothing about them.
func (f *walFile) realSync(real func() error, now time.Time) error {
	if f.err != nil {
		return f.err
	}
	if err := real(); err != nil {
		f.err = err
		return err
	}
	f.fs.syncs.Add(1)
	f.last, f.dirty = now, false
	return nil
}

// trailing makes the skipped syncs real once the interval has passed, so
// an idle ledger is on disk within one interval of its last commit.
func (f *walFile) trailing() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timer = nil
	if f.dirty && !f.closed {
		// A failure is kept in f.err and returned to the next sync Pebble
		// requests, which fails its commit.
		_ = f.realSync(f.File.SyncData, time.Now())
	}
}

func (f *walFile) Close() error {
	f.mu.Lock()
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	var err error
	if f.dirty {
		err = f.realSync(f.File.SyncData, time.Now())
	}
	f.closed = true
	f.mu.Unlock()
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}
