package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/hashicorp/memberlist"
)

// Lifecycle states of a Cluster.
const (
	stateNew int32 = iota
	stateStarted
	stateClosing
	stateClosed
)

// memberlist's packet framing, from its net.go and security.go (v0.7):
// what a gossip packet spends before the first user byte.
const (
	mlCompoundHeader  = 2  // compoundHeaderOverhead
	mlCompoundPerMsg  = 2  // compoundOverhead
	mlUserMsgOverhead = 1  // userMsgOverhead
	mlEncryptV0       = 45 // encryptOverhead(0): version, IV, padding, tag
	mlEncryptV1       = 29 // encryptOverhead(1): version, IV, tag
	maxSeenEntries    = 1 << 20
	leaveIntentTTL    = time.Minute
	sweepInterval     = time.Second
)

// Cluster is one node's membership in a Tollgate cluster: it owns the
// memberlist instance, the node metadata, the registered channels and every
// goroutine that moves their bytes. Create it with New, Register channels,
// Start, and Shutdown at the end. Methods are safe for concurrent use.
type Cluster struct {
	cfg    Config
	mlConf *memberlist.Config
	log    *slog.Logger
	m      *clusterMetrics
	self   string
	maxMsg int // largest broadcast frame that fits one gossip packet

	ml    *memberlist.Memberlist // set by Start
	state atomic.Int32
	meta  atomic.Pointer[[]byte]

	regMu sync.Mutex      // serializes Register and Start
	chans [256]*chanState // by type; written before Start only

	queue   *memberlist.TransmitLimitedQueue
	ingress chan []byte
	sendQ   chan sendJob
	lastSeq atomic.Uint64
	xferID  atomic.Uint64

	pendMu     sync.Mutex
	pending    map[pendKey][]byte
	pendUnique []pendUnique

	mu          sync.Mutex // guards the member table below; never held while calling memberlist
	members     map[string]*memberEntry
	peerSeen    bool // some other member was alive at some point
	aliveCount  atomic.Int64
	knownCount  atomic.Int64
	partitioned atomic.Bool

	hookMu sync.Mutex
	hooks  []func(partitioned bool)

	evMu     sync.Mutex
	evQueue  []memberEvent
	evSignal chan struct{}

	dropLogMu   sync.Mutex
	dropLogLast map[string]time.Time

	stop     chan struct{}
	wg       sync.WaitGroup
	joinStop chan struct{}
	joinDone chan struct{}
}

type pendKey struct {
	typ byte
	key string
}

type pendUnique struct {
	typ     byte
	payload []byte
}

// chanState is a registered channel and its worker.
type chanState struct {
	typ      byte
	name     string
	ver      byte
	ch       Channel
	state    StateChannel // nil unless ch is one
	repair   Repairer     // nil unless ch is one
	ticker   Ticker       // nil unless ch is one
	q        chan work
	tick     chan time.Time
	tm       *typeMetrics
	deferred atomic.Pointer[[]byte] // a LocalState too large for push/pull
}

const (
	opReceive byte = iota
	opMerge
	opDigest
)

type work struct {
	op   byte
	from string
	ver  byte
	data []byte
}

// New checks cfg and builds a Cluster; nothing listens until Start. The
// metrics are created in set (a private set when nil).
func New(cfg Config, set *metrics.Set) (*Cluster, error) {
	if !cfg.Enabled {
		return nil, ErrDisabled
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Join = append([]string(nil), cfg.Join...)
	key, err := parseSecretKey(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("cluster: config: secret key: %w", err)
	}
	if set == nil {
		set = metrics.NewSet()
	}
	c := &Cluster{
		cfg:         cfg,
		log:         cfg.Logger.With("component", "cluster", "node", cfg.NodeName),
		self:        cfg.NodeName,
		ingress:     make(chan []byte, cfg.IngressQueue),
		sendQ:       make(chan sendJob, cfg.SendQueue),
		pending:     make(map[pendKey][]byte),
		members:     make(map[string]*memberEntry),
		evSignal:    make(chan struct{}, 1),
		dropLogLast: make(map[string]time.Time),
		stop:        make(chan struct{}),
		joinStop:    make(chan struct{}),
		joinDone:    make(chan struct{}),
	}
	mc, err := cfg.memberlistConfig(key, &logFilter{c: c})
	if err != nil {
		return nil, fmt.Errorf("cluster: config: %w", err)
	}
	mc.Delegate = &delegate{c: c}
	mc.Events = &eventDelegate{c: c}
	c.mlConf = mc
	c.maxMsg = maxGossipMessage(mc)
	meta, err := cfg.meta().AppendBinary(nil)
	if err != nil {
		return nil, fmt.Errorf("cluster: config: %w", err)
	}
	c.meta.Store(&meta)
	c.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return max(1, int(c.aliveCount.Load())) },
		RetransmitMult: mc.RetransmitMult,
	}
	c.m = newClusterMetrics(set, c)
	c.lastSeq.Store(uint64(time.Now().UnixNano()))
	c.xferID.Store(uint64(time.Now().UnixNano()))
	return c, nil
}

// maxGossipMessage is the largest user message memberlist can put in a
// gossip packet of this config (see memberlist's gossip and getBroadcasts).
func maxGossipMessage(mc *memberlist.Config) int {
	n := mc.UDPBufferSize - mlCompoundHeader
	if mc.Label != "" {
		n -= 2 + len(mc.Label)
	}
	if len(mc.SecretKey) > 0 {
		if mc.ProtocolVersion < 2 {
			n -= mlEncryptV0
		} else {
			n -= mlEncryptV1
		}
	}
	return n - mlCompoundPerMsg - mlUserMsgOverhead
}

// Register adds the channel for envelope type typ (1 to TypeReserved-1).
// name labels its metrics and logs; version is the payload version its
// broadcasts and states carry. Register before Start.
func (c *Cluster) Register(typ byte, name string, version byte, ch Channel) error {
	if !consumerType(typ) {
		return fmt.Errorf("%w: %#x", ErrReservedType, typ)
	}
	if ch == nil || name == "" {
		return fmt.Errorf("cluster: register type %d: nil channel or empty name", typ)
	}
	c.regMu.Lock()
	defer c.regMu.Unlock()
	if c.state.Load() != stateNew {
		return ErrStarted
	}
	if c.chans[typ] != nil {
		return fmt.Errorf("%w: %d (%s)", ErrTypeTaken, typ, c.chans[typ].name)
	}
	cs := &chanState{typ: typ, name: name, ver: version, ch: ch, q: make(chan work, c.cfg.ChannelQueue)}
	cs.state, _ = ch.(StateChannel)
	cs.repair, _ = ch.(Repairer)
	if t, ok := ch.(Ticker); ok {
		cs.ticker = t
		cs.tick = make(chan time.Time, 1)
	}
	cs.tm = c.m.newTypeMetrics(name)
	c.chans[typ] = cs
	return nil
}

// Start creates the memberlist instance (listening on Bind), starts this
// package's goroutines and begins joining Config.Join in the background.
func (c *Cluster) Start() error {
	c.regMu.Lock()
	defer c.regMu.Unlock()
	if !c.state.CompareAndSwap(stateNew, stateStarted) {
		return ErrStarted
	}
	ml, err := memberlist.Create(c.mlConf)
	if err != nil {
		c.state.Store(stateClosed)
		close(c.joinDone)
		return fmt.Errorf("cluster: cannot start memberlist: %w", err)
	}
	c.ml = ml
	for _, cs := range c.chans {
		if cs != nil {
			c.wg.Add(1)
			go c.worker(cs)
		}
	}
	for range c.cfg.SendWorkers {
		c.wg.Add(1)
		go c.sender()
	}
	c.wg.Add(3)
	go c.dispatcher()
	go c.flusher()
	go c.eventLoop()
	go c.joinLoop()
	c.pushEvent(memberEvent{kind: evRecheck})
	c.log.Info("cluster started", "addr", c.Addr(), "profile", c.cfg.Profile,
		"encrypted", len(c.mlConf.SecretKey) > 0, "label", c.cfg.Label, "max_broadcast", c.maxMsg)
	return nil
}

// Shutdown leaves the cluster gracefully (peers then stop counting this
// node as a known member, see Majority), shuts memberlist down and stops
// every goroutine. It waits at most until ctx is done (and
// Config.LeaveTimeout for the leave itself). Safe to call more than once.
func (c *Cluster) Shutdown(ctx context.Context) error { return c.shutdown(ctx, true) }

func (c *Cluster) shutdown(ctx context.Context, leave bool) error {
	if c.state.CompareAndSwap(stateNew, stateClosed) {
		return nil
	}
	if !c.state.CompareAndSwap(stateStarted, stateClosing) {
		return nil
	}
	close(c.joinStop)
	var firstErr error
	select {
	case <-c.joinDone:
	case <-ctx.Done():
		firstErr = ctx.Err()
	}
	if leave && firstErr == nil {
		c.flush()
		if err := c.leave(ctx); err != nil {
			c.log.Warn("graceful leave incomplete", "err", err)
			firstErr = err
		}
	}
	if err := c.ml.Shutdown(); err != nil && firstErr == nil {
		firstErr = fmt.Errorf("cluster: cannot shut memberlist down: %w", err)
	}
	close(c.stop)
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if firstErr == nil {
			firstErr = ctx.Err()
		}
	}
	c.state.Store(stateClosed)
	c.log.Info("cluster stopped", "graceful", leave)
	return firstErr
}

// leave tells every live member that this node is leaving on purpose (so
// they drop it from the known members), then runs memberlist's Leave. A
// member the intent cannot reach is logged, not an error: it is gone or cut
// off, and it will count this node as failed until it hears otherwise.
func (c *Cluster) leave(ctx context.Context) error {
	timeout := c.cfg.LeaveTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	start := time.Now()
	f := frame{kind: kindLeave, origin: c.self, seq: c.nextSeq()}
	msg := f.appendBinary(nil)
	c.queue.QueueBroadcast(&uniqueBroadcast{msg: msg})
	type ack struct {
		to   string
		done chan error
	}
	var acks []ack
	for _, name := range c.liveMembers() {
		done := make(chan error, 1)
		select {
		case c.sendQ <- sendJob{to: name, frames: [][]byte{msg}, done: done}:
			acks = append(acks, ack{to: name, done: done})
		default:
			c.countDrop(dropSendQueueFull, "leave intent", "to", name)
		}
	}
	for _, a := range acks {
		rem := timeout - time.Since(start)
		if rem <= 0 {
			c.log.Warn("leave intent not confirmed in time", "to", a.to, "timeout", timeout)
			continue
		}
		t := time.NewTimer(rem)
		select {
		case err := <-a.done:
			if err != nil {
				c.log.Info("leave intent not delivered", "to", a.to, "err", err)
			}
		case <-t.C:
			c.log.Warn("leave intent not confirmed in time", "to", a.to, "timeout", timeout)
		}
		t.Stop()
	}
	rem := max(timeout-time.Since(start), 10*time.Millisecond)
	if err := c.ml.Leave(rem); err != nil {
		return fmt.Errorf("cluster: memberlist leave: %w", err)
	}
	return nil
}

// Name is this node's name.
func (c *Cluster) Name() string { return c.self }

// Addr is the gossip address (IP:port) this node advertises; with Bind
// port 0 it names the port actually bound. Empty before Start.
func (c *Cluster) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.members[c.self]; e != nil {
		return e.addr
	}
	return ""
}

// BroadcastLimit is the largest payload that Broadcast with this key sends
// by UDP gossip; larger ones go over TCP to each member.
func (c *Cluster) BroadcastLimit(key string) int {
	// Sequence numbers are Unix nanoseconds: 9 bytes as a uvarint until
	// the year 2262.
	seq := max(c.lastSeq.Load(), uint64(time.Now().UnixNano()))
	return c.maxMsg - frameHeaderLen(c.self, key, seq)
}

// Broadcast queues payload for every member under (typ, key). Within one
// GossipTick only the last payload per (typ, key) is sent, and a newer one
// replaces an older one still in memberlist's gossip queue. So a keyed
// payload must supersede every earlier payload of its key (a current
// value, not an increment). An empty key makes the payload unique: never
// coalesced or replaced, and sent to each member over TCP, for the rare
// payloads that must all arrive (a grant, a key record).
//
// At the next tick the payload goes straight to every live member: keyed
// payloads up to BroadcastLimit(key) bytes in batched UDP packets, larger
// ones over TCP (chunked above Config.ChunkBytes, counted as reliable
// fallbacks). A copy of every payload that fits a packet also enters
// memberlist's gossip queue, which retransmits it to random members. Lost
// packets, and members that join later, are covered by that and by
// anti-entropy: merges must be idempotent. Broadcast never blocks and keeps
// its own copy of payload.
func (c *Cluster) Broadcast(typ byte, key string, payload []byte) error {
	cs, err := c.sendable(typ)
	if err != nil {
		return err
	}
	if len(key) > 255 {
		return ErrKeyTooLong
	}
	if len(payload) > c.cfg.MaxTransferBytes-64-len(key) {
		c.countDrop(dropTooLarge, "broadcast", "type", cs.name, "bytes", len(payload))
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(payload))
	}
	p := append([]byte(nil), payload...)
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	if key == "" {
		if len(c.pendUnique) >= c.cfg.MaxQueuedBroadcasts {
			c.countDrop(dropBacklog, "unique broadcast backlog", "type", cs.name)
			return ErrQueueFull
		}
		c.pendUnique = append(c.pendUnique, pendUnique{typ: typ, payload: p})
		return nil
	}
	k := pendKey{typ: typ, key: key}
	if _, ok := c.pending[k]; ok {
		cs.tm.coalesced.Inc()
	}
	c.pending[k] = p
	return nil
}

// Send delivers payload to member to's channel of type typ over a reliable
// (TCP) send, chunked when large. It queues and returns at once; the send
// fails (counted, logged) if to is gone by then. It never relays.
func (c *Cluster) Send(to string, typ byte, payload []byte) error {
	cs, err := c.sendable(typ)
	if err != nil {
		return err
	}
	if !c.isAlive(to) || to == c.self {
		return fmt.Errorf("%w: %q", ErrUnknownMember, to)
	}
	f := frame{kind: kindDirect, origin: c.self, seq: c.nextSeq(), typ: typ, ver: cs.ver, payload: payload}
	msg := f.appendBinary(make([]byte, 0, frameHeaderLen(c.self, "", f.seq)+len(payload)))
	if !c.transfer(to, msg) {
		return ErrQueueFull
	}
	cs.tm.sent.Inc()
	cs.tm.sentBytes.Add(len(payload))
	return nil
}

func (c *Cluster) sendable(typ byte) (*chanState, error) {
	switch c.state.Load() {
	case stateNew:
		return nil, ErrNotStarted
	case stateClosing, stateClosed:
		return nil, ErrClosed
	}
	cs := c.chans[typ]
	if cs == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, typ)
	}
	return cs, nil
}

// UpdateMeta re-advertises this node's metadata (its name cannot change);
// peers see a member update. It waits up to Config.LeaveTimeout for the
// update to go out.
func (c *Cluster) UpdateMeta(m Meta) error {
	if m.Name != c.self {
		return fmt.Errorf("cluster: update meta: name %q is not this node's %q", m.Name, c.self)
	}
	b, err := m.AppendBinary(nil)
	if err != nil {
		return err
	}
	c.meta.Store(&b)
	if c.state.Load() != stateStarted {
		return nil
	}
	if err := c.ml.UpdateNode(c.cfg.LeaveTimeout); err != nil {
		return fmt.Errorf("cluster: cannot update node metadata: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (c *Cluster) Stats() Stats {
	s := Stats{
		MembersAlive:   int(c.aliveCount.Load()),
		MembersKnown:   int(c.knownCount.Load()),
		Majority:       c.Majority(),
		Transmits:      c.m.transmits.Get(),
		TransmitBytes:  c.m.transmitBytes.Get(),
		DirectPackets:  c.m.directPackets.Get(),
		DirectBytes:    c.m.directBytes.Get(),
		Duplicates:     c.m.duplicates.Get(),
		Stale:          c.m.stale.Get(),
		ReliableSends:  c.m.reliableSends.Get(),
		ReliableBytes:  c.m.reliableBytes.Get(),
		ChunksReceived: c.m.chunksIn.Get(),
		PushPullMerges: c.m.pushPulls.Get(),
		RejectedKey:    c.m.rejectedKey.Get(),
		RejectedLabel:  c.m.rejectedLabel.Get(),
		Dropped:        make(map[string]uint64, len(c.m.dropped)),
		BroadcastQueue: c.queue.NumQueued(),
		GossipPruned:   c.m.gossipPruned.Get(),
	}
	for r, ctr := range c.m.dropped {
		if v := ctr.Get(); v > 0 {
			s.Dropped[r] = v
		}
	}
	for _, cs := range c.chans {
		if cs == nil {
			continue
		}
		s.Received += cs.tm.received.Get()
		s.Sent += cs.tm.sent.Get()
		s.Coalesced += cs.tm.coalesced.Get()
		s.ReliableFallbacks += cs.tm.reliable.Get()
		s.StateMerges += cs.tm.stateMerged.Get()
		s.RepairBytes += cs.tm.repairBytes.Get()
	}
	return s
}

// nextSeq returns a sequence number larger than every earlier one of this
// node, and close to the current Unix time in nanoseconds: across restarts
// it keeps growing (so peers' duplicate filters accept the new life), and
// receivers read it as the send time to measure gossip lag.
func (c *Cluster) nextSeq() uint64 {
	now := uint64(time.Now().UnixNano())
	for {
		last := c.lastSeq.Load()
		next := max(now, last+1)
		if c.lastSeq.CompareAndSwap(last, next) {
			return next
		}
	}
}

// countDrop counts a drop and logs it, at most once per second per reason.
func (c *Cluster) countDrop(reason, what string, args ...any) {
	c.countDropN(reason, 1, what, args...)
}

func (c *Cluster) countDropN(reason string, n int, what string, args ...any) {
	c.m.dropped[reason].Add(n)
	now := time.Now()
	c.dropLogMu.Lock()
	last := c.dropLogLast[reason]
	log := now.Sub(last) >= time.Second
	if log {
		c.dropLogLast[reason] = now
	}
	c.dropLogMu.Unlock()
	if log {
		c.log.Warn("cluster dropped "+what, append(args, "reason", reason, "dropped_total", c.m.dropped[reason].Get())...)
	}
}

// liveMembers lists the names of the other live members that are not
// leaving themselves, sorted.
func (c *Cluster) liveMembers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.members))
	for name, e := range c.members {
		if name != c.self && e.state == MemberAlive && e.leaving.IsZero() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
