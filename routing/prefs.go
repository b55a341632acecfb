package routing

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/goccy/go-json"
)

// Preferences mirror OpenRouter's `provider` request object. Core decodes the
// sub-object straight into it; the custom decoders accept exactly what
// OpenRouter accepts (sort as string or object, thresholds as number or
// percentile object, prices as numbers or decimal strings).
type Preferences struct {
	// Order lists provider names to try first, in this order
	// (case-insensitive).
	Order []string `json:"order,omitempty"`
	// AllowFallbacks defaults to true. When false and Order is set, only
	// Order's providers are used; when false without Order, only the first
	// candidate of each model is returned.
	AllowFallbacks *bool `json:"allow_fallbacks,omitempty"`
	// RequireParameters keeps only endpoints that support every parameter of
	// the request.
	RequireParameters bool `json:"require_parameters,omitempty"`
	// DataCollection "deny" excludes providers that train on or retain
	// prompts.
	DataCollection DataCollection `json:"data_collection,omitempty"`
	// ZDR keeps only zero-data-retention providers.
	ZDR bool `json:"zdr,omitempty"`
	// Only and Ignore are provider allow and deny lists (case-insensitive);
	// an empty list is no restriction. Unknown names match nothing.
	Only   []string `json:"only,omitempty"`
	Ignore []string `json:"ignore,omitempty"`
	// Quantizations keeps only endpoints with one of these quantizations
	// (case-insensitive; an endpoint without one counts as "unknown").
	Quantizations []string `json:"quantizations,omitempty"`
	Sort          Sort     `json:"sort,omitzero"`
	MaxPrice      MaxPrice `json:"max_price,omitzero"`
	// PreferredMinThroughput is in output tokens per second.
	PreferredMinThroughput Threshold `json:"preferred_min_throughput,omitzero"`
	// PreferredMaxLatency is time to first token in seconds.
	PreferredMaxLatency Threshold `json:"preferred_max_latency,omitzero"`
}

// fallbacksAllowed reports the effective allow_fallbacks.
func (p *Preferences) fallbacksAllowed() bool {
	return p == nil || p.AllowFallbacks == nil || *p.AllowFallbacks
}

// DataCollection is "allow" (default) or "deny".
type DataCollection string

// Data collection values.
const (
	DataCollectionAllow DataCollection = "allow"
	DataCollectionDeny  DataCollection = "deny"
)

// UnmarshalJSON accepts "allow", "deny" and null.
func (d *DataCollection) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		*d = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("cannot decode data_collection: %w", err)
	}
	switch DataCollection(s) {
	case DataCollectionAllow, DataCollectionDeny, "":
		*d = DataCollection(s)
		return nil
	}
	return fmt.Errorf("cannot decode data_collection: %q is not \"allow\" or \"deny\"", s)
}

// SortBy names a sort order.
type SortBy string

// Sort orders.
const (
	SortPrice      SortBy = "price"
	SortThroughput SortBy = "throughput"
	SortLatency    SortBy = "latency"
)

// Partition says whether models[] fallbacks are sorted per model or merged.
type Partition string

// Partitions.
const (
	// PartitionModel (the default) tries each model's endpoints in turn.
	PartitionModel Partition = "model"
	// PartitionNone merges every model's endpoints into one ordering.
	PartitionNone Partition = "none"
)

// Sort is OpenRouter's `sort`: a string ("price") or {"by","partition"}.
type Sort struct {
	By        SortBy
	Partition Partition
}

// IsZero reports whether no sort was given.
func (s Sort) IsZero() bool { return s == Sort{} }

// UnmarshalJSON accepts a string, an object {by, partition} or null.
func (s *Sort) UnmarshalJSON(b []byte) error {
	*s = Sort{}
	b = bytes.TrimSpace(b)
	if isNull(b) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var by string
		if err := json.Unmarshal(b, &by); err != nil {
			return fmt.Errorf("cannot decode sort: %w", err)
		}
		return s.set(by, "")
	}
	var obj struct {
		By        *string `json:"by"`
		Partition *string `json:"partition"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("cannot decode sort: %w", err)
	}
	var by, part string
	if obj.By != nil {
		by = *obj.By
	}
	if obj.Partition != nil {
		part = *obj.Partition
	}
	return s.set(by, part)
}

func (s *Sort) set(by, part string) error {
	switch SortBy(by) {
	case "", SortPrice, SortThroughput, SortLatency:
	default:
		return fmt.Errorf("cannot decode sort: unknown sort %q (want price, throughput or latency)", by)
	}
	switch Partition(part) {
	case "", PartitionModel, PartitionNone:
	default:
		return fmt.Errorf("cannot decode sort: unknown partition %q (want model or none)", part)
	}
	s.By, s.Partition = SortBy(by), Partition(part)
	return nil
}

// MarshalJSON writes the string form when no partition is set.
func (s Sort) MarshalJSON() ([]byte, error) {
	if s.IsZero() {
		return []byte("null"), nil
	}
	if s.Partition == "" {
		return json.Marshal(string(s.By))
	}
	return json.Marshal(struct {
		By        SortBy    `json:"by,omitempty"`
		Partition Partition `json:"partition"`
	}{s.By, s.Partition})
}

// MaxPrice caps an endpoint's prices; nil fields are unlimited. Values are
// nano-USD in the same units as Pricing (per million tokens for Prompt and
// Completion, per request, per image). On the wire they are USD numbers
// (or decimal strings), converted exactly once at decode time.
type MaxPrice struct {
	Prompt     *int64
	Completion *int64
	Request    *int64
	Image      *int64
}

// IsZero reports whether no cap is set.
func (m MaxPrice) IsZero() bool {
	return m.Prompt == nil && m.Completion == nil && m.Request == nil && m.Image == nil
}

// UnmarshalJSON decodes {prompt, completion, request, image} in USD.
func (m *MaxPrice) UnmarshalJSON(b []byte) error {
	*m = MaxPrice{}
	if isNull(bytes.TrimSpace(b)) {
		return nil
	}
	var raw struct {
		Prompt     json.RawMessage `json:"prompt"`
		Completion json.RawMessage `json:"completion"`
		Request    json.RawMessage `json:"request"`
		Image      json.RawMessage `json:"image"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("cannot decode max_price: %w", err)
	}
	for _, f := range [...]struct {
		name string
		raw  json.RawMessage
		dst  **int64
	}{
		{"prompt", raw.Prompt, &m.Prompt},
		{"completion", raw.Completion, &m.Completion},
		{"request", raw.Request, &m.Request},
		{"image", raw.Image, &m.Image},
	} {
		v := bytes.TrimSpace(f.raw)
		if len(v) == 0 || isNull(v) {
			continue
		}
		if v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("cannot decode max_price.%s: %w", f.name, err)
			}
			v = []byte(s)
		}
		n, err := ParseUSD(string(v))
		if err != nil {
			return fmt.Errorf("cannot decode max_price.%s: %w", f.name, err)
		}
		*f.dst = &n
	}
	return nil
}

// MarshalJSON writes the caps as USD numbers.
func (m MaxPrice) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	add := func(name string, v *int64) {
		if v == nil {
			return
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, name)
		b = append(b, ':')
		b = AppendUSD(b, *v)
	}
	add("prompt", m.Prompt)
	add("completion", m.Completion)
	add("request", m.Request)
	add("image", m.Image)
	return append(b, '}'), nil
}

// Threshold is a soft performance target: a number (applies to p50) or a
// percentile object {p50, p75, p90, p99}; zero fields are unset. For
// latency, pN is the N-th percentile of time to first token (seconds) and
// must be ≤ the cutoff. For throughput, pN is the rate that N % of requests
// reach or exceed (tokens/s; the (100−N)-th percentile of the distribution)
// and must be ≥ the cutoff, so a higher percentile is stricter in both cases.
type Threshold struct {
	P50 float64 `json:"p50,omitempty"`
	P75 float64 `json:"p75,omitempty"`
	P90 float64 `json:"p90,omitempty"`
	P99 float64 `json:"p99,omitempty"`
}

// IsZero reports whether no cutoff is set.
func (t Threshold) IsZero() bool { return t == Threshold{} }

// UnmarshalJSON accepts a number, a percentile object or null.
func (t *Threshold) UnmarshalJSON(b []byte) error {
	*t = Threshold{}
	b = bytes.TrimSpace(b)
	if isNull(b) {
		return nil
	}
	if len(b) > 0 && b[0] != '{' {
		var v float64
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("cannot decode threshold: %w", err)
		}
		t.P50 = v
		return t.validate()
	}
	type plain Threshold
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("cannot decode threshold: %w", err)
	}
	*t = Threshold(p)
	return t.validate()
}

func (t Threshold) validate() error {
	for _, v := range [...]float64{t.P50, t.P75, t.P90, t.P99} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return errors.New("cannot decode threshold: cutoffs must be finite and non-negative")
		}
	}
	return nil
}

func isNull(b []byte) bool { return string(b) == "null" }
