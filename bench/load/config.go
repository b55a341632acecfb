package load

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Range is an inclusive range of integers drawn uniformly per request;
// Min == Max is a fixed value and the zero Range means "not set".
type Range struct {
	Min, Max int
}

// ParseRange parses "N" or "MIN:MAX".
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Range{}, nil
	}
	lo, hi, isRange := strings.Cut(s, ":")
	a, err := strconv.Atoi(strings.TrimSpace(lo))
	if err != nil {
		return Range{}, fmt.Errorf("load: cannot parse range %q: want N or MIN:MAX", s)
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil {
			return Range{}, fmt.Errorf("load: cannot parse range %q: want N or MIN:MAX", s)
		}
	}
	r := Range{Min: a, Max: b}
	if a < 0 || b < a {
		return Range{}, fmt.Errorf("load: range %q must have 0 <= MIN <= MAX", s)
	}
	return r, nil
}

// IsZero reports whether r is unset.
func (r Range) IsZero() bool { return r.Min == 0 && r.Max == 0 }

// String formats r as ParseRange reads it.
func (r Range) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return strconv.Itoa(r.Min) + ":" + strconv.Itoa(r.Max)
}

func (r Range) draw(rng *rand.Rand) int {
	if r.Max <= r.Min {
		return r.Min
	}
	return r.Min + rng.IntN(r.Max-r.Min+1)
}

// SLO holds per-request thresholds; a request is "good" (counts towards
// goodput) when it succeeded and meets every threshold that is set. TTFT
// and TPOT apply to streams only.
type SLO struct {
	TTFT time.Duration
	TPOT time.Duration
	E2E  time.Duration
}

// ParseSLO parses "ttft=200ms,tpot=50ms,e2e=2s" (any subset, any order).
func ParseSLO(s string) (SLO, error) {
	var o SLO
	s = strings.TrimSpace(s)
	if s == "" {
		return o, nil
	}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return SLO{}, fmt.Errorf("load: cannot parse SLO %q: want name=duration", part)
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return SLO{}, fmt.Errorf("load: cannot parse SLO %q: want a positive duration", part)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "ttft":
			o.TTFT = d
		case "tpot":
			o.TPOT = d
		case "e2e", "e2el":
			o.E2E = d
		default:
			return SLO{}, fmt.Errorf("load: unknown SLO metric %q (want ttft, tpot or e2e)", k)
		}
	}
	return o, nil
}

// IsZero reports whether no threshold is set.
func (o SLO) IsZero() bool { return o == SLO{} }

// String formats o as ParseSLO reads it.
func (o SLO) String() string {
	var parts []string
	if o.TTFT > 0 {
		parts = append(parts, "ttft="+o.TTFT.String())
	}
	if o.TPOT > 0 {
		parts = append(parts, "tpot="+o.TPOT.String())
	}
	if o.E2E > 0 {
		parts = append(parts, "e2e="+o.E2E.String())
	}
	return strings.Join(parts, ",")
}

// Header is one extra request header.
type Header struct {
	Key, Value string
}

// ParseHeader parses "Key: Value" (curl style) or "Key=Value".
func ParseHeader(s string) (Header, error) {
	i := strings.IndexAny(s, ":=")
	if i <= 0 {
		return Header{}, fmt.Errorf("load: cannot parse header %q: want Key: Value", s)
	}
	h := Header{Key: strings.TrimSpace(s[:i]), Value: strings.TrimSpace(s[i+1:])}
	if h.Key == "" || strings.ContainsAny(h.Key, " \t\r\n") || strings.ContainsAny(h.Value, "\r\n") {
		return Header{}, fmt.Errorf("load: invalid header %q", s)
	}
	return h, nil
}

// Request is the shape of every request a Client sends: a chat completion
// with one user message.
type Request struct {
	// URL is the OpenAI base URL as SDKs take it ("http://host:8080/api/v1",
	// "https://api.example.com/v1"); requests go to URL + "/chat/completions".
	URL string
	// Model is the "model" member. Required.
	Model string
	// Key, when set, is sent as "Authorization: Bearer <Key>".
	Key string
	// Headers are sent with every request (after Authorization, so a
	// header can replace it).
	Headers []Header
	// Stream asks for an SSE stream with usage in the last chunk.
	Stream bool
	// PromptTokens is the prompt length, in tokens of about four bytes
	// (common three-letter words with a leading space, about one token each
	// for BPE tokenizers). A unique prefix per request defeats prompt
	// caches. Zero means 16.
	PromptTokens Range
	// MaxTokens, when set, is sent as max_tokens.
	MaxTokens Range
	// Timeout bounds one request from its start to its last byte. Zero
	// means DefaultTimeout.
	Timeout time.Duration
	// MaxConns caps connections to the target. Zero means DefaultMaxConns.
	MaxConns int
	// IdleConnTimeout closes connections unused this long. Zero means
	// DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration
	// Expect, when set, checks every successful stream's content deltas
	// against a reference (see ExpectDeltas); a difference is the error
	// kind "content_mismatch".
	Expect *Expect
}

// Defaults of Request.
const (
	DefaultTimeout      = 60 * time.Second
	DefaultMaxConns     = 4096
	DefaultPromptTokens = 16
)

// EnsureDefaults fills the zero fields that have a default.
func (r *Request) EnsureDefaults() {
	if r.Timeout == 0 {
		r.Timeout = DefaultTimeout
	}
	if r.MaxConns == 0 {
		r.MaxConns = DefaultMaxConns
	}
	if r.PromptTokens.IsZero() {
		r.PromptTokens = Range{Min: DefaultPromptTokens, Max: DefaultPromptTokens}
	}
}

// Validate reports the first invalid field.
func (r *Request) Validate() error {
	u, err := url.Parse(r.URL)
	switch {
	case err != nil:
		return fmt.Errorf("load: cannot parse URL %q: %w", r.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("load: URL %q must be http:// or https://", r.URL)
	case u.Host == "":
		return fmt.Errorf("load: URL %q has no host", r.URL)
	case r.Model == "":
		return errors.New("load: model is required")
	case r.Timeout < 0 || r.MaxConns < 0:
		return errors.New("load: timeout and max connections must not be negative")
	case r.PromptTokens.Min < 0 || r.PromptTokens.Max < r.PromptTokens.Min ||
		r.MaxTokens.Min < 0 || r.MaxTokens.Max < r.MaxTokens.Min:
		return errors.New("load: token ranges must have 0 <= min <= max")
	case r.PromptTokens.Max > maxPromptTokens:
		return fmt.Errorf("load: prompt tokens above %d", maxPromptTokens)
	}
	return nil
}

// Arrival is the arrival process of an open-loop run.
type Arrival int

const (
	// Poisson arrivals: exponentially distributed gaps of mean 1/rate.
	Poisson Arrival = iota
	// Constant arrivals: one request every 1/rate exactly.
	Constant
)

// ParseArrival parses "poisson" or "constant".
func ParseArrival(s string) (Arrival, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "poisson", "":
		return Poisson, nil
	case "constant", "uniform", "fixed":
		return Constant, nil
	}
	return 0, fmt.Errorf("load: unknown arrival %q (want poisson or constant)", s)
}

// String names a as ParseArrival reads it.
func (a Arrival) String() string {
	if a == Constant {
		return "constant"
	}
	return "poisson"
}

// Plan is the shape of the load: open loop when Rate > 0, closed loop when
// Concurrency > 0 (exactly one of them), bounded by Duration, Requests or
// both.
type Plan struct {
	// Rate is the open-loop arrival rate in requests per second.
	Rate float64
	// Arrival is the open-loop arrival process.
	Arrival Arrival
	// Concurrency is the number of closed-loop workers.
	Concurrency int
	// Duration bounds the measured phase (after Warmup).
	Duration time.Duration
	// Requests bounds the number of measured requests.
	Requests int
	// Warmup is sent at the same load before the measured phase and not
	// recorded.
	Warmup time.Duration
	// SLO defines a good request for goodput.
	SLO SLO
	// MaxInFlight caps open-loop requests in flight. Zero means
	// min(Request.MaxConns, DefaultMaxInFlight).
	MaxInFlight int
	// Seed makes the arrival times and the request lengths reproducible;
	// zero picks a random seed.
	Seed uint64
	// OnDone, when set, is called after each measured request ends, from
	// the request's goroutine; it must be quick and safe for concurrent use.
	OnDone func()
}

// DefaultMaxInFlight is the default open-loop in-flight cap.
const DefaultMaxInFlight = 4096

// Validate reports the first invalid field.
func (p *Plan) Validate() error {
	switch {
	case p.Rate < 0 || p.Concurrency < 0 || p.Requests < 0 || p.Duration < 0 || p.Warmup < 0 || p.MaxInFlight < 0:
		return errors.New("load: rate, concurrency, requests and durations must not be negative")
	case (p.Rate > 0) == (p.Concurrency > 0):
		return errors.New("load: set exactly one of rate (open loop) and concurrency (closed loop)")
	case p.Duration == 0 && p.Requests == 0:
		return errors.New("load: set a duration, a number of requests or both")
	case p.Rate > 1e6:
		return errors.New("load: rate above 1,000,000 requests per second")
	}
	return nil
}
