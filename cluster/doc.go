// Package cluster owns Tollgate's cluster membership and the gossip that
// carries replicated state between nodes: a hashicorp/memberlist instance,
// the typed metadata each node advertises, typed envelopes, broadcasts,
// reliable sends and push/pull anti-entropy.
//
// It carries bytes. It imports no other Tollgate package: the ledger
// (CRDT deltas, digests, repair state) and routing (catalog records,
// health summaries) plug in as Channels that cmd registers, and cmd wires
// OnPartitionChange to the ledger's SetPartitioned. Only core and cmd may
// import it.
//
// # Lifecycle
//
//	c, err := cluster.New(cfg, metricsSet)      // validates, listens nowhere yet
//	c.Register(cluster.TypeLedger, "ledger", 1, ledgerChannel)
//	c.OnPartitionChange(ledger.SetPartitioned)
//	c.Start()                                   // listen, join Config.Join in the background
//	c.Broadcast(cluster.TypeLedger, accountID, delta)
//	c.Shutdown(ctx)                             // graceful leave, stop every goroutine
//
// # Envelopes and delivery
//
// Every message is an envelope: one type byte, one version byte, then the
// payload (wire.go has the exact layout). Consumer types are 1 to
// TypeReserved-1; each has exactly one Channel, whose calls all run on its
// own worker goroutine, never on memberlist's packet loop: the memberlist
// callbacks only copy the bytes into a bounded queue, and a full queue
// drops and counts (tollgate_cluster_dropped_total).
//
// Broadcast(typ, key, payload) coalesces per (type, key) for one
// Config.GossipTick (≤ 100 ms). At the tick the origin sends each new frame
// straight to every live member, batched into UDP packets, and queues a
// copy in memberlist's TransmitLimitedQueue, named by (origin, type, key)
// so a newer frame replaces an older one still queued; gossip retransmits
// the copies to random members, covering lost packets and members the
// origin does not know yet. A keyed payload must therefore be a current
// value that supersedes earlier ones (the ledger's per-node counters are
// absolute); use the empty key for the rare payloads that must all arrive
// (a new grant, a key record): those also go to every member over TCP.
//
// Why not gossip alone: memberlist gives a queued frame only
// RetransmitMult × log10(N+1) transmissions to random peers (2 on the
// local profile with five nodes), so some nodes miss it, and its budget of
// GossipNodes packets per GossipInterval (about 20 KB/s on LAN) is far
// below a busy gateway's delta rate. Sending to each member directly costs
// N−1 packets per batch, which suits Tollgate's clusters of a few nodes
// (BenchmarkGossipBandwidth: 5,000 deltas/s over 10,000 keys cost about
// 0.8 MB/s per node with three nodes, 1 MB/s with five). Frames are not
// relayed: when A and C cannot reach each other but both reach B, A's
// state reaches C through B's push/pull, not its broadcasts.
// Sequence numbers, per origin, drop duplicates and stale versions; they
// are Unix nanoseconds at send, so receivers also measure the gossip lag
// (tollgate_cluster_broadcast_lag_seconds).
//
// A frame larger than a gossip packet (BroadcastLimit: the UDP buffer of
// 1,400 bytes minus memberlist's compound, label and encryption overhead,
// computed from the memberlist config) would sit in memberlist's queue
// forever. It is never dropped silently: it goes to each live member over
// TCP (SendReliable), chunked above Config.ChunkBytes, and is counted in
// tollgate_cluster_reliable_fallbacks_total. Anything that cannot be sent
// at all is counted under a drop reason and logged (once a second).
//
// Delivery is best effort: correctness comes from idempotent, commutative
// merges plus anti-entropy. At every push/pull (and when a node joins),
// each StateChannel contributes its LocalState. A plain state channel's
// peer merges it; a Repairer's LocalState is a digest, and the peer answers
// with StateSince(digest) — what this node lacks — sent back over TCP in
// chunks. A state larger than Config.MaxInlineState does not go in the
// push/pull (memberlist refuses remote states over 20 MiB) but is shipped
// to the peer the same chunked way.
//
// # Membership and majority
//
// Join retries with exponential backoff in the background; failed members
// are contacted again every Config.ReconnectInterval, so the halves of a
// healed partition find each other. Shutdown first tells every member that
// this node leaves on purpose, then runs memberlist's Leave. One goroutine
// consumes membership events. Majority is true while this node sees more
// than half of the known members (seen alive since start, minus those that
// left gracefully); cmd passes its changes to the ledger, which then limits
// each key's new spend to the partition allowance.
//
// # Security
//
// With a SecretKey, memberlist encrypts and authenticates every packet and
// stream with AES-GCM, the Label bound in as additional data; the Label
// also keeps clusters apart on its own. Gossip with a wrong key or label is
// refused and counted (tollgate_cluster_rejected_total{reason="key"|"label"}).
// Anyone holding the key is fully trusted: the origin named in a frame is
// self-declared. Consumers must validate what they merge — a delta may only
// raise its sender's own counters; that check is the ledger's Merge, given
// the origin as sender. Without a key (Config.Insecure) gossip is plaintext
// and unauthenticated.
//
// # Profiles and the knobs that matter across regions
//
// ProfileLAN, ProfileWAN and ProfileLocal start from memberlist's
// DefaultLANConfig, DefaultWANConfig and DefaultLocalConfig. For nodes in
// several regions use ProfileWAN; what changes, and what to tune:
//
//   - ProbeTimeout (LAN 500 ms, WAN 3 s) must exceed the worst round trip
//     between regions, or healthy far nodes are suspected;
//   - ProbeInterval (1 s, WAN 5 s) and SuspicionMult (4, WAN 6) set how
//     long a dead node takes to be declared failed — and so how long a
//     partitioned minority keeps full spending rights before Majority
//     turns false;
//   - SuspicionMaxTimeoutMult (6) and AwarenessMaxMultiplier (8) bound how
//     much memberlist stretches that for a node cut off from everyone (no
//     one confirms its suspicions, its own probes fail): the minority side
//     notices about twice as late as the majority unless they are lowered
//     (docs/BENCHMARKS.md has measurements);
//   - GossipInterval (200 ms, WAN 500 ms) and GossipNodes (3, WAN 4) set
//     broadcast latency and bandwidth: a delta reaches everyone in a few
//     gossip intervals, each node sends GossipNodes packets per interval;
//   - RetransmitMult (4) × log10(N+1) transmissions per node per broadcast;
//   - PushPullInterval (30 s, WAN 60 s) bounds how stale a node can stay
//     after lost broadcasts; TCPTimeout (10 s, WAN 30 s) bounds each
//     push/pull and reliable send over slow links.
//
// GossipTick stays ≤ 100 ms on every profile: it only batches locally.
// Routing statistics stay local to each region (each measures its own
// providers); health summaries gossip as hints (TypeHealth, wired in cmd:
// a same-region report may demote an endpoint this node has not measured,
// another region's only weighs in on its error rate).
package cluster
