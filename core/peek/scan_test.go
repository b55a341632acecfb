package peek

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSkipValue(t *testing.T) {
	f := func(in string, from, wantEnd int) {
		t.Helper()
		end, err := SkipValue([]byte(in), from)
		if err != nil {
			t.Fatalf("SkipValue(%q, %d): unexpected error: %v", in, from, err)
		}
		if end != wantEnd {
			t.Fatalf("SkipValue(%q, %d) = %d, want %d", in, from, end, wantEnd)
		}
	}
	f(`0`, 0, 1)
	f(`-0`, 0, 2)
	f(`-0.0e-0`, 0, 7)
	f(`1e-7`, 0, 4)
	f(`1E+308`, 0, 6)
	f(`123.456`, 0, 7)
	f(`12,`, 0, 2)
	f(`01`, 0, 1) // the caller rejects the rest
	f(`true false`, 0, 4)
	f(`  null`, 0, 6)
	f("\t\r\n false", 0, 9)
	f(`""`, 0, 2)
	f(`"a\"b" x`, 0, 6)
	f(`"\u00e9\ud83d\ude00\/\b"`, 0, 24)
	f("\"é😀\"", 0, 8)
	f(`[]`, 0, 2)
	f(`[ 1 , [2] , {"a":[]} ]`, 0, 22)
	f(`{}`, 0, 2)
	f(`{ "a" : 1 , "b" : { } }`, 0, 23)
	f(`x:[1]`, 2, 5)
	f(strings.Repeat("[", MaxDepth)+strings.Repeat("]", MaxDepth), 0, 2*MaxDepth)

	bad := func(in, wantMsg string) {
		t.Helper()
		end, err := SkipValue([]byte(in), 0)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("SkipValue(%q) = %d, %v; want a *SyntaxError", in, end, err)
		}
		if se.Msg != wantMsg {
			t.Fatalf("SkipValue(%q): error %q, want %q", in, se.Msg, wantMsg)
		}
		if se.Offset < 0 || se.Offset > len(in) {
			t.Fatalf("SkipValue(%q): error offset %d out of range", in, se.Offset)
		}
	}
	bad(``, "unexpected end of input")
	bad(`   `, "unexpected end of input")
	bad(`-`, "invalid number")
	bad(`-a`, "invalid number")
	bad(`1.`, "invalid number")
	bad(`1.e5`, "invalid number")
	bad(`1e`, "invalid number")
	bad(`1e+`, "invalid number")
	bad(`.1`, "unexpected character '.'")
	bad(`+1`, "unexpected character '+'")
	bad(`Infinity`, "unexpected character 'I'")
	bad(`t`, "invalid literal")
	bad(`True`, "unexpected character 'T'")
	bad(`nul`, "invalid literal")
	bad(`"`, "unterminated string")
	bad(`"abc`, "unterminated string")
	bad(`"\`, "unterminated string")
	bad(`"\u`, `invalid \u escape`)
	bad(`"\u123"`, `invalid \u escape`)
	bad(`"\U1234"`, "invalid escape")
	bad(`"\'"`, "invalid escape")
	bad("\"\x00\"", "control character in string")
	bad("\"\x1f\"", "control character in string")
	bad("\"\x80\"", "invalid UTF-8 in string")
	bad("\"\xf8\x88\x80\x80\x80\"", "invalid UTF-8 in string")
	bad("\"\xe2\x82\"", "invalid UTF-8 in string")
	bad(`[`, "unexpected end of input")
	bad(`[1`, "unterminated array")
	bad(`[1,]`, "unexpected character ']'")
	bad(`[,1]`, "unexpected character ','")
	bad(`[1 2]`, "expected ',' or ']'")
	bad(`{`, "expected object key")
	bad(`{"a"}`, "expected ':'")
	bad(`{"a":}`, "unexpected character '}'")
	bad(`{"a":1`, "unterminated object")
	bad(`{"a":1,}`, "expected object key")
	bad(`{"a":1 "b":2}`, "expected ',' or '}'")
	bad(`{1:2}`, "expected object key")
	bad(strings.Repeat("[", MaxDepth+1)+strings.Repeat("]", MaxDepth+1), "nesting too deep")
	bad(strings.Repeat(`{"a":`, MaxDepth+1)+"1"+strings.Repeat("}", MaxDepth+1), "nesting too deep")
	// Depth is bounded before the end is read: no stack blow-up.
	bad(strings.Repeat("[", 1<<20), "nesting too deep")
}

func TestMembers(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		var got []string
		err := Members([]byte(in), func(m Member) error {
			if in[m.Start] != '"' || string(m.Key) != in[m.Start+1:m.Start+1+len(m.Key)] {
				return fmt.Errorf("member %q does not start at %d", m.Key, m.Start)
			}
			if in[m.End-len(m.Value):m.End] != string(m.Value) {
				return fmt.Errorf("member %q does not end at %d", m.Key, m.End)
			}
			got = append(got, string(m.Key)+"="+string(m.Value)+"|"+in[m.Start:m.End])
			return nil
		})
		if err != nil {
			t.Fatalf("Members(%q): %v", in, err)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("Members(%q):\ngot  %q\nwant %q", in, got, want)
		}
	}
	f(`{}`)
	f(` { } `)
	f(`{"a":1}`, `a=1|"a":1`)
	f(`{ "a" : [ 1 ] , "b\u0062":"x" }`, `a=[ 1 ]|"a" : [ 1 ]`, `b\u0062="x"|"b\u0062":"x"`)
	f(`{"a":1,"a":2}`, `a=1|"a":1`, `a=2|"a":2`)

	errStop := errors.New("stop")
	n := 0
	err := Members([]byte(`{"a":1,"b":2,"c":3}`), func(m Member) error {
		n++
		if string(m.Key) == "b" {
			return errStop
		}
		return nil
	})
	if err != errStop || n != 2 {
		t.Fatalf("Members did not stop at the callback's error: err=%v n=%d", err, n)
	}
	for _, in := range []string{`[]`, `"a"`, `1`, `null`} {
		if err := Members([]byte(in), func(Member) error { return nil }); err != ErrNotObject {
			t.Fatalf("Members(%s) = %v, want ErrNotObject", in, err)
		}
	}
	for _, in := range []string{``, ` `, `{`, `{} {}`, `{}x`, `[`, `{"a":1,}`} {
		var se *SyntaxError
		if err := Members([]byte(in), func(Member) error { return nil }); !errors.As(err, &se) {
			t.Fatalf("Members(%q) = %v, want a *SyntaxError", in, err)
		}
	}
}

func TestMembersAt(t *testing.T) {
	in := []byte(`x {"a":1} tail`)
	var keys []string
	end, err := MembersAt(in, 1, func(m Member) error {
		keys = append(keys, string(m.Key))
		if m.Start != 3 || m.End != 8 {
			t.Fatalf("member offsets %d..%d are not absolute", m.Start, m.End)
		}
		return nil
	})
	if err != nil || end != 9 || len(keys) != 1 {
		t.Fatalf("MembersAt = %d, %v, keys %q", end, err, keys)
	}
	if _, err := MembersAt([]byte(`[1]`), 0, func(Member) error { return nil }); err != ErrNotObject {
		t.Fatalf("MembersAt on an array: %v", err)
	}
	if _, err := MembersAt([]byte(`   `), 0, func(Member) error { return nil }); err != ErrNotObject {
		t.Fatalf("MembersAt on nothing: %v", err)
	}
}

func TestElements(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		var got []string
		if err := Elements([]byte(in), func(v []byte) error {
			got = append(got, string(v))
			return nil
		}); err != nil {
			t.Fatalf("Elements(%q): %v", in, err)
		}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("Elements(%q) = %q, want %q", in, got, want)
		}
	}
	f(`[]`)
	f(` [ ] `)
	f(`[1]`, `1`)
	f(`[ 1 , "a" , [ 2 ] , {"b":null} ]`, `1`, `"a"`, `[ 2 ]`, `{"b":null}`)
	for _, in := range []string{``, `{}`, `"a"`, `[`, `[1`, `[1,]`, `[1 2]`} {
		if err := Elements([]byte(in), func([]byte) error { return nil }); err == nil {
			t.Fatalf("Elements(%q) accepted", in)
		}
	}
}
