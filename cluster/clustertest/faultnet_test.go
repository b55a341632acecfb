package clustertest

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestVerdict(t *testing.T) {
	n := NewNetwork()
	n.byAddr["127.0.0.1:1"] = "a"
	n.byAddr["127.0.0.1:2"] = "b"
	n.byAddr["127.0.0.1:3"] = "c"
	f := func(from string, to memberlist.Address, packet, wantBlocked bool, wantDelay time.Duration) {
		t.Helper()
		blocked, delay := n.verdict(from, to, packet)
		if blocked != wantBlocked || delay != wantDelay {
			t.Errorf("%s→%v packet=%v: blocked %v delay %s; want %v %s", from, to, packet, blocked, delay, wantBlocked, wantDelay)
		}
	}
	byAddr := func(a string) memberlist.Address { return memberlist.Address{Addr: a} }
	byName := func(name string) memberlist.Address { return memberlist.Address{Addr: "10.9.9.9:9", Name: name} }

	f("a", byAddr("127.0.0.1:2"), true, false, 0)
	n.Partition([]string{"a"}, []string{"b", "c"})
	f("a", byAddr("127.0.0.1:2"), true, true, 0)
	f("b", byAddr("127.0.0.1:1"), false, true, 0) // both ways, streams too
	f("a", byName("c"), true, true, 0)            // by node name
	f("b", byName("c"), true, false, 0)           // same side
	f("a", byAddr("127.0.0.1:9"), true, false, 0) // unknown address: not cut
	n.SetDelay(3 * time.Millisecond)
	f("b", byName("c"), false, false, 3*time.Millisecond)
	n.Heal()
	f("a", byName("b"), true, false, 3*time.Millisecond)
	n.SetLoss(1)
	f("a", byName("b"), true, true, 0)
	f("a", byName("b"), false, false, 3*time.Millisecond) // loss hits packets only
	n.SetLoss(0)
	n.Cut("c", "a")
	f("a", byName("c"), false, true, 0)
}

// TestTransportCutsAndCounts sends real packets between two transports.
func TestTransportCutsAndCounts(t *testing.T) {
	n := NewNetwork()
	a, err := n.NewTransport("a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	b, err := n.NewTransport("b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()
	recv := func(want string) {
		t.Helper()
		select {
		case p := <-b.PacketCh():
			if string(p.Buf) != want {
				t.Fatalf("got %q, want %q", p.Buf, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("packet %q not received", want)
		}
	}
	if _, err := a.WriteTo([]byte("one"), b.Addr()); err != nil {
		t.Fatal(err)
	}
	recv("one")
	n.Cut("a", "b")
	if _, err := a.WriteTo([]byte("lost"), b.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DialTimeout(b.Addr(), time.Second); err == nil {
		t.Fatal("dial across a cut succeeded")
	}
	n.Heal()
	n.SetDelay(10 * time.Millisecond)
	start := time.Now()
	if _, err := a.WriteToAddress([]byte("two"), memberlist.Address{Addr: b.Addr(), Name: "b"}); err != nil {
		t.Fatal(err)
	}
	recv("two")
	if d := time.Since(start); d < 10*time.Millisecond {
		t.Fatalf("delayed packet arrived after %s", d)
	}
	if a.PacketsOut.Load() != 2 || a.PacketsDropped.Load() != 1 || a.PacketBytesOut.Load() != 6 {
		t.Fatalf("counters: out %d dropped %d bytes %d", a.PacketsOut.Load(), a.PacketsDropped.Load(), a.PacketBytesOut.Load())
	}
}
