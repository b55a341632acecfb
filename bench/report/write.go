package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// WriteJSON writes r as indented JSON followed by a newline.
func WriteJSON(w io.Writer, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: cannot encode: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// metricRow is one distribution with its CSV name and unit.
type metricRow struct {
	name, label, unit string
	d                 Dist
}

// rows lists the distributions worth printing: streaming metrics only for
// streams, the lag only in open loop, the server overhead only when the
// target sent it.
func (r *Report) rows(all bool) []metricRow {
	m := r.Metrics
	rows := []metricRow{}
	add := func(name, label, unit string, d Dist, show bool) {
		if all || show {
			rows = append(rows, metricRow{name, label, unit, d})
		}
	}
	add("ttft", "TTFT", "ms", m.TTFT, r.Config.Stream)
	add("itl", "Inter-token latency", "ms", m.ITL, r.Config.Stream)
	add("tpot", "Time per output token", "ms", m.TPOT, r.Config.Stream)
	add("e2e", "End-to-end latency", "ms", m.E2E, true)
	add("send_lag", "Send lag (generator)", "ms", m.SendLag, r.Config.Mode == "open")
	add("server_overhead", "Server overhead ("+serverHeader+")", "ms", m.ServerOverhead, m.ServerOverhead.Count > 0)
	add("output_tokens", "Output tokens per request", "tokens", r.Tokens.PerRequest, true)
	return rows
}

const serverHeader = "X-Tollgate-Overhead-Us"

// WriteCSV writes one row per distribution (metric, unit, count, mean,
// min, p50, p90, p95, p99, p99_9, max), then one row per throughput figure
// with its value in the mean column.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"metric", "unit", "count", "mean", "min", "p50", "p90", "p95", "p99", "p99_9", "max"})
	for _, row := range r.rows(true) {
		d := row.d
		rec := []string{row.name, row.unit, strconv.FormatInt(d.Count, 10)}
		for _, v := range []float64{d.Mean, d.Min, d.P50, d.P90, d.P95, d.P99, d.P999, d.Max} {
			rec = append(rec, strconv.FormatFloat(v, 'f', -1, 64))
		}
		_ = cw.Write(rec)
	}
	scalar := func(name, unit string, count int64, v float64) {
		_ = cw.Write([]string{name, unit, strconv.FormatInt(count, 10), strconv.FormatFloat(v, 'f', -1, 64), "", "", "", "", "", "", ""})
	}
	t := r.Throughput
	scalar("requests_per_s", "req/s", r.Requests.Succeeded, t.RequestsPerS)
	scalar("goodput_per_s", "req/s", r.Requests.Good, t.GoodputPerS)
	scalar("output_tokens_per_s", "tokens/s", r.Tokens.Output, t.OutputTokensPerS)
	cw.Flush()
	return cw.Error()
}

// loadLine describes the load in words.
func (r *Report) loadLine() string {
	c := r.Config
	var b strings.Builder
	if c.Mode == "open" {
		fmt.Fprintf(&b, "open loop, %s arrivals at %s req/s", c.Arrival, num(c.Rate))
	} else {
		fmt.Fprintf(&b, "closed loop, %d concurrent", c.Concurrency)
	}
	var bounds []string
	if c.DurationS > 0 {
		bounds = append(bounds, num(c.DurationS)+" s")
	}
	if c.Requests > 0 {
		bounds = append(bounds, strconv.Itoa(c.Requests)+" requests")
	}
	fmt.Fprintf(&b, ", %s", strings.Join(bounds, " or "))
	if c.WarmupS > 0 {
		fmt.Fprintf(&b, " after %s s warm-up", num(c.WarmupS))
	}
	return b.String()
}

func (r *Report) lengthsLine() string {
	s := "prompt " + rangeText(r.Config.PromptTokens) + " tokens"
	if r.Config.MaxTokens.Max > 0 {
		s += ", max_tokens " + rangeText(r.Config.MaxTokens)
	}
	return s
}

func rangeText(t TokenRange) string {
	if t.Min == t.Max {
		return strconv.Itoa(t.Min)
	}
	return strconv.Itoa(t.Min) + "–" + strconv.Itoa(t.Max)
}

func (r *Report) sloText() string {
	var parts []string
	s := r.Config.SLO
	if s.TTFTMs > 0 {
		parts = append(parts, "ttft ≤ "+num(s.TTFTMs)+" ms")
	}
	if s.TPOTMs > 0 {
		parts = append(parts, "tpot ≤ "+num(s.TPOTMs)+" ms")
	}
	if s.E2EMs > 0 {
		parts = append(parts, "e2e ≤ "+num(s.E2EMs)+" ms")
	}
	if len(parts) == 0 {
		return "no SLO: every success"
	}
	return strings.Join(parts, ", ")
}

func countsText[K comparable](m map[K]int64, key func(K) string) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	vals := map[string]int64{}
	for k, v := range m {
		keys = append(keys, key(k))
		vals[key(k)] = v
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s × %d", k, vals[k])
	}
	return strings.Join(parts, ", ")
}

func id(s string) string { return s }

// num formats v with up to three decimals and no trailing zeros.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

// fixed formats v with three decimals (milliseconds to the microsecond).
func fixed(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }

// WriteText writes the summary printed on a terminal.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "%-32s %s\n", k+":", v) }
	b.WriteString("=============== tollgate bench run ===============\n")
	line("Target", r.Config.URL+" (model "+r.Config.Model+")")
	line("Load", r.loadLine())
	line("Requests", r.lengthsLine()+map[bool]string{true: ", streaming", false: ", non-streaming"}[r.Config.Stream])
	if r.Interrupted {
		line("Interrupted", "yes: figures cover the part that ran")
	}
	line("Measured time", num(r.DurationS)+" s")
	line("Requests sent / ok / failed", fmt.Sprintf("%d / %d / %d", r.Requests.Sent, r.Requests.Succeeded, r.Requests.Failed))
	line("HTTP status", countsText(r.Status, id))
	line("Errors", countsText(r.Errors, id))
	if r.Requests.Verified > 0 {
		line("Content verified", fmt.Sprintf("%d intact and in order", r.Requests.Verified))
	}
	line("Request throughput", num(r.Throughput.RequestsPerS)+" req/s")
	line("SLO", r.sloText())
	line("Goodput", fmt.Sprintf("%s req/s (%s %% of sent)", num(r.Throughput.GoodputPerS), num(100*r.Throughput.GoodFraction)))
	line("Output token throughput", num(r.Throughput.OutputTokensPerS)+" tokens/s")
	line("Output tokens", fmt.Sprintf("%d (usage reported by %d of %d)", r.Tokens.Output, r.Tokens.UsageReported, r.Requests.Succeeded))
	fmt.Fprintf(&b, "\n%-42s %10s %10s %10s %10s %10s %10s %10s %10s\n", "metric (ms; tokens)", "mean", "p50", "p90", "p95", "p99", "p99.9", "max", "count")
	for _, row := range r.rows(false) {
		d := row.d
		fmt.Fprintf(&b, "%-42s %10s %10s %10s %10s %10s %10s %10s %10d\n", row.label,
			fixed(d.Mean), fixed(d.P50), fixed(d.P90), fixed(d.P95), fixed(d.P99), fixed(d.P999), fixed(d.Max), d.Count)
	}
	if p := r.Process; p != nil {
		fmt.Fprintf(&b, "\nProcess %d: RSS max %s MiB, mean %s MiB; CPU %s s, %s %% of a core on average (max %s %%), %d samples\n",
			p.PID, num(float64(p.RSSMaxBytes)/(1<<20)), num(float64(p.RSSMeanBytes)/(1<<20)),
			num(p.CPUSeconds), num(p.CPUPercentMean), num(p.CPUPercentMax), p.Samples)
	}
	b.WriteString("==================================================\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes a markdown summary: the load, the counts and one
// table of distributions.
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## tollgate bench run — %s\n\n", r.StartedAt.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- Target: `%s`, model `%s`\n", r.Config.URL, r.Config.Model)
	fmt.Fprintf(&b, "- Load: %s; %s%s\n", r.loadLine(), r.lengthsLine(),
		map[bool]string{true: ", streaming", false: ", non-streaming"}[r.Config.Stream])
	if r.Interrupted {
		b.WriteString("- **Interrupted**: figures cover the part that ran\n")
	}
	fmt.Fprintf(&b, "- Requests: %d sent, %d ok, %d failed; status %s; errors %s\n",
		r.Requests.Sent, r.Requests.Succeeded, r.Requests.Failed, countsText(r.Status, id), countsText(r.Errors, id))
	fmt.Fprintf(&b, "- Throughput: %s req/s, goodput %s req/s (%s), %s output tokens/s over %s s\n\n",
		num(r.Throughput.RequestsPerS), num(r.Throughput.GoodputPerS), r.sloText(),
		num(r.Throughput.OutputTokensPerS), num(r.DurationS))
	b.WriteString("| metric | mean | p50 | p90 | p95 | p99 | p99.9 | max | count |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.rows(false) {
		d := row.d
		fmt.Fprintf(&b, "| %s (%s) | %s | %s | %s | %s | %s | %s | %s | %d |\n", row.label, row.unit,
			fixed(d.Mean), fixed(d.P50), fixed(d.P90), fixed(d.P95), fixed(d.P99), fixed(d.P999), fixed(d.Max), d.Count)
	}
	if p := r.Process; p != nil {
		fmt.Fprintf(&b, "\nProcess %d: RSS max %s MiB (mean %s MiB), CPU %s %% of a core on average (max %s %%).\n",
			p.PID, num(float64(p.RSSMaxBytes)/(1<<20)), num(float64(p.RSSMeanBytes)/(1<<20)), num(p.CPUPercentMean), num(p.CPUPercentMax))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
