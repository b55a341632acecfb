package peek

import (
	"math/rand/v2"
	"testing"
)

// plainRunRef is the byte-at-a-time definition plainRun must match.
func plainRunRef(b []byte, i int) int {
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return i
}

func TestPlainRunMatchesBytewise(t *testing.T) {
	// Every single special byte at every position of a word, with every
	// kind of neighbour, then random mixes weighted towards the bytes the
	// borrow tricks could confuse (0x1f/0x20/0x21, 0x21/0x22/0x23, 0x5b/0x5c/0x5d, 0x7f/0x80).
	edge := []byte{0x00, 0x1f, 0x20, 0x21, '"', '#', '[', '\\', ']', 0x7f, 0x80, 0xff, 'a', '0'}
	for n := 0; n <= 24; n++ {
		for pos := 0; pos < n; pos++ {
			for _, c := range edge {
				for _, fill := range []byte{'a', 0x01, 0x21, 0x23, 0x5d, 0x7f} {
					b := make([]byte, n)
					for k := range b {
						b[k] = fill
					}
					b[pos] = c
					for start := 0; start <= n; start++ {
						if got, want := plainRun(b, start), plainRunRef(b, start); got != want {
							t.Fatalf("plainRun(%x, %d) = %d, want %d", b, start, got, want)
						}
					}
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		b := make([]byte, r.IntN(40))
		for k := range b {
			if r.IntN(3) == 0 {
				b[k] = edge[r.IntN(len(edge))]
			} else {
				b[k] = byte(0x20 + r.IntN(0x5f))
			}
		}
		start := r.IntN(len(b) + 1)
		if got, want := plainRun(b, start), plainRunRef(b, start); got != want {
			t.Fatalf("plainRun(%x, %d) = %d, want %d", b, start, got, want)
		}
	}
}
