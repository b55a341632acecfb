package ledger

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Key format
//
// An inference key is
//
//	sk-tg-v1-<body>
//
// and a management key is
//
//	sk-tg-mgmt-v1-<body>
//
// where body is exactly 49 characters of base62 (alphabet 0-9, A-Z, a-z, most
// significant digit first, zero-padded) encoding a 36-byte big-endian number:
// 32 bytes from crypto/rand (256 bits of entropy) followed by a 4-byte
// checksum, the first 4 bytes of SHA-256(prefix || the 32 random bytes). The
// checksum covers the prefix, so an inference key cannot be turned into a
// management key by editing the prefix, and a mistyped key is rejected
// before any lookup. Keys are stored only as SHA-256 of the whole string;
// the display label is the prefix, the first 3 and the last 3 body
// characters: "sk-tg-v1-abc…xyz". Keys declared in config may have any format
// and are also stored only as their SHA-256.
const (
	InferenceKeyPrefix  = "sk-tg-v1-"
	ManagementKeyPrefix = "sk-tg-mgmt-v1-"

	keyRandomLen   = 32
	keyChecksumLen = 4
	keyRawLen      = keyRandomLen + keyChecksumLen
	keyBodyLen     = 49 // ceil(36*8 / log2(62))
)

const base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// KeyKind says what a well-formed key may do.
type KeyKind uint8

const (
	KeyKindInference  KeyKind = 1
	KeyKindManagement KeyKind = 2
)

// KeyHash is the SHA-256 of a key's secret; it is the key's identity (the
// {hash} in /keys/{hash}, shown as lower-case hex).
type KeyHash [32]byte

// HashSecret returns the SHA-256 of secret.
func HashSecret(secret []byte) KeyHash { return sha256.Sum256(secret) }

// String returns h as lower-case hex.
func (h KeyHash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zero bytes.
func (h KeyHash) IsZero() bool { return h == KeyHash{} }

// ParseKeyHash parses 64 hex digits.
func ParseKeyHash(s string) (KeyHash, error) {
	var h KeyHash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("%w: key hash: want 64 hex digits", ErrInvalidArgument)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: key hash: %v", ErrInvalidArgument, err)
	}
	return h, nil
}

// ParseKeyFormat checks that s is a well-formed Tollgate key (prefix, body
// length, alphabet, checksum) and returns its kind. It does not look the key
// up. Keys declared in config need not pass it.
func ParseKeyFormat(s string) (KeyKind, error) {
	var kind KeyKind
	var prefix string
	switch {
	case strings.HasPrefix(s, InferenceKeyPrefix):
		kind, prefix = KeyKindInference, InferenceKeyPrefix
	case strings.HasPrefix(s, ManagementKeyPrefix):
		kind, prefix = KeyKindManagement, ManagementKeyPrefix
	default:
		return 0, fmt.Errorf("%w: unknown prefix", ErrBadKeyFormat)
	}
	body := s[len(prefix):]
	if len(body) != keyBodyLen {
		return 0, fmt.Errorf("%w: body has %d characters, want %d", ErrBadKeyFormat, len(body), keyBodyLen)
	}
	var raw [keyRawLen]byte
	if !base62Decode(raw[:], body) {
		return 0, fmt.Errorf("%w: body is not base62 of %d bytes", ErrBadKeyFormat, keyRawLen)
	}
	sum := keyChecksum(prefix, raw[:keyRandomLen])
	if [keyChecksumLen]byte(raw[keyRandomLen:]) != sum {
		return 0, fmt.Errorf("%w: checksum mismatch", ErrBadKeyFormat)
	}
	return kind, nil
}

func keyChecksum(prefix string, random []byte) [keyChecksumLen]byte {
	h := sha256.New()
	h.Write([]byte(prefix))
	h.Write(random)
	var sum [sha256.Size]byte
	return [keyChecksumLen]byte(h.Sum(sum[:0]))
}

// newSecret returns a fresh key of the given kind.
func newSecret(kind KeyKind) (string, error) {
	prefix := InferenceKeyPrefix
	if kind == KeyKindManagement {
		prefix = ManagementKeyPrefix
	}
	var raw [keyRawLen]byte
	if _, err := rand.Read(raw[:keyRandomLen]); err != nil {
		return "", fmt.Errorf("cannot read random bytes: %w", err)
	}
	sum := keyChecksum(prefix, raw[:keyRandomLen])
	copy(raw[keyRandomLen:], sum[:])
	var body [keyBodyLen]byte
	base62Encode(body[:], raw[:])
	return prefix + string(body[:]), nil
}

// keyLabel returns the display label of a secret, which reveals at most six
// characters of it.
func keyLabel(secret string) string {
	for _, p := range []string{InferenceKeyPrefix, ManagementKeyPrefix} {
		if strings.HasPrefix(secret, p) && len(secret) == len(p)+keyBodyLen {
			body := secret[len(p):]
			return p + body[:3] + "…" + body[len(body)-3:]
		}
	}
	// A key brought from elsewhere: show less of short keys.
	switch {
	case len(secret) >= 24:
		return secret[:6] + "…" + secret[len(secret)-3:]
	case len(secret) >= 8:
		return "…" + secret[len(secret)-3:]
	default:
		return "…"
	}
}

// base62Encode writes src, a big-endian number, as len(dst) base62 digits.
// dst must be long enough: 62^len(dst) > 256^len(src).
func base62Encode(dst, src []byte) {
	var num [keyRawLen]byte
	n := copy(num[:], src)
	for i := len(dst) - 1; i >= 0; i-- {
		var rem uint32
		for j := 0; j < n; j++ {
			acc := rem<<8 | uint32(num[j])
			num[j] = byte(acc / 62)
			rem = acc % 62
		}
		dst[i] = base62Alphabet[rem]
	}
}

// base62Decode parses src into dst as a big-endian number; it reports false
// for a character outside the alphabet or a value that does not fit.
func base62Decode(dst []byte, src string) bool {
	clear(dst)
	for i := 0; i < len(src); i++ {
		v := base62Value(src[i])
		if v < 0 {
			return false
		}
		carry := uint32(v)
		for j := len(dst) - 1; j >= 0; j-- {
			acc := uint32(dst[j])*62 + carry
			dst[j] = byte(acc)
			carry = acc >> 8
		}
		if carry != 0 {
			return false
		}
	}
	return true
}

func base62Value(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}
