package load

import (
	"maps"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram geometry: microseconds from 1 µs to one hour, three
// significant digits (a value is exact to 0.1 %).
const (
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
	tokensMax  = 1 << 24
)

// NewLatencyHistogram returns an empty histogram of the geometry Result
// uses (values in microseconds).
func NewLatencyHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMax, histDigits) }

func newTokenHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, tokensMax, histDigits) }

// Result is what a run measured. The histograms hold successful requests
// only, in microseconds (OutputTokens in tokens).
type Result struct {
	// Start is the start of the measured phase; Elapsed runs from it to
	// the last completion of a measured request (summed over merged runs).
	Start   time.Time
	Elapsed time.Duration

	// Sent counts measured requests sent; Succeeded + Failed == Sent.
	Sent      int64
	Succeeded int64
	Failed    int64
	// Good counts successful requests that met the SLO (all successes when
	// no SLO is set).
	Good int64
	// Status counts HTTP statuses; 0 is a request that got none.
	Status map[int]int64
	// Errors counts failures by kind ("http_503", "timeout", ...).
	Errors map[string]int64
	// OutputTokens sums the output tokens of successful requests;
	// UsageReported counts those whose count came from usage.
	OutputTokens  int64
	UsageReported int64
	// Verified counts successful streams checked against Request.Expect.
	Verified int64
	// Interrupted is set when the run was canceled before its end.
	Interrupted bool

	E2E            *hdrhistogram.Histogram
	TTFT           *hdrhistogram.Histogram
	ITL            *hdrhistogram.Histogram
	TPOT           *hdrhistogram.Histogram
	Lag            *hdrhistogram.Histogram
	ServerOverhead *hdrhistogram.Histogram
	OutputTokensH  *hdrhistogram.Histogram
}

// NewResult returns an empty Result.
func NewResult() *Result {
	return &Result{
		Status:         map[int]int64{},
		Errors:         map[string]int64{},
		E2E:            NewLatencyHistogram(),
		TTFT:           NewLatencyHistogram(),
		ITL:            NewLatencyHistogram(),
		TPOT:           NewLatencyHistogram(),
		Lag:            NewLatencyHistogram(),
		ServerOverhead: NewLatencyHistogram(),
		OutputTokensH:  newTokenHistogram(),
	}
}

// Merge adds o into r: counts and histograms add up, elapsed times too,
// and Start is the earlier one.
func (r *Result) Merge(o *Result) {
	if r.Start.IsZero() || (!o.Start.IsZero() && o.Start.Before(r.Start)) {
		r.Start = o.Start
	}
	r.Elapsed += o.Elapsed
	r.Sent += o.Sent
	r.Succeeded += o.Succeeded
	r.Failed += o.Failed
	r.Good += o.Good
	for k, v := range o.Status {
		r.Status[k] += v
	}
	for k, v := range o.Errors {
		r.Errors[k] += v
	}
	r.OutputTokens += o.OutputTokens
	r.UsageReported += o.UsageReported
	r.Verified += o.Verified
	r.Interrupted = r.Interrupted || o.Interrupted
	r.E2E.Merge(o.E2E)
	r.TTFT.Merge(o.TTFT)
	r.ITL.Merge(o.ITL)
	r.TPOT.Merge(o.TPOT)
	r.Lag.Merge(o.Lag)
	r.ServerOverhead.Merge(o.ServerOverhead)
	r.OutputTokensH.Merge(o.OutputTokensH)
}

// Clone returns a deep copy of r.
func (r *Result) Clone() *Result {
	c := *r
	c.Status = maps.Clone(r.Status)
	c.Errors = maps.Clone(r.Errors)
	c.E2E = r.E2E.Clone()
	c.TTFT = r.TTFT.Clone()
	c.ITL = r.ITL.Clone()
	c.TPOT = r.TPOT.Clone()
	c.Lag = r.Lag.Clone()
	c.ServerOverhead = r.ServerOverhead.Clone()
	c.OutputTokensH = r.OutputTokensH.Clone()
	return &c
}

// perSecond returns n per second of Elapsed (0 when nothing elapsed).
func (r *Result) perSecond(n int64) float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(n) / r.Elapsed.Seconds()
}

// Throughput is successful requests per second.
func (r *Result) Throughput() float64 { return r.perSecond(r.Succeeded) }

// Goodput is good requests per second.
func (r *Result) Goodput() float64 { return r.perSecond(r.Good) }

// TokenThroughput is output tokens per second.
func (r *Result) TokenThroughput() float64 { return r.perSecond(r.OutputTokens) }

// GoodFraction is Good / Sent (1 when nothing was sent).
func (r *Result) GoodFraction() float64 {
	if r.Sent == 0 {
		return 1
	}
	return float64(r.Good) / float64(r.Sent)
}

// Summary is the distribution of one metric. Durations are exact to the
// histogram's precision (0.1 %, 1 µs at least).
type Summary struct {
	Count                              int64
	Mean                               time.Duration
	Min, P50, P90, P95, P99, P999, Max time.Duration
}

// Summarize reads a latency histogram (microseconds).
func Summarize(h *hdrhistogram.Histogram) Summary {
	if h == nil || h.TotalCount() == 0 {
		return Summary{}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Summary{
		Count: h.TotalCount(),
		Mean:  time.Duration(h.Mean() * float64(time.Microsecond)),
		Min:   us(h.Min()),
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P95:   us(h.ValueAtQuantile(95)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		Max:   us(h.Max()),
	}
}

// Quantile returns the value at quantile q (0..100) of a latency histogram.
func Quantile(h *hdrhistogram.Histogram, q float64) time.Duration {
	return time.Duration(h.ValueAtQuantile(q)) * time.Microsecond
}

// recorder collects Samples into a few locked shards; see the package doc.
type recorder struct {
	stream bool
	slo    SLO
	expect bool
	onDone func()
	shards []recShard
}

type recShard struct {
	mu   sync.Mutex
	res  *Result
	last time.Time // latest End of a measured request
	_    [64]byte  // keep shards' locks on separate cache lines
}

func newRecorder(n int, stream, expect bool, slo SLO, onDone func()) *recorder {
	r := &recorder{stream: stream, slo: slo, expect: expect, onDone: onDone, shards: make([]recShard, n)}
	for i := range r.shards {
		r.shards[i].res = NewResult()
	}
	return r
}

func usOf(d time.Duration) int64 {
	v := int64((d + time.Microsecond/2) / time.Microsecond)
	if v < 0 {
		return 0
	}
	return min(v, histMax)
}

// record adds a measured sample; openLoop records the send lag.
func (r *recorder) record(shard int, s *Sample, openLoop bool) {
	sh := &r.shards[shard%len(r.shards)]
	sh.mu.Lock()
	res := sh.res
	res.Sent++
	res.Status[s.Status]++
	if s.End.After(sh.last) {
		sh.last = s.End
	}
	if openLoop {
		_ = res.Lag.RecordValue(usOf(s.Sent.Sub(s.Start)))
	}
	if s.Err != "" {
		res.Failed++
		res.Errors[s.Err]++
		sh.mu.Unlock()
		r.done()
		return
	}
	res.Succeeded++
	e2e := s.End.Sub(s.Start)
	_ = res.E2E.RecordValue(usOf(e2e))
	tokens := s.OutputTokens(r.stream)
	res.OutputTokens += int64(tokens)
	_ = res.OutputTokensH.RecordValue(min(int64(tokens), tokensMax))
	if s.UsageTokens >= 0 {
		res.UsageReported++
	}
	if r.expect {
		res.Verified++
	}
	if s.ServerOverhead >= 0 {
		_ = res.ServerOverhead.RecordValue(usOf(s.ServerOverhead))
	}
	good := r.slo.E2E == 0 || e2e <= r.slo.E2E
	if r.stream && !s.First.IsZero() {
		ttft := s.First.Sub(s.Start)
		_ = res.TTFT.RecordValue(usOf(ttft))
		for _, g := range s.Gaps {
			_ = res.ITL.RecordValue(usOf(g))
		}
		if r.slo.TTFT > 0 && ttft > r.slo.TTFT {
			good = false
		}
		if tokens > 1 {
			tpot := (s.End.Sub(s.First)) / time.Duration(tokens-1)
			_ = res.TPOT.RecordValue(usOf(tpot))
			if r.slo.TPOT > 0 && tpot > r.slo.TPOT {
				good = false
			}
		}
	} else if r.stream && r.slo.TTFT > 0 {
		good = false // a stream without a token cannot meet a TTFT objective
	}
	if good {
		res.Good++
	}
	sh.mu.Unlock()
	r.done()
}

func (r *recorder) done() {
	if r.onDone != nil {
		r.onDone()
	}
}

// result merges the shards; start is the start of the measured phase.
func (r *recorder) result(start time.Time) *Result {
	out := NewResult()
	var last time.Time
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		out.Merge(sh.res)
		if sh.last.After(last) {
			last = sh.last
		}
		sh.mu.Unlock()
	}
	out.Start = start
	out.Elapsed = 0
	if last.After(start) {
		out.Elapsed = last.Sub(start)
	}
	return out
}
