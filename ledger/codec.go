package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Value encodings. Every record value and wire message starts with a
// version byte; integers are varints, strings are a uvarint length then the
// bytes, times are varint Unix nanoseconds with 0 meaning the zero time.

const recordV1 byte = 1

var errBadValue = errors.New("ledger: malformed record")

func appendUvarint(dst []byte, v uint64) []byte { return binary.AppendUvarint(dst, v) }
func appendVarint(dst []byte, v int64) []byte   { return binary.AppendVarint(dst, v) }

func appendString(dst []byte, s string) []byte {
	return append(appendUvarint(dst, uint64(len(s))), s...)
}

func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return appendVarint(dst, 0)
	}
	return appendVarint(dst, t.UnixNano())
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// reader decodes values; the first error sticks and later reads return
// zero values.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errBadValue
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail()
	return false
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a uvarint element count and checks that the rest of the
// input could hold that many elements of at least minSize bytes, so a
// hostile count cannot make the decoder allocate.
func (r *reader) count(minSize int) int {
	n := r.uvarint()
	if r.err != nil {
		return 0
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(len(r.b)/minSize) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) hash() KeyHash {
	var h KeyHash
	if len(r.b) < len(h) {
		r.fail()
		return h
	}
	copy(h[:], r.b)
	r.b = r.b[len(h):]
	return h
}

func (r *reader) time() time.Time {
	ns := r.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (r *reader) version(v byte) {
	if c := r.byte(); c != v && r.err == nil {
		r.err = fmt.Errorf("ledger: unknown record version %d", c)
	}
}

// end returns the sticky error, or an error if bytes are left over.
func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errBadValue
	}
	return r.err
}

// Account is an account's replicated record: a last-writer-wins register.
// Its ID is derived from its name (see AccountID), so the same name names
// the same account on every node.
type Account struct {
	ID      string
	Name    string
	Created time.Time
	Version Version
}

func appendAccountBody(dst []byte, a *Account) []byte {
	dst = appendString(dst, a.ID)
	dst = appendString(dst, a.Name)
	dst = appendTime(dst, a.Created)
	dst = appendUvarint(dst, a.Version.HLC)
	return appendString(dst, a.Version.Node)
}

func readAccountBody(r *reader) Account {
	var a Account
	a.ID = r.str()
	a.Name = r.str()
	a.Created = r.time()
	a.Version.HLC = r.uvarint()
	a.Version.Node = r.str()
	return a
}

func encodeAccount(dst []byte, a *Account) []byte {
	return appendAccountBody(append(dst, recordV1), a)
}

func decodeAccount(b []byte) (Account, error) {
	r := reader{b: b}
	r.version(recordV1)
	a := readAccountBody(&r)
	return a, r.end()
}

const (
	keyFlagManagement = 1 << iota
	keyFlagDisabled
	keyFlagSeeded
	keyFlagDeleted
	keyFlagHasLimit
)

func appendKeyBody(dst []byte, k *Key) []byte {
	dst = append(dst, k.Hash[:]...)
	dst = appendString(dst, k.AccountID)
	dst = appendString(dst, k.Name)
	dst = appendString(dst, k.Label)
	var flags byte
	if k.Management {
		flags |= keyFlagManagement
	}
	if k.Disabled {
		flags |= keyFlagDisabled
	}
	if k.Seeded {
		flags |= keyFlagSeeded
	}
	if k.Deleted {
		flags |= keyFlagDeleted
	}
	if k.Limit != nil {
		flags |= keyFlagHasLimit
	}
	dst = append(dst, flags)
	if k.Limit != nil {
		dst = appendVarint(dst, *k.Limit)
	}
	dst = append(dst, k.LimitReset.code())
	dst = appendTime(dst, k.ExpiresAt)
	dst = appendTime(dst, k.Created)
	dst = appendTime(dst, k.Updated)
	dst = appendUvarint(dst, k.Version.HLC)
	return appendString(dst, k.Version.Node)
}

func readKeyBody(r *reader) Key {
	var k Key
	k.Hash = r.hash()
	k.AccountID = r.str()
	k.Name = r.str()
	k.Label = r.str()
	flags := r.byte()
	if flags&^(keyFlagManagement|keyFlagDisabled|keyFlagSeeded|keyFlagDeleted|keyFlagHasLimit) != 0 {
		r.fail()
	}
	k.Management = flags&keyFlagManagement != 0
	k.Disabled = flags&keyFlagDisabled != 0
	k.Seeded = flags&keyFlagSeeded != 0
	k.Deleted = flags&keyFlagDeleted != 0
	if flags&keyFlagHasLimit != 0 {
		v := r.varint()
		k.Limit = &v
	}
	lr, ok := limitResetFromCode(r.byte())
	if !ok {
		r.fail()
	}
	k.LimitReset = lr
	k.ExpiresAt = r.time()
	k.Created = r.time()
	k.Updated = r.time()
	k.Version.HLC = r.uvarint()
	k.Version.Node = r.str()
	return k
}

func encodeKey(dst []byte, k *Key) []byte {
	return appendKeyBody(append(dst, recordV1), k)
}

func decodeKey(b []byte) (Key, error) {
	r := reader{b: b}
	r.version(recordV1)
	k := readKeyBody(&r)
	return k, r.end()
}

// GrantRecord is one credit grant: an entry of the grow-only grant map,
// identified by (AccountID, IdempotencyKey).
type GrantRecord struct {
	AccountID      string
	IdempotencyKey string
	Amount         int64 // nano-USD, > 0
	Created        time.Time
	Version        Version // who granted it, when (HLC)
}

func appendGrantBody(dst []byte, g *GrantRecord) []byte {
	dst = appendString(dst, g.AccountID)
	dst = appendString(dst, g.IdempotencyKey)
	dst = appendVarint(dst, g.Amount)
	dst = appendTime(dst, g.Created)
	dst = appendUvarint(dst, g.Version.HLC)
	return appendString(dst, g.Version.Node)
}

func readGrantBody(r *reader) GrantRecord {
	var g GrantRecord
	g.AccountID = r.str()
	g.IdempotencyKey = r.str()
	g.Amount = r.varint()
	g.Created = r.time()
	g.Version.HLC = r.uvarint()
	g.Version.Node = r.str()
	return g
}

func encodeGrant(dst []byte, g *GrantRecord) []byte {
	return appendGrantBody(append(dst, recordV1), g)
}

func decodeGrant(b []byte) (GrantRecord, error) {
	r := reader{b: b}
	r.version(recordV1)
	g := readGrantBody(&r)
	return g, r.end()
}

func encodeCounter(dst []byte, v int64) []byte { return appendUvarint(dst, uint64(v)) }

func decodeCounter(b []byte) (int64, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) || v > 1<<62 {
		return 0, errBadValue
	}
	return int64(v), nil
}

// grantWins reports whether grant a beats grant b for the same idempotency
// key: the first writer (lowest version) wins, so every node picks the same
// record whatever order the two arrive in.
func grantWins(a, b *GrantRecord) bool { return a.Version.Less(b.Version) }
