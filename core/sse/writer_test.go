package sse

import (
	"bytes"
	"strings"
	"testing"
)

func TestAppendData(t *testing.T) {
	f := func(payload, want string) {
		t.Helper()
		got := AppendData([]byte("prefix|"), []byte(payload))
		if string(got) != "prefix|"+want {
			t.Fatalf("AppendData(%q) = %q, want %q", payload, got[len("prefix|"):], want)
		}
		// The client reads the payload back, with CR and CRLF turned to LF.
		s := NewScanner(bytes.NewReader(got[len("prefix|"):]), 0)
		if !s.Next() {
			t.Fatalf("no event in %q: %v", got, s.Err())
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(payload)
		if string(s.Event().Data) != wantData {
			t.Fatalf("round trip of %q gave %q", payload, s.Event().Data)
		}
	}
	f(`{"a":1}`, "data: {\"a\":1}\n\n")
	f("", "data: \n\n")
	f(" lead", "data:  lead\n\n")
	f("[DONE]", "data: [DONE]\n\n")
	f("a\nb", "data: a\ndata: b\n\n")
	f("a\r\nb\rc", "data: a\ndata: b\ndata: c\n\n")
	f("a\n", "data: a\ndata: \n\n")
	f("\n", "data: \ndata: \n\n")
	f("a\r\n\r\nb", "data: a\ndata: \ndata: b\n\n")
	f("a\r", "data: a\ndata: \n\n")
}

func TestAppendEvent(t *testing.T) {
	f := func(name, payload, want string) {
		t.Helper()
		got := AppendEvent(nil, []byte(name), []byte(payload))
		if string(got) != want {
			t.Fatalf("AppendEvent(%q, %q) = %q, want %q", name, payload, got, want)
		}
	}
	f("message_stop", `{"type":"message_stop"}`, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")
	f("", "x", "data: x\n\n")
	f("a\nid: 5", "x", "event: a\ndata: x\n\n")
	f("\rb", "x", "data: x\n\n")
	f("e", "1\n2", "event: e\ndata: 1\ndata: 2\n\n")
}

func TestAppendComment(t *testing.T) {
	f := func(text, want string) {
		t.Helper()
		got := AppendComment(nil, text)
		if string(got) != want {
			t.Fatalf("AppendComment(%q) = %q, want %q", text, got, want)
		}
		s := NewScanner(bytes.NewReader(append(got, "data: x\n\n"...)), 0)
		if !s.Next() || s.Event().Comments != strings.Count(want, "\n")-1 {
			t.Fatalf("comment %q not read back as comments", got)
		}
	}
	f("OPENROUTER PROCESSING", ": OPENROUTER PROCESSING\n\n")
	f("", ": \n\n")
	f("a\nb", ": a\n: b\n\n")
	f("a\r\nb\r", ": a\n: b\n: \n\n")
}

func TestAppendDone(t *testing.T) {
	if got := string(AppendDone(nil)); got != "data: [DONE]\n\n" {
		t.Fatalf("AppendDone = %q", got)
	}
}
