package overhead

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/tollgate/tollgate/bench/load"
	"github.com/tollgate/tollgate/bench/plot"
	"github.com/tollgate/tollgate/bench/report"
)

// Schema names the JSON format of Report (see SCHEMA.md).
const Schema = "tollgate-bench-overhead/1"

// Report is the result of `tollgate bench overhead`. Latencies are in
// microseconds. See SCHEMA.md beside this file.
type Report struct {
	Schema    string       `json:"schema"`
	StartedAt time.Time    `json:"started_at"`
	Config    ReportConfig `json:"config"`
	Targets   []TargetInfo `json:"targets"`
	Rates     []RateResult `json:"rates"`
	Peak      []Peak       `json:"peak"`
	// Stopped says why the sweep ended before its last rate ("" if it
	// did not).
	Stopped string `json:"stopped"`

	// results keep the histograms for plots: rate → target → result.
	results map[float64]map[string]*load.Result
}

// ReportConfig is the benchmark's configuration.
type ReportConfig struct {
	Upstream        string            `json:"upstream"`
	Mock            *MockConfig       `json:"mock"`
	Isolated        bool              `json:"isolated"`
	Model           string            `json:"model"`
	Stream          bool              `json:"stream"`
	Arrival         string            `json:"arrival"`
	Rates           []float64         `json:"rates"`
	Rounds          int               `json:"rounds"`
	RoundS          float64           `json:"round_s"`
	WarmupS         float64           `json:"warmup_s"`
	PauseS          float64           `json:"pause_s"`
	TimeoutS        float64           `json:"timeout_s"`
	PromptTokens    report.TokenRange `json:"prompt_tokens"`
	MaxTokens       report.TokenRange `json:"max_tokens"`
	SLO             report.SLO        `json:"slo"`
	SLOMin          float64           `json:"slo_min"`
	PeakConcurrency int               `json:"peak_concurrency"`
	PeakRounds      int               `json:"peak_rounds"`
	PeakRoundS      float64           `json:"peak_round_s"`
}

// MockConfig is the in-process mock's shape (null with --upstream).
type MockConfig struct {
	Tokens     int     `json:"tokens"`
	TTFTMs     float64 `json:"ttft_ms"`
	TokenGapMs float64 `json:"token_gap_ms"`
}

// TargetInfo names a target.
type TargetInfo struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	Role string `json:"role"`
}

// RateResult is every target's figures at one rate.
type RateResult struct {
	Rate    float64        `json:"rate"`
	Targets []TargetResult `json:"targets"`
}

// TargetResult is one target at one rate.
type TargetResult struct {
	Name          string           `json:"name"`
	Sent          int64            `json:"sent"`
	Succeeded     int64            `json:"succeeded"`
	Failed        int64            `json:"failed"`
	Good          int64            `json:"good"`
	Errors        map[string]int64 `json:"errors"`
	ThroughputRPS float64          `json:"throughput_rps"`
	GoodFraction  float64          `json:"good_fraction"`
	SLOMet        bool             `json:"slo_met"`
	// Verified counts streams whose content matched the upstream's.
	Verified int64 `json:"verified"`

	LatencyUs report.Dist `json:"latency_us"`
	TTFTUs    report.Dist `json:"ttft_us"`
	ITLUs     report.Dist `json:"itl_us"`
	SendLagUs report.Dist `json:"send_lag_us"`
	// ServerOverheadUs is the X-Tollgate-Overhead-Us header (count 0 when
	// the target does not send it).
	ServerOverheadUs report.Dist `json:"server_overhead_us"`

	// Rounds is the number of rounds merged here.
	Rounds int `json:"rounds"`
	// RoundMedian* are each percentile's median over the rounds, and
	// RoundsLatencyUs every round's own percentiles.
	RoundMedianLatencyUs Pcts   `json:"round_median_latency_us"`
	RoundMedianTTFTUs    Pcts   `json:"round_median_ttft_us"`
	RoundMedianITLUs     Pcts   `json:"round_median_itl_us"`
	RoundsLatencyUs      []Pcts `json:"rounds_latency_us"`

	// Added* are, at each percentile, the median over the rounds of
	// (target − direct) in the same round (0 for direct).
	AddedUs     Pcts `json:"added_us"`
	AddedTTFTUs Pcts `json:"added_ttft_us"`
	AddedITLUs  Pcts `json:"added_itl_us"`
	// RatioToFloor* are Added / the floor's Added at each percentile; null
	// for direct and the floor, and where the floor's added latency is not
	// positive.
	RatioToFloor     *Ratios `json:"ratio_to_floor"`
	RatioTTFTToFloor *Ratios `json:"ratio_ttft_to_floor"`
}

// Pcts are values at the compared percentiles.
type Pcts struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
}

// Ratios are ratios at the compared percentiles; null where undefined.
type Ratios struct {
	P50  *float64 `json:"p50"`
	P90  *float64 `json:"p90"`
	P99  *float64 `json:"p99"`
	P999 *float64 `json:"p99_9"`
}

// Peak is one target's closed-loop peak throughput.
type Peak struct {
	Name          string  `json:"name"`
	Concurrency   int     `json:"concurrency"`
	Sent          int64   `json:"sent"`
	Succeeded     int64   `json:"succeeded"`
	ThroughputRPS float64 `json:"throughput_rps"`
	// RoundsRPS is each round's throughput; ThroughputRPS is their median.
	RoundsRPS []float64 `json:"rounds_rps"`
	// RatioToFloor and RatioToDirect are null where undefined.
	RatioToFloor  *float64 `json:"ratio_to_floor"`
	RatioToDirect *float64 `json:"ratio_to_direct"`
	// MaxRateWithinSLO is the highest swept rate at which the target met
	// its SLO (0 if none).
	MaxRateWithinSLO float64 `json:"max_rate_within_slo"`
}

func configOf(c Config, upstream string) ReportConfig {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rc := ReportConfig{
		Upstream: upstream, Model: c.Model, Stream: c.Stream, Arrival: c.Arrival.String(),
		Isolated: (c.Upstream != "" || c.StartMock != nil) && (c.NoFloor || c.StartFloor != nil),
		Rates:    c.Rates, Rounds: c.Rounds, RoundS: c.Round.Seconds(), WarmupS: c.Warmup.Seconds(), PauseS: max(c.Pause, 0).Seconds(),
		TimeoutS:     c.Timeout.Seconds(),
		PromptTokens: report.TokenRange{Min: c.PromptTokens.Min, Max: c.PromptTokens.Max},
		MaxTokens:    report.TokenRange{Min: c.MaxTokens.Min, Max: c.MaxTokens.Max},
		SLO:          report.SLO{TTFTMs: ms(c.SLO.TTFT), TPOTMs: ms(c.SLO.TPOT), E2EMs: ms(c.SLO.E2E)},
		SLOMin:       c.SLOMin,
	}
	if c.PromptTokens.IsZero() {
		rc.PromptTokens = report.TokenRange{Min: load.DefaultPromptTokens, Max: load.DefaultPromptTokens}
	}
	if c.PeakConcurrency > 0 {
		rc.PeakConcurrency, rc.PeakRounds, rc.PeakRoundS = c.PeakConcurrency, c.PeakRounds, c.PeakRound.Seconds()
	}
	if c.Upstream == "" {
		rc.Mock = &MockConfig{Tokens: c.MockTokens, TTFTMs: ms(c.MockTTFT), TokenGapMs: ms(c.MockTokenGap)}
	}
	return rc
}

func usDist(h *hdrhistogram.Histogram) report.Dist {
	d := report.MsDist(h)
	for _, v := range []*float64{&d.Mean, &d.Min, &d.P50, &d.P90, &d.P95, &d.P99, &d.P999, &d.Max} {
		*v *= 1000
	}
	return d
}

func pctsOf(d report.Dist) Pcts { return Pcts{P50: d.P50, P90: d.P90, P99: d.P99, P999: d.P999} }

func sub(a, b Pcts) Pcts {
	return Pcts{P50: a.P50 - b.P50, P90: a.P90 - b.P90, P99: a.P99 - b.P99, P999: a.P999 - b.P999}
}

func ratio(a, b float64) *float64 {
	if b <= 0 {
		return nil
	}
	r := a / b
	return &r
}

func ratios(a, b Pcts) *Ratios {
	return &Ratios{P50: ratio(a.P50, b.P50), P90: ratio(a.P90, b.P90), P99: ratio(a.P99, b.P99), P999: ratio(a.P999, b.P999)}
}

// build fills the report from the targets' results.
func (r *Report) build(targets []*runTarget, rates []float64) {
	r.results = map[float64]map[string]*load.Result{}
	r.Rates = []RateResult{}
	r.Peak = []Peak{}
	e2e := func(x *load.Result) *hdrhistogram.Histogram { return x.E2E }
	ttft := func(x *load.Result) *hdrhistogram.Histogram { return x.TTFT }
	itl := func(x *load.Result) *hdrhistogram.Histogram { return x.ITL }
	var direct, floor *runTarget
	for _, t := range targets {
		switch t.info.Role {
		case RoleDirect:
			direct = t
		case RoleFloor:
			floor = t
		}
	}
	for _, rate := range rates {
		rr := RateResult{Rate: rate}
		r.results[rate] = map[string]*load.Result{}
		added := map[*runTarget][3]Pcts{} // e2e, ttft, itl
		for _, t := range targets {
			res := t.byRate[rate]
			if res == nil {
				continue
			}
			r.results[rate][t.info.Name] = res
			tr := TargetResult{
				Name: t.info.Name, Rounds: len(t.rounds[rate]),
				Sent: res.Sent, Succeeded: res.Succeeded, Failed: res.Failed, Good: res.Good,
				Errors: res.Errors, ThroughputRPS: res.Throughput(), GoodFraction: res.GoodFraction(),
				SLOMet: t.brokeAt == 0 || t.brokeAt > rate, Verified: res.Verified,
				LatencyUs: usDist(res.E2E), TTFTUs: usDist(res.TTFT), ITLUs: usDist(res.ITL),
				SendLagUs: usDist(res.Lag), ServerOverheadUs: usDist(res.ServerOverhead),
				RoundMedianLatencyUs: medianPcts(roundPcts(t.rounds[rate], e2e)),
				RoundMedianTTFTUs:    medianPcts(roundPcts(t.rounds[rate], ttft)),
				RoundMedianITLUs:     medianPcts(roundPcts(t.rounds[rate], itl)),
				RoundsLatencyUs:      roundPcts(t.rounds[rate], e2e),
			}
			if direct != nil && t != direct {
				d := direct.rounds[rate]
				a := [3]Pcts{
					pairedAdded(t.rounds[rate], d, e2e),
					pairedAdded(t.rounds[rate], d, ttft),
					pairedAdded(t.rounds[rate], d, itl),
				}
				added[t] = a
				tr.AddedUs, tr.AddedTTFTUs, tr.AddedITLUs = a[0], a[1], a[2]
			}
			rr.Targets = append(rr.Targets, tr)
		}
		fa, haveFloor := added[floor]
		i := 0
		for _, t := range targets {
			if t.byRate[rate] == nil {
				continue
			}
			tr := &rr.Targets[i]
			i++
			if !haveFloor || t == floor || t == direct {
				continue
			}
			tr.RatioToFloor = ratios(tr.AddedUs, fa[0])
			if tr.TTFTUs.Count > 0 {
				tr.RatioTTFTToFloor = ratios(tr.AddedTTFTUs, fa[1])
			}
		}
		r.Rates = append(r.Rates, rr)
	}
	peakOf := func(t *runTarget) float64 {
		if t == nil || len(t.peakRounds) == 0 {
			return 0
		}
		v := make([]float64, len(t.peakRounds))
		for i, res := range t.peakRounds {
			v[i] = res.Throughput()
		}
		return median(v)
	}
	directPeak, floorPeak := peakOf(direct), peakOf(floor)
	for _, t := range targets {
		if t.peak == nil {
			continue
		}
		p := Peak{Name: t.info.Name, Concurrency: r.Config.PeakConcurrency, Sent: t.peak.Sent,
			Succeeded: t.peak.Succeeded, ThroughputRPS: peakOf(t), RoundsRPS: []float64{}}
		for _, res := range t.peakRounds {
			p.RoundsRPS = append(p.RoundsRPS, res.Throughput())
		}
		if t.info.Role != RoleFloor && t.info.Role != RoleDirect {
			p.RatioToFloor = ratio(p.ThroughputRPS, floorPeak)
		}
		if t.info.Role != RoleDirect {
			p.RatioToDirect = ratio(p.ThroughputRPS, directPeak)
		}
		for _, rate := range rates {
			if res := t.byRate[rate]; res != nil && (t.brokeAt == 0 || rate < t.brokeAt) {
				p.MaxRateWithinSLO = rate
			}
		}
		r.Peak = append(r.Peak, p)
	}
}

// roundPcts reads the compared percentiles of each round.
func roundPcts(rounds []*load.Result, h func(*load.Result) *hdrhistogram.Histogram) []Pcts {
	out := make([]Pcts, 0, len(rounds))
	for _, res := range rounds {
		out = append(out, pctsOf(usDist(h(res))))
	}
	return out
}

// pairedAdded is, at each percentile, the median over rounds of (target −
// direct) in the same round; rounds where either recorded nothing are
// skipped.
func pairedAdded(target, direct []*load.Result, h func(*load.Result) *hdrhistogram.Histogram) Pcts {
	var diffs []Pcts
	for i := 0; i < len(target) && i < len(direct); i++ {
		if h(target[i]).TotalCount() == 0 || h(direct[i]).TotalCount() == 0 {
			continue
		}
		diffs = append(diffs, sub(pctsOf(usDist(h(target[i]))), pctsOf(usDist(h(direct[i])))))
	}
	return medianPcts(diffs)
}

// medianPcts takes each percentile's median over ps (zeros when empty).
func medianPcts(ps []Pcts) Pcts {
	if len(ps) == 0 {
		return Pcts{}
	}
	col := func(f func(Pcts) float64) float64 {
		v := make([]float64, len(ps))
		for i, p := range ps {
			v[i] = f(p)
		}
		return median(v)
	}
	return Pcts{
		P50:  col(func(p Pcts) float64 { return p.P50 }),
		P90:  col(func(p Pcts) float64 { return p.P90 }),
		P99:  col(func(p Pcts) float64 { return p.P99 }),
		P999: col(func(p Pcts) float64 { return p.P999 }),
	}
}

// median of v (the mean of the two middle values for an even count); v
// is reordered.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("overhead: cannot encode report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

func us(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

func signed(v float64) string {
	if v > 0 {
		return "+" + us(v)
	}
	return us(v)
}

func times(p *float64) string {
	if p == nil {
		return "–"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64) + "×"
}

// table is a small markdown/text table builder.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) markdown(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for i := range t.head {
		if i == 0 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
}

func (t *table) text(b *strings.Builder) {
	w := make([]int, len(t.head))
	for i, h := range t.head {
		w[i] = len([]rune(h))
	}
	for _, r := range t.rows {
		for i, c := range r {
			w[i] = max(w[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		for i, c := range cells {
			pad := strings.Repeat(" ", w[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
	line(t.head)
	for _, r := range t.rows {
		line(r)
	}
}

// tables builds the report's tables: per rate latency and added latency,
// streaming figures when streaming, then peak throughput.
func (r *Report) tables() (titles []string, ts []*table) {
	for _, rr := range r.Rates {
		t := &table{head: []string{"target", "ok/sent", "req/s", "p50", "p90", "p99", "p99.9",
			"added p50", "added p90", "added p99", "added p99.9", "×floor p50", "×floor p99", "server p50", "server p99"}}
		for _, tr := range rr.Targets {
			l, a := tr.RoundMedianLatencyUs, tr.AddedUs
			rf := tr.RatioToFloor
			if rf == nil {
				rf = &Ratios{}
			}
			server := []string{"–", "–"}
			if s := tr.ServerOverheadUs; s.Count > 0 {
				server = []string{us(s.P50), us(s.P99)}
			}
			added := []string{signed(a.P50), signed(a.P90), signed(a.P99), signed(a.P999)}
			if tr.Name == RoleDirect {
				added = []string{"–", "–", "–", "–"}
			}
			ok := fmt.Sprintf("%d/%d", tr.Succeeded, tr.Sent)
			if !tr.SLOMet {
				ok += " (SLO broken)"
			}
			t.add(append(append([]string{tr.Name, ok, num(tr.ThroughputRPS), us(l.P50), us(l.P90), us(l.P99), us(l.P999)},
				added...), times(rf.P50), times(rf.P99), server[0], server[1])...)
		}
		what := "end-to-end latency"
		if r.Config.Stream {
			what = "end-to-end stream latency"
		}
		titles = append(titles, fmt.Sprintf("%s req/s, %s (µs, each percentile the median of %d rounds)", num(rr.Rate), what, r.Config.Rounds))
		ts = append(ts, t)
		if !r.Config.Stream {
			continue
		}
		s := &table{head: []string{"target", "TTFT p50", "TTFT p99", "added TTFT p50", "added TTFT p99",
			"×floor TTFT p50", "ITL p50", "ITL p99", "added ITL p50", "added ITL p99", "intact streams"}}
		for _, tr := range rr.Targets {
			rf := tr.RatioTTFTToFloor
			if rf == nil {
				rf = &Ratios{}
			}
			at, ai := tr.AddedTTFTUs, tr.AddedITLUs
			addT := []string{signed(at.P50), signed(at.P99)}
			addI := []string{signed(ai.P50), signed(ai.P99)}
			if tr.Name == RoleDirect {
				addT, addI = []string{"–", "–"}, []string{"–", "–"}
			}
			intact := fmt.Sprintf("%d/%d", tr.Verified, tr.Sent)
			if n := tr.Errors["content_mismatch"]; n > 0 {
				intact += fmt.Sprintf(" (%d altered)", n)
			}
			s.add(tr.Name, us(tr.RoundMedianTTFTUs.P50), us(tr.RoundMedianTTFTUs.P99), addT[0], addT[1], times(rf.P50),
				us(tr.RoundMedianITLUs.P50), us(tr.RoundMedianITLUs.P99), addI[0], addI[1], intact)
		}
		titles = append(titles, fmt.Sprintf("%s req/s, streaming: TTFT and inter-token latency (µs, medians of %d rounds)", num(rr.Rate), r.Config.Rounds))
		ts = append(ts, s)
	}
	if len(r.Peak) > 0 {
		t := &table{head: []string{"target", "req/s", "×floor", "×direct", "max rate within SLO"}}
		for _, p := range r.Peak {
			maxRate := "–"
			if p.MaxRateWithinSLO > 0 {
				maxRate = num(p.MaxRateWithinSLO)
			}
			t.add(p.Name, num(p.ThroughputRPS), times(p.RatioToFloor), times(p.RatioToDirect), maxRate)
		}
		titles = append(titles, fmt.Sprintf("peak throughput, closed loop at %d concurrent requests (median of %d rounds)", r.Config.PeakConcurrency, r.Config.PeakRounds))
		ts = append(ts, t)
	}
	return titles, ts
}

func (r *Report) setup() string {
	c := r.Config
	var b strings.Builder
	if c.Mock != nil {
		fmt.Fprintf(&b, "bench/mock upstream (%d tokens, ttft %s ms, token gap %s ms)", c.Mock.Tokens, num(c.Mock.TTFTMs), num(c.Mock.TokenGapMs))
	} else {
		fmt.Fprintf(&b, "upstream %s", c.Upstream)
	}
	if c.Isolated {
		b.WriteString("; mock, floor and generator in separate processes")
	} else {
		b.WriteString("; mock and floor in the generator's process")
	}
	fmt.Fprintf(&b, "; %s arrivals; %d rounds × %s s per target per rate, targets interleaved, %s s warm-up each",
		c.Arrival, c.Rounds, num(c.RoundS), num(c.WarmupS))
	var slo []string
	if c.SLO.TTFTMs > 0 {
		slo = append(slo, "ttft ≤ "+num(c.SLO.TTFTMs)+" ms")
	}
	if c.SLO.TPOTMs > 0 {
		slo = append(slo, "tpot ≤ "+num(c.SLO.TPOTMs)+" ms")
	}
	if c.SLO.E2EMs > 0 {
		slo = append(slo, "e2e ≤ "+num(c.SLO.E2EMs)+" ms")
	}
	fmt.Fprintf(&b, "; SLO %s for %s %% of requests", strings.Join(slo, ", "), num(100*c.SLOMin))
	return b.String()
}

// WriteText writes the report as plain tables.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	b.WriteString("tollgate bench overhead — " + r.setup() + "\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "  %-10s %-7s %s\n", t.Name, t.Role, t.URL)
	}
	titles, ts := r.tables()
	for i, t := range ts {
		b.WriteString("\n" + titles[i] + "\n")
		t.text(&b)
	}
	for _, e := range r.errorLines() {
		b.WriteString("\nerrors: " + e)
	}
	if r.Stopped != "" {
		b.WriteString("\nstopped: " + r.Stopped + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the report as markdown tables.
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## tollgate bench overhead — %s\n\n%s.\n\n", r.StartedAt.Format("2006-01-02 15:04 UTC"), r.setup())
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "- `%s` (%s): `%s`\n", t.Name, t.Role, t.URL)
	}
	titles, ts := r.tables()
	for i, t := range ts {
		b.WriteString("\n**" + titles[i] + "**\n\n")
		t.markdown(&b)
	}
	b.WriteString("\nLatency columns: each percentile's median over the rounds. added = median over the rounds of (target − direct) at that percentile in the same round; ×floor = added ÷ the floor's added; server = the target's own X-Tollgate-Overhead-Us (all requests).\n")
	for _, e := range r.errorLines() {
		b.WriteString("\nErrors: " + e)
	}
	if r.Stopped != "" {
		b.WriteString("\nStopped: " + r.Stopped + ".\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// errorLines lists the failures of each target at each rate, one line
// each ("R req/s, name: kind × n, …").
func (r *Report) errorLines() []string {
	var out []string
	for _, rr := range r.Rates {
		for _, t := range rr.Targets {
			if len(t.Errors) == 0 {
				continue
			}
			kinds := make([]string, 0, len(t.Errors))
			for k := range t.Errors {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			parts := make([]string, len(kinds))
			for i, k := range kinds {
				parts[i] = fmt.Sprintf("%s × %d", k, t.Errors[k])
			}
			out = append(out, fmt.Sprintf("%s req/s, %s: %s\n", num(rr.Rate), t.Name, strings.Join(parts, ", ")))
		}
	}
	return out
}

// plotRate is the rate whose latencies by percentile are drawn: the
// highest at which every target that ran it met its SLO, else the first.
func (r *Report) plotRate() (float64, bool) {
	if len(r.Rates) == 0 {
		return 0, false
	}
	best := r.Rates[0].Rate
	for _, rr := range r.Rates {
		ok := true
		for _, t := range rr.Targets {
			ok = ok && t.SLOMet
		}
		if ok {
			best = rr.Rate
		}
	}
	return best, true
}

// WritePlot renders the report's figures to path (.svg or .png): latency
// by percentile per target (TTFT and inter-token latency too for streams),
// added latency by percentile at that rate, and added latency against rate
// when several rates ran.
func (r *Report) WritePlot(path string) error {
	rate, ok := r.plotRate()
	if !ok {
		return fmt.Errorf("overhead: nothing measured to plot")
	}
	res := r.results[rate]
	names := make([]string, 0, len(r.Targets))
	style := map[string]int{}
	for i, t := range r.Targets {
		names = append(names, t.Name)
		style[t.Name] = i
	}
	byPercentile := func(title string, h func(*load.Result) *hdrhistogram.Histogram) plot.Panel {
		p := plot.Panel{Title: fmt.Sprintf("%s by percentile at %s req/s", title, num(rate)), XLabel: "percentile",
			YLabel: "latency (µs)", X: plot.PercentileLabels}
		for _, n := range names {
			if rs := res[n]; rs != nil {
				p.Series = append(p.Series, plot.Series{Name: n, Y: plot.ByPercentile(h(rs), 1), Style: style[n]})
			}
		}
		return p
	}
	var panels []plot.Panel
	if r.Config.Stream {
		panels = append(panels,
			byPercentile("Time to first token", func(x *load.Result) *hdrhistogram.Histogram { return x.TTFT }),
			byPercentile("Inter-token latency", func(x *load.Result) *hdrhistogram.Histogram { return x.ITL }),
			byPercentile("End-to-end stream latency", func(x *load.Result) *hdrhistogram.Histogram { return x.E2E }))
	} else {
		panels = append(panels, byPercentile("End-to-end latency", func(x *load.Result) *hdrhistogram.Histogram { return x.E2E }))
	}
	var at RateResult
	for _, rr := range r.Rates {
		if rr.Rate == rate {
			at = rr
		}
	}
	byPct := plot.Panel{Title: fmt.Sprintf("Added latency (target − direct) by percentile at %s req/s", num(rate)),
		XLabel: "percentile", YLabel: "added latency (µs)", YMin0: true, X: []string{"p50", "p90", "p99", "p99.9"}}
	for _, t := range at.Targets {
		if t.Name == RoleDirect {
			continue
		}
		a := t.AddedUs
		if r.Config.Stream {
			a = t.AddedTTFTUs
		}
		byPct.Series = append(byPct.Series, plot.Series{Name: t.Name,
			Y: []float64{a.P50, a.P90, a.P99, a.P999}, Style: style[t.Name]})
	}
	if r.Config.Stream {
		byPct.Title = fmt.Sprintf("Added TTFT (target − direct) by percentile at %s req/s", num(rate))
	}
	panels = append(panels, byPct)
	if len(r.Rates) > 1 {
		// Every series spans all rates; a rate a target did not run is a gap.
		vs := plot.Panel{Title: "Added latency vs rate: p50 circles, p99 squares", XLabel: "offered rate (req/s)",
			YLabel: "added latency (µs)", YMin0: true}
		for _, rr := range r.Rates {
			vs.X = append(vs.X, num(rr.Rate))
		}
		for _, n := range names[1:] {
			y50, y99 := nans(len(r.Rates)), nans(len(r.Rates))
			for i, rr := range r.Rates {
				for _, t := range rr.Targets {
					if t.Name == n {
						a := t.AddedUs
						if r.Config.Stream {
							a = t.AddedTTFTUs
						}
						y50[i], y99[i] = a.P50, a.P99
					}
				}
			}
			vs.Series = append(vs.Series,
				plot.Series{Name: n + " p50", Y: y50, Style: style[n]},
				plot.Series{Name: n + " p99", Y: y99, Style: style[n], Square: true})
		}
		panels = append(panels, vs)
	}
	return plot.WriteFile(path, panels)
}

// nans is n NaNs: a plot series with no value yet.
func nans(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	return out
}
