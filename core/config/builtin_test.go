package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/routing"
)

// allBuiltinKeys sets every variable the catalog knows, each to a distinct key.
func allBuiltinKeys() map[string]string {
	vars := map[string]string{}
	for _, v := range builtinVendors {
		vars[v.env] = "key-" + v.name
	}
	return vars
}

// validateBuiltin checks that providers and models form a valid config.
func validateBuiltin(t *testing.T, providers []Provider, models []Model) {
	t.Helper()
	c := Config{Providers: providers, Models: models}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("built-in catalog does not validate:\n%v", err)
	}
}

func TestBuiltinNone(t *testing.T) {
	f := func(vars map[string]string) {
		t.Helper()
		providers, models := Builtin(env(vars))
		if len(providers) != 0 || len(models) != 0 {
			t.Fatalf("Builtin(%v) = %d providers, %d models; want none", vars, len(providers), len(models))
		}
	}
	f(nil)
	f(map[string]string{"OPENAI_API_KEY": ""})
	f(map[string]string{"ANTHROPIC_API_KEY": "  ", "UNRELATED_API_KEY": "x"})
}

func TestBuiltinEachVendor(t *testing.T) {
	for _, v := range builtinVendors {
		t.Run(v.name, func(t *testing.T) {
			providers, models := Builtin(env(map[string]string{v.env: " sk-" + v.name + "\n"}))
			if len(providers) != 1 {
				t.Fatalf("%d providers, want 1", len(providers))
			}
			p := providers[0]
			if p.Name != v.name || p.APIKey != "sk-"+v.name || p.Protocol != v.protocol || p.BaseURL == "" {
				t.Fatalf("provider: %+v", p)
			}
			if (p.Protocol == "openai") != (p.Preset == p.Name) {
				t.Fatalf("openai-protocol providers are named after their preset: %+v", p)
			}
			if p.DataPolicy.ZDR {
				t.Fatalf("no built-in vendor grants zero data retention without an agreement: %+v", p)
			}
			if len(models) == 0 {
				t.Fatalf("no models")
			}
			for _, m := range models {
				for _, e := range m.Endpoints {
					if e.Provider != v.name {
						t.Fatalf("model %s: endpoint of unconfigured provider %q", m.ID, e.Provider)
					}
				}
			}
			validateBuiltin(t, providers, models)
		})
	}
}

func TestBuiltinAll(t *testing.T) {
	providers, models := Builtin(env(allBuiltinKeys()))
	if len(providers) != len(builtinVendors) {
		t.Fatalf("%d providers, want %d", len(providers), len(builtinVendors))
	}
	if len(models) != len(builtinModels) {
		t.Fatalf("%d models, want %d", len(models), len(builtinModels))
	}
	validateBuiltin(t, providers, models)

	byID := map[string]Model{}
	for _, m := range models {
		if _, dup := byID[m.ID]; dup {
			t.Fatalf("duplicate model %s", m.ID)
		}
		byID[m.ID] = m
		seen := map[string]bool{}
		for _, e := range m.Endpoints {
			if seen[e.Provider] {
				t.Fatalf("model %s: two endpoints on %s", m.ID, e.Provider)
			}
			seen[e.Provider] = true
		}
	}

	// A model served by several configured vendors is one model with an
	// endpoint each, in catalog order.
	f := func(id string, want ...string) {
		t.Helper()
		m, ok := byID[id]
		if !ok {
			t.Fatalf("model %s missing", id)
		}
		var got []string
		for _, e := range m.Endpoints {
			got = append(got, e.Provider)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("model %s endpoints %v, want %v", id, got, want)
		}
	}
	f("meta-llama/llama-3.1-8b-instruct", "groq", "together")
	f("openai/gpt-oss-120b", "groq", "together", "fireworks")
	f("anthropic/claude-sonnet-5.5", "anthropic", "openrouter")
	f("deepseek/deepseek-flash", "deepseek")

	// OpenRouter is asked for the canonical id at the author's price.
	m := byID["anthropic/claude-sonnet-5.5"]
	if e := m.Endpoints[1]; e.UpstreamModel != m.ID || e.Pricing != m.Endpoints[0].Pricing || e.ContextLength != m.Endpoints[0].ContextLength {
		t.Fatalf("openrouter endpoint %+v, vendor endpoint %+v", e, m.Endpoints[0])
	}

	// Results are the caller's: changing one must not change the next.
	m.Endpoints[0].SupportedParameters[0] = "changed"
	providers[0].APIKey = "changed"
	p2, m2 := Builtin(env(allBuiltinKeys()))
	for _, mm := range m2 {
		if mm.ID == m.ID && mm.Endpoints[0].SupportedParameters[0] == "changed" || p2[0].APIKey == "changed" {
			t.Fatalf("Builtin shares state between calls")
		}
	}
}

func TestBuiltinMergesOnlyConfiguredVendors(t *testing.T) {
	providers, models := Builtin(env(map[string]string{"TOGETHER_API_KEY": "t", "GROQ_API_KEY": "g"}))
	validateBuiltin(t, providers, models)
	if len(providers) != 2 || providers[0].Name != "groq" || providers[1].Name != "together" {
		t.Fatalf("providers: %+v", providers)
	}
	var ids []string
	for _, m := range models {
		ids = append(ids, m.ID)
	}
	if want := []string{"openai/gpt-oss-120b", "meta-llama/llama-3.1-8b-instruct"}; !slices.Equal(ids, want) {
		t.Fatalf("models %v, want %v", ids, want)
	}
	if n := len(models[0].Endpoints); n != 2 {
		t.Fatalf("gpt-oss-120b has %d endpoints without fireworks configured, want 2", n)
	}
}

func TestBuiltinPrices(t *testing.T) {
	vendors := map[string]bool{}
	for _, v := range builtinVendors {
		vendors[v.name] = true
	}
	for _, bm := range builtinModels {
		if bm.ctx <= 0 || bm.name == "" || !strings.Contains(bm.id, "/") || len(bm.endpoints) == 0 {
			t.Fatalf("model %s: incomplete row %+v", bm.id, bm)
		}
		for _, be := range bm.endpoints {
			where := bm.id + " on " + be.vendor
			if !vendors[be.vendor] || be.vendor == "openrouter" || be.upstream == "" {
				t.Fatalf("%s: bad vendor or upstream id", where)
			}
			price := func(name, s string, required bool) int64 {
				t.Helper()
				if s == "" && !required {
					return 0
				}
				n, err := routing.ParseUSD(s)
				if err != nil || n <= 0 {
					t.Fatalf("%s: %s price %q does not parse as a positive amount: %v", where, name, s, err)
				}
				return n
			}
			prompt := price("prompt", be.prompt, true)
			price("completion", be.completion, true)
			if r := price("input_cache_read", be.cacheRead, false); r >= prompt {
				t.Fatalf("%s: cache read %d nano-USD is not below the prompt price %d", where, r, prompt)
			}
			if w := price("input_cache_write", be.cacheWrite, false); w != 0 && w < prompt {
				t.Fatalf("%s: cache write %d nano-USD is below the prompt price %d", where, w, prompt)
			}
			ctx := bm.ctx
			if be.ctx != 0 {
				ctx = be.ctx
			}
			if be.ctx > bm.ctx || be.maxOut < 0 || be.maxOut > ctx {
				t.Fatalf("%s: context %d / max completion %d inconsistent with the model's %d", where, be.ctx, be.maxOut, bm.ctx)
			}
			if len(be.params) == 0 || !slices.Contains(be.params, "max_tokens") {
				t.Fatalf("%s: supported_parameters %v", where, be.params)
			}
		}
	}
}

func TestBuiltinDoc(t *testing.T) {
	doc := BuiltinDoc()
	lines := strings.Split(strings.TrimSuffix(doc, "\n"), "\n")
	if len(lines) != 2+len(builtinVendors) || !strings.HasPrefix(lines[0], "| Provider | Environment variable |") {
		t.Fatalf("table shape:\n%s", doc)
	}
	for i, v := range builtinVendors {
		row := lines[2+i]
		if !strings.HasPrefix(row, "| "+v.name+" | `"+v.env+"` |") {
			t.Fatalf("row %d: %s", i, row)
		}
		// The row lists exactly what Builtin serves with that variable alone.
		_, models := Builtin(env(map[string]string{v.env: "k"}))
		for _, m := range models {
			if !strings.Contains(row, "`"+m.ID+"`") {
				t.Fatalf("row %s does not list %s", v.name, m.ID)
			}
		}
		if n := strings.Count(row, "`") - 2; n != 2*len(models) {
			t.Fatalf("row %s lists %d models, Builtin serves %d", v.name, n/2, len(models))
		}
	}
}
