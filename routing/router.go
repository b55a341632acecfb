package routing

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Router holds the current catalog snapshot and the live statistics. All
// methods are safe for concurrent use.
type Router struct {
	cfg  Config
	now  func() time.Time
	snap atomic.Pointer[Snapshot]
	rnd  atomic.Uint64

	// mu serialises catalog changes (Update, Apply); the hot path never
	// takes it.
	mu         sync.Mutex
	version    uint64
	maxVersion uint64
	stats      map[string]*epStats
	base       Catalog
	records    map[recordKey]CatalogRecord
	// hints holds the peers' health summaries by endpoint key, then by
	// source node (see hint.go).
	hints map[string]map[string]sourceHint
}

// New returns a router over cat. now is the clock (time.Now in production);
// seed seeds the weighted choice.
func New(cfg Config, cat Catalog, now func() time.Time, seed uint64) (*Router, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if now == nil {
		return nil, fmt.Errorf("routing: nil clock")
	}
	r := &Router{cfg: cfg, now: now, stats: make(map[string]*epStats), records: make(map[recordKey]CatalogRecord)}
	r.rnd.Store(seed)
	if err := r.Update(cat); err != nil {
		return nil, err
	}
	return r, nil
}

// Config returns the effective configuration.
func (r *Router) Config() Config { return r.cfg }

// Update replaces the configured catalog atomically; applied records keep
// overlaying it. Statistics of endpoints whose key (provider/model) still
// exists are kept; those of removed endpoints are dropped.
func (r *Router) Update(cat Catalog) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Validate the configured catalog on its own so a bad config is
	// reported as such, not as an overlay problem.
	if _, err := buildSnapshot(cat, 0, func(string) *epStats { return nil }); err != nil {
		return err
	}
	old := r.base
	r.base = cat
	if err := r.rebuild(); err != nil {
		r.base = old
		return err
	}
	return nil
}

// rebuild publishes a snapshot of base overlaid with the records. r.mu held.
func (r *Router) rebuild() error {
	eff := overlay(r.base, r.records)
	used := make(map[string]*epStats, len(r.stats))
	s, err := buildSnapshot(eff, r.version+1, func(key string) *epStats {
		st, ok := r.stats[key]
		if !ok {
			st = &epStats{}
		}
		used[key] = st
		return st
	})
	if err != nil {
		return err
	}
	r.version++
	r.stats = used
	r.snap.Store(s)
	return nil
}

// Snapshot returns the current catalog snapshot.
func (r *Router) Snapshot() *Snapshot { return r.snap.Load() }
