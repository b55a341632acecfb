package load

import (
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	f := func(in string, want Range, ok bool) {
		t.Helper()
		got, err := ParseRange(in)
		if (err == nil) != ok || got != want {
			t.Fatalf("ParseRange(%q) = %v, %v; want %v, ok=%v", in, got, err, want, ok)
		}
		if ok && in != "" && !got.IsZero() {
			if back, _ := ParseRange(got.String()); back != got {
				t.Fatalf("round trip of %v: %v", got, back)
			}
		}
	}
	f("", Range{}, true)
	f("128", Range{128, 128}, true)
	f(" 10:200 ", Range{10, 200}, true)
	f("5:5", Range{5, 5}, true)
	f("10:2", Range{}, false)
	f("-1", Range{}, false)
	f("a:b", Range{}, false)
	f("1:", Range{}, false)
}

func TestParseSLO(t *testing.T) {
	f := func(in string, want SLO, ok bool) {
		t.Helper()
		got, err := ParseSLO(in)
		if (err == nil) != ok || got != want {
			t.Fatalf("ParseSLO(%q) = %v, %v; want %v, ok=%v", in, got, err, want, ok)
		}
		if ok {
			if back, _ := ParseSLO(got.String()); back != got {
				t.Fatalf("round trip of %v: %v", got, back)
			}
		}
	}
	f("", SLO{}, true)
	f("ttft=200ms,e2e=2s", SLO{TTFT: 200 * time.Millisecond, E2E: 2 * time.Second}, true)
	f("TPOT=50ms", SLO{TPOT: 50 * time.Millisecond}, true)
	f("e2el=1s", SLO{E2E: time.Second}, true)
	f("ttft=0s", SLO{}, false)
	f("itl=5ms", SLO{}, false)
	f("ttft", SLO{}, false)
	f("ttft=soon", SLO{}, false)
}

func TestParseHeader(t *testing.T) {
	f := func(in string, want Header, ok bool) {
		t.Helper()
		got, err := ParseHeader(in)
		if (err == nil) != ok || got != want {
			t.Fatalf("ParseHeader(%q) = %v, %v; want %v, ok=%v", in, got, err, want, ok)
		}
	}
	f("X-Title: bench", Header{"X-Title", "bench"}, true)
	f("HTTP-Referer=https://x.test/a:b", Header{"HTTP-Referer", "https://x.test/a:b"}, true)
	f("Authorization: Bearer a:b", Header{"Authorization", "Bearer a:b"}, true)
	f(": v", Header{}, false)
	f("novalue", Header{}, false)
	f("Bad Key: v", Header{}, false)
	f("K: v\r\nInjected: 1", Header{}, false)
}

func TestParseArrival(t *testing.T) {
	for in, want := range map[string]Arrival{"poisson": Poisson, "Constant": Constant, "": Poisson} {
		if got, err := ParseArrival(in); err != nil || got != want {
			t.Fatalf("ParseArrival(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseArrival("bursty"); err == nil {
		t.Fatal("unknown arrival accepted")
	}
}

func TestPlanValidate(t *testing.T) {
	f := func(p Plan, ok bool) {
		t.Helper()
		if err := p.Validate(); (err == nil) != ok {
			t.Fatalf("Validate(%+v) = %v", p, err)
		}
	}
	f(Plan{Rate: 10, Requests: 5}, true)
	f(Plan{Concurrency: 2, Duration: time.Second}, true)
	f(Plan{Rate: 10, Concurrency: 2, Requests: 5}, false)
	f(Plan{Requests: 5}, false)
	f(Plan{Rate: 10}, false)
	f(Plan{Rate: -1, Requests: 5}, false)
}

func TestRequestBody(t *testing.T) {
	c, err := NewClient(Request{URL: "http://127.0.0.1:9/v1/", Model: `m"x`, Stream: true,
		PromptTokens: Range{Min: 3, Max: 3}, MaxTokens: Range{Min: 7, Max: 7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := Call{Seq: 42, PromptTokens: 3, MaxTokens: 7}
	got := string(c.appendBody(nil, call))
	want := `{"model":"m\"x","messages":[{"role":"user","content":"[42] the new may"}],"max_tokens":7,"stream":true,"stream_options":{"include_usage":true}}`
	if got != want || c.uri != "http://127.0.0.1:9/v1/chat/completions" {
		t.Fatalf("body %s\nuri %s", got, c.uri)
	}
	if !jsonValid([]byte(got)) {
		t.Fatal("body is not JSON")
	}
}

func TestExpectDeltas(t *testing.T) {
	a := ExpectDeltas([]string{"ab", "c"})
	b := ExpectDeltas([]string{"a", "bc"})
	c := ExpectDeltas([]string{"c", "ab"})
	if a.Hash == b.Hash || a.Hash == c.Hash || a.Deltas != 2 {
		t.Fatalf("fingerprints collide: %v %v %v", a, b, c)
	}
}
