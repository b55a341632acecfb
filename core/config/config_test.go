package config

import (
	"errors"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// env returns a lookup over vars, like os.LookupEnv over a fixed environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

var noEnv = env(nil)

func TestEnsureDefaults(t *testing.T) {
	c, err := Parse("t.yaml", []byte("providers:\n  - {name: p, base_url: 'http://127.0.0.1:1/v1'}\nmodels:\n  - {id: a/b, endpoints: [{provider: p}]}\n"), noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	host, herr := os.Hostname()
	if herr != nil || host == "" {
		host = "tollgate"
	}
	yes, one := true, 1.0
	want := Config{
		Node:    Node{Name: host, Region: "local", DataDir: "./tollgate-data"},
		Listen:  Listen{API: "127.0.0.1:8080", Admin: "127.0.0.1:8081"},
		Cluster: Cluster{Bind: "0.0.0.0:7946", Profile: "lan", Label: "tollgate"},
		Ledger:  Ledger{Durability: "group", PartitionAllowance: 1_000_000_000},
		Limits:  Limits{MaxRequestBody: 32 << 20, RequestTimeout: 10 * time.Minute, FreeRequestsPerMinute: 20, FreeRequestsPerDay: 200},
		Server: Server{
			ReadTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, KeepAlive: 10 * time.Second,
			ShutdownTimeout: 30 * time.Second, Concurrency: 262144, OverheadHeader: &yes,
		},
		Log:       Log{Level: "info", Format: "text"},
		Telemetry: Telemetry{Endpoint: "http://localhost:4318", ServiceName: "tollgate", SampleRatio: &one, Timeout: 10 * time.Second},
		Providers: []Provider{{
			Name: "p", Protocol: "openai", BaseURL: "http://127.0.0.1:1/v1", MaxConnections: 4096,
			Timeouts: Timeouts{Connect: 10 * time.Second, FirstByte: 180 * time.Second, Idle: 120 * time.Second},
		}},
		Models: []Model{{
			ID: "a/b", Modalities: Modalities{Input: []string{"text"}, Output: []string{"text"}},
			Endpoints: []Endpoint{{Provider: "p"}},
		}},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Fatalf("defaults:\ngot  %+v\nwant %+v", *c, want)
	}

	// Explicit values are kept, including false for a *bool default of true.
	in := `
node: {name: n1, region: eu-west, data_dir: /var/lib/tollgate}
listen: {api: "0.0.0.0:9000", admin: "127.0.0.1:9001"}
cluster: {bind: "0.0.0.0:8000", profile: wan, enabled: true, insecure: true}
ledger: {durability: sync, partition_allowance: 0.5}
limits: {max_request_body: 1MiB, free_requests_per_minute: 1, free_requests_per_day: 2}
server: {read_timeout: 1s, idle_timeout: 2s, keepalive: 3s, shutdown_timeout: 4s, concurrency: 5, overhead_header: false}
log: {level: debug, format: json}
providers:
  - {name: p, protocol: anthropic, base_url: "https://x/v1", max_connections: 7, timeouts: {connect: 1s, first_byte: 2s, idle: 3s}}
models:
  - {id: a/b, modalities: {input: [image], output: [audio]}, endpoints: [{provider: p}]}
`
	c, err = Parse("t.yaml", []byte(in), noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	got := []any{c.Node.Name, c.Node.Region, c.Node.DataDir, c.Listen.API, c.Listen.Admin, c.Cluster.Bind, c.Cluster.Profile,
		c.Ledger.Durability, c.Ledger.PartitionAllowance, c.Limits.MaxRequestBody, c.Limits.FreeRequestsPerMinute, c.Limits.FreeRequestsPerDay,
		c.Server.ReadTimeout, c.Server.IdleTimeout, c.Server.KeepAlive, c.Server.ShutdownTimeout, c.Server.Concurrency, *c.Server.OverheadHeader,
		c.Log.Level, c.Log.Format, c.Providers[0].Protocol, c.Providers[0].MaxConnections, c.Providers[0].Timeouts,
		c.Models[0].Modalities}
	wantKept := []any{"n1", "eu-west", "/var/lib/tollgate", "0.0.0.0:9000", "127.0.0.1:9001", "0.0.0.0:8000", "wan",
		"sync", USD(500_000_000), ByteSize(1 << 20), 1, 2,
		time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5, false,
		"debug", "json", "anthropic", 7, Timeouts{Connect: time.Second, FirstByte: 2 * time.Second, Idle: 3 * time.Second},
		Modalities{Input: []string{"image"}, Output: []string{"audio"}}}
	if !reflect.DeepEqual(got, wantKept) {
		t.Fatalf("explicit values not kept:\ngot  %v\nwant %v", got, wantKept)
	}

	// EnsureDefaults is idempotent.
	before := *c
	c.EnsureDefaults()
	if !reflect.DeepEqual(*c, before) {
		t.Fatalf("second EnsureDefaults changed the config")
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n", "---\n"} {
		if _, err := Parse("t.yaml", []byte(in), noEnv); err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
	}
}

// TestParseErrorPosition checks that decode errors name file:line, with
// the column after it.
func TestParseErrorPosition(t *testing.T) {
	f := func(in string, line int, want string) {
		t.Helper()
		_, err := Parse("tollgate.yaml", []byte(in), noEnv)
		if err == nil {
			t.Fatalf("Parse(%q): no error", in)
		}
		first, _, _ := strings.Cut(err.Error(), "\n")
		// file:line:column: message
		pos := regexp.MustCompile(`^tollgate\.yaml:` + strconv.Itoa(line) + `:[0-9]+: `)
		if !pos.MatchString(first) {
			t.Fatalf("Parse(%q): error %q does not start with tollgate.yaml:%d:column: ", in, first, line)
		}
		if !strings.Contains(first, want) {
			t.Fatalf("Parse(%q): error %q does not contain %q", in, first, want)
		}
	}

	// Unknown keys: top level, nested, in a sequence element, in flow style.
	f("node:\n  name: x\nbogus: 1\n", 3, `unknown field "bogus"`)
	f("listen:\n  api: 127.0.0.1:1\n  apl: x\n", 3, `unknown field "apl"`)
	f("providers:\n  - name: a\n    base_url: http://x\n    timeout:\n      connect: 1s\n", 4, `unknown field "timeout"`)
	f("providers:\n  - name: a\n    base_url: http://x\n  - name: b\n    base_url: http://y\n    timeouts: {connect: 1s, frist_byte: 2s}\n", 6, `unknown field "frist_byte"`)
	f("models:\n  - id: a/b\n    endpoints:\n      - provider: a\n        pricing:\n          prompt: 1\n          output: 2\n", 7, `unknown field "output"`)
	f("accounts:\n  - name: a\n    keys:\n      - {name: k, key: 0123456789abcdef, limits: 5}\n", 4, `unknown field "limits"`)
	f("# comment\n\nserver:\n  read_timeout: 1s\n  write_timeout: 1s\n", 5, `unknown field "write_timeout"`)
	// Duplicate keys.
	f("limits:\n  max_request_body: 32MiB\n  max_request_body: 1\n", 3, `"max_request_body" already defined at [2:3]`)

	// Wrong types.
	f("limits:\n  free_requests_per_minute: abc\n", 2, "cannot unmarshal string")
	f("providers:\n  - name: a\n    base_url: http://x\n  - name: b\n    base_url: http://y\n    max_connections: many\n", 6, "cannot unmarshal string")
	f("cluster:\n  enabled: maybe\n", 2, "bool")
	f("node:\n  name: [a]\n", 2, "cannot unmarshal")
	f("cluster:\n  join: host:1\n", 2, "sequence")
	f("models: 3\n", 1, "sequence")
	f("providers:\n  - name: a\n    base_url: http://x\n    headers: [a]\n", 4, "mapping")
	f("server:\n  read_timeout: 5\n", 2, "time.Duration")
	// Errors that go-yaml reports without a position: durations, USD, sizes.
	f("server:\n  read_timeout: abc\n", 2, `invalid duration "abc"`)
	f("providers:\n  - name: a\n    base_url: http://x\n    timeouts:\n      idle: forever\n", 5, `invalid duration "forever"`)
	f("ledger:\n  durability: group\n  partition_allowance: lots\n", 3, "is not a USD amount")
	f("models:\n  - id: a/b\n    endpoints:\n      - provider: a\n        pricing:\n          prompt: 0.1\n          completion: -2\n", 7, "is not a USD amount")
	f("accounts:\n  - name: a\n    keys:\n      - {name: k, key: 0123456789abcdef, limit: -5}\n", 4, "is not a USD amount")
	f("node: &n\n  name: x\nlimits:\n  max_request_body: 1.5MiB\n", 4, "is not a size")
	// Syntax errors.
	f("a: [\n", 1, "not found")
	f("node:\n\t- x\n", 2, "cannot start any token")
}

func TestParseInvalidConfigNamesFile(t *testing.T) {
	_, err := Parse("prod.yaml", []byte("log: {level: loud}\n"), noEnv)
	if err == nil || !strings.HasPrefix(err.Error(), "prod.yaml: invalid config:\n") || !strings.Contains(err.Error(), `log.level: "loud"`) {
		t.Fatalf("got %v", err)
	}
	_, err = Parse("prod.yaml", []byte("admin_key: ${ADMIN}\n"), noEnv)
	if err == nil || !strings.HasPrefix(err.Error(), "prod.yaml: line 1: environment variable ADMIN is not set") {
		t.Fatalf("got %v", err)
	}
	_, err = Load("testdata/does-not-exist.yaml", noEnv)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func TestSubstitute(t *testing.T) {
	vars := env(map[string]string{"A": "alpha", "EMPTY": "", "URL": "https://x:8443/v1", "DOLLAR": "p$ss"})
	f := func(in, want string) {
		t.Helper()
		got, err := Substitute([]byte(in), vars)
		if err != nil {
			t.Fatalf("Substitute(%q): %v", in, err)
		}
		if string(got) != want {
			t.Fatalf("Substitute(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("a: b\n", "a: b\n")
	f("a: ${A}\n", "a: alpha\n")
	f("a: ${A}${A}-${A}", "a: alphaalpha-alpha")
	f(`a: "${URL}"`, `a: "https://x:8443/v1"`)
	// ${VAR:-def}: default when unset or empty, value otherwise.
	f("a: ${UNSET:-def}\n", "a: def\n")
	f("a: ${EMPTY:-def}\n", "a: def\n")
	f("a: ${A:-def}\n", "a: alpha\n")
	f("a: ${UNSET:-}\n", "a: \n")
	f("a: ${UNSET:-http://h:1/v1?x=y}\n", "a: http://h:1/v1?x=y\n")
	f("a: ${UNSET:-a b $ c}\n", "a: a b $ c\n")
	// A set but empty variable without default is "", not an error.
	f("a: '${EMPTY}'\n", "a: ''\n")
	// Values are not substituted again.
	f("a: ${DOLLAR}\n", "a: p$ss\n")
	// $$ is a literal $; lone $ and $VAR are left alone.
	f("a: $$\n", "a: $\n")
	f("a: $${A}\n", "a: ${A}\n")
	f("a: $$$${A}\n", "a: $${A}\n")
	f("price: $5 $A a$\n", "price: $5 $A a$\n")
	f("a: $$${A}\n", "a: $alpha\n")
	// Whole-line comments are left alone, indented or not.
	f("# ${UNSET}\n  # ${UNSET} $$\n\t# ${\na: ${A}\n", "# ${UNSET}\n  # ${UNSET} $$\n\t# ${\na: alpha\n")
	// CRLF and a last line without a newline survive.
	f("a: ${A}\r\nb: 1\r\n", "a: alpha\r\nb: 1\r\n")
	f("a: 1\nb: ${A}", "a: 1\nb: alpha")

	fErr := func(in string, want ...string) {
		t.Helper()
		_, err := Substitute([]byte(in), env(map[string]string{"NL": "a\nb", "CR": "a\rb", "A": "alpha"}))
		if err == nil {
			t.Fatalf("Substitute(%q): no error", in)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Fatalf("Substitute(%q): error %q does not contain %q", in, err, w)
			}
		}
	}
	fErr("a: 1\nb: ${UNSET}\n", "line 2:", "UNSET is not set", "${UNSET:-default}")
	// A comment after a value is not a whole-line comment.
	fErr("a: 1 # ${UNSET}\n", "line 1:", "UNSET")
	// Malformed references.
	for _, in := range []string{"${", "${}", "${ A}", "${A B}", "${1A}", "${A-x}", "${A:x}", "${A", "${A:-x", "x ${-}", "${A.B}"} {
		fErr("a: 1\nb: "+in+"\n", "line 2:", "malformed variable")
	}
	// Values with line breaks would shift line numbers or inject keys.
	fErr("a: ${NL}\n", "line 1:", "NL contains a newline")
	fErr("a: ${CR}\n", "line 1:", "CR contains a newline")
	// Every error is reported, each with its line.
	fErr("a: ${X1}\nb: ${A}\nc: ${X2}\nd: ${\n", "line 1:", "X1", "line 3:", "X2", "line 4:", "malformed")
}

func TestUSD(t *testing.T) {
	type doc struct {
		V USD  `yaml:"v"`
		P *USD `yaml:"p"`
	}
	f := func(in string, want int64) {
		t.Helper()
		var d doc
		if err := yaml.UnmarshalWithOptions([]byte("v: "+in+"\n"), &d, yaml.Strict()); err != nil {
			t.Fatalf("USD %s: %v", in, err)
		}
		if d.V.Nano() != want {
			t.Fatalf("USD %s = %d nano, want %d", in, d.V.Nano(), want)
		}
		if err := yaml.UnmarshalWithOptions([]byte("p: "+in+"\n"), &d, yaml.Strict()); err != nil || d.P == nil || d.P.Nano() != want {
			t.Fatalf("*USD %s: %v %v", in, d.P, err)
		}
	}
	f("0.15", 150_000_000)
	f(`"2.5"`, 2_500_000_000)
	f("'2.5'", 2_500_000_000)
	f("10", 10_000_000_000)
	f("0", 0)
	f("0.0", 0)
	f("1e-3", 1_000_000)
	f("1.5E2", 150_000_000_000)
	f("+3", 3_000_000_000)
	f(".5", 500_000_000)
	f("5.", 5_000_000_000)
	f("0.075", 75_000_000)
	f("3.75", 3_750_000_000)
	f("0.07", 70_000_000) // not 0.07000000000000000666 as a float64
	f("0.000000001", 1)
	f("0.1000000001", 100_000_000) // below half a nano: rounds down
	f("0.0000000005", 1)           // half a nano: rounds up
	f(`"$1.25"`, 1_250_000_000)
	f("9223372036.854775807", math.MaxInt64)

	fErr := func(in string) {
		t.Helper()
		var d doc
		err := yaml.UnmarshalWithOptions([]byte("v: "+in+"\n"), &d, yaml.Strict())
		if err == nil {
			t.Fatalf("USD %s: no error, got %d", in, d.V)
		}
		if !strings.Contains(err.Error(), "is not a USD amount") {
			t.Fatalf("USD %s: error %q", in, err)
		}
	}
	for _, in := range []string{"-1", "-0.5", `"-0"`, "abc", `""`, "1.2.3", "0x10", ".inf", ".nan", "1e", "1e+", "1,5", "1 000",
		"9223372036.854775808", "1e300", "[1]", "{a: 1}", "true", "1 USD"} {
		fErr(in)
	}
}

func TestByteSize(t *testing.T) {
	f := func(in string, want int64) {
		t.Helper()
		var d struct {
			V ByteSize `yaml:"v"`
		}
		if err := yaml.UnmarshalWithOptions([]byte("v: "+in+"\n"), &d, yaml.Strict()); err != nil {
			t.Fatalf("ByteSize %s: %v", in, err)
		}
		if int64(d.V) != want {
			t.Fatalf("ByteSize %s = %d, want %d", in, d.V, want)
		}
	}
	f("0", 0)
	f("1048576", 1<<20)
	f(`"4096"`, 4096)
	f("5B", 5)
	f("1K", 1<<10)
	f("1KB", 1<<10)
	f("512KiB", 512<<10)
	f("512kib", 512<<10)
	f("32MiB", 32<<20)
	f("32MB", 32<<20)
	f("32M", 32<<20)
	f("10 MiB", 10<<20)
	f("2GiB", 2<<30)
	f("2GB", 2<<30)
	f("'1G'", 1<<30)
	f("8589934591GiB", 8589934591<<30)

	fErr := func(in string) {
		t.Helper()
		var d struct {
			V ByteSize `yaml:"v"`
		}
		err := yaml.UnmarshalWithOptions([]byte("v: "+in+"\n"), &d, yaml.Strict())
		if err == nil {
			t.Fatalf("ByteSize %s: no error, got %d", in, d.V)
		}
		if !strings.Contains(err.Error(), "is not a size") {
			t.Fatalf("ByteSize %s: error %q", in, err)
		}
	}
	for _, in := range []string{"abc", "-1", "-1KiB", "1.5MiB", "MiB", `""`, "1TiB", "1 PB", "0x10", "+5", "007", "1e6",
		"8589934592GiB", "9223372036854775808", "99999999999999GiB", "[1]", "{a: 1}"} {
		fErr(in)
	}
}

// valid is a small config that passes Validate after EnsureDefaults.
func valid() *Config {
	limit := USD(5_000_000_000)
	c := &Config{
		Providers: []Provider{
			{Name: "openai", Preset: "openai"},
			{Name: "local", BaseURL: "http://127.0.0.1:8000/v1"},
			{Name: "spare", Protocol: "anthropic", BaseURL: "https://api.anthropic.com/v1"},
		},
		Models: []Model{
			{ID: "openai/gpt-4o-mini", Endpoints: []Endpoint{{Provider: "openai"}}},
			{ID: "meta/llama", Endpoints: []Endpoint{{Provider: "LOCAL"}, {Provider: "openai"}}},
		},
		Accounts: []Account{{Name: "acme", Keys: []Key{
			{Name: "k1", Key: "0123456789abcdef"},
			{Name: "k2", Key: "sk-tg-0123456789abcdef", Limit: &limit, LimitReset: "monthly"},
		}}},
	}
	c.EnsureDefaults()
	return c
}

func TestValidate(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	ok := func(mutate func(c *Config)) {
		t.Helper()
		c := valid()
		mutate(c)
		if err := c.Validate(); err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	f := func(mutate func(c *Config), want string) {
		t.Helper()
		c := valid()
		mutate(c)
		err := c.Validate()
		if err == nil {
			t.Fatalf("no error, want %q", want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not contain %q", err, want)
		}
		if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
			t.Fatalf("want one error, got %d: %v", n, err)
		}
	}

	// Listeners.
	f(func(c *Config) { c.Listen.API = "localhost" }, `listen.api: "localhost" is not host:port`)
	f(func(c *Config) { c.Listen.Admin = "8081" }, `listen.admin: "8081" is not host:port`)
	ok(func(c *Config) { c.Listen.API, c.Listen.Admin = ":8080", "[::1]:8081" })

	// Cluster.
	f(func(c *Config) { c.Cluster.Profile = "lan2" }, `cluster.profile: "lan2" must be lan, wan or local`)
	ok(func(c *Config) { c.Cluster.Profile = "wan" })
	ok(func(c *Config) { c.Cluster.Profile = "local" })
	f(func(c *Config) { c.Cluster.Enabled = true }, "cluster.secret_key is required")
	ok(func(c *Config) { c.Cluster.Enabled, c.Cluster.SecretKey = true, "s3cret" })
	ok(func(c *Config) { c.Cluster.Enabled, c.Cluster.Insecure = true, true })
	ok(func(c *Config) { c.Cluster.SecretKey = "" }) // disabled: no secret needed

	// Ledger, log, limits.
	f(func(c *Config) { c.Ledger.Durability = "async" }, `ledger.durability: "async" must be group or sync`)
	ok(func(c *Config) { c.Ledger.Durability = "sync" })
	f(func(c *Config) { c.Log.Level = "trace" }, `log.level: "trace"`)
	f(func(c *Config) { c.Log.Format = "xml" }, `log.format: "xml"`)
	f(func(c *Config) { c.Limits.MaxRequestBody = 1023 }, "limits.max_request_body: 1023 is below the 1KiB minimum")
	ok(func(c *Config) { c.Limits.MaxRequestBody = 1024 })

	// Providers.
	f(func(c *Config) { c.Providers[2].Name = "" }, `providers[2].name: ""`)
	f(func(c *Config) { c.Providers[2].Name = "my provider" }, `providers[2].name: "my provider" must be`)
	f(func(c *Config) { c.Providers[2].Name = "OpenAI" }, `providers[2].name: duplicate provider "OpenAI"`)
	ok(func(c *Config) { c.Providers[2].Name = "Az_1.b-2" })
	f(func(c *Config) { c.Providers[1].Protocol = "grpc" }, `providers[1].protocol: "grpc" must be openai, anthropic or gemini`)
	ok(func(c *Config) { c.Providers[1].Protocol = "anthropic" })
	ok(func(c *Config) { c.Providers[1].Protocol = "gemini" })
	f(func(c *Config) { c.Providers[1].BaseURL = "" }, "providers[1].base_url is required (or set a preset)")
	ok(func(c *Config) { c.Providers[1].BaseURL, c.Providers[1].Preset = "", "vllm" })
	ok(func(c *Config) { c.Providers[0].BaseURL = "https://proxy.internal/openai/v1" }) // overrides the preset
	for _, u := range []string{"api.openai.com/v1", "ftp://x/v1", "http://", "http:///v1", "http://[::1", "//x/v1", "127.0.0.1:8000"} {
		f(func(c *Config) { c.Providers[1].BaseURL = u }, "providers[1].base_url: "+strconv.Quote(u)+" must be an http(s) URL")
	}

	// Models.
	f(func(c *Config) { c.Models[1].ID = "" }, `models[1].id: "" must be a slug`)
	f(func(c *Config) { c.Models[1].ID = "meta/llama 3" }, `models[1].id: "meta/llama 3" must be a slug`)
	f(func(c *Config) { c.Models[1].ID = "meta/llama:free" }, `models[1].id: "meta/llama:free" must be a slug`)
	f(func(c *Config) { c.Models[1].ID = c.Models[0].ID }, `models[1].id: duplicate model "openai/gpt-4o-mini"`)
	f(func(c *Config) { c.Models[0].Endpoints = nil }, `models[0]: model "openai/gpt-4o-mini" has no endpoints`)
	f(func(c *Config) { c.Models[1].Endpoints[1].Provider = "anthropic" }, `models[1].endpoints[1].provider: unknown provider "anthropic"`)

	// Accounts and keys.
	f(func(c *Config) { c.Accounts[0].Name = "" }, "accounts[0].name is required")
	f(func(c *Config) { c.Accounts = append(c.Accounts, Account{Name: "acme"}) }, `accounts[1].name: duplicate account "acme"`)
	f(func(c *Config) { c.Accounts[0].Keys[1].Key = "0123456789abcde" }, "accounts[0].keys[1].key: keys must be at least 16 characters")
	f(func(c *Config) { c.Accounts[0].Keys[0].LimitReset = "yearly" }, `accounts[0].keys[0].limit_reset: "yearly" must be daily, weekly or monthly`)
	for _, r := range []string{"", "daily", "weekly", "monthly"} {
		ok(func(c *Config) { c.Accounts[0].Keys[0].LimitReset = r })
	}
}

func TestValidateReportsEveryError(t *testing.T) {
	c := valid()
	c.Listen.API = "nope"
	c.Cluster.Enabled = true
	c.Ledger.Durability = "fast"
	c.Providers[1].Protocol = "grpc"
	c.Providers = append(c.Providers, Provider{Name: "x", Protocol: "openai"})
	c.Models = append(c.Models, Model{ID: "a/b"})
	c.Accounts[0].Keys[0].Key = "short"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`listen.api: "nope" is not host:port`,
		"cluster.secret_key is required",
		`ledger.durability: "fast"`,
		`providers[1].protocol: "grpc"`,
		"providers[3].base_url is required",
		`models[2]: model "a/b" has no endpoints`,
		"accounts[0].keys[0].key: keys must be at least 16 characters",
	}
	if got := strings.Split(err.Error(), "\n"); len(got) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(got), len(want), err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not contain %q", err, w)
		}
	}

	// Through Parse, the joined errors come back together too.
	_, err = Parse("t.yaml", []byte("listen: {api: nope}\nledger: {durability: fast}\nlog: {format: xml}\n"), noEnv)
	if err == nil || strings.Count(err.Error(), "\n") != 3 {
		t.Fatalf("Parse: %v", err)
	}
}

func TestValidateTelemetry(t *testing.T) {
	f := func(mutate func(t *Telemetry), want string) {
		t.Helper()
		c := valid()
		c.Telemetry.Enabled = true
		mutate(&c.Telemetry)
		err := c.Validate()
		switch {
		case want == "" && err != nil:
			t.Fatalf("unexpected error: %v", err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Fatalf("error %v, want %q", err, want)
		}
	}
	ratio := func(r float64) *float64 { return &r }
	f(func(*Telemetry) {}, "")
	f(func(t *Telemetry) { t.Endpoint = "collector:4318" }, `telemetry.endpoint: "collector:4318" must be an http(s) URL`)
	f(func(t *Telemetry) { t.TracesEndpoint = "grpc://c:4317" }, `telemetry.traces_endpoint: "grpc://c:4317" must be an http(s) URL`)
	f(func(t *Telemetry) { t.SampleRatio = ratio(1.5) }, "telemetry.sample_ratio: 1.5 must be within 0..1")
	f(func(t *Telemetry) { t.SampleRatio = ratio(0) }, "")
	f(func(t *Telemetry) { t.Timeout = -time.Second }, "telemetry.timeout")
	f(func(t *Telemetry) { t.Headers = map[string]string{"bad name": "x"} }, `telemetry.headers: "bad name"`)
	f(func(t *Telemetry) { t.Headers = map[string]string{"Authorization": "Basic eA=="} }, "")
	// Disabled, nothing is checked.
	c := valid()
	c.Telemetry.Endpoint = "nonsense"
	if err := c.Validate(); err != nil {
		t.Fatalf("disabled telemetry validated: %v", err)
	}
}

// TestTelemetryEnv: the OTEL_* variables fill what the file leaves unset,
// only when telemetry is enabled.
func TestTelemetryEnv(t *testing.T) {
	otel := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
		"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Basic%20eA==, x-tenant = acme",
		"OTEL_SERVICE_NAME":           "gw-eu",
		"OTEL_TRACES_SAMPLER_ARG":     "0.25",
	}
	parse := func(yaml string, vars map[string]string) Telemetry {
		t.Helper()
		c, err := Parse("t.yaml", []byte(yaml), env(vars))
		if err != nil {
			t.Fatal(err)
		}
		return c.Telemetry
	}
	tel := parse("telemetry: {enabled: true}\n", otel)
	if tel.TracesURL() != "http://collector:4318/v1/traces" || tel.ServiceName != "gw-eu" || *tel.SampleRatio != 0.25 ||
		tel.Headers["Authorization"] != "Basic eA==" || tel.Headers["x-tenant"] != "acme" || tel.Timeout != 10*time.Second {
		t.Fatalf("environment not applied: %+v", tel)
	}
	// The file wins; its headers are merged over the environment's.
	tel = parse("telemetry: {enabled: true, endpoint: \"https://otel.example/api/\", service_name: gw, sample_ratio: 0, headers: {x-tenant: beta}}\n", otel)
	if tel.TracesURL() != "https://otel.example/api/v1/traces" || tel.ServiceName != "gw" || *tel.SampleRatio != 0 ||
		tel.Headers["x-tenant"] != "beta" || tel.Headers["Authorization"] != "Basic eA==" {
		t.Fatalf("file not preferred: %+v", tel)
	}
	// The signal-specific URL is used as given.
	vars := map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318"}
	if u := parse("telemetry: {enabled: true}\n", vars).TracesURL(); u != "http://c:4318/custom" {
		t.Fatalf("traces endpoint %q", u)
	}
	// Defaults without variables; disabled ignores them; OTEL_SDK_DISABLED wins.
	tel = parse("telemetry: {enabled: true}\n", nil)
	if tel.TracesURL() != "http://localhost:4318/v1/traces" || tel.ServiceName != "tollgate" || *tel.SampleRatio != 1 || len(tel.Headers) != 0 {
		t.Fatalf("defaults: %+v", tel)
	}
	if tel = parse("", otel); tel.Enabled || tel.ServiceName != "tollgate" {
		t.Fatalf("environment applied to disabled telemetry: %+v", tel)
	}
	if tel = parse("telemetry: {enabled: true}\n", map[string]string{"OTEL_SDK_DISABLED": "true"}); tel.Enabled {
		t.Fatal("OTEL_SDK_DISABLED=true did not turn telemetry off")
	}
}
