package peek

import (
	"fmt"
	"testing"
)

func BenchmarkParseChat(b *testing.B) {
	for _, size := range []int{2 << 10, 64 << 10} {
		body := benchBody(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			var c Chat
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := ParseChat(body, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendForward(b *testing.B) {
	for _, size := range []int{2 << 10, 64 << 10} {
		body := benchBody(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			var c Chat
			if err := ParseChat(body, &c); err != nil {
				b.Fatal(err)
			}
			o := ForwardOptions{Model: "gpt-4o-2024-08-06", StripExtensions: true, IncludeUsage: true}
			dst := make([]byte, 0, 2*len(body))
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				dst = AppendForward(dst[:0], body, &c, &o)
			}
		})
	}
}

// BenchmarkParseForward is the whole request path: peek, then build the
// upstream body.
func BenchmarkParseForward(b *testing.B) {
	for _, size := range []int{2 << 10, 64 << 10} {
		body := benchBody(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			var c Chat
			o := ForwardOptions{Model: "gpt-4o-2024-08-06", StripExtensions: true, IncludeUsage: true}
			dst := make([]byte, 0, 2*len(body))
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := ParseChat(body, &c); err != nil {
					b.Fatal(err)
				}
				dst = AppendForward(dst[:0], body, &c, &o)
			}
		})
	}
}
