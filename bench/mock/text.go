package mock

import (
	"math/rand/v2"
	"strconv"
	"unicode/utf8"
)

// words are the generated tokens: short, ASCII, no character that JSON
// escapes, so they are written as they are. Token 0 is words[0]; token i>0
// is words[1+(i-1)%(len(words)-1)], which keeps the text readable and the
// same whatever the stream/non-stream mode.
var words = [...]string{
	"Mock", " reply", " from", " the", " Tollgate", " simulator", ":", " the", " quick", " brown",
	" fox", " jumps", " over", " the", " lazy", " dog", ",", " and", " every", " token",
	" is", " one", " short", " word", " so", " counts", " stay", " exact", " in", " tests", ".",
}

// filler pads tokens when ResponseBytes is set.
const filler = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789"

func word(i int) string {
	if i == 0 {
		return words[0]
	}
	return words[1+(i-1)%(len(words)-1)]
}

// textGen renders the content tokens of one response.
type textGen struct {
	pad int // filler bytes after each word
}

func newTextGen(responseBytes, tokens int) textGen {
	if responseBytes <= 0 || tokens <= 0 {
		return textGen{}
	}
	per := (responseBytes + tokens - 1) / tokens
	// An average word is about five bytes; the filler makes up the rest.
	return textGen{pad: max(per-5, 0)}
}

// appendToken appends token i.
func (g textGen) appendToken(dst []byte, i int) []byte {
	dst = append(dst, word(i)...)
	for p := g.pad; p > 0; {
		n := min(p, len(filler))
		dst = append(dst, filler[:n]...)
		p -= n
	}
	return dst
}

// appendText appends tokens [0, n).
func (g textGen) appendText(dst []byte, n int) []byte {
	for i := 0; i < n; i++ {
		dst = g.appendToken(dst, i)
	}
	return dst
}

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendID appends n random base-62 characters. math/rand/v2's global
// source is per-thread and does not allocate.
func appendID(dst []byte, n int) []byte {
	for n > 0 {
		r := rand.Uint64()
		for k := 0; k < 10 && n > 0; k++ {
			dst = append(dst, idAlphabet[r%62])
			r /= 62
			n--
		}
	}
	return dst
}

// appendJSONString appends s as the contents of a JSON string (without the
// quotes), escaping what JSON requires. Invalid UTF-8 becomes U+FFFD.
func appendJSONString[T ~string | ~[]byte](dst []byte, s T) []byte {
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
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
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

func appendInt(dst []byte, n int) []byte {
	return strconv.AppendInt(dst, int64(n), 10)
}
