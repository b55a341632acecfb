package routing

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// usd converts USD per million tokens to nano-USD per million tokens.
func usd(v float64) int64 { return int64(v*1e9 + 0.5) }

var allParams = []string{"temperature", "top_p", "seed", "max_tokens", "stop", "tools", "tool_choice", "response_format", "structured_outputs", "reasoning", "logprobs"}

// bigCatalog has one model "bench/model" with n endpoints on providers
// p00…p(n-1) of rising price, plus a second model with a few endpoints.
func bigCatalog(n int) Catalog {
	var cat Catalog
	m := &Model{ID: "bench/model", ContextLength: 128000, InputModalities: []string{"text", "image"}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("p%02d", i)
		cat.Providers = append(cat.Providers, Provider{Name: name, Protocol: "openai", DataPolicy: DataPolicy{ZDR: i%3 == 0, Training: i%5 == 4}})
		q := []string{"fp8", "fp16", "bf16", "int8"}[i%4]
		m.Endpoints = append(m.Endpoints, &Endpoint{
			Provider: name, Pricing: Pricing{Prompt: usd(0.1 + 0.05*float64(i)), Completion: usd(0.4 + 0.1*float64(i))},
			MaxCompletionTokens: 16000, Quantization: q, SupportedParameters: allParams,
		})
	}
	m2 := &Model{ID: "bench/other", ContextLength: 32000}
	for i := 0; i < 3 && i < n; i++ {
		m2.Endpoints = append(m2.Endpoints, &Endpoint{Provider: fmt.Sprintf("p%02d", i), Pricing: Pricing{Prompt: usd(1), Completion: usd(2)}})
	}
	cat.Models = []*Model{m, m2}
	return cat
}

func f64(v float64) *int64 {
	n := int64(v * 1e9)
	return &n
}

// fullPreferences sets every field of the provider object, with lists of
// the size OpenRouter's documentation shows.
func fullPreferences() *Preferences {
	yes := true
	return &Preferences{
		Order:                  []string{"P07", "p03", "p11"},
		AllowFallbacks:         &yes,
		RequireParameters:      true,
		DataCollection:         DataCollectionDeny,
		Only:                   []string{"p01", "p02", "p03", "p05", "p06", "p07", "p08", "p11"},
		Ignore:                 []string{"p16", "P17"},
		Quantizations:          []string{"fp8", "fp16", "bf16"},
		Sort:                   Sort{By: SortPrice, Partition: PartitionModel},
		MaxPrice:               MaxPrice{Prompt: f64(5), Completion: f64(10), Request: f64(0.01), Image: f64(0.01)},
		PreferredMinThroughput: Threshold{P50: 20, P90: 5},
		PreferredMaxLatency:    Threshold{P50: 2, P99: 10},
	}
}

// largeListPreferences is fullPreferences with long provider lists.
func largeListPreferences() *Preferences {
	p := fullPreferences()
	p.Only = []string{"p00", "p01", "p02", "p03", "p05", "p06", "p07", "p08", "p10", "p11", "p12", "p13", "p15", "p16"}
	return p
}

func newTestRouter(tb testing.TB, cat Catalog, clk *fakeClock) *Router {
	tb.Helper()
	r, err := New(Config{}, cat, clk.Now, 42)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return r
}

// warm feeds every endpoint of every model a few successful attempts.
func warm(r *Router, clk *fakeClock) {
	for _, m := range r.Snapshot().Models() {
		for i, e := range m.Endpoints {
			for k := 0; k < 3; k++ {
				a := r.Begin(e)
				r.End(a, Outcome{TTFT: time.Duration(100+10*i) * time.Millisecond, Latency: time.Second, OutputTokens: 100})
			}
		}
	}
	clk.Advance(2 * time.Second)
}
