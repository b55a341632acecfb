package config

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

const examplePath = "../../config.example.yaml"

// exampleEnv is the environment the example expects in production: the
// provider keys it names with ${VAR}, which have no default on purpose.
var exampleEnv = env(map[string]string{
	"OPENAI_API_KEY":    "sk-test-openai",
	"ANTHROPIC_API_KEY": "sk-ant-test",
})

func TestExampleParses(t *testing.T) {
	c, err := Load(examplePath, exampleEnv)
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if len(c.Providers) != 3 || len(c.Models) != 3 || len(c.Accounts) != 1 || len(c.Accounts[0].Keys) != 1 {
		t.Fatalf("unexpected shape: %d providers, %d models, %d accounts", len(c.Providers), len(c.Models), len(c.Accounts))
	}
	if c.Providers[0].APIKey != "sk-test-openai" || c.Providers[1].APIKey != "sk-ant-test" || c.Providers[2].APIKey != "" {
		t.Fatalf("api keys not substituted: %q %q %q", c.Providers[0].APIKey, c.Providers[1].APIKey, c.Providers[2].APIKey)
	}
	if c.AdminKey != "" || c.Cluster.SecretKey != "" {
		t.Fatalf("admin_key %q and secret_key %q should default to empty", c.AdminKey, c.Cluster.SecretKey)
	}
	if k := c.Accounts[0].Keys[0]; len(k.Key) < 16 || k.Limit == nil || k.Limit.Nano() != 10_000_000_000 {
		t.Fatalf("key: %+v", k)
	}
	p := c.Models[0].Endpoints[0].Pricing
	if p.Prompt.Nano() != 150_000_000 || p.Completion.Nano() != 600_000_000 || p.InputCacheRead.Nano() != 75_000_000 {
		t.Fatalf("gpt-4o-mini pricing: %+v", p)
	}
	if p := c.Models[1].Endpoints[0].Pricing; p.Prompt.Nano() != 3_000_000_000 || p.InputCacheWrite.Nano() != 3_750_000_000 {
		t.Fatalf("claude pricing: %+v", p)
	}

	// Every protocol and preset named in the example exists.
	for _, p := range c.Providers {
		if p.Preset != "" && !slices.Contains([]string{"openai", "openrouter", "groq", "together", "fireworks", "deepinfra",
			"mistral", "deepseek", "xai", "vllm", "ollama", "llamacpp"}, p.Preset) {
			t.Fatalf("provider %s: unknown preset %q", p.Name, p.Preset)
		}
	}

	// Secrets set in the environment win over the example's fallbacks.
	c, err = Load(examplePath, env(map[string]string{
		"OPENAI_API_KEY": "a", "ANTHROPIC_API_KEY": "b", "TOLLGATE_KEY": "sk-tg-from-the-environment",
		"TOLLGATE_ADMIN_KEY": "admin-secret", "GPU_BOX_API_KEY": "gpu",
	}))
	if err != nil {
		t.Fatalf("config.example.yaml with every variable set: %v", err)
	}
	if c.Accounts[0].Keys[0].Key != "sk-tg-from-the-environment" || c.AdminKey != "admin-secret" || c.Providers[2].APIKey != "gpu" {
		t.Fatalf("environment not used: key %q admin %q gpu %q", c.Accounts[0].Keys[0].Key, c.AdminKey, c.Providers[2].APIKey)
	}

	// Without the provider keys, startup fails naming each variable.
	_, err = Load(examplePath, env(nil))
	if err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY is not set") || !strings.Contains(err.Error(), "ANTHROPIC_API_KEY is not set") {
		t.Fatalf("without provider keys: %v", err)
	}
}

// TestExampleSetsDefaults checks that the example writes out every default
// it documents: applying EnsureDefaults to it as written changes nothing
// but node.name (the host name, left empty in the example). Providers and
// models other than the first are allowed to leave keys out.
func TestExampleSetsDefaults(t *testing.T) {
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	text, err := Substitute(raw, exampleEnv)
	if err != nil {
		t.Fatal(err)
	}
	var written Config
	if err := yaml.UnmarshalWithOptions(text, &written, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if written.Node.Name != "" {
		t.Fatalf("node.name should be empty in the example (its default is the host name), got %q", written.Node.Name)
	}
	defaulted := written
	defaulted.Providers = slices.Clone(written.Providers)
	defaulted.Models = slices.Clone(written.Models)
	defaulted.EnsureDefaults()
	defaulted.Node.Name = ""
	type section struct {
		name     string
		got, def any
	}
	for _, s := range []section{
		{"node", written.Node, defaulted.Node},
		{"listen", written.Listen, defaulted.Listen},
		{"cluster", written.Cluster, defaulted.Cluster},
		{"ledger", written.Ledger, defaulted.Ledger},
		{"limits", written.Limits, defaulted.Limits},
		{"server", written.Server, defaulted.Server},
		{"log", written.Log, defaulted.Log},
		{"telemetry", written.Telemetry, defaulted.Telemetry},
		{"providers[0]", written.Providers[0], defaulted.Providers[0]},
		{"models[0]", written.Models[0], defaulted.Models[0]},
	} {
		if !reflect.DeepEqual(s.got, s.def) {
			t.Errorf("%s in config.example.yaml does not spell out its defaults:\nwritten   %+v\ndefaulted %+v", s.name, s.got, s.def)
		}
	}
}

// yamlPaths lists the key paths of t, like "providers[].timeouts.connect",
// through structs and slices of structs.
func yamlPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		p := tag
		if prefix != "" {
			p = prefix + "." + tag
		}
		out = append(out, p)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = append(out, yamlPaths(ft, p)...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, yamlPaths(ft.Elem(), p+"[]")...)
		}
	}
	return out
}

func TestYAMLPaths(t *testing.T) {
	got := yamlPaths(reflect.TypeFor[Config](), "")
	for _, want := range []string{
		"node.data_dir", "admin_key", "cluster.join", "server.overhead_header",
		"providers[].headers", "providers[].preset", "providers[].data_policy.zdr", "providers[].timeouts.first_byte",
		"models[].modalities.input", "models[].endpoints[].pricing.internal_reasoning",
		"models[].endpoints[].supported_parameters", "accounts[].keys[].limit_reset",
	} {
		if !slices.Contains(got, want) {
			t.Fatalf("yamlPaths misses %s: %v", want, got)
		}
	}
}

// TestExampleDocumentsEveryKey fails when a field is added to Config without
// documenting it in config.example.yaml: every key path must appear there,
// with a comment on its line or right above it.
func TestExampleDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseBytes(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	commented := func(line int) bool {
		if strings.Contains(lines[line-1], " #") {
			return true
		}
		return line >= 2 && strings.HasPrefix(strings.TrimSpace(lines[line-2]), "#")
	}
	present := map[string]bool{}
	documented := map[string]bool{}
	var walk func(path string, n ast.Node)
	walk = func(path string, n ast.Node) {
		switch v := n.(type) {
		case ast.MapNode:
			for it := v.MapRange(); it.Next(); {
				tk := it.Key().GetToken()
				p := tk.Value
				if path != "" {
					p = path + "." + tk.Value
				}
				present[p] = true
				documented[p] = documented[p] || commented(tk.Position.Line)
				walk(p, it.Value())
			}
		case *ast.SequenceNode:
			for _, e := range v.Values {
				walk(path+"[]", e)
			}
		}
	}
	walk("", f.Docs[0].Body)

	for _, p := range yamlPaths(reflect.TypeFor[Config](), "") {
		switch {
		case !present[p]:
			t.Errorf("config.example.yaml does not document %s", p)
		case !documented[p]:
			t.Errorf("config.example.yaml has %s but no comment on it", p)
		}
	}
}
