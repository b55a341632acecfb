package main

// Provider-health hints over the cluster (issue 7 §2, §5): each node
// gossips a compact summary of what it measured about each endpoint, so a
// node that just joined ranks a failing provider down before sending it any
// traffic. Routing statistics stay local; the summaries only feed
// routing.ApplyHints, which uses them where local samples are missing
// (routing/hint.go has the rules, including what other regions' reports
// may change).
//
// Health (envelope TypeHealth, version 2): every healthInterval the
// channel broadcasts routing.HealthSummaries under the keys "health",
// "health#1", …, each part fitting one gossip packet; a newer part
// supersedes the older one still queued. LocalState is every summary in
// one payload, so a joining node starts warm from its first push/pull.
// Payload:
//
//	region   1 length byte + bytes (the publisher's node.region)
//	published uvarint, Unix milliseconds of the publisher's clock: a
//	         receiver keeps the newest summaries of each source, since
//	         gossip may deliver an older part after a newer state
//	count    uvarint
//	count ×  endpoint (uvarint length + bytes), circuit byte,
//	         TTFT µs, throughput milli-tokens/s, error rate ppm,
//	         samples ×1000, unhealthy-for ms (each a uvarint)

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/routing"
)

const (
	healthWireVersion byte = 2
	// healthInterval is how often a node publishes its summaries; well
	// under routing's default HintTTL (15 s) so a lost packet or two does
	// not let hints lapse.
	healthInterval = 2 * time.Second
	// maxHealthKey bounds an endpoint key on the wire.
	maxHealthKey = 512
	// minHealthEntry is the smallest encoded summary (empty key aside).
	minHealthEntry = 8
)

var errBadHealth = errors.New("bad health summary payload")

// appendHealthHeader starts a payload.
func appendHealthHeader(dst []byte, region string, published time.Time, count int) []byte {
	dst = append(dst, byte(len(region)))
	dst = append(dst, region...)
	dst = binary.AppendUvarint(dst, uint64(max(published.UnixMilli(), 0)))
	return binary.AppendUvarint(dst, uint64(count))
}

// publishedOf is the time of a list of summaries (they are taken together).
func publishedOf(hs []routing.HealthSummary) time.Time {
	if len(hs) == 0 {
		return time.Time{}
	}
	return hs[0].Published
}

// appendHealthEntry encodes one summary. Values are rounded to the wire's
// units and clamped to be non-negative.
func appendHealthEntry(dst []byte, h *routing.HealthSummary) []byte {
	u := func(v float64) uint64 {
		if !(v > 0) {
			return 0
		}
		if v >= math.MaxUint64/2 {
			return math.MaxUint64 / 2
		}
		return uint64(math.Round(v))
	}
	dst = binary.AppendUvarint(dst, uint64(len(h.Endpoint)))
	dst = append(dst, h.Endpoint...)
	dst = append(dst, byte(h.Circuit))
	dst = binary.AppendUvarint(dst, u(float64(h.TTFT/time.Microsecond)))
	dst = binary.AppendUvarint(dst, u(h.Throughput*1000))
	dst = binary.AppendUvarint(dst, u(min(h.ErrorRate, 1)*1e6))
	dst = binary.AppendUvarint(dst, u(h.Samples*1000))
	return binary.AppendUvarint(dst, u(float64(h.UnhealthyFor/time.Millisecond)))
}

// encodeHealth is the whole list in one payload.
func encodeHealth(region string, hs []routing.HealthSummary) []byte {
	out := appendHealthHeader(nil, region, publishedOf(hs), len(hs))
	for i := range hs {
		out = appendHealthEntry(out, &hs[i])
	}
	return out
}

// splitHealth encodes the list into payloads of at most limit bytes each
// (an entry too large for any part on its own is left out: endpoint keys
// are far shorter than a packet).
func splitHealth(region string, hs []routing.HealthSummary, limit int) [][]byte {
	var parts [][]byte
	var body, entry []byte
	n := 0
	pub := publishedOf(hs)
	head := len(appendHealthHeader(nil, region, pub, len(hs)))
	flush := func() {
		if n > 0 {
			parts = append(parts, append(appendHealthHeader(nil, region, pub, n), body...))
		}
		body, n = body[:0:0], 0
	}
	for i := range hs {
		entry = appendHealthEntry(entry[:0], &hs[i])
		if head+len(entry) > limit {
			continue
		}
		if head+len(body)+len(entry) > limit {
			flush()
		}
		body = append(body, entry...)
		n++
	}
	flush()
	return parts
}

// decodeHealth parses a payload. It never panics; the strings are copies.
func decodeHealth(b []byte) (region string, hs []routing.HealthSummary, err error) {
	bad := func(what string) (string, []routing.HealthSummary, error) {
		return "", nil, fmt.Errorf("%w: %s", errBadHealth, what)
	}
	if len(b) < 1 || int(b[0]) > len(b)-1 {
		return bad("region")
	}
	region = string(b[1 : 1+b[0]])
	b = b[1+b[0]:]
	ms, k := binary.Uvarint(b)
	if k <= 0 || ms > math.MaxInt64/uint64(time.Millisecond) {
		return bad("published")
	}
	published := time.UnixMilli(int64(ms))
	b = b[k:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k)/minHealthEntry {
		return bad("count")
	}
	b = b[k:]
	hs = make([]routing.HealthSummary, 0, n)
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, false
		}
		b = b[k:]
		return v, true
	}
	for i := uint64(0); i < n; i++ {
		l, ok := uv()
		if !ok || l == 0 || l > maxHealthKey || l >= uint64(len(b)) {
			return bad("endpoint " + strconv.FormatUint(i, 10))
		}
		h := routing.HealthSummary{Published: published, Endpoint: string(b[:l]), Circuit: routing.CircuitState(b[l])}
		b = b[l+1:]
		if h.Circuit > routing.CircuitHalfOpen {
			return bad("circuit state")
		}
		var v [5]uint64
		for j := range v {
			if v[j], ok = uv(); !ok {
				return bad("truncated entry")
			}
		}
		const maxDur = uint64(math.MaxInt64 / int64(time.Millisecond))
		if v[0] > maxDur || v[4] > maxDur || v[2] > 1e6 {
			return bad("value out of range")
		}
		h.TTFT = time.Duration(v[0]) * time.Microsecond
		h.Throughput = float64(v[1]) / 1000
		h.ErrorRate = float64(v[2]) / 1e6
		h.Samples = float64(v[3]) / 1000
		h.UnhealthyFor = time.Duration(v[4]) * time.Millisecond
		hs = append(hs, h)
	}
	if len(b) != 0 {
		return bad("trailing bytes")
	}
	return region, hs, nil
}

// healthChannel carries provider-health summaries: cluster.Ticker,
// cluster.StateChannel.
type healthChannel struct {
	c        *cluster.Cluster
	self     string
	router   *routing.Router
	region   string
	interval time.Duration
	log      *slog.Logger
	lim      *logLimiter
	rejected *metrics.Counter // undecodable payloads
	errs     *metrics.Counter // broadcasts the cluster refused
	applied  *metrics.Counter // summaries applied as hints

	// last is when the summaries were last published (worker only).
	last time.Time
}

var (
	_ cluster.StateChannel = (*healthChannel)(nil)
	_ cluster.Ticker       = (*healthChannel)(nil)
)

func newHealthChannel(c *cluster.Cluster, router *routing.Router, region string, set *metrics.Set, log *slog.Logger, lim *logLimiter) *healthChannel {
	const p = "tollgate_cluster_"
	return &healthChannel{
		c: c, self: c.Name(), router: router, region: region, interval: healthInterval, log: log, lim: lim,
		rejected: set.NewCounter(p + `merge_rejected_total{type="health"}`),
		errs:     set.NewCounter(p + `broadcast_errors_total{type="health"}`),
		applied:  set.NewCounter(p + `health_hints_applied_total`),
	}
}

// Tick publishes this node's summaries every interval.
func (ch *healthChannel) Tick(now time.Time) {
	if now.Sub(ch.last) < ch.interval {
		return
	}
	ch.last = now
	hs := ch.router.HealthSummaries(nil)
	if len(hs) == 0 {
		return
	}
	limit := ch.c.BroadcastLimit("health#99")
	parts := splitHealth(ch.region, hs, limit)
	for i, p := range parts {
		key := "health"
		if i > 0 {
			key += "#" + strconv.Itoa(i)
		}
		if err := ch.c.Broadcast(cluster.TypeHealth, key, p); err != nil {
			ch.errs.Inc()
			ch.lim.warn(ch.log, "cannot broadcast health summaries", "error", err)
		}
	}
}

// Receive applies a member's summaries as hints.
func (ch *healthChannel) Receive(from string, ver byte, payload []byte) {
	ch.merge(from, ver, payload)
}

// LocalState is every summary, for a joining node's first push/pull (and
// the periodic ones, which cover lost broadcasts).
func (ch *healthChannel) LocalState(bool) []byte {
	hs := ch.router.HealthSummaries(nil)
	if len(hs) == 0 {
		return nil
	}
	return encodeHealth(ch.region, hs)
}

// MergeState applies a peer's LocalState.
func (ch *healthChannel) MergeState(from string, ver byte, state []byte) {
	ch.merge(from, ver, state)
}

func (ch *healthChannel) merge(from string, ver byte, b []byte) {
	if ver != healthWireVersion {
		ch.rejected.Inc()
		ch.lim.warn(ch.log, "health summaries of an unknown version ignored", "from", from, "version", ver)
		return
	}
	region, hs, err := decodeHealth(b)
	if err != nil {
		ch.rejected.Inc()
		ch.lim.warn(ch.log, "undecodable health summaries ignored", "from", from, "error", err)
		return
	}
	if from == ch.self {
		return
	}
	ch.applied.Add(ch.router.ApplyHints(from, region == ch.region, hs))
}
