package load

import (
	"errors"
	"io"
	"syscall"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The response parsing reads a few members of each chunk with gjson,
// which walks the bytes without decoding the rest and returns strings
// that point into them when no unescaping is needed: no allocation per
// event in the common case. The strings are used before the scanner's
// buffer moves on and never kept (Probe copies what it keeps).

const (
	jsonNull   = gjson.Null
	jsonNumber = gjson.Number
)

func jsonValid(b []byte) bool { return gjson.ValidBytes(b) }

func jsonGet(js, path string) gjson.Result { return gjson.Get(js, path) }

// unsafeString views b as a string; b must not change while it is used.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

var errUnexpectedEOF = io.ErrUnexpectedEOF

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
