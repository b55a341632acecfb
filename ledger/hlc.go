package ledger

import (
	"sync"
	"time"
)

// Version orders the writes of a last-writer-wins register: a hybrid logical
// clock reading, then the writing node's name to break ties. The HLC packs
// wall-clock milliseconds in its high 48 bits and a logical counter in the
// low 16; the counter carries into the milliseconds if it overflows, which
// keeps readings strictly increasing.
type Version struct {
	HLC  uint64
	Node string
}

// Less reports whether v was written before o.
func (v Version) Less(o Version) bool {
	if v.HLC != o.HLC {
		return v.HLC < o.HLC
	}
	return v.Node < o.Node
}

// Time returns the wall-clock part of v.
func (v Version) Time() time.Time { return time.UnixMilli(int64(v.HLC >> 16)).UTC() }

// hlc is a hybrid logical clock: readings never go backwards, exceed every
// version observed, and stay close to the wall clock.
type hlc struct {
	now func() time.Time

	mu   sync.Mutex
	last uint64
}

func (c *hlc) next() uint64 {
	pt := uint64(c.now().UnixMilli()) << 16
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt > c.last {
		c.last = pt
	} else {
		c.last++
	}
	return c.last
}

func (c *hlc) observe(v uint64) {
	c.mu.Lock()
	if v > c.last {
		c.last = v
	}
	c.mu.Unlock()
}
