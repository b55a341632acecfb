//go:build !race

package peek

import (
	"bytes"
	"testing"
)

func TestParseForwardAllocs(t *testing.T) {
	f := func(body []byte) {
		t.Helper()
		var c Chat
		o := ForwardOptions{Model: "gpt-4o-2024-08-06", StripExtensions: true, IncludeUsage: true}
		dst := make([]byte, 0, 2*len(body))
		allocs := testing.AllocsPerRun(100, func() {
			if err := ParseChat(body, &c); err != nil {
				t.Fatalf("ParseChat: %v", err)
			}
			dst = AppendForward(dst[:0], body, &c, &o)
		})
		if allocs != 0 {
			t.Fatalf("%d-byte body: %.1f allocations per ParseChat+AppendForward, want 0", len(body), allocs)
		}
	}
	f(benchBody(2 << 10))
	f(benchBody(64 << 10))
	// The client's stream_options are merged, not replaced.
	f(bytes.Replace(benchBody(2<<10), []byte(`"stream":true,`), []byte(`"stream":true,"stream_options":{"include_obfuscation":false},`), 1))
}
