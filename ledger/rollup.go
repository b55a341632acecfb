package ledger

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Granularity is the width of a rollup bucket. Rollups are stored per
// minute and per hour; day results are summed from hour rows (UTC days).
type Granularity uint8

const (
	GranularityMinute Granularity = 1
	GranularityHour   Granularity = 2
	GranularityDay    Granularity = 3
)

// ParseGranularity parses "minute", "hour" or "day".
func ParseGranularity(s string) (Granularity, error) {
	switch s {
	case "minute":
		return GranularityMinute, nil
	case "hour":
		return GranularityHour, nil
	case "day":
		return GranularityDay, nil
	}
	return 0, fmt.Errorf("%w: granularity %q: want minute, hour or day", ErrInvalidArgument, s)
}

func (g Granularity) String() string {
	switch g {
	case GranularityMinute:
		return "minute"
	case GranularityHour:
		return "hour"
	case GranularityDay:
		return "day"
	}
	return fmt.Sprintf("granularity(%d)", uint8(g))
}

func (g Granularity) seconds() int64 {
	switch g {
	case GranularityMinute:
		return 60
	case GranularityHour:
		return 3600
	case GranularityDay:
		return 86400
	}
	return 0
}

// HistogramBounds are the upper bounds of the latency and TTFT histogram
// buckets kept in every rollup; the last bucket is unbounded. Quantiles are
// interpolated within a bucket, so they are estimates.
var HistogramBounds = [HistogramBuckets - 1]time.Duration{
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond,
	200 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond,
	time.Second, 1500 * time.Millisecond, 2 * time.Second, 3 * time.Second, 5 * time.Second,
	7500 * time.Millisecond, 10 * time.Second, 20 * time.Second, 30 * time.Second, time.Minute,
	2 * time.Minute,
}

// HistogramBuckets is the number of histogram buckets.
const HistogramBuckets = 20

func histBucket(d time.Duration) int {
	for i, b := range HistogramBounds {
		if d <= b {
			return i
		}
	}
	return HistogramBuckets - 1
}

// Stats are the additive metrics of a set of requests: what a rollup row
// holds and what an analytics row reports. Stats from several rows or nodes
// combine with Add, and averages and quantiles are computed afterwards.
type Stats struct {
	Requests         int64
	Errors           int64
	Streamed         int64
	Cancelled        int64
	PromptTokens     int64
	CompletionTokens int64
	CachedTokens     int64
	CacheWriteTokens int64
	ReasoningTokens  int64
	Cost             int64 // nano-USD
	LatencySum       time.Duration
	TTFTSum          time.Duration
	TTFTCount        int64 // requests that produced a first token
	LatencyHist      [HistogramBuckets]int64
	TTFTHist         [HistogramBuckets]int64
}

const statsFields = 13 + 2*HistogramBuckets

// fields lists the counters in their encoding order.
func (s *Stats) fields() [statsFields]*int64 {
	var f [statsFields]*int64
	scalars := [...]*int64{&s.Requests, &s.Errors, &s.Streamed, &s.Cancelled, &s.PromptTokens,
		&s.CompletionTokens, &s.CachedTokens, &s.CacheWriteTokens, &s.ReasoningTokens, &s.Cost,
		(*int64)(&s.LatencySum), (*int64)(&s.TTFTSum), &s.TTFTCount}
	n := copy(f[:], scalars[:])
	for i := range s.LatencyHist {
		f[n] = &s.LatencyHist[i]
		n++
	}
	for i := range s.TTFTHist {
		f[n] = &s.TTFTHist[i]
		n++
	}
	return f
}

// Add adds o to s.
func (s *Stats) Add(o *Stats) {
	dst, src := s.fields(), o.fields()
	for i := range dst {
		*dst[i] += *src[i]
	}
}

func nonNeg(v int64) int64 { return max(v, 0) }

func (s *Stats) addGeneration(g *Generation) {
	s.Requests++
	if g.IsError() {
		s.Errors++
	}
	if g.Streamed {
		s.Streamed++
	}
	if g.Cancelled {
		s.Cancelled++
	}
	s.PromptTokens += nonNeg(g.PromptTokens)
	s.CompletionTokens += nonNeg(g.CompletionTokens)
	s.CachedTokens += nonNeg(g.CachedTokens)
	s.CacheWriteTokens += nonNeg(g.CacheWriteTokens)
	s.ReasoningTokens += nonNeg(g.ReasoningTokens)
	s.Cost += nonNeg(g.Cost)
	lat := max(g.Latency, 0)
	s.LatencySum += lat
	s.LatencyHist[histBucket(lat)]++
	if g.TTFT > 0 {
		s.TTFTSum += g.TTFT
		s.TTFTCount++
		s.TTFTHist[histBucket(g.TTFT)]++
	}
}

// LatencyAvg returns the mean latency.
func (s *Stats) LatencyAvg() time.Duration {
	if s.Requests == 0 {
		return 0
	}
	return s.LatencySum / time.Duration(s.Requests)
}

// TTFTAvg returns the mean time to first token.
func (s *Stats) TTFTAvg() time.Duration {
	if s.TTFTCount == 0 {
		return 0
	}
	return s.TTFTSum / time.Duration(s.TTFTCount)
}

// LatencyQuantile estimates the q-quantile (0 < q ≤ 1) of latency.
func (s *Stats) LatencyQuantile(q float64) time.Duration { return quantile(&s.LatencyHist, q) }

// TTFTQuantile estimates the q-quantile (0 < q ≤ 1) of time to first token.
func (s *Stats) TTFTQuantile(q float64) time.Duration { return quantile(&s.TTFTHist, q) }

func quantile(h *[HistogramBuckets]int64, q float64) time.Duration {
	var total int64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var cum int64
	for i, n := range h {
		if n == 0 {
			continue
		}
		if float64(cum+n) >= rank {
			var lo time.Duration
			if i > 0 {
				lo = HistogramBounds[i-1]
			}
			if i == HistogramBuckets-1 {
				return lo
			}
			frac := (rank - float64(cum)) / float64(n)
			frac = math.Min(math.Max(frac, 0), 1)
			return lo + time.Duration(frac*float64(HistogramBounds[i]-lo))
		}
		cum += n
	}
	return HistogramBounds[HistogramBuckets-2]
}

func encodeStats(dst []byte, s *Stats) []byte {
	dst = append(dst, recordV1)
	f := s.fields()
	dst = appendUvarint(dst, uint64(len(f)))
	for _, p := range f {
		dst = appendUvarint(dst, uint64(nonNeg(*p)))
	}
	return dst
}

// addEncodedStats adds an encoded Stats to s. Fields beyond the ones this
// version knows are ignored, missing ones count as zero, so the encoding can
// grow.
func addEncodedStats(s *Stats, b []byte) error {
	r := reader{b: b}
	r.version(recordV1)
	n := r.count(1)
	f := s.fields()
	for i := 0; i < n && r.err == nil; i++ {
		v := r.uvarint()
		if v > math.MaxInt64/2 {
			r.fail()
		}
		if i < len(f) && r.err == nil {
			*f[i] += int64(v)
		}
	}
	return r.end()
}

// rollupMerger sums rollup operands. Pebble records its name in the store.
var rollupMerger = &pebble.Merger{
	Name: "tollgate.rollup.v1",
	Merge: func(key, value []byte) (pebble.ValueMerger, error) {
		m := &statsMerger{}
		return m, m.MergeNewer(value)
	},
}

type statsMerger struct{ s Stats }

// MergeNewer adds an operand. An operand that does not decode is dropped
// rather than failing reads and compactions: rollups are analytics, not
// money.
func (m *statsMerger) MergeNewer(value []byte) error {
	var s Stats
	if addEncodedStats(&s, value) == nil {
		m.s.Add(&s)
	}
	return nil
}

func (m *statsMerger) MergeOlder(value []byte) error { return m.MergeNewer(value) }

func (m *statsMerger) Finish(bool) ([]byte, io.Closer, error) {
	return encodeStats(nil, &m.s), nil, nil
}

// OverflowValue replaces tag, app and user values beyond
// Config.MaxDimensionValues in an hour.
const OverflowValue = "(other)"

type rollupRow struct {
	kb     []byte
	gran   Granularity
	bucket int64
	s      Stats
	dirty  bool
}

type capKey struct {
	account string
	dim     Dimension
}

// rollupAgg gathers the rollup deltas of one group commit in memory, so a
// group writes one merge operand per touched row instead of one per request
// and dimension. Owned by the writer goroutine.
type rollupAgg struct {
	maxValues int
	rows      map[string]*rollupRow
	dirty     []*rollupRow
	kb        []byte
	capHour   int64
	seen      map[capKey]map[string]struct{}
	evictMin  int64

	last rollupLast
}

// rollupLast is the previous untagged generation's dimensions and rows. In
// steady traffic most generations share key, model, provider, app and
// minute, so add reuses the rows instead of building and hashing four
// keys.
type rollupLast struct {
	ok                                                   bool
	account, model, provider, app, user, apiPath, region string
	key                                                  KeyHash
	minute, hour                                         int64
	rows                                                 [4]*rollupRow // minute base, minute tag, hour base, hour tag
}

func (l *rollupLast) matches(g *Generation, minute, hour int64) bool {
	return l.ok && len(g.Tags) == 0 && l.minute == minute && l.hour == hour && l.key == g.KeyHash &&
		l.account == g.AccountID && l.model == g.Model && l.provider == g.Provider && l.app == g.App &&
		l.user == g.User && l.apiPath == g.APIPath && l.region == g.Region
}

func (a *rollupAgg) init(maxValues int) {
	a.maxValues = maxValues
	a.rows = make(map[string]*rollupRow)
	a.seen = make(map[capKey]map[string]struct{})
}

// capped bounds the distinct values of a dimension per account per hour.
func (a *rollupAgg) capped(account string, dim Dimension, v string) string {
	if v == "" || a.maxValues <= 0 {
		return v
	}
	ck := capKey{account, dim}
	set := a.seen[ck]
	if set == nil {
		set = make(map[string]struct{})
		a.seen[ck] = set
	}
	if _, ok := set[v]; ok {
		return v
	}
	if len(set) >= a.maxValues {
		return OverflowValue
	}
	set[v] = struct{}{}
	return v
}

func (a *rollupAgg) add(g *Generation) {
	unix := g.Created.Unix()
	minute, hour := floorDiv(unix, 60)*60, floorDiv(unix, 3600)*3600
	if hour > a.capHour {
		clear(a.seen)
		a.capHour = hour
	}
	lt := &a.last
	if lt.matches(g, minute, hour) {
		for _, r := range lt.rows {
			a.mark(r)
			r.s.addGeneration(g)
		}
		return
	}
	lt.ok = false
	acct := g.AccountID
	app := a.capped(acct, DimApp, g.App)
	user := a.capped(acct, DimUser, g.User)
	for i, gran := range [...]Granularity{GranularityMinute, GranularityHour} {
		bucket := floorDiv(unix, gran.seconds()) * gran.seconds()
		a.kb = appendRollupKeyParts(a.kb[:0], gran, acct, bucket, familyBase, g.KeyHash[:],
			g.Model, g.Provider, app, user, g.APIPath, g.Region, "")
		r := a.row(gran, bucket)
		r.s.addGeneration(g)
		lt.rows[2*i] = r
		if len(g.Tags) == 0 {
			a.kb = appendRollupKeyParts(a.kb[:0], gran, acct, bucket, familyTag, g.KeyHash[:],
				g.Model, g.Provider, app, user, g.APIPath, g.Region, "")
			r := a.row(gran, bucket)
			r.s.addGeneration(g)
			lt.rows[2*i+1] = r
		}
	tags:
		for i, t := range g.Tags {
			for _, prev := range g.Tags[:i] {
				if prev == t {
					continue tags // a tag repeated in one request counts once
				}
			}
			a.kb = appendRollupKeyParts(a.kb[:0], gran, acct, bucket, familyTag, g.KeyHash[:],
				g.Model, g.Provider, app, user, g.APIPath, g.Region, a.capped(acct, DimTag, t))
			a.row(gran, bucket).s.addGeneration(g)
		}
	}
	if len(g.Tags) == 0 {
		*lt = rollupLast{ok: true, account: acct, model: g.Model, provider: g.Provider, app: g.App, user: g.User,
			apiPath: g.APIPath, region: g.Region, key: g.KeyHash, minute: minute, hour: hour, rows: lt.rows}
	}
}

// row returns the row of key a.kb, marked dirty.
func (a *rollupAgg) row(gran Granularity, bucket int64) *rollupRow {
	r := a.rows[string(a.kb)]
	if r == nil {
		r = &rollupRow{kb: append([]byte(nil), a.kb...), gran: gran, bucket: bucket}
		a.rows[string(r.kb)] = r
	}
	a.mark(r)
	return r
}

// mark queues r for the next flush.
func (a *rollupAgg) mark(r *rollupRow) {
	if !r.dirty {
		r.dirty = true
		a.dirty = append(a.dirty, r)
	}
}

// flush writes the dirty rows' deltas as merge operands into b and returns
// the scratch buffer.
func (a *rollupAgg) flush(b *pebble.Batch, vb []byte, now time.Time) []byte {
	for _, r := range a.dirty {
		vb = encodeStats(vb[:0], &r.s)
		_ = b.Merge(r.kb, vb, nil)
		r.s = Stats{}
		r.dirty = false
	}
	clear(a.dirty)
	a.dirty = a.dirty[:0]
	// Once a minute, forget rows whose bucket has passed.
	unix := now.Unix()
	if m := floorDiv(unix, 60); m != a.evictMin {
		a.evictMin = m
		a.last.ok = false // its rows may be evicted
		for k, r := range a.rows {
			if r.bucket+2*r.gran.seconds() <= unix {
				delete(a.rows, k)
			}
		}
	}
	return vb
}
