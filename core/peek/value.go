package peek

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

var (
	errNotString = errors.New("must be a string")
	errNotBool   = errors.New("must be a boolean")
	errNotInt    = errors.New("must be an integer")
	errNotNumber = errors.New("must be a number")
	errRange     = errors.New("is out of range")
)

// KeyIs reports whether the raw (still escaped) key equals name.
func KeyIs(raw []byte, name string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	var buf [64]byte
	k, ok := unescape(buf[:0], raw)
	return ok && string(k) == name
}

// Key returns the decoded key; it aliases raw unless the key has escapes.
func Key(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	k, ok := unescape(nil, raw)
	if !ok {
		return raw
	}
	return k
}

// String decodes a JSON string value. The result aliases v unless the
// string contains escapes.
func String(v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, errNotString
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, nil
	}
	s, ok := unescape(nil, raw)
	if !ok {
		return nil, errNotString
	}
	return s, nil
}

// Bool decodes a JSON boolean.
func Bool(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errNotBool
}

// IsNull reports whether v is the JSON literal null.
func IsNull(v []byte) bool { return string(v) == "null" }

// Int decodes a JSON integer (no fraction or exponent; "8.0" is rejected,
// as OpenAI does for integer parameters).
func Int(v []byte) (int64, error) {
	if len(v) == 0 {
		return 0, errNotInt
	}
	for i, c := range v {
		if (c < '0' || c > '9') && !(i == 0 && c == '-') {
			return 0, errNotInt
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errRange
		}
		return 0, errNotInt // a lone "-"
	}
	return n, nil
}

// Float decodes a JSON number that fits a float64 (1e400 is out of range;
// a finite number is what every provider's sampling parameters take).
func Float(v []byte) (float64, error) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, errNotNumber
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errRange
		}
		return 0, errNotNumber
	}
	return f, nil
}

// unescape appends the decoded content of a raw JSON string body (no
// quotes) to dst. Invalid escapes report false.
func unescape(dst, raw []byte) ([]byte, bool) {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return dst, false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n, ok := decodeU(raw[i:])
			if !ok {
				return dst, false
			}
			dst = utf8.AppendRune(dst, r)
			i += n
			continue
		default:
			return dst, false
		}
		i += 2
	}
	return dst, true
}

// decodeU decodes \uXXXX (and a following low surrogate) at the start of b.
func decodeU(b []byte) (rune, int, bool) {
	r1, ok := hex4(b)
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r1) {
		if r2, ok := hex4(b[6:]); ok {
			if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
				return r, 12, true
			}
		}
		return utf8.RuneError, 6, true
	}
	return r1, 6, true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[2:6] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// AppendString appends s as a JSON string literal to dst (invalid UTF-8
// becomes U+FFFD).
func AppendString(dst []byte, s string) []byte { return appendJSONString(dst, s) }

// AppendStringBytes appends raw bytes as a JSON string, escaped the way
// peek.AppendString does (invalid UTF-8 becomes U+FFFD) without converting
// to a string first.
func AppendStringBytes(dst, s []byte) []byte { return appendJSONString(dst, s) }

func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			// At most 4 bytes: the conversion uses a stack buffer.
			r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hexd = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
