package overhead

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/bench/load"
)

// Target is one base URL to measure against the direct path.
type Target struct {
	// Name labels the target in reports; "direct" and "floor" are taken.
	Name string
	// URL is the OpenAI base URL of the target.
	URL string
	// Model overrides Config.Model for this target (a gateway may name the
	// mock's model differently).
	Model string
	// Key is sent as a bearer token.
	Key string
	// Headers are sent with every request.
	Headers []load.Header
}

// Roles of the targets in a report.
const (
	RoleDirect = "direct" // straight to the upstream: the baseline
	RoleFloor  = "floor"  // the bare pass-through proxy (bench/floor)
	RoleTarget = "target" // a gateway under test
)

// ParseTarget parses "name=URL[,header=K:V][,key=KEY][,model=M]"; header
// may repeat.
func ParseTarget(s string) (Target, error) {
	parts := strings.Split(s, ",")
	name, u, ok := strings.Cut(parts[0], "=")
	t := Target{Name: strings.TrimSpace(name), URL: strings.TrimSpace(u)}
	if !ok || t.Name == "" || t.URL == "" {
		return Target{}, fmt.Errorf("overhead: cannot parse target %q: want name=URL[,header=K:V][,key=KEY][,model=M]", s)
	}
	if t.Name == RoleDirect || t.Name == RoleFloor {
		return Target{}, fmt.Errorf("overhead: target name %q is reserved", t.Name)
	}
	if pu, err := url.Parse(t.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return Target{}, fmt.Errorf("overhead: target %s: %q is not an http(s) base URL", t.Name, t.URL)
	}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return Target{}, fmt.Errorf("overhead: target %s: cannot parse option %q", t.Name, p)
		}
		switch strings.TrimSpace(k) {
		case "header":
			h, err := load.ParseHeader(v)
			if err != nil {
				return Target{}, fmt.Errorf("overhead: target %s: %w", t.Name, err)
			}
			t.Headers = append(t.Headers, h)
		case "key":
			t.Key = strings.TrimSpace(v)
		case "model":
			t.Model = strings.TrimSpace(v)
		default:
			return Target{}, fmt.Errorf("overhead: target %s: unknown option %q (want header, key or model)", t.Name, k)
		}
	}
	return t, nil
}

// ParseRates parses "1000,2000,5000" into ascending rates.
func ParseRates(s string) ([]float64, error) {
	var rates []float64
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		r, err := strconv.ParseFloat(p, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("overhead: cannot parse rate %q: want a positive number", p)
		}
		rates = append(rates, r)
	}
	if len(rates) == 0 {
		return nil, errors.New("overhead: no rate given")
	}
	slices.Sort(rates)
	return slices.Compact(rates), nil
}

// Config describes one overhead benchmark. Zero fields take the documented
// defaults (EnsureDefaults).
type Config struct {
	// Upstream is the OpenAI base URL every target ends at. Empty starts
	// an in-process mock (bench/mock) on MockAddr.
	Upstream string
	// MockAddr is where the in-process mock listens; default
	// "127.0.0.1:0" (any port). A gateway under test must be configured
	// with this address, so give a fixed one then.
	MockAddr string
	// MockTokens, MockTTFT and MockTokenGap shape the in-process mock's
	// answers: tokens per completion (default 16), delay before the first
	// token and between tokens of a stream (default 0).
	MockTokens   int
	MockTTFT     time.Duration
	MockTokenGap time.Duration
	// NoFloor skips the pass-through floor proxy.
	NoFloor bool
	// StartMock and StartFloor, when set, start the mock upstream and the
	// floor proxy elsewhere (cmd/tollgate runs each as its own process, as
	// the gateways it compares are) and return its base URL and how to
	// stop it. When nil they run in this process.
	StartMock  func(MockSpec) (url string, stop func() error, err error)
	StartFloor func(upstream string) (url string, stop func() error, err error)
	// Targets are measured beside direct and the floor.
	Targets []Target

	// Model is the model asked for; default "mock-chat".
	Model string
	// Stream measures streams: TTFT and inter-token latency beside e2e,
	// and every stream's content checked against the upstream's.
	Stream bool
	// PromptTokens and MaxTokens shape the requests (load.Request).
	// MaxTokens defaults to MockTokens with the in-process mock.
	PromptTokens load.Range
	MaxTokens    load.Range
	// Timeout bounds each request; default 10s.
	Timeout time.Duration

	// Rates are the open-loop rates, ascending; the sweep stops at the
	// first rate at which every gateway target broke its SLO (or direct
	// did: then the generator or the upstream is the limit). Default 1000.
	Rates []float64
	// Arrival is the arrival process (default Poisson).
	Arrival load.Arrival
	// Rounds, Round: each rate runs Rounds rounds; in each round every
	// target gets Round of load in turn, the order rotating from round to
	// round. Defaults 5 and 2s.
	Rounds int
	Round  time.Duration
	// Warmup is sent to each target before a rate's rounds; default 1s.
	Warmup time.Duration
	// Pause separates two targets' turns, so that work a target defers
	// (flushes, compactions, GC) lands in its own turn rather than in the
	// next target's; default 250ms, negative for none.
	Pause time.Duration
	// SLO defines a good request; a target breaks at a rate when fewer
	// than SLOMin (default 0.99) of its requests were good. Default: e2e ≤
	// 100 ms (non-stream) or ttft ≤ MockTTFT + 100 ms (stream).
	SLO    load.SLO
	SLOMin float64

	// PeakConcurrency is the closed-loop concurrency of the peak
	// throughput test; 0 means 64, negative skips the test. PeakRounds
	// (default 3) rounds of PeakRound (default 2s) per target, interleaved.
	PeakConcurrency int
	PeakRounds      int
	PeakRound       time.Duration

	// Seed fixes the arrival schedules (the same one for every target in
	// a round); 0 picks one at random.
	Seed uint64
	// Log, when set, receives progress lines.
	Log func(format string, args ...any)

	// idleConnTimeout is for tests, which need connections (and the
	// goroutines that watch them) gone soon after.
	idleConnTimeout time.Duration
}

// MockSpec is what StartMock must start: a bench/mock on Addr with these
// settings.
type MockSpec struct {
	Addr           string
	Tokens         int
	TTFT, TokenGap time.Duration
}

// Defaults.
const (
	DefaultMockTokens      = 16
	DefaultModel           = "mock-chat"
	DefaultTimeout         = 10 * time.Second
	DefaultRate            = 1000
	DefaultRounds          = 5
	DefaultRound           = 2 * time.Second
	DefaultWarmup          = time.Second
	DefaultPause           = 250 * time.Millisecond
	DefaultSLOMin          = 0.99
	DefaultPeakConcurrency = 64
	DefaultPeakRounds      = 3
	DefaultPeakRound       = 2 * time.Second
	defaultSLOMargin       = 100 * time.Millisecond
)

// EnsureDefaults fills zero fields.
func (c *Config) EnsureDefaults() {
	if c.MockAddr == "" {
		c.MockAddr = "127.0.0.1:0"
	}
	if c.MockTokens == 0 {
		c.MockTokens = DefaultMockTokens
	}
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.Upstream == "" && c.MaxTokens.IsZero() {
		c.MaxTokens = load.Range{Min: c.MockTokens, Max: c.MockTokens}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if len(c.Rates) == 0 {
		c.Rates = []float64{DefaultRate}
	}
	if c.Rounds == 0 {
		c.Rounds = DefaultRounds
	}
	if c.Round == 0 {
		c.Round = DefaultRound
	}
	if c.Warmup == 0 {
		c.Warmup = DefaultWarmup
	}
	if c.Pause == 0 {
		c.Pause = DefaultPause
	}
	if c.SLO.IsZero() {
		if c.Stream {
			c.SLO.TTFT = c.MockTTFT + defaultSLOMargin
		} else {
			c.SLO.E2E = defaultSLOMargin
		}
	}
	if c.SLOMin == 0 {
		c.SLOMin = DefaultSLOMin
	}
	if c.PeakConcurrency == 0 {
		c.PeakConcurrency = DefaultPeakConcurrency
	}
	if c.PeakRounds == 0 {
		c.PeakRounds = DefaultPeakRounds
	}
	if c.PeakRound == 0 {
		c.PeakRound = DefaultPeakRound
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	names := map[string]bool{RoleDirect: true, RoleFloor: true}
	for _, t := range c.Targets {
		if names[t.Name] {
			return fmt.Errorf("overhead: target name %q used twice or reserved", t.Name)
		}
		names[t.Name] = true
	}
	switch {
	case c.MockTokens < 0 || c.MockTTFT < 0 || c.MockTokenGap < 0:
		return errors.New("overhead: mock settings must not be negative")
	case c.Rounds < 1 || c.Round <= 0 || c.Warmup < 0 || c.Timeout <= 0:
		return errors.New("overhead: rounds, round and timeout must be positive")
	case c.SLOMin <= 0 || c.SLOMin > 1:
		return errors.New("overhead: slo-min must be in (0, 1]")
	case c.PeakConcurrency > 0 && (c.PeakRounds < 1 || c.PeakRound <= 0):
		return errors.New("overhead: peak rounds and round must be positive")
	}
	for _, r := range c.Rates {
		if r <= 0 {
			return errors.New("overhead: rates must be positive")
		}
	}
	if !slices.IsSorted(c.Rates) {
		return errors.New("overhead: rates must be ascending")
	}
	return nil
}
