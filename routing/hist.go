package routing

import "math"

// Windowed percentiles use fixed memory: histSlots one-minute slots, each a
// log-scale histogram of histBuckets counters per metric (four buckets per
// doubling, so a reported percentile is within ±9 % of the true value).
const (
	histSlots     = 30
	histBuckets   = 80
	histPerOctave = 4
	slotNanos     = int64(60e9)
)

// Histogram bases: bucket 0 holds values below the base, bucket i ≥ 1 holds
// [base·2^((i−1)/4), base·2^(i/4)); the last bucket is open-ended.
const (
	durationBase = 1e6 // 1 ms in ns; the top bucket starts near 12 minutes
	rateBase     = 0.1 // tokens/s; the top bucket starts near 74k tok/s
)

type hist [histBuckets]uint32

func bucketOf(v, base float64) int {
	if !(v >= base) { // also catches NaN
		return 0
	}
	i := int(math.Log2(v/base)*histPerOctave) + 1
	return min(i, histBuckets-1)
}

// bucketValue is the geometric middle of bucket i.
func bucketValue(i int, base float64) float64 {
	if i == 0 {
		return base / 2
	}
	return base * math.Exp2((float64(i)-0.5)/histPerOctave)
}

type minuteSlot struct {
	minute int64
	// ok counts successes; fail counts health failures and 429s.
	ok, fail   uint32
	latency    hist
	ttft       hist
	throughput hist
}

type windows struct {
	slots [histSlots]minuteSlot
}

func (w *windows) slot(now int64) *minuteSlot {
	m := now / slotNanos
	s := &w.slots[int(m%histSlots)]
	if s.minute != m {
		*s = minuteSlot{minute: m}
	}
	return s
}

// merged sums the slots of the last n minutes (the current one included).
type merged struct {
	ok, fail                  uint64
	latency, ttft, throughput [histBuckets]uint64
}

func (w *windows) merge(now int64, n int, out *merged) {
	*out = merged{}
	cur := now / slotNanos
	for i := range w.slots {
		s := &w.slots[i]
		if s.minute > cur || s.minute <= cur-int64(n) {
			continue
		}
		out.ok += uint64(s.ok)
		out.fail += uint64(s.fail)
		for b := 0; b < histBuckets; b++ {
			out.latency[b] += uint64(s.latency[b])
			out.ttft[b] += uint64(s.ttft[b])
			out.throughput[b] += uint64(s.throughput[b])
		}
	}
}

var quantileLevels = [4]float64{0.50, 0.75, 0.90, 0.99}

// quantiles fills q with the value at each level of quantileLevels; when
// descending, level p reports the value that a share p of samples reach or
// exceed. It reports false when h is empty.
func quantiles(h *[histBuckets]uint64, base float64, descending bool, q *[4]float64) bool {
	var total uint64
	for _, c := range h {
		total += c
	}
	if total == 0 {
		*q = [4]float64{}
		return false
	}
	for li, p := range quantileLevels {
		if descending {
			p = 1 - p
		}
		rank := uint64(math.Ceil(p * float64(total)))
		rank = max(rank, 1)
		var cum uint64
		for b, c := range h {
			cum += c
			if cum >= rank {
				q[li] = bucketValue(b, base)
				break
			}
		}
	}
	return true
}
