package routing

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	var c Config
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{
		TTFTHalfLife: 5 * time.Second, LatencyHalfLife: 10 * time.Second, ThroughputHalfLife: 10 * time.Second, ErrorHalfLife: 30 * time.Second,
		CircuitFailures: 5, CircuitErrorRate: 0.5, CircuitMinSamples: 10, CircuitOpenDelay: 10 * time.Second, CircuitMaxOpenDelay: 5 * time.Minute,
		ProbeLease: 5 * time.Second, CooldownDefault: 5 * time.Second, CooldownMin: time.Second, CooldownMax: 10 * time.Minute,
		OutageWindow: 30 * time.Second, OutageMinFailures: 3, OutageFailureRatio: 0.5,
		LatencyScale: 2 * time.Second, ErrorScoreFloor: 0.01, PriceFloor: 1, DefaultPromptTokens: 1000, DefaultCompletionTokens: 250,
		AutoFallbackModels: 2, PercentileRefresh: time.Second,
		HintTTL: 15 * time.Second, HintLocalSamples: 5,
	}
	if c != want {
		t.Fatalf("defaults:\ngot  %+v\nwant %+v", c, want)
	}
	// Explicit values survive EnsureDefaults.
	c = Config{CircuitFailures: 2, AutoFallbackModels: -1}
	c.EnsureDefaults()
	if c.CircuitFailures != 2 || c.AutoFallbackModels != -1 || c.Validate() != nil {
		t.Fatalf("explicit values: %+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	f := func(mut func(*Config), field string) {
		t.Helper()
		var c Config
		c.EnsureDefaults()
		mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Fatalf("want an error naming %s, got %v", field, err)
		}
	}
	f(func(c *Config) { c.TTFTHalfLife = -1 }, "TTFTHalfLife")
	f(func(c *Config) { c.CircuitErrorRate = 1.5 }, "CircuitErrorRate")
	f(func(c *Config) { c.CircuitFailures = -1 }, "CircuitFailures")
	f(func(c *Config) { c.CircuitMaxOpenDelay = time.Second }, "CircuitMaxOpenDelay")
	f(func(c *Config) { c.CooldownMax = time.Millisecond }, "CooldownMax")
	f(func(c *Config) { c.OutageFailureRatio = 2 }, "OutageFailureRatio")
	f(func(c *Config) { c.ErrorScoreFloor = -1 }, "ErrorScoreFloor")
	f(func(c *Config) { c.AutoFallbackModels = 9 }, "AutoFallbackModels")
	f(func(c *Config) { c.DefaultPromptTokens = -1 }, "DefaultPromptTokens")
	if _, err := New(Config{CircuitErrorRate: 2}, testCatalog(), time.Now, 1); err == nil {
		t.Fatal("New accepted an invalid config")
	}
	if _, err := New(Config{}, testCatalog(), nil, 1); err == nil {
		t.Fatal("New accepted a nil clock")
	}
}

func TestCatalogValidation(t *testing.T) {
	f := func(mut func(*Catalog), want string) {
		t.Helper()
		cat := testCatalog()
		mut(&cat)
		_, err := New(Config{}, cat, time.Now, 1)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("want error containing %q, got %v", want, err)
		}
	}
	f(func(c *Catalog) { c.Providers = append(c.Providers, Provider{Name: "CHEAP"}) }, "duplicate provider")
	f(func(c *Catalog) { c.Providers[0].Name = "a/b" }, "invalid provider name")
	f(func(c *Catalog) { c.Models = append(c.Models, &Model{ID: "acme/big"}) }, "duplicate model")
	f(func(c *Catalog) { c.Models[0].ID = "" }, "without id")
	f(func(c *Catalog) { c.Models[0].Endpoints[0].Provider = "nope" }, "unknown provider")
	f(func(c *Catalog) { c.Models[0].Endpoints[1].Provider = "CHEAP" }, "duplicate endpoint")
	f(func(c *Catalog) { c.Models[0].Endpoints[0].Pricing.Completion = -1 }, "negative price")
	f(func(c *Catalog) { c.Models[0].Endpoints[0].Model = "other/model" }, "listed under model")

	// Defaults: name from id, context from endpoints, endpoint inherits.
	cat := Catalog{Providers: []Provider{{Name: "p"}}, Models: []*Model{{ID: "a/b", Endpoints: []*Endpoint{{Provider: "P", ContextLength: 4096}, nil}}, nil}}
	r, err := New(Config{}, cat, time.Now, 1)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := r.Snapshot().Model("a/b")
	if m.Name != "a/b" || m.ContextLength != 4096 || len(m.Endpoints) != 1 || m.Endpoints[0].Provider != "p" || m.Endpoints[0].Key() != "p/a/b" || m.Endpoints[0].ModelInfo() != m {
		t.Fatalf("defaults not applied: %+v", m)
	}
	// The router copied the catalog: later edits by the caller do not leak in.
	cat.Models[0].Endpoints[0].ContextLength = 1
	if m.Endpoints[0].ContextLength != 4096 {
		t.Fatal("catalog aliased")
	}
}
