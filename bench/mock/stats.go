package mock

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of what the mock has served since New or ResetStats.
// Only provider API requests count; /stats and /mock/* do not.
type Stats struct {
	// Requests is every API request received, whatever came of it.
	Requests uint64 `json:"requests"`
	// ByStatus counts the statuses written (a stream counts when its
	// headers go out). A request whose client left during a hang or
	// latency, or that was reset before any response, has none.
	ByStatus map[int]uint64 `json:"by_status"`
	// InFlight is the number of API requests not yet finished, streams
	// included until their last byte.
	InFlight int64 `json:"in_flight"`
	// Abandoned counts requests whose client went away before a
	// non-stream response or during a hang.
	Abandoned uint64 `json:"abandoned"`
	// Resets counts injected connection resets, in streams or not.
	Resets uint64 `json:"resets"`

	StreamsStarted uint64 `json:"streams_started"`
	// StreamsCompleted ended normally (with [DONE] or the protocol's
	// final event).
	StreamsCompleted uint64 `json:"streams_completed"`
	// StreamsAborted ended because the client went away, a reset was
	// injected, or the server closed.
	StreamsAborted uint64 `json:"streams_aborted"`
	// StreamsTruncated ended early on purpose: an in-band error or a
	// stall with StallClose.
	StreamsTruncated uint64 `json:"streams_truncated"`

	// PromptTokens is the prompt tokens of every request answered with
	// generated content; CompletionTokens is the tokens actually written
	// (for streams, those flushed before the stream ended).
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`

	// Reported sums the usage objects written to clients, which is what a
	// gateway should bill.
	Reported UsageTotals `json:"reported"`
}

// UsageTotals sums usage objects as they were reported.
type UsageTotals struct {
	// Responses is the number of usage objects written.
	Responses        uint64 `json:"responses"`
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	TotalTokens      uint64 `json:"total_tokens"`
	CachedTokens     uint64 `json:"cached_tokens"`
	ReasoningTokens  uint64 `json:"reasoning_tokens"`
}

// usage is one usage object, as the dialects render it.
type usage struct {
	prompt, completion, cached, reasoning int
}

func (u usage) total() int { return u.prompt + u.completion }

type counters struct {
	requests, abandoned, resets            atomic.Uint64
	inFlight                               atomic.Int64
	streamsStarted, streamsCompleted       atomic.Uint64
	streamsAborted, streamsTruncated       atomic.Uint64
	promptTokens, completionTokens         atomic.Uint64
	repResponses, repPrompt, repCompletion atomic.Uint64
	repTotal, repCached, repReasoning      atomic.Uint64
	byStatus                               [600]atomic.Uint64
}

func (c *counters) status(code int) {
	if code >= 0 && code < len(c.byStatus) {
		c.byStatus[code].Add(1)
	}
}

func (c *counters) reported(u usage) {
	c.repResponses.Add(1)
	c.repPrompt.Add(uint64(u.prompt))
	c.repCompletion.Add(uint64(u.completion))
	c.repTotal.Add(uint64(u.total()))
	c.repCached.Add(uint64(u.cached))
	c.repReasoning.Add(uint64(u.reasoning))
}

func (c *counters) snapshot() Stats {
	st := Stats{
		Requests:         c.requests.Load(),
		ByStatus:         make(map[int]uint64),
		InFlight:         c.inFlight.Load(),
		Abandoned:        c.abandoned.Load(),
		Resets:           c.resets.Load(),
		StreamsStarted:   c.streamsStarted.Load(),
		StreamsCompleted: c.streamsCompleted.Load(),
		StreamsAborted:   c.streamsAborted.Load(),
		StreamsTruncated: c.streamsTruncated.Load(),
		PromptTokens:     c.promptTokens.Load(),
		CompletionTokens: c.completionTokens.Load(),
		Reported: UsageTotals{
			Responses:        c.repResponses.Load(),
			PromptTokens:     c.repPrompt.Load(),
			CompletionTokens: c.repCompletion.Load(),
			TotalTokens:      c.repTotal.Load(),
			CachedTokens:     c.repCached.Load(),
			ReasoningTokens:  c.repReasoning.Load(),
		},
	}
	for i := range c.byStatus {
		if n := c.byStatus[i].Load(); n > 0 {
			st.ByStatus[i] = n
		}
	}
	return st
}

// reset zeroes every counter except InFlight, which tracks live requests.
func (c *counters) reset() {
	for _, a := range []*atomic.Uint64{
		&c.requests, &c.abandoned, &c.resets, &c.streamsStarted, &c.streamsCompleted,
		&c.streamsAborted, &c.streamsTruncated, &c.promptTokens, &c.completionTokens,
		&c.repResponses, &c.repPrompt, &c.repCompletion, &c.repTotal, &c.repCached, &c.repReasoning,
	} {
		a.Store(0)
	}
	for i := range c.byStatus {
		c.byStatus[i].Store(0)
	}
}

// Request is a copy of a request the mock received.
type Request struct {
	Time   time.Time
	Method string
	// URI is the request URI as sent (path and query).
	URI    string
	Header http.Header
	Body   []byte
}

// history keeps the last requests in a ring of reused buffers, so
// recording one costs copies but no allocation once the ring is warm.
type history struct {
	mu    sync.Mutex
	slots []historySlot // guarded by mu
	next  int           // guarded by mu; index of the slot to fill next
	n     int           // guarded by mu; filled slots
}

type historySlot struct {
	time   time.Time
	method []byte
	uri    []byte
	header []byte // "name\x00value\x00" pairs
	body   []byte
}

func newHistory(n int) *history {
	return &history{slots: make([]historySlot, n)}
}

func (h *history) add(now time.Time, method, uri []byte, headers func(dst []byte) []byte, body []byte) {
	h.mu.Lock()
	if len(h.slots) == 0 {
		h.mu.Unlock()
		return
	}
	sl := &h.slots[h.next]
	sl.time = now
	sl.method = append(sl.method[:0], method...)
	sl.uri = append(sl.uri[:0], uri...)
	sl.header = headers(sl.header[:0])
	sl.body = append(sl.body[:0], body...)
	h.next = (h.next + 1) % len(h.slots)
	if h.n < len(h.slots) {
		h.n++
	}
	h.mu.Unlock()
}

// list returns copies, oldest first.
func (h *history) list() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Request, 0, h.n)
	start := (h.next - h.n + len(h.slots)) % max(len(h.slots), 1)
	for i := 0; i < h.n; i++ {
		sl := &h.slots[(start+i)%len(h.slots)]
		r := Request{
			Time:   sl.time,
			Method: string(sl.method),
			URI:    string(sl.uri),
			Header: make(http.Header),
			Body:   bytes.Clone(sl.body),
		}
		if r.Body == nil {
			r.Body = []byte{}
		}
		hb := sl.header
		for len(hb) > 0 {
			k, rest, _ := bytes.Cut(hb, []byte{0})
			v, rest2, _ := bytes.Cut(rest, []byte{0})
			r.Header.Add(string(k), string(v))
			hb = rest2
		}
		out = append(out, r)
	}
	return out
}

// resize changes the capacity, forgetting what was kept if it changes.
func (h *history) resize(n int) {
	h.mu.Lock()
	if n != len(h.slots) {
		h.slots = make([]historySlot, n)
		h.next, h.n = 0, 0
	}
	h.mu.Unlock()
}

func (h *history) clear() {
	h.mu.Lock()
	h.next, h.n = 0, 0
	h.mu.Unlock()
}
