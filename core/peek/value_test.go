package peek

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	f := func(v, want string) {
		t.Helper()
		got, err := String([]byte(v))
		if err != nil {
			t.Fatalf("String(%s): unexpected error: %v", v, err)
		}
		if string(got) != want {
			t.Fatalf("String(%s) = %q, want %q", v, got, want)
		}
		// encoding/json agrees on every valid string literal.
		var ref string
		if err := json.Unmarshal([]byte(v), &ref); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", v, err)
		}
		if ref != want {
			t.Fatalf("encoding/json decodes %s to %q, String to %q", v, ref, got)
		}
	}
	f(`""`, "")
	f(`"abc"`, "abc")
	f(`"a\"b\\c\/d"`, `a"b\c/d`)
	f(`"\b\f\n\r\t"`, "\b\f\n\r\t")
	f(`"\u0000"`, "\x00")
	f(`"\u00e9\u00E9"`, "éé")
	f(`"\u20ac"`, "€")
	f(`"\uffff"`, "\uffff")
	f(`"\ufffd"`, "\ufffd")
	f(`"caf`+"\u00e9"+`"`, "café")
	// Surrogate pairs, and lone or mismatched halves (U+FFFD each).
	f(`"\ud83d\ude00"`, "😀")
	f(`"\uD83D\uDE00!"`, "😀!")
	f(`"\udbff\udfff"`, "\U0010ffff")
	f(`"\ud800"`, "\ufffd")
	f(`"\udc00"`, "\ufffd")
	f(`"\ud800x"`, "\ufffdx")
	f(`"\ud800\u0041"`, "\ufffdA")
	f(`"\ud800\ud800"`, "\ufffd\ufffd")
	f(`"\udc00\ud800"`, "\ufffd\ufffd")
	f(`"\ud83d\ude00\ud83d"`, "😀\ufffd")
	f(`"\ud800\n"`, "\ufffd\n")

	// Not strings, or broken escapes (String is also handed unvalidated
	// values by callers that tolerate garbage).
	bad := func(v string) {
		t.Helper()
		if got, err := String([]byte(v)); err == nil {
			t.Fatalf("String(%q) = %q, want an error", v, got)
		}
	}
	bad(``)
	bad(`"`)
	bad(`"\"`)
	bad(`"abc`)
	bad(`abc"`)
	bad(`1`)
	bad(`null`)
	bad(`["a"]`)
	bad(`"\x"`)
	bad(`"\u12"`)
	bad(`"\u12G4"`)
	bad(`"a\`)
}

func TestStringAliases(t *testing.T) {
	v := []byte(`"plain"`)
	s, err := String(v)
	if err != nil || &s[0] != &v[1] {
		t.Fatalf("String of an unescaped string must alias its input")
	}
}

func TestInt(t *testing.T) {
	f := func(v string, want int64) {
		t.Helper()
		got, err := Int([]byte(v))
		if err != nil || got != want {
			t.Fatalf("Int(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	f("0", 0)
	f("-0", 0)
	f("7", 7)
	f("-7", -7)
	f("2147483648", 1<<31)
	f("9223372036854775807", 1<<63-1)
	f("-9223372036854775808", -1<<63)

	bad := func(v string, wantErr error) {
		t.Helper()
		got, err := Int([]byte(v))
		if err != wantErr {
			t.Fatalf("Int(%q) = %d, %v; want error %v", v, got, err, wantErr)
		}
	}
	bad("9223372036854775808", errRange)
	bad("-9223372036854775809", errRange)
	bad(strings.Repeat("9", 1000), errRange)
	bad("", errNotInt)
	bad("-", errNotInt)
	bad("--1", errNotInt)
	bad("+1", errNotInt)
	bad("1-", errNotInt)
	bad("1.0", errNotInt)
	bad("8.5", errNotInt)
	bad("1e3", errNotInt)
	bad("1E3", errNotInt)
	bad(" 1", errNotInt)
	bad("1 ", errNotInt)
	bad("0x10", errNotInt)
	bad(`"1"`, errNotInt)
	bad("true", errNotInt)
	bad("null", errNotInt)
}

func TestBoolNull(t *testing.T) {
	for v, want := range map[string]bool{"true": true, "false": false} {
		if got, err := Bool([]byte(v)); err != nil || got != want {
			t.Fatalf("Bool(%s) = %v, %v", v, got, err)
		}
	}
	for _, v := range []string{"", "True", "1", "0", `"true"`, "null", "true ", "falsey"} {
		if _, err := Bool([]byte(v)); err != errNotBool {
			t.Fatalf("Bool(%q): got %v, want %v", v, err, errNotBool)
		}
	}
	if !IsNull([]byte("null")) || IsNull([]byte("nul")) || IsNull([]byte(`"null"`)) || IsNull(nil) {
		t.Fatalf("IsNull is wrong")
	}
}

func TestKeyIs(t *testing.T) {
	f := func(raw, name string, want bool) {
		t.Helper()
		if got := KeyIs([]byte(raw), name); got != want {
			t.Fatalf("KeyIs(%q, %q) = %v, want %v", raw, name, got, want)
		}
	}
	f(`model`, "model", true)
	f(`mod\u0065l`, "model", true)
	f(`\u006D\u006f\u0064\u0065\u006C`, "model", true)
	f(`mod\/el`, "mod/el", true)
	f(`model`, "Model", false)
	f(`mod\u0065l`, "mod\\u0065l", false)
	f(``, "", true)
	f(`a\"b`, `a"b`, true)
	f(`\ud83d\ude00`, "😀", true)
	f(`\ud800`, "\ufffd", true)
	f(`a\x`, "ax", false)
	// Longer than the stack buffer.
	long := strings.Repeat("x", 100)
	f(strings.Repeat("x", 99)+`\u0078`, long, true)
	f(strings.Repeat("x", 99)+`\u0079`, long, false)
}

func TestKey(t *testing.T) {
	f := func(raw, want string) {
		t.Helper()
		if got := Key([]byte(raw)); string(got) != want {
			t.Fatalf("Key(%q) = %q, want %q", raw, got, want)
		}
	}
	f(`model`, "model")
	f(`mod\u0065l`, "model")
	f(`t\tab`, "t\tab")
	f(`a\x`, `a\x`) // undecodable: returned raw
}

func TestAppendString(t *testing.T) {
	f := func(s, want string) {
		t.Helper()
		got := string(AppendString([]byte("x"), s))
		if got != "x"+want {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got[1:], want)
		}
		checkAppendStringRoundTrip(t, s)
	}
	f("", `""`)
	f("plain", `"plain"`)
	f(`a"b\c/d`, `"a\"b\\c/d"`)
	f("\n\r\t", `"\n\r\t"`)
	f("\x00\x01\x1f\b\f", `"\u0000\u0001\u001f\u0008\u000c"`)
	f("\x7f", "\"\x7f\"")
	f("café €😀", `"café €😀"`)
	f("<&>", `"<&>"`)
	f("\u2028\u2029", "\"\u2028\u2029\"")
	f("\ufffd", "\"\ufffd\"")
	// Invalid UTF-8 becomes one U+FFFD per bad byte, as encoding/json does.
	f("\xff", `"\ufffd"`)
	f("a\xffb", `"a\ufffdb"`)
	f("\xc3", `"\ufffd"`)
	f("\xc3(", `"\ufffd("`)
	f("\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`) // UTF-8 encoded surrogate
	f("\xf4\x90\x80\x80", `"\ufffd\ufffd\ufffd\ufffd"`)
	f("\xe2\x82", `"\ufffd\ufffd"`)

	for _, s := range []string{
		strings.Repeat("ab\"\\\x00\xff€", 100),
		"gen-1234567890-abcdefghijklmnop",
		"\xc0\xaf\xe0\x80\xaf",
	} {
		checkAppendStringRoundTrip(t, s)
	}
}

// checkAppendStringRoundTrip checks that AppendString(s) is valid JSON that
// decodes to s with each invalid UTF-8 byte replaced by U+FFFD, exactly as
// encoding/json encodes s.
func checkAppendStringRoundTrip(t testing.TB, s string) {
	t.Helper()
	enc := AppendString(nil, s)
	if !json.Valid(enc) {
		t.Fatalf("AppendString(%q) = %s: invalid JSON", s, enc)
	}
	var got string
	if err := json.Unmarshal(enc, &got); err != nil {
		t.Fatalf("cannot decode AppendString(%q) = %s: %v", s, enc, err)
	}
	if want := replaceInvalid(s); got != want {
		t.Fatalf("AppendString(%q) decodes to %q, want %q", s, got, want)
	}
	ref, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("json.Marshal(%q): %v", s, err)
	}
	var refDec string
	if err := json.Unmarshal(ref, &refDec); err != nil || refDec != got {
		t.Fatalf("encoding/json round-trips %q to %q, AppendString to %q", s, refDec, got)
	}
	// Our own decoder agrees.
	dec, err := String(enc)
	if err != nil || string(dec) != got {
		t.Fatalf("String(AppendString(%q)) = %q, %v; want %q", s, dec, err, got)
	}
}

// replaceInvalid replaces each byte of s that is not part of a valid UTF-8
// sequence by U+FFFD.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
