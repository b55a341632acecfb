package ledger

import (
	"errors"
	"strings"
	"testing"
)

func TestNewSecretFormat(t *testing.T) {
	seen := map[string]bool{}
	for _, kind := range []KeyKind{KeyKindInference, KeyKindManagement} {
		for range 50 {
			s, err := newSecret(kind)
			if err != nil {
				t.Fatal(err)
			}
			if seen[s] {
				t.Fatalf("duplicate secret %s", s)
			}
			seen[s] = true
			got, err := ParseKeyFormat(s)
			if err != nil || got != kind {
				t.Fatalf("ParseKeyFormat(%s) = %v, %v; want kind %d", s, got, err, kind)
			}
			prefix := InferenceKeyPrefix
			if kind == KeyKindManagement {
				prefix = ManagementKeyPrefix
			}
			if !strings.HasPrefix(s, prefix) || len(s) != len(prefix)+keyBodyLen {
				t.Fatalf("secret %q: bad shape", s)
			}
			label := keyLabel(s)
			body := s[len(prefix):]
			if want := prefix + body[:3] + "…" + body[len(body)-3:]; label != want {
				t.Fatalf("label %q, want %q", label, want)
			}
		}
	}
}

func TestParseKeyFormatRejects(t *testing.T) {
	good, err := newSecret(KeyKindInference)
	if err != nil {
		t.Fatal(err)
	}
	body := good[len(InferenceKeyPrefix):]
	flip := func(c byte) byte {
		if c == 'a' {
			return 'b'
		}
		return 'a'
	}
	f := func(s string) {
		t.Helper()
		if _, err := ParseKeyFormat(s); !errors.Is(err, ErrBadKeyFormat) {
			t.Errorf("ParseKeyFormat(%q) = %v, want ErrBadKeyFormat", s, err)
		}
	}
	f("")
	f("sk-or-v1-" + body)
	f(InferenceKeyPrefix + body[:len(body)-1])
	f(InferenceKeyPrefix + body + "0")
	f(InferenceKeyPrefix + body[:10] + "-" + body[11:])
	f(InferenceKeyPrefix + body[:len(body)-1] + string(flip(body[len(body)-1])))
	f(InferenceKeyPrefix + string(flip(body[0])) + body[1:])
	// The checksum covers the prefix: an inference key's body is not a
	// management key.
	f(ManagementKeyPrefix + body)
	// A value above 2^288 does not fit.
	f(InferenceKeyPrefix + strings.Repeat("z", keyBodyLen))
}

func TestKeyLabelForeignKeys(t *testing.T) {
	f := func(secret, want string) {
		t.Helper()
		if got := keyLabel(secret); got != want {
			t.Errorf("keyLabel(%q) = %q, want %q", secret, got, want)
		}
	}
	f("sk-legacy-0123456789abcdefghij", "sk-leg…hij")
	f("short-key", "…key")
	f("abc", "…")
}

func TestBase62RoundTrip(t *testing.T) {
	for _, raw := range [][]byte{make([]byte, keyRawLen), {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}} {
		var body [keyBodyLen]byte
		base62Encode(body[:], raw)
		var back [keyRawLen]byte
		if !base62Decode(back[:], string(body[:])) || string(back[:]) != string(raw) {
			t.Fatalf("round trip of %x failed: %s", raw, body)
		}
	}
}

func TestKeyHashParse(t *testing.T) {
	h := HashSecret([]byte("x"))
	got, err := ParseKeyHash(h.String())
	if err != nil || got != h {
		t.Fatalf("ParseKeyHash(String()) = %v, %v", got, err)
	}
	for _, s := range []string{"", "zz", strings.Repeat("g", 64), h.String()[:63]} {
		if _, err := ParseKeyHash(s); err == nil {
			t.Errorf("ParseKeyHash(%q) accepted", s)
		}
	}
}

// FuzzParseKeyFormat checks that the parser never panics and accepts only
// strings that re-encode to themselves with a valid checksum.
func FuzzParseKeyFormat(f *testing.F) {
	for _, k := range []KeyKind{KeyKindInference, KeyKindManagement} {
		s, err := newSecret(k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	f.Add("sk-tg-v1-")
	f.Add("sk-tg-mgmt-v1-" + strings.Repeat("0", keyBodyLen))
	f.Fuzz(func(t *testing.T, s string) {
		kind, err := ParseKeyFormat(s)
		if err != nil {
			if !errors.Is(err, ErrBadKeyFormat) {
				t.Fatalf("error %v does not wrap ErrBadKeyFormat", err)
			}
			return
		}
		prefix := InferenceKeyPrefix
		if kind == KeyKindManagement {
			prefix = ManagementKeyPrefix
		}
		var raw [keyRawLen]byte
		if !base62Decode(raw[:], s[len(prefix):]) {
			t.Fatalf("accepted %q but body does not decode", s)
		}
		var body [keyBodyLen]byte
		base62Encode(body[:], raw[:])
		if prefix+string(body[:]) != s {
			t.Fatalf("accepted %q, re-encodes to %q", s, prefix+string(body[:]))
		}
		if [keyChecksumLen]byte(raw[keyRandomLen:]) != keyChecksum(prefix, raw[:keyRandomLen]) {
			t.Fatalf("accepted %q with a bad checksum", s)
		}
	})
}
