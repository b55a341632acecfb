package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// AccountID returns the id of the account named name: "acct_" and 16 hex
// digits of SHA-256 of the name. Deriving it from the name makes every node
// agree on it, so an account created or seeded on two nodes at once is one
// account.
func AccountID(name string) string {
	sum := sha256.Sum256([]byte("tollgate/account\x00" + name))
	return "acct_" + hex.EncodeToString(sum[:8])
}

func validateName(what, s string, max int) error {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s: want 1–%d bytes of UTF-8", ErrInvalidArgument, what, max)
	}
	return nil
}

// CreateAccount creates the account named name and syncs it before
// returning. If it exists, it returns the existing account and
// ErrAccountExists.
func (l *Ledger) CreateAccount(name string) (Account, error) {
	if err := validateName("account name", name, 128); err != nil {
		return Account{}, err
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return Account{}, ErrClosed
	}
	return l.createAccountLocked(name)
}

func (l *Ledger) createAccountLocked(name string) (Account, error) {
	id := AccountID(name)
	if a := l.account(id); a != nil {
		a.mu.Lock()
		rec := a.rec
		a.mu.Unlock()
		if rec != nil {
			return *rec, ErrAccountExists
		}
	}
	now := l.cfg.Now().UTC()
	rec := &Account{ID: id, Name: name, Created: now, Version: Version{HLC: l.clock.next(), Node: l.cfg.Node}}
	b := l.db.NewBatch()
	_ = b.Set(appendAccountKey(nil, id), encodeAccount(nil, rec), nil)
	if err := l.commit(b, true); err != nil {
		return Account{}, fmt.Errorf("ledger: cannot create account %q: %w", name, err)
	}
	a := l.ensureAccount(id)
	a.mu.Lock()
	a.rec = rec
	a.recDirty = true
	l.markDirtyLocked(a)
	a.mu.Unlock()
	return *rec, nil
}

// Account returns the account with the given id.
func (l *Ledger) Account(id string) (Account, error) {
	a := l.account(id)
	if a == nil {
		return Account{}, ErrAccountNotFound
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rec == nil {
		return Account{}, ErrAccountNotFound
	}
	return *a.rec, nil
}

// AccountByName returns the account named name.
func (l *Ledger) AccountByName(name string) (Account, error) { return l.Account(AccountID(name)) }

// Accounts returns every account, sorted by name.
func (l *Ledger) Accounts() []Account {
	l.mu.RLock()
	states := make([]*accountState, 0, len(l.accounts))
	for _, a := range l.accounts {
		states = append(states, a)
	}
	l.mu.RUnlock()
	out := make([]Account, 0, len(states))
	for _, a := range states {
		a.mu.Lock()
		if a.rec != nil {
			out = append(out, *a.rec)
		}
		a.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SeedAccount is an account declared in config.
type SeedAccount struct {
	Name    string
	Credits int64 // nano-USD granted once, cluster-wide
	Keys    []SeedKey
}

// SeedKey is a key declared in config. Secret is taken as given, in any
// format; only its SHA-256 is stored.
type SeedKey struct {
	Name       string
	Secret     string
	Limit      *int64
	LimitReset LimitReset
	Management bool
}

// SeedGrantKey is the idempotency key of the grant that seeds account name.
// It derives from the name alone, so every node seeding the same config
// grants the credits once cluster-wide.
func SeedGrantKey(name string) string { return "seed:" + name }

// Seed creates the declared accounts and keys that do not exist and grants
// each account's Credits once (idempotency key SeedGrantKey). Running it
// again with the same input changes nothing. Config is authoritative for the
// fields it declares: a declared key whose name, limit, limit reset or kind
// differ from the stored record (or that was deleted) is updated. A changed
// Credits amount is not re-granted: the first seed grant stands, a warning
// is logged, and more credits go through Grant.
func (l *Ledger) Seed(accounts []SeedAccount) error {
	for _, sa := range accounts {
		if err := validateName("account name", sa.Name, 128); err != nil {
			return err
		}
		if sa.Credits < 0 {
			return fmt.Errorf("%w: account %q: negative credits", ErrInvalidAmount, sa.Name)
		}
		for _, sk := range sa.Keys {
			if sk.Secret == "" {
				return fmt.Errorf("%w: account %q: key %q has an empty secret", ErrInvalidArgument, sa.Name, sk.Name)
			}
			if err := validateKeyOptions(sk.Name, sk.Limit, sk.LimitReset); err != nil {
				return fmt.Errorf("account %q: key %q: %w", sa.Name, sk.Name, err)
			}
		}
	}
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	for _, sa := range accounts {
		acct, err := l.createAccountLocked(sa.Name)
		if err != nil && !errors.Is(err, ErrAccountExists) {
			return err
		}
		if sa.Credits > 0 {
			err := l.grantLocked(acct.ID, sa.Credits, SeedGrantKey(sa.Name))
			if errors.Is(err, ErrIdempotencyConflict) {
				l.log.Warn("seeded credits changed in config; the first seed grant stands, use a grant to add credits",
					"account", sa.Name, "credits_nano", sa.Credits)
			} else if err != nil {
				return err
			}
		}
		for _, sk := range sa.Keys {
			if err := l.seedKeyLocked(acct.ID, sk); err != nil {
				return fmt.Errorf("account %q: key %q: %w", sa.Name, sk.Name, err)
			}
		}
	}
	return nil
}

func (l *Ledger) seedKeyLocked(accountID string, sk SeedKey) error {
	h := HashSecret([]byte(sk.Secret))
	l.mu.RLock()
	ks := l.keys[h]
	l.mu.RUnlock()
	var old *Key
	if ks != nil {
		old = ks.rec.Load()
	}
	if old != nil && old.AccountID != accountID {
		return ErrKeyAccountMismatch
	}
	if old != nil && !old.Deleted && old.Name == sk.Name && old.Management == sk.Management &&
		old.LimitReset == sk.LimitReset && equalLimit(old.Limit, sk.Limit) {
		return nil
	}
	now := l.cfg.Now().UTC()
	rec := Key{
		Hash:       h,
		AccountID:  accountID,
		Name:       sk.Name,
		Label:      keyLabel(sk.Secret),
		Management: sk.Management,
		Limit:      copyLimit(sk.Limit),
		LimitReset: sk.LimitReset,
		Seeded:     true,
		Created:    now,
		Updated:    now,
	}
	if old != nil && !old.Deleted {
		rec.Created = old.Created
		rec.Disabled = old.Disabled
		rec.ExpiresAt = old.ExpiresAt
	}
	_, err := l.writeKeyLocked(rec)
	return err
}

func equalLimit(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func copyLimit(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
