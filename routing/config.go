package routing

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Config tunes statistics, health and scoring. The zero value is valid after
// EnsureDefaults; every field documents its default.
type Config struct {
	// TTFTHalfLife is the half-life of the time-to-first-token average.
	// Default 5s: a latency-sorted route follows a change within seconds.
	TTFTHalfLife time.Duration
	// LatencyHalfLife is the half-life of the end-to-end latency average.
	// Default 10s.
	LatencyHalfLife time.Duration
	// ThroughputHalfLife is the half-life of the output tokens/s average.
	// Default 10s.
	ThroughputHalfLife time.Duration
	// ErrorHalfLife is the half-life of the decayed error rate. Default 30s.
	ErrorHalfLife time.Duration

	// CircuitFailures opens the circuit after this many consecutive health
	// failures. Default 5.
	CircuitFailures int
	// CircuitErrorRate opens the circuit when the decayed error rate reaches
	// it with at least CircuitMinSamples decayed samples. Default 0.5.
	CircuitErrorRate float64
	// CircuitMinSamples is the decayed sample weight needed before the error
	// rate can open the circuit. Default 10.
	CircuitMinSamples float64
	// CircuitOpenDelay is how long a freshly opened circuit waits before a
	// half-open probe (the probe interval). Default 10s.
	CircuitOpenDelay time.Duration
	// CircuitMaxOpenDelay caps the delay, which doubles after every failed
	// probe. Default 5m.
	CircuitMaxOpenDelay time.Duration
	// ProbeLease is how long a ranking's claim on the half-open probe waits
	// for the attempt to begin before another request may probe. Default 5s.
	ProbeLease time.Duration

	// CooldownDefault is the cooldown after a 429 without Retry-After.
	// Default 5s.
	CooldownDefault time.Duration
	// CooldownMin and CooldownMax bound every cooldown, including
	// Retry-After. Defaults 1s and 10m.
	CooldownMin time.Duration
	CooldownMax time.Duration

	// OutageWindow is how far back an outage counts. Default 30s.
	OutageWindow time.Duration
	// OutageMinFailures and OutageFailureRatio define an outage: at least
	// that many health failures in OutageWindow making up at least that
	// share of the window's attempts. Defaults 3 and 0.5.
	OutageMinFailures  int
	OutageFailureRatio float64

	// LatencyScale is the TTFT at which the latency factor of the default
	// weighting halves (factor = 1 / (1 + TTFT/LatencyScale)). Default 2s.
	LatencyScale time.Duration
	// ErrorScoreFloor bounds the error factor ((1 − error rate)², floored)
	// so a flaky endpoint keeps a small share. Default 0.01.
	ErrorScoreFloor float64
	// PriceFloor is the expected cost, in nano-USD, below which prices count
	// as equal in the default weighting (so free endpoints share evenly
	// instead of dividing by zero). Default 1.
	PriceFloor float64
	// DefaultPromptTokens and DefaultCompletionTokens stand in for unknown
	// request sizes when estimating a request's cost. Defaults 1000 and 250.
	DefaultPromptTokens     int
	DefaultCompletionTokens int

	// AutoFallbackModels is how many further qualifying models AutoModel
	// adds as models[]-style fallbacks after the cheapest, at most 8.
	// Default 2; -1 means none.
	AutoFallbackModels int
	// PercentileRefresh is how often the routing percentiles used by
	// preferred_* thresholds are recomputed (on End). Default 1s.
	PercentileRefresh time.Duration

	// HintTTL is how long a peer's health summary of an endpoint counts
	// after it arrived unless renewed (peers publish every few seconds).
	// Default 15s.
	HintTTL time.Duration
	// HintLocalSamples is the decayed number of local samples at which an
	// endpoint's own statistics take over completely from peers' hints;
	// below it a hint counts in proportion 1 − local/HintLocalSamples.
	// Default 5.
	HintLocalSamples float64
}

// maxAutoFallbacks bounds Config.AutoFallbackModels so AutoModel's choice
// fits on Rank's stack.
const maxAutoFallbacks = 8

// EnsureDefaults sets every zero field to its documented default.
func (c *Config) EnsureDefaults() {
	setDur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	setDur(&c.TTFTHalfLife, 5*time.Second)
	setDur(&c.LatencyHalfLife, 10*time.Second)
	setDur(&c.ThroughputHalfLife, 10*time.Second)
	setDur(&c.ErrorHalfLife, 30*time.Second)
	if c.CircuitFailures == 0 {
		c.CircuitFailures = 5
	}
	if c.CircuitErrorRate == 0 {
		c.CircuitErrorRate = 0.5
	}
	if c.CircuitMinSamples == 0 {
		c.CircuitMinSamples = 10
	}
	setDur(&c.CircuitOpenDelay, 10*time.Second)
	setDur(&c.CircuitMaxOpenDelay, 5*time.Minute)
	setDur(&c.ProbeLease, 5*time.Second)
	setDur(&c.CooldownDefault, 5*time.Second)
	setDur(&c.CooldownMin, time.Second)
	setDur(&c.CooldownMax, 10*time.Minute)
	setDur(&c.OutageWindow, 30*time.Second)
	if c.OutageMinFailures == 0 {
		c.OutageMinFailures = 3
	}
	if c.OutageFailureRatio == 0 {
		c.OutageFailureRatio = 0.5
	}
	setDur(&c.LatencyScale, 2*time.Second)
	if c.ErrorScoreFloor == 0 {
		c.ErrorScoreFloor = 0.01
	}
	if c.PriceFloor == 0 {
		c.PriceFloor = 1
	}
	if c.DefaultPromptTokens == 0 {
		c.DefaultPromptTokens = 1000
	}
	if c.DefaultCompletionTokens == 0 {
		c.DefaultCompletionTokens = 250
	}
	if c.AutoFallbackModels == 0 {
		c.AutoFallbackModels = 2
	}
	setDur(&c.PercentileRefresh, time.Second)
	setDur(&c.HintTTL, 15*time.Second)
	if c.HintLocalSamples == 0 {
		c.HintLocalSamples = 5
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	var errs []error
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	pos("TTFTHalfLife", c.TTFTHalfLife)
	pos("LatencyHalfLife", c.LatencyHalfLife)
	pos("ThroughputHalfLife", c.ThroughputHalfLife)
	pos("ErrorHalfLife", c.ErrorHalfLife)
	pos("CircuitOpenDelay", c.CircuitOpenDelay)
	pos("CircuitMaxOpenDelay", c.CircuitMaxOpenDelay)
	pos("ProbeLease", c.ProbeLease)
	pos("CooldownDefault", c.CooldownDefault)
	pos("CooldownMin", c.CooldownMin)
	pos("CooldownMax", c.CooldownMax)
	pos("OutageWindow", c.OutageWindow)
	pos("LatencyScale", c.LatencyScale)
	pos("PercentileRefresh", c.PercentileRefresh)
	pos("HintTTL", c.HintTTL)
	if !(c.HintLocalSamples > 0) || math.IsInf(c.HintLocalSamples, 0) {
		errs = append(errs, fmt.Errorf("HintLocalSamples must be positive and finite, got %g", c.HintLocalSamples))
	}
	if c.CircuitFailures < 1 {
		errs = append(errs, fmt.Errorf("CircuitFailures must be at least 1, got %d", c.CircuitFailures))
	}
	if !(c.CircuitErrorRate > 0 && c.CircuitErrorRate <= 1) {
		errs = append(errs, fmt.Errorf("CircuitErrorRate must be in (0, 1], got %g", c.CircuitErrorRate))
	}
	if !(c.CircuitMinSamples >= 1) {
		errs = append(errs, fmt.Errorf("CircuitMinSamples must be at least 1, got %g", c.CircuitMinSamples))
	}
	if c.CircuitMaxOpenDelay < c.CircuitOpenDelay {
		errs = append(errs, fmt.Errorf("CircuitMaxOpenDelay %s is below CircuitOpenDelay %s", c.CircuitMaxOpenDelay, c.CircuitOpenDelay))
	}
	if c.CooldownMax < c.CooldownMin {
		errs = append(errs, fmt.Errorf("CooldownMax %s is below CooldownMin %s", c.CooldownMax, c.CooldownMin))
	}
	if c.OutageMinFailures < 1 {
		errs = append(errs, fmt.Errorf("OutageMinFailures must be at least 1, got %d", c.OutageMinFailures))
	}
	if !(c.OutageFailureRatio > 0 && c.OutageFailureRatio <= 1) {
		errs = append(errs, fmt.Errorf("OutageFailureRatio must be in (0, 1], got %g", c.OutageFailureRatio))
	}
	if !(c.ErrorScoreFloor > 0 && c.ErrorScoreFloor <= 1) {
		errs = append(errs, fmt.Errorf("ErrorScoreFloor must be in (0, 1], got %g", c.ErrorScoreFloor))
	}
	if !(c.PriceFloor > 0) {
		errs = append(errs, fmt.Errorf("PriceFloor must be positive, got %g", c.PriceFloor))
	}
	if c.DefaultPromptTokens < 1 || c.DefaultCompletionTokens < 1 {
		errs = append(errs, fmt.Errorf("DefaultPromptTokens and DefaultCompletionTokens must be positive, got %d and %d", c.DefaultPromptTokens, c.DefaultCompletionTokens))
	}
	if c.AutoFallbackModels < -1 || c.AutoFallbackModels > maxAutoFallbacks {
		errs = append(errs, fmt.Errorf("AutoFallbackModels must be in [-1, %d], got %d", maxAutoFallbacks, c.AutoFallbackModels))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("routing: invalid config: %w", errors.Join(errs...))
}
