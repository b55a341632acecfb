// Package clustertest provides a fault-injecting memberlist transport for
// in-process cluster tests: real UDP and TCP sockets on 127.0.0.1, wrapped
// so a test can drop or delay packets and cut chosen pairs of nodes apart
// (a partition) and heal them again. It also counts each node's traffic,
// which the bandwidth benchmark reads.
//
// Tests of the cluster package and of its consumers may import it; the
// gateway binary never does.
package clustertest

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// Network connects the transports made by NewTransport and decides which
// packets and streams get through. The zero value is not usable; call
// NewNetwork.
type Network struct {
	mu     sync.Mutex
	byAddr map[string]string // advertised IP:port → node name
	cut    map[[2]string]bool
	loss   float64
	delay  time.Duration
	rng    *rand.Rand
}

// NewNetwork returns a network without faults.
func NewNetwork() *Network {
	return &Network{
		byAddr: make(map[string]string),
		cut:    make(map[[2]string]bool),
		rng:    rand.New(rand.NewPCG(1, 2)),
	}
}

func pairOf(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Cut stops all traffic between a and b, both ways.
func (n *Network) Cut(a, b string) {
	n.mu.Lock()
	n.cut[pairOf(a, b)] = true
	n.mu.Unlock()
}

// Partition cuts every pair of nodes that are in different groups.
func (n *Network) Partition(groups ...[]string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					n.cut[pairOf(a, b)] = true
				}
			}
		}
	}
}

// Heal removes every cut.
func (n *Network) Heal() {
	n.mu.Lock()
	clear(n.cut)
	n.mu.Unlock()
}

// SetLoss drops each packet (not stream) with probability p.
func (n *Network) SetLoss(p float64) {
	n.mu.Lock()
	n.loss = p
	n.mu.Unlock()
}

// SetDelay delays every packet by d, and every stream dial by d.
func (n *Network) SetDelay(d time.Duration) {
	n.mu.Lock()
	n.delay = d
	n.mu.Unlock()
}

// verdict decides the fate of one packet or dial from node from to addr.
func (n *Network) verdict(from string, a memberlist.Address, packet bool) (blocked bool, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	to := a.Name
	if to == "" {
		to = n.byAddr[a.Addr]
	}
	if to != "" && n.cut[pairOf(from, to)] {
		return true, 0
	}
	if packet && n.loss > 0 && n.rng.Float64() < n.loss {
		return true, 0
	}
	return false, n.delay
}

// Transport is one node's memberlist transport on the Network.
type Transport struct {
	net   *Network
	name  string
	inner *memberlist.NetTransport

	mu     sync.Mutex // orders wg.Add before Shutdown's wg.Wait
	closed bool
	wg     sync.WaitGroup // delayed packets in flight

	// Traffic this node sent: packets and their bytes, stream bytes.
	PacketsOut     atomic.Uint64
	PacketBytesOut atomic.Uint64
	StreamBytesOut atomic.Uint64
	// Packets refused by a cut or lost.
	PacketsDropped atomic.Uint64
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// NewTransport binds UDP and TCP on 127.0.0.1 at a free port for node name.
func (n *Network) NewTransport(name string) (*Transport, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{"127.0.0.1"},
		BindPort:  0,
		Logger:    log.New(io.Discard, "", 0),
	})
	if err != nil {
		return nil, fmt.Errorf("clustertest: cannot bind: %w", err)
	}
	t := &Transport{net: n, name: name, inner: nt}
	n.mu.Lock()
	n.byAddr[net.JoinHostPort("127.0.0.1", fmt.Sprint(nt.GetAutoBindPort()))] = name
	n.mu.Unlock()
	return t, nil
}

// Addr is the IP:port the transport listens on.
func (t *Transport) Addr() string {
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(t.inner.GetAutoBindPort()))
}

// FinalAdvertiseAddr implements memberlist.Transport.
func (t *Transport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	addr, p, err := t.inner.FinalAdvertiseAddr(ip, port)
	if err == nil {
		t.net.mu.Lock()
		t.net.byAddr[net.JoinHostPort(addr.String(), fmt.Sprint(p))] = t.name
		t.net.mu.Unlock()
	}
	return addr, p, err
}

// WriteTo implements memberlist.Transport.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress implements memberlist.NodeAwareTransport: a cut or lost
// packet vanishes silently, as on a real network.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	blocked, delay := t.net.verdict(t.name, a, true)
	if blocked {
		t.PacketsDropped.Add(1)
		return now, nil
	}
	t.PacketsOut.Add(1)
	t.PacketBytesOut.Add(uint64(len(b)))
	if delay <= 0 {
		return t.inner.WriteToAddress(b, a)
	}
	cp := append([]byte(nil), b...)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return now, nil
	}
	t.wg.Add(1)
	time.AfterFunc(delay, func() {
		defer t.wg.Done()
		_, _ = t.inner.WriteToAddress(cp, a)
	})
	return now, nil
}

// PacketCh implements memberlist.Transport.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.inner.PacketCh() }

// DialTimeout implements memberlist.Transport.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport: a cut pair
// fails at once, like an unreachable host with a fast error.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	blocked, delay := t.net.verdict(t.name, a, false)
	if blocked {
		return nil, fmt.Errorf("clustertest: %s cannot reach %s: partitioned", t.name, a.String())
	}
	if delay > 0 {
		time.Sleep(min(delay, timeout))
	}
	conn, err := t.inner.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, n: &t.StreamBytesOut}, nil
}

// StreamCh implements memberlist.Transport.
func (t *Transport) StreamCh() <-chan net.Conn { return t.inner.StreamCh() }

// Shutdown implements memberlist.Transport; it waits for delayed packets.
func (t *Transport) Shutdown() error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
	return t.inner.Shutdown()
}

type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(uint64(n))
	return n, err
}
