//go:build !race

package anthropic

import (
	"testing"

	"github.com/tollgate/tollgate/core/sse"
)

// TestStreamEventAllocs bounds the allocations of translating one event:
// one, the copy go-json makes of the data it decodes (strings alias it).
func TestStreamEventAllocs(t *testing.T) {
	for _, be := range benchEvents {
		s := benchStream(t)
		ev := &sse.Event{Name: []byte(be.event), Data: []byte(be.data)}
		dst := make([]byte, 0, 4096)
		for range 10 { // warm-up
			if _, err := s.Event(dst[:0], ev); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(1000, func() { dst, _ = s.Event(dst[:0], ev) })
		t.Logf("%s: %.1f allocations per Event", be.name, allocs)
		if allocs > 1 {
			t.Fatalf("%s: %.1f allocations per Event, want at most 1", be.name, allocs)
		}
	}
}
