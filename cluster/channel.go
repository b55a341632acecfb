package cluster

import "time"

// Envelope types of Tollgate's consumers. Every node must agree on them, so
// they live here even though this package never looks inside the payloads.
const (
	TypeLedger  byte = 1 // ledger deltas, digests and repair state
	TypeCatalog byte = 2 // catalog records (last-writer-wins)
	TypeHealth  byte = 3 // provider-health summaries (hints)

	// TypeReserved and above are this package's own frames; consumers
	// register types 1 to TypeReserved-1.
	TypeReserved byte = 0xE0
)

// Channel consumes the payloads of one envelope type: one concern per
// channel (ledger, catalog, health), registered with Cluster.Register.
//
// Every method of a channel and of its optional interfaces runs on that
// channel's own worker goroutine, one call at a time, never on memberlist's
// goroutines; a slow channel delays only itself (its queue fills and drops
// are counted). The exception is StateChannel.LocalState, see there.
type Channel interface {
	// Receive handles a payload that member from broadcast or sent with
	// Send. from is the origin named in the frame, not a relay; it is
	// self-declared, so the channel must check that the payload only
	// changes what from owns (the ledger's Merge does). The payload is the
	// callee's to keep.
	Receive(from string, version byte, payload []byte)
}

// StateChannel is a Channel that takes part in push/pull anti-entropy.
type StateChannel interface {
	Channel
	// LocalState returns this node's state for push/pull: the state itself
	// when small, or a compact digest when the channel is also a Repairer.
	// join is true for the exchange made when a node joins. It is called
	// on a memberlist goroutine (the push/pull timer or a stream handler,
	// never the packet loop), possibly concurrently with the worker: it
	// must be quick, safe for concurrent use, and must not block.
	// Returning nil leaves the channel out of this exchange. A state over
	// Config.MaxInlineState is sent to the peer separately, in chunks; a
	// Repairer's digest must fit (it is dropped and counted otherwise).
	LocalState(join bool) []byte
	// MergeState merges state from member from: its LocalState (plain
	// state channels) or its StateSince answer (repairers). Unlike a
	// Receive payload, state may carry entries that other nodes own, since
	// a peer passes on what it learned. The state is the callee's to keep.
	MergeState(from string, version byte, state []byte)
}

// Repairer is a StateChannel whose LocalState is a digest. When a peer's
// digest arrives, the cluster asks StateSince what that peer lacks and
// sends the answer to it over reliable (TCP) sends, chunked, where its
// MergeState takes it.
type Repairer interface {
	StateChannel
	// StateSince returns the state member from lacks according to its
	// digest, or nil when it lacks nothing.
	StateSince(from string, version byte, digest []byte) []byte
}

// Ticker is a Channel that wants a call every Config.GossipTick on its
// worker, for example to collect deltas and Broadcast them.
type Ticker interface {
	Channel
	Tick(now time.Time)
}
