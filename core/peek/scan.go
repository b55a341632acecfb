// Package peek reads the few fields the gateway needs from raw JSON bodies
// without decoding them, and splices edited bodies back together.
//
// The gateway forwards a client's body byte for byte when the upstream
// speaks the same protocol (an explicit "temperature": 0 must arrive
// unchanged), so it never decodes and re-encodes the whole document.
// Instead the scanner here validates the body strictly (RFC 8259, valid
// UTF-8, bounded nesting) and reports the byte offsets of top-level members.
//
// Nothing here allocates on the happy path; returned slices alias the input.
// The package is imported by core and its sub-packages only.
package peek

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// MaxDepth bounds nesting of arrays and objects; deeper documents are
// rejected so a hostile body cannot exhaust the stack of a later decoder.
const MaxDepth = 128

// SyntaxError describes why a body is not acceptable JSON.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

func syntaxErr(off int, msg string) error { return &SyntaxError{Offset: off, Msg: msg} }

// ErrNotObject is returned when a body is valid JSON but not an object.
var ErrNotObject = errors.New("peek: JSON body must be an object")

// SkipSpace returns the offset of the first byte at or after i in JSON
// text b that is not whitespace (len(b) if there is none).
func SkipSpace(b []byte, i int) int { return skipWS(b, i) }

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// SkipValue validates the JSON value starting at b[i] (after optional
// whitespace) and returns the offset just past it.
func SkipValue(b []byte, i int) (int, error) {
	return skipValue(b, skipWS(b, i), 0)
}

func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return i, syntaxErr(i, "unexpected end of input")
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		return skipObject(b, i, depth+1)
	case c == '[':
		return skipArray(b, i, depth+1)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	default:
		return i, syntaxErr(i, fmt.Sprintf("unexpected character %q", c))
	}
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, syntaxErr(i, "invalid literal")
	}
	return i + len(lit), nil
}

func skipNumber(b []byte, i int) (int, error) {
	start := i
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, syntaxErr(start, "invalid number")
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return i, syntaxErr(start, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, syntaxErr(start, "invalid number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return i, syntaxErr(start, "invalid number")
		}
	}
	return i, nil
}

// skipString validates a string starting at the opening quote b[i].
//
// Plain ASCII is skipped eight bytes at a time (plainRun); only quotes,
// backslashes, control characters and non-ASCII bytes take the slow path.
// Prompts are long strings, so this loop is most of the cost of peeking a
// request and of rewriting a response.
func skipString(b []byte, i int) (int, error) {
	start := i
	i++
	for {
		i = plainRun(b, i)
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if i+1 >= len(b) {
				return i, syntaxErr(start, "unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, syntaxErr(i, "invalid \\u escape")
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						return i, syntaxErr(i, "invalid \\u escape")
					}
				}
				i += 6
			default:
				return i, syntaxErr(i, "invalid escape")
			}
		case c < 0x20:
			return i, syntaxErr(i, "control character in string")
		case c < utf8.RuneSelf:
			i++ // unreachable: plainRun stops only at special bytes
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return i, syntaxErr(i, "invalid UTF-8 in string")
			}
			i += size
		}
	}
	return i, syntaxErr(start, "unterminated string")
}

const (
	swarOnes = 0x0101010101010101
	swarHigh = 0x8080808080808080
)

// plainRun returns the offset of the first byte at or after i that needs
// a look inside a JSON string: '"', '\\', a control character or a
// non-ASCII byte (len(b) if none). It tests eight bytes per step (SWAR):
// a byte of x is flagged when it equals '"' or '\\' (a zero byte of x
// XOR the pattern), is below 0x20, or has its high bit set. The borrow
// tricks can flag false positives only above a true one, so the lowest
// flagged byte is always the first special byte.
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (swarOnes * '"')
		s := x ^ (swarOnes * '\\')
		m := ((q - swarOnes) &^ q) | ((s - swarOnes) &^ s) | ((x - swarOnes*0x20) &^ x) | x
		if m &= swarHigh; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func skipObject(b []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, syntaxErr(i, "nesting too deep")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxErr(i, "expected object key")
		}
		var err error
		if i, err = skipString(b, i); err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxErr(i, "expected ':'")
		}
		if i, err = skipValue(b, skipWS(b, i+1), depth); err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated object")
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return i, syntaxErr(i, "expected ',' or '}'")
		}
		i = skipWS(b, i+1)
	}
}

func skipArray(b []byte, i, depth int) (int, error) {
	if depth > MaxDepth {
		return i, syntaxErr(i, "nesting too deep")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		var err error
		if i, err = skipValue(b, i, depth); err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated array")
		}
		if b[i] == ']' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return i, syntaxErr(i, "expected ',' or ']'")
		}
		i = skipWS(b, i+1)
	}
}

// Member is one top-level member of an object: Key is the raw key without
// quotes (escapes not decoded), Value the raw value, and Start/End the byte
// range of the whole `"key": value` text in the input.
type Member struct {
	Key        []byte
	Value      []byte
	Start, End int
}

// Members calls fn for each member of the object b, validating the whole
// object strictly. fn returning an error stops the walk with that error.
// The object must be the only value in b (surrounding whitespace allowed).
//
// m is passed by value: a pointer handed to a func value escapes, which
// cost one heap allocation per walked object on the streaming hot path.
func Members(b []byte, fn func(m Member) error) error {
	i := skipWS(b, 0)
	if i >= len(b) {
		return syntaxErr(i, "empty body")
	}
	if b[i] != '{' {
		if _, err := skipValue(b, i, 0); err != nil {
			return err
		}
		return ErrNotObject
	}
	end, err := walkObject(b, i, fn)
	if err != nil {
		return err
	}
	if j := skipWS(b, end); j != len(b) {
		return syntaxErr(j, "trailing data after JSON value")
	}
	return nil
}

// MembersAt walks the object value that starts at b[i], like Members, and
// returns the offset just past it. Trailing bytes are the caller's concern.
func MembersAt(b []byte, i int, fn func(m Member) error) (int, error) {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '{' {
		return i, ErrNotObject
	}
	return walkObject(b, i, fn)
}

func walkObject(b []byte, i int, fn func(m Member) error) (int, error) {
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxErr(i, "expected object key")
		}
		ks := i
		ke, err := skipString(b, i)
		if err != nil {
			return ke, err
		}
		i = skipWS(b, ke)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxErr(i, "expected ':'")
		}
		vs := skipWS(b, i+1)
		ve, err := skipValue(b, vs, 1)
		if err != nil {
			return ve, err
		}
		if err := fn(Member{Key: b[ks+1 : ke-1], Value: b[vs:ve], Start: ks, End: ve}); err != nil {
			return ve, err
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return i, syntaxErr(i, "unterminated object")
		}
		if b[i] == '}' {
			return i + 1, nil
		}
		if b[i] != ',' {
			return i, syntaxErr(i, "expected ',' or '}'")
		}
		i = skipWS(b, i+1)
	}
}

// Elements calls fn for each element of the array value b.
func Elements(b []byte, fn func(v []byte) error) error {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return syntaxErr(i, "expected array")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil
	}
	for {
		vs := i
		ve, err := skipValue(b, i, 1)
		if err != nil {
			return err
		}
		if err := fn(b[vs:ve]); err != nil {
			return err
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return syntaxErr(i, "unterminated array")
		}
		if b[i] == ']' {
			return nil
		}
		if b[i] != ',' {
			return syntaxErr(i, "expected ',' or ']'")
		}
		i = skipWS(b, i+1)
	}
}
