package cluster

import (
	"fmt"

	"github.com/VictoriaMetrics/metrics"
)

// Drop reasons, the values of the reason label of
// tollgate_cluster_dropped_total.
const (
	dropIngressFull   = "ingress_full"   // NotifyMsg/MergeRemoteState queue full
	dropChannelFull   = "channel_full"   // a channel's work queue full
	dropSendQueueFull = "send_full"      // reliable send queue full
	dropSendFailed    = "send_failed"    // reliable send returned an error
	dropBacklog       = "backlog"        // unique broadcasts beyond MaxQueuedBroadcasts in one tick
	dropMalformed     = "malformed"      // undecodable message
	dropUnknownType   = "unknown_type"   // no channel for the type
	dropTooLarge      = "too_large"      // over MaxTransferBytes
	dropTransfer      = "transfer"       // chunked transfer incomplete or over budget
	dropNoMember      = "no_member"      // reliable target no longer a live member
	dropStateOversize = "state_oversize" // push/pull state that fit nowhere
	dropMemberlist    = "memberlist"     // memberlist's own handoff queue overflowed
)

var dropReasons = [...]string{
	dropIngressFull, dropChannelFull, dropSendQueueFull, dropSendFailed, dropBacklog,
	dropMalformed, dropUnknownType, dropTooLarge, dropTransfer, dropNoMember, dropStateOversize,
	dropMemberlist,
}

// typeMetrics are the per-envelope-type counters, created at Register.
type typeMetrics struct {
	received      *metrics.Counter // payloads delivered to Receive
	receivedBytes *metrics.Counter
	sent          *metrics.Counter // payloads this node originated (broadcast or Send)
	sentBytes     *metrics.Counter
	coalesced     *metrics.Counter // broadcasts replaced within a tick
	reliable      *metrics.Counter // broadcasts too large for UDP, fanned out over TCP
	stateMerged   *metrics.Counter // MergeState calls
	repairBytes   *metrics.Counter // StateSince answers sent
}

// clusterMetrics holds every metric of a Cluster. Created once in New.
type clusterMetrics struct {
	set *metrics.Set

	transmits     *metrics.Counter // broadcast frames handed to memberlist (incl. retransmits)
	transmitBytes *metrics.Counter
	framesIn      *metrics.Counter // frames received (any kind)
	framesInBytes *metrics.Counter
	directPackets *metrics.Counter // batched UDP packets sent straight to members
	directBytes   *metrics.Counter
	duplicates    *metrics.Counter
	stale         *metrics.Counter // older than a frame already delivered for its key
	reliableSends *metrics.Counter // reliable messages sent (chunks count one each)
	reliableBytes *metrics.Counter
	chunksIn      *metrics.Counter
	pushPulls     *metrics.Counter // push/pull states merged from peers
	stateBytes    *metrics.Counter // push/pull state bytes produced
	rejectedKey   *metrics.Counter
	rejectedLabel *metrics.Counter
	gossipPruned  *metrics.Counter // retransmission copies shed from memberlist's queue
	joins         *metrics.Counter
	leaves        *metrics.Counter
	failures      *metrics.Counter
	lag           *metrics.PrometheusHistogram
	dropped       map[string]*metrics.Counter
}

func newClusterMetrics(set *metrics.Set, c *Cluster) *clusterMetrics {
	m := &clusterMetrics{set: set, dropped: make(map[string]*metrics.Counter, len(dropReasons))}
	const p = "tollgate_cluster_"
	m.transmits = set.NewCounter(p + "gossip_transmits_total")
	m.transmitBytes = set.NewCounter(p + "gossip_transmit_bytes_total")
	m.framesIn = set.NewCounter(p + "frames_received_total")
	m.framesInBytes = set.NewCounter(p + "frames_received_bytes_total")
	m.directPackets = set.NewCounter(p + "direct_packets_total")
	m.directBytes = set.NewCounter(p + "direct_bytes_total")
	m.duplicates = set.NewCounter(p + "broadcasts_duplicate_total")
	m.stale = set.NewCounter(p + "broadcasts_stale_total")
	m.reliableSends = set.NewCounter(p + "reliable_sends_total")
	m.reliableBytes = set.NewCounter(p + "reliable_send_bytes_total")
	m.chunksIn = set.NewCounter(p + "chunks_received_total")
	m.pushPulls = set.NewCounter(p + "pushpull_merges_total")
	m.stateBytes = set.NewCounter(p + "pushpull_state_bytes_total")
	m.rejectedKey = set.NewCounter(p + `rejected_total{reason="key"}`)
	m.rejectedLabel = set.NewCounter(p + `rejected_total{reason="label"}`)
	m.gossipPruned = set.NewCounter(p + "gossip_pruned_total")
	m.joins = set.NewCounter(p + `member_events_total{event="join"}`)
	m.leaves = set.NewCounter(p + `member_events_total{event="leave"}`)
	m.failures = set.NewCounter(p + `member_events_total{event="fail"}`)
	m.lag = set.NewPrometheusHistogramExt(p+"broadcast_lag_seconds",
		[]float64{0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 5, 10, 30})
	for _, r := range dropReasons {
		m.dropped[r] = set.NewCounter(fmt.Sprintf(p+`dropped_total{reason=%q}`, r))
	}
	set.NewGauge(p+"members_alive", func() float64 { return float64(c.aliveCount.Load()) })
	set.NewGauge(p+"members_known", func() float64 { return float64(c.knownCount.Load()) })
	set.NewGauge(p+"partitioned", func() float64 {
		if c.partitioned.Load() {
			return 1
		}
		return 0
	})
	set.NewGauge(p+"broadcast_queue", func() float64 { return float64(c.queue.NumQueued()) })
	set.NewGauge(p+"ingress_queue", func() float64 { return float64(len(c.ingress)) })
	return m
}

func (m *clusterMetrics) newTypeMetrics(name string) *typeMetrics {
	const p = "tollgate_cluster_"
	l := fmt.Sprintf(`{type=%q}`, name)
	return &typeMetrics{
		received:      m.set.NewCounter(p + "messages_received_total" + l),
		receivedBytes: m.set.NewCounter(p + "messages_received_bytes_total" + l),
		sent:          m.set.NewCounter(p + "messages_sent_total" + l),
		sentBytes:     m.set.NewCounter(p + "messages_sent_bytes_total" + l),
		coalesced:     m.set.NewCounter(p + "broadcasts_coalesced_total" + l),
		reliable:      m.set.NewCounter(p + "reliable_fallbacks_total" + l),
		stateMerged:   m.set.NewCounter(p + "state_merges_total" + l),
		repairBytes:   m.set.NewCounter(p + "repair_bytes_sent_total" + l),
	}
}

// Stats is a snapshot of the cluster's counters, summed over types, for
// admin views and tests (the same numbers are exported as metrics).
type Stats struct {
	MembersAlive      int
	MembersKnown      int
	Majority          bool
	Received          uint64 // payloads delivered to channels
	Sent              uint64 // payloads originated here
	Coalesced         uint64 // broadcasts replaced by a newer one within a tick
	Transmits         uint64 // broadcast frames handed to memberlist (with retransmits)
	TransmitBytes     uint64
	DirectPackets     uint64 // batched UDP packets sent straight to members
	DirectBytes       uint64
	Duplicates        uint64
	Stale             uint64 // superseded by a newer frame of the same key before arriving
	ReliableFallbacks uint64 // broadcasts too large for UDP, sent over TCP
	ReliableSends     uint64 // reliable messages (each chunk counts)
	ReliableBytes     uint64
	ChunksReceived    uint64
	PushPullMerges    uint64
	StateMerges       uint64
	RepairBytes       uint64
	RejectedKey       uint64 // gossip refused: wrong or missing key
	RejectedLabel     uint64 // gossip refused: wrong label
	Dropped           map[string]uint64
	BroadcastQueue    int    // gossip copies waiting in memberlist's queue
	GossipPruned      uint64 // gossip copies shed to keep that queue bounded
}

// DroppedTotal sums the drops of every reason.
func (s Stats) DroppedTotal() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}
