package ledger

import (
	"testing"
	"time"
)

func TestHLC(t *testing.T) {
	clock := newTestClock()
	c := hlc{now: clock.Now}
	a := c.next()
	b := c.next()
	if b <= a {
		t.Fatalf("same millisecond: %d then %d", a, b)
	}
	clock.Advance(-time.Hour) // the wall clock steps back
	if d := c.next(); d <= b {
		t.Fatalf("after a backward step: %d, want > %d", d, b)
	}
	remote := uint64(clock.Now().Add(2*time.Hour).UnixMilli()) << 16
	c.observe(remote)
	if e := c.next(); e <= remote {
		t.Fatalf("after observing %d: %d", remote, e)
	}
	v1, v2 := Version{HLC: 5, Node: "a"}, Version{HLC: 5, Node: "b"}
	if !v1.Less(v2) || v2.Less(v1) || v1.Less(v1) {
		t.Fatal("Version ties must break by node")
	}
	if got := (Version{HLC: uint64(clock.Now().UnixMilli()) << 16}).Time(); !got.Equal(clock.Now().Truncate(time.Millisecond)) {
		t.Fatalf("Version.Time = %v", got)
	}
}
