// Package catalogstore persists the runtime catalog changes of a node (the
// last-writer-wins routing.CatalogRecords that the admin catalog API and
// gossip produce) in a local Pebble store, so they survive restarts. On
// start the records are replayed over the config catalog with
// routing.Router.ApplyAll. Imported by core and cmd.
package catalogstore

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tollgate/tollgate/routing"
)

// Store is a Pebble database of catalog records keyed by (kind, key).
type Store struct {
	db *pebble.DB
}

const prefix = 'c'

// Open opens (creating) the store in dir. fs may be nil (the OS file
// system); tests pass vfs.NewMem().
func Open(dir string, fs vfs.FS) (*Store, error) {
	opts := &pebble.Options{Logger: quietLogger{}}
	if fs != nil {
		opts.FS = fs
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot open catalog store %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

func key(rec *routing.CatalogRecord) []byte {
	k := make([]byte, 0, 2+len(rec.Key))
	k = append(k, prefix, byte(rec.Kind))
	return append(k, rec.Key...)
}

// Put stores records (each replacing the stored one of its kind and key)
// and syncs before returning: an acknowledged catalog change survives a
// crash.
func (s *Store) Put(recs ...routing.CatalogRecord) error {
	b := s.db.NewBatch()
	defer b.Close()
	for i := range recs {
		if err := b.Set(key(&recs[i]), recs[i].Marshal(), nil); err != nil {
			return fmt.Errorf("cannot store catalog record: %w", err)
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("cannot commit catalog records: %w", err)
	}
	return nil
}

// Load returns every stored record.
func (s *Store) Load() ([]routing.CatalogRecord, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []routing.CatalogRecord
	var errs []error
	for it.First(); it.Valid(); it.Next() {
		rec, err := routing.UnmarshalCatalogRecord(it.Value())
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog record %q: %w", it.Key(), err))
			continue
		}
		out = append(out, rec)
	}
	return out, errors.Join(errs...)
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("BUG: pebble fatal: "+format, args...))
}
