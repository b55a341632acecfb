package cluster

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// sendJob is one reliable delivery: frames go to member to in order over
// separate TCP sends (several frames are the chunks of one transfer).
type sendJob struct {
	to     string
	frames [][]byte
	done   chan error // optional, receives the outcome
}

// flusher hands the broadcasts coalesced during each tick to memberlist,
// ticks the Ticker channels and keeps memberlist's queue bounded.
func (c *Cluster) flusher() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.GossipTick)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			c.flush()
			for _, cs := range c.chans {
				if cs == nil || cs.ticker == nil {
					continue
				}
				select {
				case cs.tick <- now:
				default: // the previous tick is still pending: skip this one
				}
			}
			// The queue holds retransmission copies: every frame was
			// already sent to each member directly, so shedding the
			// oldest under load loses redundancy, not data.
			if n := c.queue.NumQueued(); n > c.cfg.MaxQueuedBroadcasts {
				c.queue.Prune(c.cfg.MaxQueuedBroadcasts)
				c.m.gossipPruned.Add(n - c.cfg.MaxQueuedBroadcasts)
			}
		case <-c.stop:
			return
		}
	}
}

// flush sends the broadcasts coalesced since the previous tick. Each frame
// goes straight to every live member — keyed frames batched into UDP
// packets, unique ones batched into one TCP message per member, frames too
// large for a packet over TCP on their own — and a copy of each frame that
// fits a packet is queued for memberlist's gossip, which retransmits it to
// random members (covering lost packets and members this node does not
// know yet) until a newer frame for the same key replaces it.
func (c *Cluster) flush() {
	c.pendMu.Lock()
	keyed, unique := c.pending, c.pendUnique
	if len(keyed) == 0 && len(unique) == 0 {
		c.pendMu.Unlock()
		return
	}
	c.pending = make(map[pendKey][]byte, len(keyed))
	c.pendUnique = nil
	c.pendMu.Unlock()
	nodes := c.liveNodes()
	var udp, tcp [][]byte
	for k, p := range keyed {
		if msg := c.emit(k.typ, k.key, p, nodes); msg != nil {
			udp = append(udp, msg)
		}
	}
	for _, u := range unique {
		if msg := c.emit(u.typ, "", u.payload, nodes); msg != nil {
			tcp = append(tcp, msg)
		}
	}
	if len(nodes) == 0 {
		return
	}
	c.sendPackets(udp, nodes)
	if len(tcp) > 0 {
		batch := appendBatchHeader(nil, c.self)
		for _, msg := range tcp {
			batch = appendBatchEntry(batch, msg)
		}
		for _, n := range nodes {
			c.transfer(n.Name, batch)
		}
	}
}

// emit frames one payload this node originates and queues the gossip copy.
// It returns the frame when it fits a gossip packet; a larger payload is
// sent to each member over TCP here and nil returned.
func (c *Cluster) emit(typ byte, key string, payload []byte, nodes []memberlist.Node) []byte {
	cs := c.chans[typ]
	f := frame{kind: kindBroadcast, origin: c.self, seq: c.nextSeq(), key: key, typ: typ, ver: cs.ver, payload: payload}
	cs.tm.sent.Inc()
	cs.tm.sentBytes.Add(len(payload))
	msg := f.appendBinary(make([]byte, 0, frameHeaderLen(c.self, key, f.seq)+len(payload)))
	if len(msg) <= c.maxMsg {
		if key == "" {
			c.queue.QueueBroadcast(&uniqueBroadcast{msg: msg})
		} else {
			c.queue.QueueBroadcast(&namedBroadcast{name: broadcastName(c.self, typ, key), msg: msg})
		}
		return msg
	}
	// Too large for a gossip packet: memberlist would keep it queued
	// forever and never send it. Fan it out over TCP instead.
	cs.tm.reliable.Inc()
	msg[0] = kindDirect
	frames := c.chunks(msg)
	for _, n := range nodes {
		c.queueSend(sendJob{to: n.Name, frames: frames})
	}
	return nil
}

// sendPackets packs frames into batch packets no larger than a gossip
// packet and sends each to every node by UDP.
func (c *Cluster) sendPackets(frames [][]byte, nodes []memberlist.Node) {
	header := appendBatchHeader(nil, c.self)
	var pkt []byte
	count := 0
	send := func() {
		if count == 0 {
			return
		}
		out := pkt
		if count == 1 {
			// A lone frame needs no batch around it.
			r := reader{b: pkt[len(header):]}
			out = r.bytes(r.uvarint())
		}
		for i := range nodes {
			if err := c.ml.SendBestEffort(&nodes[i], out); err != nil {
				c.countDrop(dropSendFailed, "direct packet", "to", nodes[i].Name, "err", err)
				continue
			}
			c.m.directPackets.Inc()
			c.m.directBytes.Add(len(out))
		}
		pkt, count = pkt[:0], 0
	}
	for _, msg := range frames {
		if count > 0 && len(pkt)+batchEntryLen(len(msg)) > c.maxMsg {
			send()
		}
		if count == 0 {
			pkt = append(pkt[:0], header...)
		}
		pkt = appendBatchEntry(pkt, msg)
		count++
	}
	send()
}

// transfer sends msg to member to reliably, chunked when large. It reports
// whether the send was queued.
func (c *Cluster) transfer(to string, msg []byte) bool {
	if len(msg) > c.cfg.MaxTransferBytes {
		c.countDrop(dropTooLarge, "transfer", "to", to, "bytes", len(msg))
		return false
	}
	return c.queueSend(sendJob{to: to, frames: c.chunks(msg)})
}

func (c *Cluster) queueSend(j sendJob) bool {
	select {
	case c.sendQ <- j:
		return true
	default:
		c.countDrop(dropSendQueueFull, "reliable send", "to", j.to)
		return false
	}
}

// chunks splits msg into chunk frames of at most ChunkBytes of data, or
// returns it whole when it fits.
func (c *Cluster) chunks(msg []byte) [][]byte {
	size := c.cfg.ChunkBytes
	if len(msg) <= size {
		return [][]byte{msg}
	}
	id := c.xferID.Add(1)
	total := uint64((len(msg) + size - 1) / size)
	out := make([][]byte, 0, total)
	for i := uint64(0); i < total; i++ {
		part := msg[int(i)*size : min(len(msg), int(i+1)*size)]
		f := frame{kind: kindChunk, origin: c.self, xfer: id, index: i, total: total, payload: part}
		out = append(out, f.appendBinary(make([]byte, 0, len(part)+len(c.self)+40)))
	}
	return out
}

// sender performs queued reliable sends. Several run at once so one slow
// or dead peer (a TCP timeout) does not hold up the others.
func (c *Cluster) sender() {
	defer c.wg.Done()
	for {
		select {
		case j := <-c.sendQ:
			err := c.sendNow(j)
			if j.done != nil {
				j.done <- err
			}
		case <-c.stop:
			return
		}
	}
}

func (c *Cluster) sendNow(j sendJob) error {
	node, ok := c.nodeFor(j.to)
	if !ok {
		c.countDrop(dropNoMember, "reliable send", "to", j.to)
		return fmt.Errorf("%w: %q", ErrUnknownMember, j.to)
	}
	for _, fr := range j.frames {
		if err := c.ml.SendReliable(&node, fr); err != nil {
			c.countDrop(dropSendFailed, "reliable send", "to", j.to, "err", err)
			return fmt.Errorf("cluster: cannot send to %s: %w", j.to, err)
		}
		c.m.reliableSends.Inc()
		c.m.reliableBytes.Add(len(fr))
	}
	return nil
}

// liveNodes returns the addresses of the other live members.
func (c *Cluster) liveNodes() []memberlist.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]memberlist.Node, 0, len(c.members))
	for name, e := range c.members {
		if name != c.self && e.state == MemberAlive {
			out = append(out, memberlist.Node{Name: name, Addr: e.ip, Port: e.port})
		}
	}
	return out
}

// nodeFor returns the address memberlist needs to reach a live member.
func (c *Cluster) nodeFor(name string) (memberlist.Node, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.members[name]
	if e == nil || e.state != MemberAlive || name == c.self {
		return memberlist.Node{}, false
	}
	return memberlist.Node{Name: name, Addr: e.ip, Port: e.port}, true
}
