package cluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// MemberState is what this node believes about a member.
type MemberState int

const (
	// MemberAlive members answer probes (or have not yet been found dead).
	MemberAlive MemberState = iota
	// MemberFailed members stopped answering without leaving: they still
	// count as known members for Majority, and are contacted again every
	// Config.ReconnectInterval.
	MemberFailed
	// MemberLeft members left gracefully: they no longer count.
	MemberLeft
)

func (s MemberState) String() string {
	switch s {
	case MemberAlive:
		return "alive"
	case MemberFailed:
		return "failed"
	case MemberLeft:
		return "left"
	}
	return "unknown"
}

// Member is one node as this node sees it.
type Member struct {
	Meta            // parsed metadata; only Name is set when it was malformed
	Addr     string // gossip address, IP:port
	State    MemberState
	LastSeen time.Time // last membership event or message from it
	// Lag is how old its most recent broadcast was on arrival (send to
	// receipt, clock skew between the nodes included); 0 until one came.
	Lag     time.Duration
	Local   bool // this node
	BadMeta bool // its metadata did not decode
}

type memberEntry struct {
	meta     Meta
	badMeta  bool
	addr     string
	ip       net.IP
	port     uint16
	state    MemberState
	known    bool      // counts toward Majority
	leaving  time.Time // when its leave intent arrived
	lastSeen time.Time
	lag      time.Duration
}

type eventKind int

const (
	evJoin eventKind = iota
	evUpdate
	evFail
	evLeft
	evRecheck
)

type memberEvent struct {
	kind eventKind
	name string
	addr string
	meta Meta
	err  error
}

// onNode applies a memberlist event to the member table. It runs with
// memberlist's node lock held: no calls back into memberlist.
func (c *Cluster) onNode(n *memberlist.Node, kind eventKind) {
	now := time.Now()
	var meta Meta
	metaErr := meta.UnmarshalBinary(n.Meta)
	if metaErr == nil && meta.Name != n.Name {
		metaErr = fmt.Errorf("%w: metadata names %q", errMalformedMeta, meta.Name)
	}
	if metaErr != nil {
		meta = Meta{Name: n.Name}
	}
	ip := append(net.IP(nil), n.Addr...)
	c.mu.Lock()
	e := c.members[n.Name]
	if e == nil {
		e = &memberEntry{}
		c.members[n.Name] = e
	}
	e.meta, e.badMeta = meta, metaErr != nil
	e.ip, e.port = ip, n.Port
	e.addr = net.JoinHostPort(ip.String(), strconv.Itoa(int(n.Port)))
	e.lastSeen = now
	switch kind {
	case evJoin, evUpdate:
		if kind == evJoin {
			e.leaving = time.Time{}
		}
		e.state, e.known = MemberAlive, true
		if n.Name != c.self {
			c.peerSeen = true
		}
	default: // a leave: graceful if its intent came first
		if n.Name == c.self || !e.leaving.IsZero() && now.Sub(e.leaving) < leaveIntentTTL {
			e.state, e.known, kind = MemberLeft, false, evLeft
		} else {
			e.state, kind = MemberFailed, evFail
		}
	}
	c.recountLocked()
	c.mu.Unlock()
	c.pushEvent(memberEvent{kind: kind, name: n.Name, addr: e.addr, meta: meta, err: metaErr})
}

// onLeaveIntent marks a member as leaving on purpose; if memberlist has
// already declared it dead, it is now left.
func (c *Cluster) onLeaveIntent(name string, now time.Time) {
	c.mu.Lock()
	e := c.members[name]
	if e == nil {
		c.mu.Unlock()
		return
	}
	e.leaving = now
	left := e.state != MemberAlive
	if left {
		e.state, e.known = MemberLeft, false
		c.recountLocked()
	}
	c.mu.Unlock()
	if left {
		c.pushEvent(memberEvent{kind: evLeft, name: name})
	}
}

func (c *Cluster) recountLocked() {
	var alive, known int64
	for _, e := range c.members {
		if e.state == MemberAlive {
			alive++
		}
		if e.known {
			known++
		}
	}
	c.aliveCount.Store(alive)
	c.knownCount.Store(known)
}

// touch records that a message from name arrived, and the gossip lag of
// its newest broadcast when lag >= 0.
func (c *Cluster) touch(name string, now time.Time, lag time.Duration) {
	c.mu.Lock()
	if e := c.members[name]; e != nil {
		e.lastSeen = now
		if lag >= 0 {
			e.lag = lag
		}
	}
	c.mu.Unlock()
}

func (c *Cluster) isAlive(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.members[name]
	return e != nil && e.state == MemberAlive
}

// Majority reports whether this node sees more than half of the known
// members alive, itself included. Known members are every member seen
// alive since Start, minus those that left gracefully (Shutdown) or were
// forgotten (Forget); a member that failed stays known, so the side of a
// partition with fewer nodes loses the majority. A node configured with
// Join has no majority until it has seen another member.
func (c *Cluster) Majority() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.majorityLocked()
}

func (c *Cluster) majorityLocked() bool {
	if len(c.cfg.Join) > 0 && !c.peerSeen {
		return false
	}
	return 2*c.aliveCount.Load() > c.knownCount.Load()
}

// OnPartitionChange registers fn to be called, on the event goroutine,
// each time this node loses (true) or regains (false) the majority. The
// state starts as not partitioned at Start; a node that must join first
// reports true at once. cmd wires it to the ledger's SetPartitioned.
func (c *Cluster) OnPartitionChange(fn func(partitioned bool)) {
	c.hookMu.Lock()
	c.hooks = append(c.hooks, fn)
	c.hookMu.Unlock()
}

// Members returns every member this node knows of, itself included,
// sorted by name.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Member, 0, len(c.members))
	for name, e := range c.members {
		out = append(out, Member{
			Meta:     e.meta,
			Addr:     e.addr,
			State:    e.state,
			LastSeen: e.lastSeen,
			Lag:      e.lag,
			Local:    name == c.self,
			BadMeta:  e.badMeta,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Member returns one member by name.
func (c *Cluster) Member(name string) (Member, bool) {
	for _, m := range c.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

// Forget drops a member that failed for good from the known members (an
// operator's decision: a failed member otherwise counts against the
// majority forever).
func (c *Cluster) Forget(name string) error {
	c.mu.Lock()
	e := c.members[name]
	switch {
	case e == nil:
		c.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownMember, name)
	case e.state == MemberAlive:
		c.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrMemberIsAlive, name)
	}
	delete(c.members, name)
	c.recountLocked()
	c.mu.Unlock()
	c.pushEvent(memberEvent{kind: evRecheck, name: name})
	return nil
}

func (c *Cluster) pushEvent(ev memberEvent) {
	c.evMu.Lock()
	c.evQueue = append(c.evQueue, ev)
	c.evMu.Unlock()
	select {
	case c.evSignal <- struct{}{}:
	default:
	}
}

// eventLoop is the one goroutine that consumes membership events: it logs
// and counts them and fires the partition hooks on majority changes.
func (c *Cluster) eventLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.evSignal:
		case <-c.stop:
			return
		}
		c.evMu.Lock()
		evs := c.evQueue
		c.evQueue = nil
		c.evMu.Unlock()
		for _, ev := range evs {
			c.logEvent(ev)
		}
		c.mu.Lock()
		part := !c.majorityLocked()
		alive, known := c.aliveCount.Load(), c.knownCount.Load()
		c.mu.Unlock()
		if c.partitioned.Swap(part) == part {
			continue
		}
		if part {
			c.log.Warn("cluster majority lost", "alive", alive, "known", known)
		} else {
			c.log.Info("cluster majority regained", "alive", alive, "known", known)
		}
		c.hookMu.Lock()
		hooks := append([]func(bool){}, c.hooks...)
		c.hookMu.Unlock()
		for _, fn := range hooks {
			fn(part)
		}
	}
}

func (c *Cluster) logEvent(ev memberEvent) {
	if ev.err != nil {
		c.log.Warn("member metadata malformed", "member", ev.name, "err", ev.err)
	}
	switch ev.kind {
	case evJoin:
		c.m.joins.Inc()
		c.log.Info("member joined", "member", ev.name, "addr", ev.addr, "region", ev.meta.Region, "epoch", ev.meta.Epoch)
	case evUpdate:
		c.log.Info("member updated", "member", ev.name, "region", ev.meta.Region, "epoch", ev.meta.Epoch)
	case evFail:
		c.m.failures.Inc()
		c.log.Warn("member failed", "member", ev.name, "addr", ev.addr)
	case evLeft:
		c.m.leaves.Inc()
		c.log.Info("member left", "member", ev.name)
	}
}

// joinLoop joins the seeds with exponential backoff, then every
// ReconnectInterval contacts failed members again (memberlist itself stops
// talking to the dead, so two healed halves would otherwise stay apart) and
// goes back to the seeds if every peer is gone.
func (c *Cluster) joinLoop() {
	defer close(c.joinDone)
	backoff := c.cfg.JoinRetryMin
	retry := time.NewTimer(0)
	defer retry.Stop()
	if len(c.cfg.Join) == 0 {
		retry.Stop()
	}
	reconnect := time.NewTicker(c.cfg.ReconnectInterval)
	defer reconnect.Stop()
	joined := len(c.cfg.Join) == 0
	for {
		select {
		case <-c.joinStop:
			return
		case <-retry.C:
			n, err := c.ml.Join(c.cfg.Join)
			if n > 0 {
				joined, backoff = true, c.cfg.JoinRetryMin
				c.log.Info("joined cluster", "contacted", n)
				continue
			}
			wait := time.Duration(float64(backoff) * (0.75 + rand.Float64()/2))
			c.log.Warn("cannot join cluster, retrying", "err", err, "retry_in", wait.Round(time.Millisecond))
			retry.Reset(wait)
			backoff = min(2*backoff, c.cfg.JoinRetryMax)
		case <-reconnect.C:
			if addrs := c.failedAddrs(); len(addrs) > 0 {
				if n, err := c.ml.Join(addrs); n > 0 {
					c.log.Info("reconnected to failed members", "contacted", n)
				} else {
					c.log.Debug("failed members still unreachable", "err", err)
				}
			}
			if joined && len(c.cfg.Join) > 0 && c.aliveCount.Load() <= 1 {
				joined = false
				retry.Reset(0)
			}
		}
	}
}

// failedAddrs lists the failed members as name/IP:port join addresses.
func (c *Cluster) failedAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for name, e := range c.members {
		if e.state == MemberFailed && name != c.self {
			out = append(out, name+"/"+e.addr)
		}
	}
	sort.Strings(out)
	return out
}
