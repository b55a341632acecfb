package cluster

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/cluster/clustertest"
)

// latencySink is a Channel that counts deliveries and records the lag
// from the send time written in the first 8 bytes of each payload.
type latencySink struct {
	mu   sync.Mutex
	n    int
	lags []time.Duration
}

func (s *latencySink) Receive(_ string, _ byte, p []byte) {
	if len(p) < 8 {
		return
	}
	lag := time.Since(time.Unix(0, int64(binary.LittleEndian.Uint64(p))))
	s.mu.Lock()
	s.n++
	s.lags = append(s.lags, lag)
	s.mu.Unlock()
}

// BenchmarkGossipBandwidth measures what each node sends while the cluster
// carries a synthetic ledger load: 5,000 updates per second in total,
// spread evenly over the nodes and uniformly over 10,000 account keys, each
// a keyed Broadcast of 208 random (incompressible) bytes — the size of a
// ledger delta with one spend counter and four key-usage counters. The LAN
// profile's memberlist timings apply. One b.N is one update, paced at
// 5,000/s: run with -benchtime=20000x for four seconds of load.
//
// Reported per node: wire bytes/s (UDP and TCP, after encryption, before
// IP/UDP headers), packets/s, the payload bytes/s it originated; over the
// cluster: the share of updates coalesced away within a tick, deliveries
// per frame per peer (1 = every frame reached every peer), the delivery
// lag, drops, and gossip copies shed from memberlist's queue.
func BenchmarkGossipBandwidth(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchBandwidth(b, n) })
	}
}

func benchBandwidth(b *testing.B, n int) {
	const (
		rate        = 5000
		keys        = 10000
		payloadSize = 208
	)
	nw := clustertest.NewNetwork()
	var cs []*Cluster
	var trs []*clustertest.Transport
	var sinks []*latencySink
	for i := range n {
		sink := &latencySink{}
		var join []string
		if i > 0 {
			join = []string{cs[0].Addr()}
		}
		c, tr := node(b, nw, fmt.Sprintf("n%d", i), join, func(cfg *Config) {
			cfg.GossipTick = DefaultGossipTick
			cfg.Profile = ProfileLAN
			cfg.ProbeInterval, cfg.ProbeTimeout, cfg.GossipInterval, cfg.PushPullInterval, cfg.TCPTimeout = 0, 0, 0, 0, 0
			cfg.SuspicionMult = 0
		}, func(c *Cluster) {
			if err := c.Register(TypeLedger, "ledger", 1, sink); err != nil {
				b.Fatal(err)
			}
		})
		cs, trs, sinks = append(cs, c), append(trs, tr), append(sinks, sink)
	}
	eventually(b, 15*time.Second, "joined", allSeeAlive(cs, n))
	keyNames := make([]string, keys)
	for i := range keyNames {
		keyNames[i] = fmt.Sprintf("acct-%05d", i)
	}
	wire := func() (bytes, packets uint64) {
		for _, tr := range trs {
			bytes += tr.PacketBytesOut.Load() + tr.StreamBytesOut.Load()
			packets += tr.PacketsOut.Load()
		}
		return bytes, packets
	}
	bytes0, packets0 := wire()
	rcvbuf0 := udpRcvbufErrors()
	payload := make([]byte, payloadSize)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	sent := 0
	for sent < b.N {
		<-tick.C
		due := min(b.N, int(time.Since(start).Seconds()*rate)+1)
		for ; sent < due; sent++ {
			for i := range payload[8:] {
				payload[8+i] = byte(rand.Uint32())
			}
			binary.LittleEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
			if err := cs[sent%n].Broadcast(TypeLedger, keyNames[rand.IntN(keys)], payload); err != nil {
				b.Fatal(err)
			}
		}
	}
	elapsed := time.Since(start)
	tick.Stop()
	// Let the backlog drain: wait until deliveries stop growing.
	deliveredNow := func() (n int) {
		for _, s := range sinks {
			s.mu.Lock()
			n += s.n
			s.mu.Unlock()
		}
		return n
	}
	last, stable := -1, time.Now()
	for time.Since(stable) < 500*time.Millisecond && time.Since(start) < elapsed+15*time.Second {
		if d := deliveredNow(); d != last {
			last, stable = d, time.Now()
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.StopTimer()
	bytes1, packets1 := wire()
	rcvbuf1 := udpRcvbufErrors()

	secs := elapsed.Seconds()
	var delivered int
	var lags []time.Duration
	var drops, frames, pruned, stale uint64
	for i, s := range sinks {
		s.mu.Lock()
		delivered += s.n
		lags = append(lags, s.lags...)
		s.mu.Unlock()
		st := cs[i].Stats()
		drops += st.DroppedTotal()
		frames += st.Sent
		pruned += st.GossipPruned
		stale += st.Stale
	}
	slices.Sort(lags)
	pct := func(p float64) float64 {
		if len(lags) == 0 {
			return 0
		}
		return float64(lags[int(p*float64(len(lags)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(bytes1-bytes0)/secs/float64(n), "wireB/s/node")
	b.ReportMetric(float64(packets1-packets0)/secs/float64(n), "pkts/s/node")
	b.ReportMetric(float64(sent*payloadSize)/secs/float64(n), "payloadB/s/node")
	// Updates of one key within a tick coalesce into one frame on purpose;
	// every frame should reach every peer.
	b.ReportMetric(float64(sent-int(frames))/float64(sent), "coalesced/update")
	b.ReportMetric(float64(delivered)/float64(int(frames)*(n-1)), "delivered/frame/peer")
	b.ReportMetric(float64(stale)/float64(int(frames)*(n-1)), "stale/frame/peer")
	b.ReportMetric(float64(pruned), "gossip-pruned")
	b.ReportMetric(pct(0.5), "lag-p50-ms")
	b.ReportMetric(pct(0.99), "lag-p99-ms")
	b.ReportMetric(float64(drops), "drops")
	b.ReportMetric(float64(rcvbuf1-rcvbuf0), "udp-rcvbuf-errors")
}

// udpRcvbufErrors reads the kernel's count of UDP datagrams dropped for a
// full socket buffer (Linux; 0 elsewhere).
func udpRcvbufErrors() int64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, f := range fields {
			if i < len(names) && names[i] == "RcvbufErrors" {
				n, _ := strconv.ParseInt(f, 10, 64)
				return n
			}
		}
	}
	return 0
}
