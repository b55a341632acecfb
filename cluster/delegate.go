package cluster

import (
	"github.com/hashicorp/memberlist"
)

// delegate is memberlist's view of the cluster. Every method runs on a
// memberlist goroutine (NotifyMsg and GetBroadcasts on the packet path),
// so each one only copies and enqueues, or reads prepared state.
type delegate struct{ c *Cluster }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*eventDelegate)(nil)
)

// NodeMeta returns the metadata encoded at New or UpdateMeta (always
// within limit: the encoder refuses more than MetaMaxSize).
func (d *delegate) NodeMeta(limit int) []byte {
	b := *d.c.meta.Load()
	if len(b) > limit {
		return nil
	}
	return b
}

// NotifyMsg copies the message (memberlist reuses the buffer) and queues
// it for the dispatcher; a full queue drops and counts.
func (d *delegate) NotifyMsg(b []byte) {
	d.c.enqueue(b)
}

// GetBroadcasts hands memberlist the queued broadcasts that fit.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	msgs := d.c.queue.GetBroadcasts(overhead, limit)
	if len(msgs) > 0 {
		n := 0
		for _, m := range msgs {
			n += len(m)
		}
		d.c.m.transmits.Add(len(msgs))
		d.c.m.transmitBytes.Add(n)
	}
	return msgs
}

// LocalState is this node's contribution to a push/pull.
func (d *delegate) LocalState(join bool) []byte {
	return d.c.localState(join)
}

// MergeRemoteState copies the peer's state and queues it like a message.
func (d *delegate) MergeRemoteState(b []byte, join bool) {
	d.c.enqueue(b)
}

func (c *Cluster) enqueue(b []byte) {
	if len(b) == 0 {
		return
	}
	cp := append([]byte(nil), b...)
	select {
	case c.ingress <- cp:
	default:
		c.countDrop(dropIngressFull, "inbound message", "bytes", len(b))
	}
}

// eventDelegate receives membership events with memberlist's node lock
// held: it updates the member table (a short critical section that never
// calls memberlist) and queues the event for the event goroutine.
type eventDelegate struct{ c *Cluster }

func (e *eventDelegate) NotifyJoin(n *memberlist.Node)   { e.c.onNode(n, evJoin) }
func (e *eventDelegate) NotifyLeave(n *memberlist.Node)  { e.c.onNode(n, evFail) }
func (e *eventDelegate) NotifyUpdate(n *memberlist.Node) { e.c.onNode(n, evUpdate) }

// namedBroadcast is a keyed broadcast: a newer one with the same name
// (origin, type, key) replaces it in the queue.
type namedBroadcast struct {
	name string
	msg  []byte
}

func (b *namedBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}
func (b *namedBroadcast) Message() []byte { return b.msg }
func (b *namedBroadcast) Finished()       {}
func (b *namedBroadcast) Name() string    { return b.name }

// uniqueBroadcast is never replaced.
type uniqueBroadcast struct{ msg []byte }

func (b *uniqueBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b *uniqueBroadcast) Message() []byte                       { return b.msg }
func (b *uniqueBroadcast) Finished()                             {}
func (b *uniqueBroadcast) UniqueBroadcast()                      {}

var (
	_ memberlist.NamedBroadcast  = (*namedBroadcast)(nil)
	_ memberlist.UniqueBroadcast = (*uniqueBroadcast)(nil)
)

// broadcastName identifies a keyed broadcast for replacement: the same key
// of two origins are different values and must not replace each other.
func broadcastName(origin string, typ byte, key string) string {
	b := make([]byte, 0, len(origin)+2+len(key))
	b = append(b, origin...)
	b = append(b, 0, typ)
	b = append(b, key...)
	return string(b)
}
