package cluster

import (
	"time"
)

// seenKey names the latest broadcast of one origin for one (type, key).
type seenKey struct {
	origin string
	typ    byte
	key    string
}

type seenVal struct {
	seq uint64
	at  time.Time
}

// uniqueKey names one unique broadcast, direct message or leave intent.
type uniqueKey struct {
	origin string
	seq    uint64
}

type xferKey struct {
	origin string
	id     uint64
}

// reassembly collects the chunks of one transfer.
type reassembly struct {
	parts   [][]byte
	got     uint64
	size    int
	started time.Time
}

// inbound is the dispatcher's private state: only its goroutine touches it.
type inbound struct {
	seen       map[seenKey]seenVal
	seenUnique map[uniqueKey]time.Time
	xfers      map[xferKey]*reassembly
	xferBytes  int
}

// dispatcher decodes what memberlist delivered, filters duplicates and
// stale versions, reassembles chunked transfers and routes the results to
// the channel workers.
func (c *Cluster) dispatcher() {
	defer c.wg.Done()
	in := &inbound{
		seen:       make(map[seenKey]seenVal),
		seenUnique: make(map[uniqueKey]time.Time),
		xfers:      make(map[xferKey]*reassembly),
	}
	sweep := time.NewTicker(sweepInterval)
	defer sweep.Stop()
	for {
		select {
		case b := <-c.ingress:
			c.dispatch(in, b, time.Now(), false)
		case now := <-sweep.C:
			c.sweep(in, now)
		case <-c.stop:
			return
		}
	}
}

func (c *Cluster) dispatch(in *inbound, b []byte, now time.Time, reassembled bool) {
	f, err := parseFrame(b)
	if err != nil {
		c.countDrop(dropMalformed, "undecodable message", "err", err, "bytes", len(b))
		return
	}
	c.m.framesIn.Inc()
	c.m.framesInBytes.Add(len(b))
	if f.origin == c.self {
		// A frame naming this node as origin: another node with our name,
		// or a replay. Never ours to merge.
		c.m.duplicates.Inc()
		return
	}
	c.touch(f.origin, now, -1)
	switch f.kind {
	case kindBroadcast, kindDirect:
		if c.deliver(in, &f, now) {
			c.touch(f.origin, now, sendLag(f.seq, now))
		}
	case kindBatch:
		lag := time.Duration(-1)
		for i := range f.batch {
			if c.deliver(in, &f.batch[i], now) {
				lag = sendLag(f.batch[i].seq, now)
			}
		}
		if lag >= 0 {
			c.touch(f.origin, now, lag)
		}
	case kindState:
		c.m.pushPulls.Inc()
		for _, e := range f.states {
			cs := c.chans[e.typ]
			if cs == nil || cs.state == nil {
				continue // a channel this node does not run; ignore its state
			}
			if e.flags&stateDeferred != 0 {
				continue // the peer ships it separately
			}
			op := opMerge
			if cs.repair != nil {
				op = opDigest
			}
			c.route(e.typ, work{op: op, from: f.origin, ver: e.ver, data: e.data})
		}
		c.shipDeferred(f.origin)
	case kindRepair:
		c.route(f.typ, work{op: opMerge, from: f.origin, ver: f.ver, data: f.payload})
	case kindChunk:
		if reassembled {
			c.countDrop(dropMalformed, "nested chunk", "from", f.origin)
			return
		}
		c.m.chunksIn.Inc()
		if full := c.reassemble(in, &f, now); full != nil {
			c.dispatch(in, full, now, true)
		}
	case kindLeave:
		k := uniqueKey{origin: f.origin, seq: f.seq}
		if _, dup := in.seenUnique[k]; dup {
			c.m.duplicates.Inc()
			return
		}
		in.seenUnique[k] = now
		c.onLeaveIntent(f.origin, now)
	}
}

// sendLag is how long ago a frame with sequence number seq was sent (the
// sequence is the sender's clock at send, so skew between the two clocks
// is included; a negative result reads as 0). Only a frame's first
// arrival counts: gossip retransmits the same frame later.
func sendLag(seq uint64, now time.Time) time.Duration {
	if seq > 1<<63-1 {
		return -1
	}
	return max(now.Sub(time.Unix(0, int64(seq))), 0)
}

// deliver hands a broadcast or direct payload to its channel unless an
// equal or newer version from the same origin was already delivered, and
// reports whether it did.
func (c *Cluster) deliver(in *inbound, f *frame, now time.Time) bool {
	switch in.firstSeen(f, now) {
	case seenDuplicate:
		c.m.duplicates.Inc()
		return false
	case seenStale:
		c.m.stale.Inc()
		return false
	}
	if sent := time.Unix(0, int64(f.seq)); f.seq <= 1<<63-1 && now.After(sent) {
		c.m.lag.Update(now.Sub(sent).Seconds())
	}
	c.route(f.typ, work{op: opReceive, from: f.origin, ver: f.ver, data: f.payload})
	return true
}

const (
	seenNew       = iota
	seenDuplicate // this very frame came before
	seenStale     // a newer frame of the same origin and key came before
)

// firstSeen records f and classifies it against what its origin sent
// before: for a keyed frame, by sequence number per key; for a unique one,
// by its own sequence number.
func (in *inbound) firstSeen(f *frame, now time.Time) int {
	if f.key == "" {
		k := uniqueKey{origin: f.origin, seq: f.seq}
		if _, dup := in.seenUnique[k]; dup {
			return seenDuplicate
		}
		in.seenUnique[k] = now
		return seenNew
	}
	k := seenKey{origin: f.origin, typ: f.typ, key: f.key}
	if v, ok := in.seen[k]; ok && v.seq >= f.seq {
		if v.seq == f.seq {
			return seenDuplicate
		}
		return seenStale
	}
	in.seen[k] = seenVal{seq: f.seq, at: now}
	return seenNew
}

// route hands work to the channel of type typ without blocking.
func (c *Cluster) route(typ byte, w work) {
	cs := c.chans[typ]
	if cs == nil {
		c.countDrop(dropUnknownType, "message of unregistered type", "type", typ, "from", w.from)
		return
	}
	select {
	case cs.q <- w:
	default:
		c.countDrop(dropChannelFull, "message for a busy channel", "type", cs.name, "from", w.from)
	}
}

// reassemble adds a chunk and returns the whole transfer once complete.
func (c *Cluster) reassemble(in *inbound, f *frame, now time.Time) []byte {
	maxChunks := uint64(c.cfg.MaxTransferBytes/1024 + 1)
	if f.total > maxChunks {
		c.countDrop(dropTransfer, "transfer with too many chunks", "from", f.origin, "chunks", f.total)
		return nil
	}
	k := xferKey{origin: f.origin, id: f.xfer}
	r := in.xfers[k]
	if r == nil {
		if f.total == 1 {
			return f.payload
		}
		r = &reassembly{parts: make([][]byte, f.total), started: now}
		in.xfers[k] = r
	}
	if uint64(len(r.parts)) != f.total {
		c.countDrop(dropTransfer, "chunk with inconsistent count", "from", f.origin)
		return nil
	}
	if r.parts[f.index] != nil {
		return nil // repeated chunk
	}
	if r.size+len(f.payload) > c.cfg.MaxTransferBytes || in.xferBytes+len(f.payload) > 2*c.cfg.MaxTransferBytes {
		c.dropTransfer(in, k, r, "transfer over the size budget")
		return nil
	}
	r.parts[f.index] = f.payload
	r.got++
	r.size += len(f.payload)
	in.xferBytes += len(f.payload)
	if r.got < f.total {
		return nil
	}
	full := make([]byte, 0, r.size)
	for _, p := range r.parts {
		full = append(full, p...)
	}
	delete(in.xfers, k)
	in.xferBytes -= r.size
	return full
}

func (c *Cluster) dropTransfer(in *inbound, k xferKey, r *reassembly, why string) {
	delete(in.xfers, k)
	in.xferBytes -= r.size
	c.countDrop(dropTransfer, why, "from", k.origin, "chunks", r.got, "of", len(r.parts))
}

// sweep forgets old sequence numbers and abandons stalled transfers.
func (c *Cluster) sweep(in *inbound, now time.Time) {
	ttl := c.cfg.SeenTTL
	if len(in.seen)+len(in.seenUnique) > maxSeenEntries {
		ttl /= 4
	}
	for k, v := range in.seen {
		if now.Sub(v.at) > ttl {
			delete(in.seen, k)
		}
	}
	for k, at := range in.seenUnique {
		if now.Sub(at) > ttl {
			delete(in.seenUnique, k)
		}
	}
	stall := max(30*time.Second, 3*c.mlConf.TCPTimeout)
	for k, r := range in.xfers {
		if now.Sub(r.started) > stall {
			c.dropTransfer(in, k, r, "stalled transfer")
		}
	}
}

// worker runs one channel's callbacks, one at a time.
func (c *Cluster) worker(cs *chanState) {
	defer c.wg.Done()
	for {
		select {
		case w := <-cs.q:
			c.handle(cs, w)
		case now := <-cs.tick:
			cs.ticker.Tick(now)
		case <-c.stop:
			return
		}
	}
}

func (c *Cluster) handle(cs *chanState, w work) {
	switch w.op {
	case opReceive:
		cs.tm.received.Inc()
		cs.tm.receivedBytes.Add(len(w.data))
		cs.ch.Receive(w.from, w.ver, w.data)
	case opMerge:
		if cs.state == nil {
			return
		}
		cs.tm.stateMerged.Inc()
		cs.state.MergeState(w.from, w.ver, w.data)
	case opDigest:
		ans := cs.repair.StateSince(w.from, w.ver, w.data)
		if len(ans) == 0 {
			return
		}
		f := frame{kind: kindRepair, origin: c.self, typ: cs.typ, ver: cs.ver, payload: ans}
		if c.transfer(w.from, f.appendBinary(make([]byte, 0, len(ans)+len(c.self)+8))) {
			cs.tm.repairBytes.Add(len(ans))
		}
	}
}

// localState builds this node's push/pull state: every state channel's
// LocalState within MaxInlineState; a larger one is marked deferred here
// and shipped to the peer in chunks when the peer's state arrives.
func (c *Cluster) localState(join bool) []byte {
	f := frame{kind: kindState, origin: c.self}
	budget := c.cfg.MaxInlineState
	for _, cs := range c.chans {
		if cs == nil || cs.state == nil {
			continue
		}
		data := cs.state.LocalState(join)
		if data == nil {
			cs.deferred.Store(nil)
			continue
		}
		switch {
		case len(data) <= budget:
			budget -= len(data)
			cs.deferred.Store(nil)
			f.states = append(f.states, stateEntry{typ: cs.typ, ver: cs.ver, data: data})
		case cs.repair == nil && len(data) <= c.cfg.MaxTransferBytes-64:
			cp := append([]byte(nil), data...)
			cs.deferred.Store(&cp)
			f.states = append(f.states, stateEntry{typ: cs.typ, ver: cs.ver, flags: stateDeferred})
		default:
			// A digest must be compact, and nothing travels above
			// MaxTransferBytes.
			cs.deferred.Store(nil)
			c.countDrop(dropStateOversize, "push/pull state", "type", cs.name, "bytes", len(data))
		}
	}
	b := f.appendBinary(nil)
	c.m.stateBytes.Add(len(b))
	return b
}

// shipDeferred sends the states too large for push/pull to peer, as repair
// frames (merged directly, never answered, so no ping-pong).
func (c *Cluster) shipDeferred(peer string) {
	for _, cs := range c.chans {
		if cs == nil {
			continue
		}
		p := cs.deferred.Load()
		if p == nil {
			continue
		}
		f := frame{kind: kindRepair, origin: c.self, typ: cs.typ, ver: cs.ver, payload: *p}
		if c.transfer(peer, f.appendBinary(make([]byte, 0, len(*p)+len(c.self)+8))) {
			cs.tm.repairBytes.Add(len(*p))
		}
	}
}
