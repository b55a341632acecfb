package routing

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
)

// testCatalog is small and hand-priced (USD per million tokens):
//
//	acme/chat   cheap 0.1/0.2 ctx 8k max 2k int4 {temperature,tools}       (trains)
//	            mid   0.5/1   ctx 32k        fp8  {temperature,tools,response_format,structured_outputs,seed} (zdr)
//	            fast  1/2     ctx 128k       bf16 {tools,response_format,reasoning}
//	            pricey 2/4    ctx 128k       fp16 (all parameters)    (retains prompts)
//	            free  0/0     ctx 4k         -    {temperature}
//	acme/vision mid 3/6 (image 0.002 USD), pricey 4/8 (image 0.01 USD); input text+image
//	acme/big    pricey 5/10 ctx 200k
func testCatalog() Catalog {
	return Catalog{
		Providers: []Provider{
			{Name: "cheap", Protocol: "openai", DataPolicy: DataPolicy{Training: true}},
			{Name: "Mid", Protocol: "openai", DataPolicy: DataPolicy{ZDR: true}},
			{Name: "fast", Protocol: "anthropic"},
			{Name: "pricey", Protocol: "gemini", DataPolicy: DataPolicy{RetainsPrompts: true}},
			{Name: "free", Protocol: "openai"},
		},
		Models: []*Model{
			{ID: "acme/chat", ContextLength: 128000, Endpoints: []*Endpoint{
				{Provider: "cheap", Pricing: Pricing{Prompt: usd(0.1), Completion: usd(0.2)}, ContextLength: 8000, MaxCompletionTokens: 2000, Quantization: "int4", SupportedParameters: []string{"temperature", "tools"}},
				{Provider: "mid", Pricing: Pricing{Prompt: usd(0.5), Completion: usd(1)}, ContextLength: 32000, Quantization: "fp8", SupportedParameters: []string{"temperature", "tools", "response_format", "structured_outputs", "seed"}},
				{Provider: "fast", Pricing: Pricing{Prompt: usd(1), Completion: usd(2)}, Quantization: "bf16", SupportedParameters: []string{"tools", "response_format", "reasoning"}},
				{Provider: "pricey", Pricing: Pricing{Prompt: usd(2), Completion: usd(4)}, Quantization: "fp16"},
				{Provider: "free", ContextLength: 4000, SupportedParameters: []string{"temperature"}},
			}},
			{ID: "acme/vision", ContextLength: 64000, InputModalities: []string{"text", "image"}, Endpoints: []*Endpoint{
				{Provider: "mid", Pricing: Pricing{Prompt: usd(3), Completion: usd(6), Image: 2_000_000}},
				{Provider: "pricey", Pricing: Pricing{Prompt: usd(4), Completion: usd(8), Image: 10_000_000}},
			}},
			{ID: "acme/big", ContextLength: 200000, Endpoints: []*Endpoint{
				{Provider: "pricey", Pricing: Pricing{Prompt: usd(5), Completion: usd(10)}},
			}},
		},
	}
}

func providers(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = strings.ToLower(c.Endpoint.Provider)
		if c.Endpoint.Model != "acme/chat" {
			out[i] = c.Endpoint.Model[strings.IndexByte(c.Endpoint.Model, '/')+1:] + ":" + out[i]
		}
	}
	return out
}

func mustPrefs(t *testing.T, js string) *Preferences {
	t.Helper()
	var p Preferences
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		t.Fatalf("decode %s: %v", js, err)
	}
	return &p
}

// TestRankFilters checks every hard filter and preference field with a
// price sort so that the order is deterministic.
func TestRankFilters(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	f := func(name string, req Request, prefs string, want ...string) {
		t.Helper()
		if prefs != "" {
			req.Provider = mustPrefs(t, prefs)
		}
		if req.Model == "" {
			req.Model = "acme/chat"
		}
		got, err := r.Rank(&req, nil)
		if err != nil {
			t.Fatalf("%s: Rank: %v", name, err)
		}
		if g := providers(got); !slices.Equal(g, want) {
			t.Fatalf("%s: got %v, want %v", name, g, want)
		}
	}
	sortPrice := `{"sort":"price"}`
	f("price sort", Request{}, sortPrice, "free", "cheap", "mid", "fast", "pricey")
	f("floor variant", Request{Model: "acme/chat:floor"}, "", "free", "cheap", "mid", "fast", "pricey")
	f("free variant", Request{Model: "acme/chat:free"}, "", "free")
	f("context length", Request{PromptTokens: 7000, MaxTokens: 1000}, sortPrice, "cheap", "mid", "fast", "pricey")
	f("context length excl", Request{PromptTokens: 7000, MaxTokens: 1001}, sortPrice, "mid", "fast", "pricey")
	f("max_tokens vs max_completion_tokens", Request{MaxTokens: 2001}, sortPrice, "free", "mid", "fast", "pricey")
	f("tools soft filter", Request{Tools: true}, sortPrice, "cheap", "mid", "fast", "pricey")
	f("tool_choice soft filter", Request{ToolChoice: true}, sortPrice, "cheap", "mid", "fast", "pricey")
	f("response_format soft filter", Request{JSONObject: true}, sortPrice, "mid", "fast", "pricey")
	f("json_schema soft filter", Request{JSONSchema: true}, sortPrice, "mid", "fast", "pricey")
	f("params ignored without require_parameters", Request{Params: ParamSeed}, sortPrice, "free", "cheap", "mid", "fast", "pricey")
	f("require_parameters", Request{Params: ParamSeed | ParamTemperature}, `{"sort":"price","require_parameters":true}`, "mid", "pricey")
	f("require_parameters json_schema", Request{JSONSchema: true}, `{"sort":"price","require_parameters":true}`, "mid", "pricey")
	f("require_parameters reasoning", Request{Reasoning: true}, `{"sort":"price","require_parameters":true}`, "fast", "pricey")
	f("thinking variant", Request{Model: "acme/chat:thinking"}, sortPrice, "fast", "pricey")
	f("data_collection deny", Request{}, `{"sort":"price","data_collection":"deny"}`, "free", "mid", "fast")
	f("data_collection allow", Request{}, `{"sort":"price","data_collection":"allow"}`, "free", "cheap", "mid", "fast", "pricey")
	f("zdr", Request{}, `{"sort":"price","zdr":true}`, "mid")
	f("quantizations", Request{}, `{"sort":"price","quantizations":["FP8","bf16"]}`, "mid", "fast")
	f("quantizations unknown", Request{}, `{"sort":"price","quantizations":["unknown"]}`, "free")
	f("only", Request{}, `{"sort":"price","only":["PRICEY","cheap","nosuch"]}`, "cheap", "pricey")
	f("ignore", Request{}, `{"sort":"price","ignore":["Cheap","free"]}`, "mid", "fast", "pricey")
	f("only and ignore", Request{}, `{"sort":"price","only":["cheap","mid"],"ignore":["mid"]}`, "cheap")
	f("allowed providers", Request{AllowedProviders: []string{"FAST", "mid"}}, sortPrice, "mid", "fast")
	f("max_price prompt", Request{}, `{"sort":"price","max_price":{"prompt":0.5}}`, "free", "cheap", "mid")
	f("max_price completion string", Request{}, `{"sort":"price","max_price":{"completion":"0.2"}}`, "free", "cheap")
	f("max_price zero = free only", Request{}, `{"sort":"price","max_price":{"prompt":0,"completion":0}}`, "free")
	f("max_price image", Request{Model: "acme/vision", Images: true}, `{"sort":"price","max_price":{"image":0.005}}`, "vision:mid")
	f("max_price image ignored without images", Request{Model: "acme/vision"}, `{"sort":"price","max_price":{"image":0.005}}`, "vision:mid", "vision:pricey")
	f("images need modality", Request{Model: "acme/vision", Images: true}, sortPrice, "vision:mid", "vision:pricey")
	f("order", Request{}, `{"order":["pricey","Cheap"],"sort":"price"}`, "pricey", "cheap", "free", "mid", "fast")
	f("order without fallbacks", Request{}, `{"order":["pricey","cheap","nosuch"],"allow_fallbacks":false}`, "pricey", "cheap")
	f("order with filters", Request{PromptTokens: 9000}, `{"order":["cheap","fast"],"allow_fallbacks":false}`, "fast")
	f("sort latency unmeasured by price", Request{}, `{"sort":"latency"}`, "free", "cheap", "mid", "fast", "pricey")
	f("sort throughput unmeasured by price", Request{Model: "acme/chat:nitro"}, "", "free", "cheap", "mid", "fast", "pricey")
	f("sort object", Request{}, `{"sort":{"by":"price","partition":"model"}}`, "free", "cheap", "mid", "fast", "pricey")
	f("disabled fallbacks without order keeps first", Request{}, `{"sort":"price","allow_fallbacks":false}`, "free")
	f("everything", Request{PromptTokens: 1000, MaxTokens: 1000, Tools: true, Params: ParamTemperature, AllowedProviders: []string{"mid", "fast", "pricey", "cheap"}},
		`{"order":["fast"],"allow_fallbacks":true,"require_parameters":false,"data_collection":"deny","zdr":false,
		  "only":["mid","fast","pricey","cheap"],"ignore":["free"],"quantizations":["fp8","bf16","fp16","int4"],
		  "sort":{"by":"price","partition":"model"},"max_price":{"prompt":1.5,"completion":3,"request":0,"image":1},
		  "preferred_min_throughput":{"p50":10},"preferred_max_latency":3}`, "fast", "mid")
}

func TestRankNoEndpointNamesConstraint(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	f := func(req Request, prefs string, want Constraint) {
		t.Helper()
		if prefs != "" {
			req.Provider = mustPrefs(t, prefs)
		}
		if req.Model == "" {
			req.Model = "acme/chat"
		}
		got, err := r.Rank(&req, nil)
		var ne *NoEndpointError
		if !errors.As(err, &ne) {
			t.Fatalf("want NoEndpointError %s, got %v (%v)", want, err, providers(got))
		}
		if ne.Constraint != want {
			t.Fatalf("constraint: got %s, want %s (%v)", ne.Constraint, want, err)
		}
		if !strings.Contains(err.Error(), string(want)) || !strings.Contains(err.Error(), req.Model) {
			t.Fatalf("message %q does not name model and constraint", err)
		}
	}
	f(Request{}, `{"max_price":{"prompt":0.05}, "ignore":["free"]}`, ConstraintMaxPricePrompt)
	f(Request{}, `{"max_price":{"completion":0.1}, "ignore":["free"]}`, ConstraintMaxPriceComplete)
	f(Request{}, `{"max_price":{"request":0}, "ignore":["free", "cheap", "mid", "fast", "pricey"]}`, ConstraintIgnore)
	f(Request{PromptTokens: 200000}, "", ConstraintContextLength)
	f(Request{Model: "acme/big", MaxTokens: 10, Images: true}, "", ConstraintImages)
	f(Request{}, `{"zdr":true,"data_collection":"deny","only":["pricey"]}`, ConstraintDataCollection)
	f(Request{}, `{"zdr":true,"only":["pricey","fast"]}`, ConstraintZDR)
	f(Request{}, `{"quantizations":["fp4"]}`, ConstraintQuantizations)
	f(Request{}, `{"only":["nosuch"]}`, ConstraintOnly)
	f(Request{}, `{"order":["nosuch"],"allow_fallbacks":false}`, ConstraintOrder)
	f(Request{AllowedProviders: []string{}}, "", ConstraintAllowedProviders)
	f(Request{Model: "acme/big:free"}, "", ConstraintFree)
	f(Request{Model: "acme/chat:thinking"}, `{"only":["cheap","mid"]}`, ConstraintReasoning)
	f(Request{Params: ParamTopK}, `{"only":["mid","cheap"],"require_parameters":true}`, ConstraintRequireParameters)
	f(Request{Tools: true}, `{"only":["free"]}`, ConstraintTools)
	f(Request{JSONObject: true}, `{"only":["cheap"]}`, ConstraintResponseFormat)
	f(Request{MaxTokens: 3000}, `{"only":["cheap"]}`, ConstraintMaxTokens)
	// The filter that removed the last endpoint is named: cheap falls to
	// max_tokens, mid later to max_price.prompt.
	f(Request{MaxTokens: 3000}, `{"only":["cheap","mid"],"max_price":{"prompt":0.2}}`, ConstraintMaxPricePrompt)

	if _, err := r.Apply(DisableRecord("pricey", true, 1, "n1")); err != nil {
		t.Fatal(err)
	}
	f(Request{Model: "acme/big"}, "", ConstraintDisabled)
}

func TestRankUnknownModel(t *testing.T) {
	r := newTestRouter(t, testCatalog(), newClock())
	for _, req := range []Request{
		{Model: "nope/nope"},
		{Model: "nope/nope:free"},
		{Models: []string{"x/y", "z/w"}},
		{Model: "acme/chat:beta"},
	} {
		if _, err := r.Rank(&req, nil); !errors.Is(err, ErrUnknownModel) {
			t.Fatalf("%+v: want ErrUnknownModel, got %v", req, err)
		}
	}
	// An unknown primary with a known fallback ranks the fallback.
	got, err := r.Rank(&Request{Model: "nope/nope", Models: []string{"acme/big"}}, nil)
	if err != nil || !slices.Equal(providers(got), []string{"big:pricey"}) {
		t.Fatalf("got %v, %v", providers(got), err)
	}
}

func TestRankModelsPartition(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	f := func(req Request, prefs string, want ...string) {
		t.Helper()
		if prefs != "" {
			req.Provider = mustPrefs(t, prefs)
		}
		got, err := r.Rank(&req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g := providers(got); !slices.Equal(g, want) {
			t.Fatalf("got %v, want %v", g, want)
		}
	}
	// Partition by model (default): each model's endpoints in turn.
	f(Request{Model: "acme/big", Models: []string{"acme/vision", "acme/big"}}, `{"sort":"price"}`, "big:pricey", "vision:mid", "vision:pricey")
	f(Request{Models: []string{"acme/vision", "acme/big"}}, `{"sort":{"by":"price","partition":"model"}}`, "vision:mid", "vision:pricey", "big:pricey")
	// Partition none: one price sort across models.
	f(Request{Model: "acme/big", Models: []string{"acme/vision"}}, `{"sort":{"by":"price","partition":"none"}}`, "vision:mid", "vision:pricey", "big:pricey")
	// Filters apply per model: vision needs nothing from big.
	f(Request{Model: "acme/chat", Models: []string{"acme/big"}, PromptTokens: 150000}, `{"sort":"price"}`, "big:pricey")
	// Variants per entry.
	f(Request{Model: "acme/chat:free", Models: []string{"acme/big"}}, "", "free", "big:pricey")
	// allow_fallbacks=false without order: first candidate of each model.
	f(Request{Model: "acme/chat", Models: []string{"acme/vision"}}, `{"sort":"price","allow_fallbacks":false}`, "free", "vision:mid")
	// Reasons: sort, then fallback tiers.
	got, _ := r.Rank(&Request{Model: "acme/chat", Provider: mustPrefs(t, `{"order":["fast"]}`)}, nil)
	if got[0].Reason != ReasonOrder || got[1].Reason != ReasonFallback {
		t.Fatalf("reasons %v %v", got[0].Reason, got[1].Reason)
	}
	if got[0].Reason.String() != "order" || ReasonWeighted.String() != "weighted:price" || ReasonSortPrice.String() != "sort:price" {
		t.Fatal("reason strings")
	}
}

func TestRankAuto(t *testing.T) {
	clk := newClock()
	cat := testCatalog()
	cat.Models = append(cat.Models, &Model{ID: "acme/schema", ContextLength: 16000, Endpoints: []*Endpoint{
		{Provider: "mid", Pricing: Pricing{Prompt: usd(0.3), Completion: usd(0.3)}, SupportedParameters: []string{"tools", "response_format", "structured_outputs"}},
	}})
	r := newTestRouter(t, cat, clk)
	f := func(req Request, want ...string) {
		t.Helper()
		got, err := r.Rank(&req, nil)
		if err != nil {
			t.Fatal(err)
		}
		var models []string
		for _, c := range got {
			if !slices.Contains(models, c.Endpoint.Model) {
				models = append(models, c.Endpoint.Model)
			}
		}
		if !slices.Equal(models, want) {
			t.Fatalf("auto chose %v, want %v", models, want)
		}
	}
	// acme/chat has a free endpoint: cheapest.
	f(Request{Model: AutoModel}, "acme/chat", "acme/schema", "acme/vision")
	// json_schema needs structured_outputs: acme/chat's mid has it too
	// (cost 0.5/1) but acme/schema is cheaper (0.3/0.3); acme/vision
	// declares no parameters, so it is assumed to support them.
	f(Request{Model: AutoModel, JSONSchema: true}, "acme/schema", "acme/chat", "acme/vision")
	// Images: only acme/vision.
	f(Request{Model: "openrouter/auto", Images: true}, "acme/vision")
	// Context: 150k prompt fits only acme/big (and chat via fast/pricey 128k? no).
	f(Request{Model: AutoModel, PromptTokens: 150000}, "acme/big")
	// Reasoning: chat's fast and pricey, big's pricey (declares all).
	f(Request{Model: AutoModel, Reasoning: true, PromptTokens: 10}, "acme/chat", "acme/vision", "acme/big")
	_, err := r.Rank(&Request{Model: AutoModel, PromptTokens: 500000}, nil)
	var ne *NoEndpointError
	if !errors.As(err, &ne) || ne.Constraint != ConstraintContextLength {
		t.Fatalf("got %v", err)
	}
}

func TestRankDefaultWeightedIsPermutation(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	got, err := r.Rank(&Request{Model: "acme/chat"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := providers(got)
	slices.Sort(g)
	if !slices.Equal(g, []string{"cheap", "fast", "free", "mid", "pricey"}) {
		t.Fatalf("got %v", g)
	}
	for _, c := range got {
		if c.Reason != ReasonWeighted {
			t.Fatalf("reason %v", c.Reason)
		}
	}
	// Same seed, same stats, same call sequence: same ranking.
	r2 := newTestRouter(t, testCatalog(), clk)
	a, _ := r.Rank(&Request{Model: "acme/chat"}, nil)
	b, _ := r2.Rank(&Request{Model: "acme/chat"}, nil)
	_, _ = r2.Rank(&Request{Model: "acme/chat"}, nil)
	r3 := newTestRouter(t, testCatalog(), clk)
	_, _ = r3.Rank(&Request{Model: "acme/chat"}, nil)
	c, _ := r3.Rank(&Request{Model: "acme/chat"}, nil)
	_ = b
	if !slices.Equal(providers(a), providers(c)) {
		t.Fatalf("not reproducible: %v vs %v", providers(a), providers(c))
	}
}

func TestRankAppendsToDst(t *testing.T) {
	r := newTestRouter(t, testCatalog(), newClock())
	dst := []Candidate{{}}
	got, err := r.Rank(&Request{Model: "acme/big"}, dst)
	if err != nil || len(got) != 2 || got[0].Endpoint != nil || got[1].Endpoint.Provider != "pricey" {
		t.Fatalf("got %+v %v", got, err)
	}
}

func TestRankPreferredThresholds(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	snap := r.Snapshot()
	m, _ := snap.Model("acme/chat")
	// cheap: slow TTFT 3s, 10 tok/s; mid: 0.5s, 100 tok/s; others unmeasured.
	for i := 0; i < 20; i++ {
		a := r.Begin(m.Endpoints[0])
		r.End(a, Outcome{TTFT: 3 * time.Second, Latency: 13 * time.Second, OutputTokens: 100})
		a = r.Begin(m.Endpoints[1])
		r.End(a, Outcome{TTFT: 500 * time.Millisecond, Latency: 1500 * time.Millisecond, OutputTokens: 100})
	}
	clk.Advance(2 * time.Second)
	a := r.Begin(m.Endpoints[0]) // republish percentiles
	r.End(a, Outcome{TTFT: 3 * time.Second, Latency: 13 * time.Second, OutputTokens: 100})
	a = r.Begin(m.Endpoints[1])
	r.End(a, Outcome{TTFT: 500 * time.Millisecond, Latency: 1500 * time.Millisecond, OutputTokens: 100})

	f := func(prefs string, want ...string) {
		t.Helper()
		got, err := r.Rank(&Request{Model: "acme/chat", Provider: mustPrefs(t, prefs)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if g := providers(got); !slices.Equal(g, want) {
			t.Fatalf("%s: got %v, want %v", prefs, g, want)
		}
	}
	f(`{"sort":"price"}`, "free", "cheap", "mid", "fast", "pricey")
	f(`{"sort":"price","preferred_max_latency":1}`, "free", "mid", "fast", "pricey", "cheap")
	f(`{"sort":"price","preferred_max_latency":{"p90":2.5}}`, "free", "mid", "fast", "pricey", "cheap")
	f(`{"sort":"price","preferred_min_throughput":50}`, "free", "mid", "fast", "pricey", "cheap")
	f(`{"sort":"price","preferred_min_throughput":{"p99":200}}`, "free", "fast", "pricey", "cheap", "mid")
	f(`{"sort":"latency"}`, "mid", "cheap", "free", "fast", "pricey")
	f(`{"sort":"throughput"}`, "mid", "cheap", "free", "fast", "pricey")
	got, _ := r.Rank(&Request{Model: "acme/chat", Provider: mustPrefs(t, `{"sort":"price","preferred_max_latency":1}`)}, nil)
	if got[4].Reason != ReasonFallback || got[0].Reason != ReasonSortPrice {
		t.Fatalf("reasons %v", got)
	}
	// After the routing window the data is stale and nobody is penalised.
	clk.Advance(6 * time.Minute)
	f(`{"sort":"price","preferred_max_latency":1}`, "free", "cheap", "mid", "fast", "pricey")
}

// TestRankTiersAcrossModels: healthy candidates of every model come before
// deprioritised ones; inside a tier, models keep request order.
func TestRankTiersAcrossModels(t *testing.T) {
	clk := newClock()
	r := newTestRouter(t, testCatalog(), clk)
	slow := endpoint(t, r, "acme/big", "pricey")
	for i := 0; i < 10; i++ {
		attempt(r, slow, Outcome{TTFT: 8 * time.Second, Latency: 9 * time.Second, OutputTokens: 10})
	}
	req := Request{Model: "acme/big", Models: []string{"acme/vision"}, Provider: mustPrefs(t, `{"sort":"price","preferred_max_latency":5}`)}
	got, err := r.Rank(&req, nil)
	if err != nil {
		t.Fatal(err)
	}
	// big:pricey misses the latency preference: the fallback model is tried first.
	if g := providers(got); !slices.Equal(g, []string{"vision:mid", "vision:pricey", "big:pricey"}) {
		t.Fatalf("got %v", g)
	}
	// An unhealthy endpoint of the first model goes behind healthy
	// endpoints of the next models too; with order, within order.
	bad := endpoint(t, r, "acme/vision", "mid")
	for i := 0; i < 5; i++ {
		attempt(r, bad, ok5xx)
	}
	req = Request{Model: "acme/vision", Models: []string{"acme/chat"}, Provider: mustPrefs(t, `{"order":["mid","pricey"],"allow_fallbacks":false}`)}
	got, _ = r.Rank(&req, nil)
	if g := providers(got); !slices.Equal(g, []string{"vision:pricey", "mid", "pricey", "vision:mid"}) {
		t.Fatalf("got %v", g)
	}
	if got[0].Reason != ReasonOrder || got[3].Reason != ReasonFallback {
		t.Fatalf("reasons %v %v", got[0].Reason, got[3].Reason)
	}
}

// TestRankLargeInputs covers the paths for big buckets (generic sort,
// in-place draws), long provider lists and unlisted quantizations.
func TestRankLargeInputs(t *testing.T) {
	clk := newClock()
	cat := bigCatalog(70)
	cat.Models[0].Endpoints[69].Quantization = "AWQ"
	r := newTestRouter(t, cat, clk)
	for _, prefs := range []string{``, `{"sort":"price"}`} {
		req := Request{Model: "bench/model"}
		if prefs != "" {
			req.Provider = mustPrefs(t, prefs)
		}
		got, err := r.Rank(&req, nil)
		if err != nil || len(got) != 70 {
			t.Fatalf("%s: %d candidates, %v", prefs, len(got), err)
		}
		seen := map[*Endpoint]bool{}
		for _, c := range got {
			seen[c.Endpoint] = true
		}
		if len(seen) != 70 {
			t.Fatalf("%s: not a permutation", prefs)
		}
		if prefs != "" && (got[0].Endpoint.Provider != "p00" || got[69].Endpoint.Provider != "p69") {
			t.Fatalf("price sort of 70: %s … %s", got[0].Endpoint.Provider, got[69].Endpoint.Provider)
		}
		if prefs == "" {
			// The tail after the drawn positions is in descending weight.
			for i := weightedDraws + 1; i < len(got); i++ {
				if got[i].key2 > got[i-1].key2 {
					t.Fatalf("tail not in descending weight at %d", i)
				}
			}
		}
	}
	// 20 names: beyond the resolved-index fast path.
	var only []string
	for i := 0; i < 20; i++ {
		only = append(only, strings.ToUpper(fmt.Sprintf("p%02d", 2*i)))
	}
	req := Request{Model: "bench/model", AllowedProviders: only, Provider: &Preferences{Only: only, Ignore: only[:3], Order: only[5:], Sort: Sort{By: SortPrice}}}
	got, err := r.Rank(&req, nil)
	if err != nil || len(got) != 17 || got[0].Endpoint.Provider != "p10" || got[0].Reason != ReasonOrder {
		t.Fatalf("long lists: %v %v", providers(got), err)
	}
	// A quantization outside the known list matches case-insensitively.
	got, err = r.Rank(&Request{Model: "bench/model", Provider: &Preferences{Quantizations: []string{"awq"}}}, nil)
	if err != nil || len(got) != 1 || got[0].Endpoint.Provider != "p69" {
		t.Fatalf("awq: %v %v", providers(got), err)
	}
}
