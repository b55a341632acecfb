package cluster

import (
	"encoding/binary"
	"fmt"
)

// Every message this package hands to memberlist is an envelope: one type
// byte, one version byte, then the payload. Types below TypeReserved belong
// to consumers (their Channel sees the version and payload); types from
// TypeReserved up are this package's own frames, whose version byte is the
// frame format version and whose payload starts with the origin node:
//
//	broadcast, direct: origin, seq uvarint, key (1 length byte), type, version, payload
//	repair:            origin, type, version, state
//	state (push/pull): origin, count uvarint, count × (type, version, flags, length uvarint, state)
//	chunk:             origin, transfer id uvarint, index uvarint, total uvarint, bytes
//	leave:             origin, seq uvarint
//	batch:             origin, then broadcast frames, each length uvarint + frame
//
// origin is 1 length byte + name. The consumer's payload is carried as is:
// the cluster never re-encodes it.
const (
	kindBroadcast byte = 0xF0 + iota
	kindDirect
	kindState
	kindRepair
	kindChunk
	kindLeave
	kindBatch
)

// wireVersion is the frame format version.
const wireVersion = 1

// stateDeferred marks a push/pull entry whose state was too large to go
// inline: the sender ships it separately, in chunks.
const stateDeferred = 1

// frame is a decoded cluster message. Byte slices alias the decoded buffer.
type frame struct {
	kind    byte
	origin  string
	seq     uint64 // broadcast, direct, leave
	key     string // broadcast, direct
	typ     byte   // broadcast, direct, repair
	ver     byte   // broadcast, direct, repair
	payload []byte // broadcast, direct, repair, chunk
	states  []stateEntry
	batch   []frame // batch: broadcast frames of the same origin
	xfer    uint64  // chunk
	index   uint64  // chunk
	total   uint64  // chunk
}

type stateEntry struct {
	typ, ver byte
	flags    byte
	data     []byte
}

// frameHeaderLen is the size of the header appendFrame writes before the
// payload of a broadcast or direct frame.
func frameHeaderLen(origin, key string, seq uint64) int {
	var tmp [binary.MaxVarintLen64]byte
	return 2 + 1 + len(origin) + binary.PutUvarint(tmp[:], seq) + 1 + len(key) + 2
}

func (f *frame) appendBinary(dst []byte) []byte {
	dst = append(dst, f.kind, wireVersion, byte(len(f.origin)))
	dst = append(dst, f.origin...)
	switch f.kind {
	case kindBroadcast, kindDirect:
		dst = binary.AppendUvarint(dst, f.seq)
		dst = append(dst, byte(len(f.key)))
		dst = append(dst, f.key...)
		dst = append(dst, f.typ, f.ver)
		dst = append(dst, f.payload...)
	case kindRepair:
		dst = append(dst, f.typ, f.ver)
		dst = append(dst, f.payload...)
	case kindState:
		dst = binary.AppendUvarint(dst, uint64(len(f.states)))
		for _, e := range f.states {
			dst = append(dst, e.typ, e.ver, e.flags)
			dst = binary.AppendUvarint(dst, uint64(len(e.data)))
			dst = append(dst, e.data...)
		}
	case kindChunk:
		dst = binary.AppendUvarint(dst, f.xfer)
		dst = binary.AppendUvarint(dst, f.index)
		dst = binary.AppendUvarint(dst, f.total)
		dst = append(dst, f.payload...)
	case kindLeave:
		dst = binary.AppendUvarint(dst, f.seq)
	case kindBatch:
		var scratch []byte
		for i := range f.batch {
			scratch = f.batch[i].appendBinary(scratch[:0])
			dst = appendBatchEntry(dst, scratch)
		}
	default:
		panic(fmt.Sprintf("BUG: cluster: append of unknown frame kind %#x", f.kind))
	}
	return dst
}

// parseFrame decodes one message. It never panics and checks every length
// against the buffer; the result aliases b.
func parseFrame(b []byte) (frame, error) {
	var f frame
	if len(b) < 2 {
		return f, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	f.kind = b[0]
	if f.kind < kindBroadcast || f.kind > kindBatch {
		return f, fmt.Errorf("%w: frame kind %#x", ErrMalformed, f.kind)
	}
	if b[1] != wireVersion {
		return f, fmt.Errorf("%w: %d", errUnknownVersion, b[1])
	}
	r := reader{b: b[2:]}
	f.origin = r.str8()
	switch f.kind {
	case kindBroadcast, kindDirect:
		f.seq = r.uvarint()
		f.key = r.str8()
		f.typ = r.byte1()
		f.ver = r.byte1()
		f.payload = r.rest()
		if !r.err && !consumerType(f.typ) {
			return f, fmt.Errorf("%w: type %#x", ErrMalformed, f.typ)
		}
	case kindRepair:
		f.typ = r.byte1()
		f.ver = r.byte1()
		f.payload = r.rest()
		if !r.err && !consumerType(f.typ) {
			return f, fmt.Errorf("%w: type %#x", ErrMalformed, f.typ)
		}
	case kindState:
		n := r.uvarint()
		// Each entry takes at least four bytes: bound n before allocating.
		if n > uint64(len(r.b))/4 {
			return f, fmt.Errorf("%w: %d state entries in %d bytes", ErrMalformed, n, len(r.b))
		}
		f.states = make([]stateEntry, 0, n)
		for i := uint64(0); i < n && !r.err; i++ {
			var e stateEntry
			e.typ = r.byte1()
			e.ver = r.byte1()
			e.flags = r.byte1()
			e.data = r.bytes(r.uvarint())
			if !r.err && (!consumerType(e.typ) || e.flags&^stateDeferred != 0) {
				return f, fmt.Errorf("%w: state entry type %#x flags %#x", ErrMalformed, e.typ, e.flags)
			}
			f.states = append(f.states, e)
		}
		if !r.err && len(r.b) != 0 {
			return f, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
		}
	case kindChunk:
		f.xfer = r.uvarint()
		f.index = r.uvarint()
		f.total = r.uvarint()
		f.payload = r.rest()
		if !r.err && (f.total == 0 || f.index >= f.total) {
			return f, fmt.Errorf("%w: chunk %d of %d", ErrMalformed, f.index, f.total)
		}
	case kindLeave:
		f.seq = r.uvarint()
		if !r.err && len(r.b) != 0 {
			return f, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
		}
	case kindBatch:
		for len(r.b) > 0 && !r.err {
			b := r.bytes(r.uvarint())
			if r.err {
				break
			}
			if len(b) == 0 || b[0] != kindBroadcast {
				// Checked before parsing, so batches cannot nest.
				return f, fmt.Errorf("%w: batch holds a non-broadcast frame", ErrMalformed)
			}
			inner, err := parseFrame(b)
			if err != nil {
				return f, fmt.Errorf("batch: %w", err)
			}
			if inner.kind != kindBroadcast || inner.origin != f.origin {
				return f, fmt.Errorf("%w: batch holds frame %#x from %q", ErrMalformed, inner.kind, inner.origin)
			}
			f.batch = append(f.batch, inner)
		}
	}
	if r.err {
		return f, fmt.Errorf("%w: truncated frame %#x", ErrMalformed, f.kind)
	}
	if err := validateName(f.origin); err != nil {
		return f, fmt.Errorf("%w: origin: %v", ErrMalformed, err)
	}
	return f, nil
}

// appendBatchHeader starts a batch frame of origin (what appendBinary
// writes before the entries).
func appendBatchHeader(dst []byte, origin string) []byte {
	dst = append(dst, kindBatch, wireVersion, byte(len(origin)))
	return append(dst, origin...)
}

// appendBatchEntry appends one encoded broadcast frame to a batch.
func appendBatchEntry(dst, frame []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(frame)))
	return append(dst, frame...)
}

// batchEntryLen is what appendBatchEntry adds for a frame of n bytes.
func batchEntryLen(n int) int {
	var tmp [binary.MaxVarintLen64]byte
	return binary.PutUvarint(tmp[:], uint64(n)) + n
}

// consumerType reports whether t may be registered by a consumer.
func consumerType(t byte) bool { return t != 0 && t < TypeReserved }

// reader decodes without panicking: any overrun sets err and yields zero
// values.
type reader struct {
	b   []byte
	err bool
}

func (r *reader) byte1() byte {
	if len(r.b) < 1 {
		r.err = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(n uint64) []byte {
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) str8() string {
	n := r.byte1()
	return string(r.bytes(uint64(n)))
}

func (r *reader) uvarint() uint64 {
	if r.err {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) rest() []byte {
	if r.err {
		return nil
	}
	out := r.b
	r.b = nil
	return out
}
