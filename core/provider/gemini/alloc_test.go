//go:build !race

package gemini

import (
	"testing"

	"github.com/tollgate/tollgate/core/sse"
)

// TestStreamEventAllocs bounds the allocations of translating one chunk:
// go-json's copy of the data (strings alias it), the candidate and its
// parts (the candidates slice itself is reused), and a function call's
// args.
func TestStreamEventAllocs(t *testing.T) {
	limits := map[string]float64{"text": 4, "thought": 4, "function_call": 7}
	for _, be := range benchEvents {
		c := newCall(t, testRequest, geminiEndpoint())
		s := Adapter{}.NewStream(c)
		ev := &sse.Event{Data: []byte(be.data)}
		dst := make([]byte, 0, 4096)
		for range 10 { // warm-up
			if _, err := s.Event(dst[:0], ev); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(1000, func() { dst, _ = s.Event(dst[:0], ev) })
		t.Logf("%s: %.1f allocations per Event", be.name, allocs)
		if allocs > limits[be.name] {
			t.Fatalf("%s: %.1f allocations per Event, want at most %.0f", be.name, allocs, limits[be.name])
		}
	}
}
