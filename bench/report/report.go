// Package report turns what bench/load measured into the report of
// `tollgate bench run`: a JSON document with a documented, versioned schema
// (SCHEMA.md beside this file, checked by a test), CSV, a markdown summary
// and the text printed on a terminal.
//
// Who imports it: cmd/tollgate and bench/overhead. It imports bench/load
// and bench/proc, nothing else of Tollgate's.
package report

import (
	"sort"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/tollgate/tollgate/bench/load"
	"github.com/tollgate/tollgate/bench/proc"
)

// Schema names the JSON format; it changes only when a member changes
// meaning or goes away (adding members keeps it).
const Schema = "tollgate-bench-run/1"

// Report is the result of one `tollgate bench run`. See SCHEMA.md.
type Report struct {
	Schema      string           `json:"schema"`
	StartedAt   time.Time        `json:"started_at"`
	Config      Config           `json:"config"`
	DurationS   float64          `json:"duration_s"`
	Interrupted bool             `json:"interrupted"`
	Requests    Requests         `json:"requests"`
	Status      map[string]int64 `json:"status"`
	Errors      map[string]int64 `json:"errors"`
	Throughput  Throughput       `json:"throughput"`
	Tokens      Tokens           `json:"tokens"`
	Metrics     Metrics          `json:"metrics"`
	Process     *Process         `json:"process"`
}

// Config is the load that produced the report.
type Config struct {
	URL          string     `json:"url"`
	Model        string     `json:"model"`
	Stream       bool       `json:"stream"`
	Mode         string     `json:"mode"`
	Rate         float64    `json:"rate"`
	Arrival      string     `json:"arrival"`
	Concurrency  int        `json:"concurrency"`
	DurationS    float64    `json:"duration_s"`
	Requests     int        `json:"requests"`
	WarmupS      float64    `json:"warmup_s"`
	TimeoutS     float64    `json:"timeout_s"`
	PromptTokens TokenRange `json:"prompt_tokens"`
	MaxTokens    TokenRange `json:"max_tokens"`
	SLO          SLO        `json:"slo"`
	Headers      []string   `json:"headers"`
}

// TokenRange is a length distribution: uniform in [min, max].
type TokenRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// SLO thresholds in milliseconds; 0 is unset.
type SLO struct {
	TTFTMs float64 `json:"ttft_ms"`
	TPOTMs float64 `json:"tpot_ms"`
	E2EMs  float64 `json:"e2e_ms"`
}

// Requests counts the measured requests.
type Requests struct {
	Sent      int64 `json:"sent"`
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	Good      int64 `json:"good"`
	Verified  int64 `json:"verified"`
}

// Throughput figures, per second of measured time.
type Throughput struct {
	RequestsPerS     float64 `json:"requests_per_s"`
	GoodputPerS      float64 `json:"goodput_per_s"`
	GoodFraction     float64 `json:"good_fraction"`
	OutputTokensPerS float64 `json:"output_tokens_per_s"`
}

// Tokens counts output tokens.
type Tokens struct {
	Output        int64 `json:"output"`
	UsageReported int64 `json:"usage_reported"`
	PerRequest    Dist  `json:"per_request"`
}

// Metrics are the latency distributions, in milliseconds.
type Metrics struct {
	E2E            Dist `json:"e2e_ms"`
	TTFT           Dist `json:"ttft_ms"`
	ITL            Dist `json:"itl_ms"`
	TPOT           Dist `json:"tpot_ms"`
	SendLag        Dist `json:"send_lag_ms"`
	ServerOverhead Dist `json:"server_overhead_ms"`
}

// Dist is a distribution: count, mean, extremes and percentiles.
type Dist struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	Min   float64 `json:"min"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

// Process is the target process's resource use (--pid).
type Process struct {
	PID            int     `json:"pid"`
	Samples        int     `json:"samples"`
	RSSMaxBytes    int64   `json:"rss_max_bytes"`
	RSSMeanBytes   int64   `json:"rss_mean_bytes"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPercentMean float64 `json:"cpu_percent_mean"`
	CPUPercentMax  float64 `json:"cpu_percent_max"`
}

// New builds a report. ps is nil without --pid.
func New(startedAt time.Time, r load.Request, p load.Plan, res *load.Result, ps *proc.Stats) *Report {
	rep := &Report{
		Schema:      Schema,
		StartedAt:   startedAt.UTC().Truncate(time.Millisecond),
		Config:      configOf(r, p),
		DurationS:   res.Elapsed.Seconds(),
		Interrupted: res.Interrupted,
		Requests: Requests{
			Sent: res.Sent, Succeeded: res.Succeeded, Failed: res.Failed, Good: res.Good, Verified: res.Verified,
		},
		Status: map[string]int64{},
		Errors: map[string]int64{},
		Throughput: Throughput{
			RequestsPerS:     res.Throughput(),
			GoodputPerS:      res.Goodput(),
			GoodFraction:     res.GoodFraction(),
			OutputTokensPerS: res.TokenThroughput(),
		},
		Tokens: Tokens{
			Output:        res.OutputTokens,
			UsageReported: res.UsageReported,
			PerRequest:    countDist(res.OutputTokensH),
		},
		Metrics: Metrics{
			E2E:            MsDist(res.E2E),
			TTFT:           MsDist(res.TTFT),
			ITL:            MsDist(res.ITL),
			TPOT:           MsDist(res.TPOT),
			SendLag:        MsDist(res.Lag),
			ServerOverhead: MsDist(res.ServerOverhead),
		},
	}
	for k, v := range res.Status {
		rep.Status[strconv.Itoa(k)] = v
	}
	for k, v := range res.Errors {
		rep.Errors[k] = v
	}
	if ps != nil {
		rep.Process = &Process{
			PID:            ps.PID,
			Samples:        ps.Samples,
			RSSMaxBytes:    ps.RSSMax,
			RSSMeanBytes:   ps.RSSMean,
			CPUSeconds:     ps.CPU.Seconds(),
			CPUPercentMean: ps.CPUPercent,
			CPUPercentMax:  ps.CPUPercentMax,
		}
	}
	return rep
}

func configOf(r load.Request, p load.Plan) Config {
	c := Config{
		URL:          r.URL,
		Model:        r.Model,
		Stream:       r.Stream,
		Mode:         "closed",
		Concurrency:  p.Concurrency,
		DurationS:    p.Duration.Seconds(),
		Requests:     p.Requests,
		WarmupS:      p.Warmup.Seconds(),
		TimeoutS:     r.Timeout.Seconds(),
		PromptTokens: TokenRange{Min: r.PromptTokens.Min, Max: r.PromptTokens.Max},
		MaxTokens:    TokenRange{Min: r.MaxTokens.Min, Max: r.MaxTokens.Max},
		SLO:          SLO{TTFTMs: ms(p.SLO.TTFT), TPOTMs: ms(p.SLO.TPOT), E2EMs: ms(p.SLO.E2E)},
		Headers:      []string{},
	}
	if p.Rate > 0 {
		c.Mode, c.Rate, c.Arrival = "open", p.Rate, p.Arrival.String()
	}
	for _, h := range r.Headers {
		c.Headers = append(c.Headers, h.Key)
	}
	if r.Key != "" {
		c.Headers = append(c.Headers, "Authorization")
	}
	sort.Strings(c.Headers)
	return c
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MsDist reads a latency histogram (microseconds) into milliseconds.
func MsDist(h *hdrhistogram.Histogram) Dist {
	s := load.Summarize(h)
	return Dist{
		Count: s.Count, Mean: ms(s.Mean), Min: ms(s.Min),
		P50: ms(s.P50), P90: ms(s.P90), P95: ms(s.P95), P99: ms(s.P99), P999: ms(s.P999), Max: ms(s.Max),
	}
}

// countDist reads a histogram of plain counts.
func countDist(h *hdrhistogram.Histogram) Dist {
	if h.TotalCount() == 0 {
		return Dist{}
	}
	q := func(p float64) float64 { return float64(h.ValueAtQuantile(p)) }
	return Dist{
		Count: h.TotalCount(), Mean: h.Mean(), Min: float64(h.Min()),
		P50: q(50), P90: q(90), P95: q(95), P99: q(99), P999: q(99.9), Max: float64(h.Max()),
	}
}
