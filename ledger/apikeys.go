package ledger

import (
	"crypto/subtle"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"
)

// Key is a key's replicated record, a last-writer-wins register. Values
// returned by the Ledger are shared snapshots: do not modify them (nor
// *Limit). A change makes a new snapshot.
type Key struct {
	Hash       KeyHash
	AccountID  string
	Name       string
	Label      string // e.g. "sk-tg-v1-abc…xyz"
	Management bool   // a provisioning key: may manage keys, may not call inference
	Limit      *int64 // nano-USD per LimitReset span; nil = unlimited
	LimitReset LimitReset
	ExpiresAt  time.Time // zero = never
	Disabled   bool
	Seeded     bool // declared in config
	Deleted    bool // tombstone: DeleteKey keeps the record so the deletion replicates
	Created    time.Time
	Updated    time.Time
	Version    Version

	st *keyState
}

// KeyOptions are the settable fields of a new key.
type KeyOptions struct {
	Name       string
	Limit      *int64 // nano-USD; nil = unlimited
	LimitReset LimitReset
	ExpiresAt  time.Time // zero = never
	Disabled   bool
	Management bool
}

// KeyPatch changes some fields of a key; nil pointers leave a field as is.
// Limit replaces the limit only when SetLimit is true (Limit nil then
// removes it), mirroring a JSON PATCH with "limit": null.
type KeyPatch struct {
	Name       *string
	Disabled   *bool
	SetLimit   bool
	Limit      *int64
	LimitReset *LimitReset
	ExpiresAt  *time.Time // pointer to the zero time removes the expiry
}

// KeyInfo is a key with its usage, as GET /key and GET /keys/{hash} show it.
type KeyInfo struct {
	Key            *Key
	Usage          int64  // nano-USD, all time
	UsageDaily     int64  // current UTC day
	UsageWeekly    int64  // current UTC week, from Monday
	UsageMonthly   int64  // current UTC month
	LimitRemaining *int64 // nil when the key has no limit; never negative
}

func validateKeyOptions(name string, limit *int64, reset LimitReset) error {
	if len(name) > 256 || !utf8.ValidString(name) {
		return fmt.Errorf("%w: key name: want at most 256 bytes of UTF-8", ErrInvalidArgument)
	}
	if limit != nil && *limit < 0 {
		return fmt.Errorf("%w: negative limit", ErrInvalidAmount)
	}
	return reset.Validate()
}

// Authenticate returns the key whose secret is secret. It hashes the secret
// and looks the hash up in memory without allocating. The lookup compares
// hashes, not secrets, so its timing reveals nothing usable about a secret;
// the final comparison is constant-time all the same.
//
// It fails with ErrKeyNotFound, ErrKeyDisabled or ErrKeyExpired. A
// management key authenticates (for the provisioning API); Reserve refuses
// it with ErrManagementKey.
func (l *Ledger) Authenticate(secret []byte) (*Key, error) {
	h := HashSecret(secret)
	l.mu.RLock()
	ks := l.keys[h]
	l.mu.RUnlock()
	if ks == nil {
		return nil, ErrKeyNotFound
	}
	k := ks.rec.Load()
	if k == nil || k.Deleted || subtle.ConstantTimeCompare(k.Hash[:], h[:]) != 1 {
		return nil, ErrKeyNotFound
	}
	if err := l.checkKeyUsable(k); err != nil {
		return nil, err
	}
	return k, nil
}

func (l *Ledger) checkKeyUsable(k *Key) error {
	if k.Deleted {
		return ErrKeyNotFound
	}
	if k.Disabled {
		return ErrKeyDisabled
	}
	if !k.ExpiresAt.IsZero() && !l.cfg.Now().Before(k.ExpiresAt) {
		return ErrKeyExpired
	}
	return nil
}

// CreateKey creates a key for account and syncs it before returning. The
// plaintext secret is returned only here; the ledger keeps its SHA-256.
func (l *Ledger) CreateKey(account string, opts KeyOptions) (string, *Key, error) {
	if err := validateKeyOptions(opts.Name, opts.Limit, opts.LimitReset); err != nil {
		return "", nil, err
	}
	kind := KeyKindInference
	if opts.Management {
		kind = KeyKindManagement
	}
	secret, err := newSecret(kind)
	if err != nil {
		return "", nil, fmt.Errorf("ledger: cannot create key: %w", err)
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return "", nil, ErrClosed
	}
	if _, err := l.Account(account); err != nil {
		return "", nil, err
	}
	now := l.cfg.Now().UTC()
	k, err := l.writeKeyLocked(Key{
		Hash:       HashSecret([]byte(secret)),
		AccountID:  account,
		Name:       opts.Name,
		Label:      keyLabel(secret),
		Management: opts.Management,
		Limit:      copyLimit(opts.Limit),
		LimitReset: opts.LimitReset,
		ExpiresAt:  opts.ExpiresAt.UTC(),
		Disabled:   opts.Disabled,
		Created:    now,
		Updated:    now,
	})
	if err != nil {
		return "", nil, err
	}
	return secret, k, nil
}

// UpdateKey applies patch to the key and syncs it before returning.
func (l *Ledger) UpdateKey(h KeyHash, patch KeyPatch) (*Key, error) {
	name := ""
	if patch.Name != nil {
		name = *patch.Name
	}
	reset := LimitResetNever
	if patch.LimitReset != nil {
		reset = *patch.LimitReset
	}
	var limit *int64
	if patch.SetLimit {
		limit = patch.Limit
	}
	if err := validateKeyOptions(name, limit, reset); err != nil {
		return nil, err
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return nil, ErrClosed
	}
	old, err := l.liveKey(h)
	if err != nil {
		return nil, err
	}
	rec := *old
	if patch.Name != nil {
		rec.Name = *patch.Name
	}
	if patch.Disabled != nil {
		rec.Disabled = *patch.Disabled
	}
	if patch.SetLimit {
		rec.Limit = copyLimit(patch.Limit)
	}
	if patch.LimitReset != nil {
		rec.LimitReset = *patch.LimitReset
	}
	if patch.ExpiresAt != nil {
		rec.ExpiresAt = patch.ExpiresAt.UTC()
		if patch.ExpiresAt.IsZero() {
			rec.ExpiresAt = time.Time{}
		}
	}
	rec.Updated = l.cfg.Now().UTC()
	return l.writeKeyLocked(rec)
}

// DeleteKey deletes the key (it stops authenticating at once) and syncs the
// deletion before returning. The record stays as a tombstone so that the
// deletion wins over older copies on other nodes.
func (l *Ledger) DeleteKey(h KeyHash) error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	old, err := l.liveKey(h)
	if err != nil {
		return err
	}
	rec := *old
	rec.Deleted = true
	rec.Updated = l.cfg.Now().UTC()
	_, err = l.writeKeyLocked(rec)
	return err
}

func (l *Ledger) liveKey(h KeyHash) (*Key, error) {
	l.mu.RLock()
	ks := l.keys[h]
	l.mu.RUnlock()
	if ks == nil {
		return nil, ErrKeyNotFound
	}
	k := ks.rec.Load()
	if k == nil || k.Deleted {
		return nil, ErrKeyNotFound
	}
	return k, nil
}

// writeKeyLocked stamps rec with a new version, syncs it and publishes it.
// The caller holds writeMu.
func (l *Ledger) writeKeyLocked(rec Key) (*Key, error) {
	rec.Version = Version{HLC: l.clock.next(), Node: l.cfg.Node}
	b := l.db.NewBatch()
	_ = b.Set(appendKeyRecKey(nil, rec.Hash), encodeKey(nil, &rec), nil)
	if err := l.commit(b, true); err != nil {
		return nil, fmt.Errorf("ledger: cannot write key %s: %w", rec.Label, err)
	}
	ks := l.ensureKey(rec.Hash, rec.AccountID)
	l.publishKey(ks, rec)
	a := ks.acct
	a.mu.Lock()
	l.markKeyDirtyLocked(ks)
	a.mu.Unlock()
	return ks.rec.Load(), nil
}

// Key returns the key with hash h and its usage.
func (l *Ledger) Key(h KeyHash) (KeyInfo, error) {
	k, err := l.liveKey(h)
	if err != nil {
		return KeyInfo{}, err
	}
	return l.KeyInfo(k), nil
}

// KeyInfo returns k's usage. k must come from this Ledger.
func (l *Ledger) KeyInfo(k *Key) KeyInfo {
	if k == nil || k.st == nil {
		return KeyInfo{Key: k}
	}
	ks := k.st
	info := KeyInfo{Key: ks.rec.Load()}
	if info.Key == nil {
		info.Key = k
	}
	ps := l.periods.at(l.cfg.Now())
	a := ks.acct
	a.mu.Lock()
	info.Usage = ks.usageInLocked(PeriodTotal, ps)
	info.UsageDaily = ks.usageInLocked(PeriodDay, ps)
	info.UsageWeekly = ks.usageInLocked(PeriodWeek, ps)
	info.UsageMonthly = ks.usageInLocked(PeriodMonth, ps)
	if lim := info.Key.Limit; lim != nil {
		rem := max(*lim-ks.usageInLocked(info.Key.LimitReset.kind(), ps), 0)
		info.LimitRemaining = &rem
	}
	a.mu.Unlock()
	return info
}

// ListKeys returns the account's keys (deleted ones excluded), oldest first.
func (l *Ledger) ListKeys(account string) ([]KeyInfo, error) {
	a := l.account(account)
	if a == nil {
		return nil, ErrAccountNotFound
	}
	a.mu.Lock()
	states := make([]*keyState, 0, len(a.keys))
	for _, ks := range a.keys {
		states = append(states, ks)
	}
	a.mu.Unlock()
	out := make([]KeyInfo, 0, len(states))
	for _, ks := range states {
		k := ks.rec.Load()
		if k == nil || k.Deleted {
			continue
		}
		out = append(out, l.KeyInfo(k))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Key.Created.Equal(out[j].Key.Created) {
			return out[i].Key.Created.Before(out[j].Key.Created)
		}
		return out[i].Key.Label < out[j].Key.Label
	})
	return out, nil
}
