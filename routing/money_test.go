package routing

import (
	"math"
	"strconv"
	"testing"
)

func TestPricingCost(t *testing.T) {
	p := Pricing{
		Prompt: usd(3), Completion: usd(15), Request: 1000, Image: 50_000,
		InputCacheRead: usd(0.3), InputCacheWrite: usd(3.75), InternalReasoning: 0,
	}
	f := func(p Pricing, u Usage, want int64) {
		t.Helper()
		if got := p.Cost(u); got != want {
			t.Fatalf("Cost(%+v) = %d, want %d", u, got, want)
		}
	}
	f(p, Usage{}, 1000)
	// 1000 prompt tokens at $3/M = $0.003 = 3,000,000 nano.
	f(p, Usage{PromptTokens: 1000}, 3_000_000+1000)
	// Cache reads and writes are part of the prompt and priced separately.
	f(p, Usage{PromptTokens: 1000, CachedTokens: 600, CacheWriteTokens: 100},
		300*3000+600*300+100*3750+1000)
	// Reasoning tokens are part of the completion; 0 reasoning price means
	// the completion price.
	f(p, Usage{CompletionTokens: 100, ReasoningTokens: 40}, 100*15000+1000)
	f(Pricing{Completion: usd(10), InternalReasoning: usd(20)}, Usage{CompletionTokens: 100, ReasoningTokens: 40}, 60*10000+40*20000)
	f(p, Usage{Images: 2}, 100_000+1000)
	// Rounding up per component: 1 token at 1 nano-USD/M costs 1 nano-USD.
	f(Pricing{Prompt: 1, Completion: 1}, Usage{PromptTokens: 1, CompletionTokens: 1}, 2)
	f(Pricing{Prompt: 1_000_001}, Usage{PromptTokens: 1}, 2)
	f(Pricing{Prompt: 999_999}, Usage{PromptTokens: 1}, 1)
	f(Pricing{Prompt: 1_000_000}, Usage{PromptTokens: 3}, 3)
	// Free is free.
	f(Pricing{}, Usage{PromptTokens: 1 << 30, CompletionTokens: 1 << 30}, 0)
	// Cache counts larger than the prompt (Anthropic style) are priced as reported.
	f(Pricing{Prompt: usd(1), InputCacheRead: usd(0.1)}, Usage{PromptTokens: 10, CachedTokens: 1000}, 100_000)
	// Negative inputs are clamped; huge ones saturate.
	f(p, Usage{PromptTokens: -5, CompletionTokens: -1, Images: -3}, 1000)
	f(Pricing{Prompt: math.MaxInt64}, Usage{PromptTokens: math.MaxInt32}, math.MaxInt64)
	f(Pricing{Prompt: math.MaxInt64 / 2, Completion: math.MaxInt64 / 2, Request: math.MaxInt64}, Usage{PromptTokens: 1e6, CompletionTokens: 1e6}, math.MaxInt64)
	if !(Pricing{}).IsFree() || p.IsFree() {
		t.Fatal("IsFree")
	}
}

func TestParseUSD(t *testing.T) {
	f := func(in string, want int64) {
		t.Helper()
		got, err := ParseUSD(in)
		if err != nil || got != want {
			t.Fatalf("ParseUSD(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	f("0", 0)
	f("1", 1e9)
	f("1.5", 1_500_000_000)
	f("0.000000001", 1)
	f("0.0000000005", 1) // half up
	f("0.0000000004", 0) // below half
	f("0.00000000049999", 0)
	f(".5", 500_000_000)
	f("5.", 5e9)
	f("+2", 2e9)
	f("1e3", 1e12)
	f("1.25E-1", 125_000_000)
	f("15e-10", 2)
	f("000123.4500", 123_450_000_000)
	f("9223372036.854775807", math.MaxInt64)
	f("1e-30", 0)
	f("0e999", 0)
	for _, bad := range []string{"", "-1", "abc", "1.2.3", "1e", "e5", ".", "1x", "9223372037", "1e20", " 1"} {
		if v, err := ParseUSD(bad); err == nil {
			t.Fatalf("ParseUSD(%q) = %d, want error", bad, v)
		}
	}
}

func TestAppendUSD(t *testing.T) {
	f := func(nano int64, want string) {
		t.Helper()
		if got := string(AppendUSD(nil, nano)); got != want {
			t.Fatalf("AppendUSD(%d) = %q, want %q", nano, got, want)
		}
	}
	f(0, "0")
	f(1, "0.000000001")
	f(1_500_000_000, "1.5")
	f(3e9, "3")
	f(-1_000_000, "-0.001")
	f(math.MaxInt64, "9223372036.854775807")
	f(math.MinInt64, "-9223372036.854775808")
}

func FuzzUSDRoundTrip(f *testing.F) {
	for _, s := range []string{"0", "1.5", "0.000000001", "1e3", "123.456789012"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseUSD(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseUSD(%q) = %d < 0", s, n)
		}
		out := string(AppendUSD(nil, n))
		back, err := ParseUSD(out)
		if err != nil || back != n {
			t.Fatalf("%q → %d → %q → %d, %v", s, n, out, back, err)
		}
		// Agrees with float parsing to within float precision.
		if v, err := strconv.ParseFloat(s, 64); err == nil && v < 1e9 {
			if d := math.Abs(v*1e9 - float64(n)); d > 1+v*1e9*1e-12 {
				t.Fatalf("ParseUSD(%q) = %d, float says %g", s, n, v*1e9)
			}
		}
	})
}
