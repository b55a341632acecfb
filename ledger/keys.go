package ledger

// This file is the only place that knows how Pebble keys are laid out.
//
// Every key starts with one prefix byte naming the record type. The
// components after it are order-preserving, so a prefix scan returns records
// sorted by their components:
//
//   - strings and byte strings: each 0x00 byte is escaped as 0x00 0xFF and
//     the string is terminated by 0x00 0x01, so "a" < "a\x00" < "ab" holds
//     for the encodings as for the strings, and no string is a prefix of
//     another's encoding;
//   - uint64: 8 bytes big-endian;
//   - int64: 8 bytes big-endian with the sign bit flipped;
//   - key hashes: the 32 raw bytes.
//
// Layout (| separates components):
//
//	0x00 generation | node | rest of the generation id              → generation record
//	0x01 meta       | name (raw ASCII)                             → value by name
//	0x02 account    | account id                                   → account record
//	0x03 key        | hash                                         → key record
//	0x04 grant      | account id | idempotency key                 → grant record
//	0x05 spend      | account id | node | epoch                     → uvarint nano-USD
//	0x06 key usage  | hash | node | epoch | period kind | index     → uvarint nano-USD
//	0x07 generation (old layout, read and pruned, no longer written)
//	     generation id                                             → generation record
//	0x08 gen time (old layout index of 0x07, pruned)
//	     created (int64 ns) | generation id                        → empty
//	0x09 rollup     | granularity | account id | bucket (int64 s) |
//	                  family | dimension values…                   → rollup value (merge operand)
//
// Generation records are most of what the hot path writes (one per
// request) and they are append-only: a node's ids grow with time (see
// NewGenerationID), so keyed by node then the id's time-ordered rest they
// need no second time index, pruning walks each node's oldest records
// only, and they sort below every other record. That last point keeps
// compaction cheap: each flushed table spans from its oldest new
// generation to the small counters and rollups written in the same
// batches, a range that holds no older generations. (Under the old layout
// the generations sat between the counters and the rollups, so every
// flushed table overlapped all of them and every L0 compaction rewrote
// them again.)

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"strings"
)

const (
	prefixGeneration   byte = 0x00
	prefixMeta         byte = 0x01
	prefixAccount      byte = 0x02
	prefixKey          byte = 0x03
	prefixGrant        byte = 0x04
	prefixSpend        byte = 0x05
	prefixKeyUsage     byte = 0x06
	prefixGenerationV0 byte = 0x07
	prefixGenTimeV0    byte = 0x08
	prefixRollup       byte = 0x09
)

// Meta record names.
const metaEpoch = "epoch"

// Rollup families: base rows carry every dimension but tag and count each
// request once; tag rows repeat the request once per tag.
const (
	familyBase byte = 0
	familyTag  byte = 1
)

var errBadKey = errors.New("ledger: malformed storage key")

// appendStr appends the order-preserving encoding of s.
func appendStr(dst []byte, s string) []byte {
	if strings.IndexByte(s, 0) < 0 {
		return append(append(dst, s...), 0, 1)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0, 0xFF)
		} else {
			dst = append(dst, s[i])
		}
	}
	return append(dst, 0, 1)
}

// appendBytesStr is appendStr for a byte slice.
func appendBytesStr(dst, s []byte) []byte {
	if bytes.IndexByte(s, 0) < 0 {
		return append(append(dst, s...), 0, 1)
	}
	for _, c := range s {
		if c == 0 {
			dst = append(dst, 0, 0xFF)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, 0, 1)
}

// decodeStr decodes one string component and returns it with the rest.
func decodeStr(b []byte) (string, []byte, error) {
	// Fast path: no escaped zero bytes.
	i := bytes.IndexByte(b, 0)
	if i < 0 || i+1 >= len(b) {
		return "", nil, errBadKey
	}
	if b[i+1] == 1 {
		return string(b[:i]), b[i+2:], nil
	}
	out := make([]byte, 0, len(b))
	for {
		i = bytes.IndexByte(b, 0)
		if i < 0 || i+1 >= len(b) {
			return "", nil, errBadKey
		}
		out = append(out, b[:i]...)
		switch b[i+1] {
		case 1:
			return string(out), b[i+2:], nil
		case 0xFF:
			out = append(out, 0)
			b = b[i+2:]
		default:
			return "", nil, errBadKey
		}
	}
}

func appendU64(dst []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(dst, v) }

func appendI64(dst []byte, v int64) []byte { return appendU64(dst, uint64(v)^(1<<63)) }

func decodeU64(b []byte) (uint64, []byte, error) {
	if len(b) < 8 {
		return 0, nil, errBadKey
	}
	return binary.BigEndian.Uint64(b), b[8:], nil
}

func decodeI64(b []byte) (int64, []byte, error) {
	v, rest, err := decodeU64(b)
	return int64(v ^ (1 << 63)), rest, err
}

func decodeHash(b []byte) (KeyHash, []byte, error) {
	var h KeyHash
	if len(b) < len(h) {
		return h, nil, errBadKey
	}
	copy(h[:], b)
	return h, b[len(h):], nil
}

func checkPrefix(b []byte, p byte) ([]byte, error) {
	if len(b) == 0 || b[0] != p {
		return nil, errBadKey
	}
	return b[1:], nil
}

// prefixEnd returns the smallest key greater than every key that starts with
// p, for use as an exclusive upper bound.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xFF: no upper bound
}

func metaKey(name string) []byte { return append([]byte{prefixMeta}, name...) }

func appendAccountKey(dst []byte, id string) []byte {
	return appendStr(append(dst, prefixAccount), id)
}

func decodeAccountKey(b []byte) (string, error) {
	b, err := checkPrefix(b, prefixAccount)
	if err != nil {
		return "", err
	}
	id, rest, err := decodeStr(b)
	if err == nil && len(rest) != 0 {
		err = errBadKey
	}
	return id, err
}

func appendKeyRecKey(dst []byte, h KeyHash) []byte {
	return append(append(dst, prefixKey), h[:]...)
}

func decodeKeyRecKey(b []byte) (KeyHash, error) {
	b, err := checkPrefix(b, prefixKey)
	if err != nil {
		return KeyHash{}, err
	}
	h, rest, err := decodeHash(b)
	if err == nil && len(rest) != 0 {
		err = errBadKey
	}
	return h, err
}

func appendGrantKey(dst []byte, account, idem string) []byte {
	return appendStr(appendStr(append(dst, prefixGrant), account), idem)
}

func decodeGrantKey(b []byte) (account, idem string, err error) {
	if b, err = checkPrefix(b, prefixGrant); err != nil {
		return "", "", err
	}
	if account, b, err = decodeStr(b); err != nil {
		return "", "", err
	}
	if idem, b, err = decodeStr(b); err != nil {
		return "", "", err
	}
	if len(b) != 0 {
		return "", "", errBadKey
	}
	return account, idem, nil
}

func appendSpendKey(dst []byte, account, node string, epoch uint64) []byte {
	return appendU64(appendStr(appendStr(append(dst, prefixSpend), account), node), epoch)
}

func decodeSpendKey(b []byte) (account string, ne nodeEpoch, err error) {
	if b, err = checkPrefix(b, prefixSpend); err != nil {
		return "", ne, err
	}
	if account, b, err = decodeStr(b); err != nil {
		return "", ne, err
	}
	if ne.node, b, err = decodeStr(b); err != nil {
		return "", ne, err
	}
	if ne.epoch, b, err = decodeU64(b); err != nil {
		return "", ne, err
	}
	if len(b) != 0 {
		return "", ne, errBadKey
	}
	return account, ne, nil
}

func appendUsageKey(dst []byte, h KeyHash, node string, epoch uint64, p Period) []byte {
	dst = appendStr(append(append(dst, prefixKeyUsage), h[:]...), node)
	dst = appendU64(dst, epoch)
	return appendI64(append(dst, byte(p.Kind)), p.Index)
}

func decodeUsageKey(b []byte) (h KeyHash, ne nodeEpoch, p Period, err error) {
	if b, err = checkPrefix(b, prefixKeyUsage); err != nil {
		return h, ne, p, err
	}
	if h, b, err = decodeHash(b); err != nil {
		return h, ne, p, err
	}
	if ne.node, b, err = decodeStr(b); err != nil {
		return h, ne, p, err
	}
	if ne.epoch, b, err = decodeU64(b); err != nil {
		return h, ne, p, err
	}
	if len(b) < 1 {
		return h, ne, p, errBadKey
	}
	p.Kind = PeriodKind(b[0])
	if p.Index, b, err = decodeI64(b[1:]); err != nil {
		return h, ne, p, err
	}
	if len(b) != 0 {
		return h, ne, p, errBadKey
	}
	return h, ne, p, nil
}

// appendGenerationKey appends the key of generation id. An id made by
// NewGenerationID is keyed by its node (GenerationNode), then its
// time-ordered rest, so a node's keys are in time order; an id of any
// other form is keyed whole under node "", in no time order.
func appendGenerationKey(dst []byte, id string) []byte {
	node, rest := splitGenerationID(id)
	return appendStr(appendStr(append(dst, prefixGeneration), node), rest)
}

// appendGenerationNodeKey appends the first key of node's generations.
func appendGenerationNodeKey(dst []byte, node string) []byte {
	return appendStr(append(dst, prefixGeneration), node)
}

func decodeGenerationKey(b []byte) (node, rest string, err error) {
	if b, err = checkPrefix(b, prefixGeneration); err != nil {
		return "", "", err
	}
	if node, b, err = decodeStr(b); err != nil {
		return "", "", err
	}
	if rest, b, err = decodeStr(b); err != nil {
		return "", "", err
	}
	if len(b) != 0 {
		return "", "", errBadKey
	}
	return node, rest, nil
}

// splitGenerationID splits an id made by NewGenerationID into its node and
// rest; any other id is all rest, under node "".
func splitGenerationID(id string) (node, rest string) {
	if node = GenerationNode(id); node != "" {
		rest = id[len("gen-")+len(node)+1:]
		if _, ok := generationIDTime(rest); ok {
			return node, rest
		}
	}
	return "", id
}

// generationIDTime returns the Unix milliseconds in the rest of an id made
// by NewGenerationID (genBodyLen base62 digits of a 96-bit number whose
// top 48 bits are the time); ok is false for anything else.
func generationIDTime(rest string) (ms int64, ok bool) {
	if len(rest) != genBodyLen {
		return 0, false
	}
	var hi, lo uint64 // the number: hi holds the bits above 64
	for i := 0; i < len(rest); i++ {
		v := base62Value(rest[i])
		if v < 0 {
			return 0, false
		}
		carry, l := bits.Mul64(lo, 62)
		var c uint64
		lo, c = bits.Add64(l, uint64(v), 0)
		hi = hi*62 + carry + c
		if hi >= 1<<32 {
			return 0, false // more than 96 bits
		}
	}
	return int64(hi<<16 | lo>>48), true
}

func appendGenerationKeyV0(dst []byte, id string) []byte {
	return appendStr(append(dst, prefixGenerationV0), id)
}

func appendGenTimeKeyV0(dst []byte, createdNanos int64, id string) []byte {
	return appendStr(appendI64(append(dst, prefixGenTimeV0), createdNanos), id)
}

func decodeGenTimeKeyV0(b []byte) (createdNanos int64, id string, err error) {
	if b, err = checkPrefix(b, prefixGenTimeV0); err != nil {
		return 0, "", err
	}
	if createdNanos, b, err = decodeI64(b); err != nil {
		return 0, "", err
	}
	if id, b, err = decodeStr(b); err != nil {
		return 0, "", err
	}
	if len(b) != 0 {
		return 0, "", errBadKey
	}
	return createdNanos, id, nil
}

// rollupDims are the dimension values stored in a rollup key, in key order.
// Key is the raw 32-byte key hash (empty when unknown).
type rollupDims struct {
	Key, Model, Provider, App, User, APIPath, Region, Tag string
}

// appendRollupPrefix encodes the key up to and including the bucket.
func appendRollupPrefix(dst []byte, gran Granularity, account string, bucket int64) []byte {
	return appendI64(appendStr(append(dst, prefixRollup, byte(gran)), account), bucket)
}

func appendRollupKey(dst []byte, gran Granularity, account string, bucket int64, family byte, d *rollupDims) []byte {
	return appendRollupKeyParts(dst, gran, account, bucket, family, []byte(d.Key),
		d.Model, d.Provider, d.App, d.User, d.APIPath, d.Region, d.Tag)
}

// appendRollupKeyParts is appendRollupKey for the writer's hot loop: it
// takes the key hash as bytes so that nothing is allocated. tag is ignored
// for the base family.
func appendRollupKeyParts(dst []byte, gran Granularity, account string, bucket int64, family byte,
	keyHash []byte, model, provider, app, user, apiPath, region, tag string) []byte {
	dst = append(appendRollupPrefix(dst, gran, account, bucket), family)
	dst = appendBytesStr(dst, keyHash)
	dst = appendStr(dst, model)
	dst = appendStr(dst, provider)
	dst = appendStr(dst, app)
	dst = appendStr(dst, user)
	dst = appendStr(dst, apiPath)
	dst = appendStr(dst, region)
	if family == familyTag {
		dst = appendStr(dst, tag)
	}
	return dst
}

func decodeRollupKey(b []byte) (gran Granularity, account string, bucket int64, family byte, d rollupDims, err error) {
	if b, err = checkPrefix(b, prefixRollup); err != nil {
		return
	}
	if len(b) < 1 {
		err = errBadKey
		return
	}
	gran = Granularity(b[0])
	if account, b, err = decodeStr(b[1:]); err != nil {
		return
	}
	if bucket, b, err = decodeI64(b); err != nil {
		return
	}
	if len(b) < 1 {
		err = errBadKey
		return
	}
	family = b[0]
	b = b[1:]
	fields := []*string{&d.Key, &d.Model, &d.Provider, &d.App, &d.User, &d.APIPath, &d.Region}
	if family == familyTag {
		fields = append(fields, &d.Tag)
	} else if family != familyBase {
		err = errBadKey
		return
	}
	for _, f := range fields {
		if *f, b, err = decodeStr(b); err != nil {
			return
		}
	}
	if len(b) != 0 {
		err = errBadKey
	}
	return
}
