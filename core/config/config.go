// Package config is the schema of tollgate.yaml: strict YAML (an unknown key
// is an error naming file:line), ${VAR} and ${VAR:-default} substitution,
// documented defaults and validation. Every key is documented, with its
// default, in config.example.yaml at the repository root; a test keeps the
// two in step.
//
// The package reads no environment and no flags itself: cmd passes a lookup
// function. Imported by cmd and core.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/routing"
)

// Config is the whole configuration file.
type Config struct {
	Node      Node       `yaml:"node"`
	Listen    Listen     `yaml:"listen"`
	AdminKey  string     `yaml:"admin_key"`
	Cluster   Cluster    `yaml:"cluster"`
	Ledger    Ledger     `yaml:"ledger"`
	Limits    Limits     `yaml:"limits"`
	Server    Server     `yaml:"server"`
	Routing   Routing    `yaml:"routing"`
	Log       Log        `yaml:"log"`
	Telemetry Telemetry  `yaml:"telemetry"`
	Providers []Provider `yaml:"providers"`
	Models    []Model    `yaml:"models"`
	Accounts  []Account  `yaml:"accounts"`
}

// Node identifies this gateway.
type Node struct {
	Name    string `yaml:"name"`     // default: the host name
	Region  string `yaml:"region"`   // default: "local"
	DataDir string `yaml:"data_dir"` // default: ./tollgate-data
}

// Listen holds the listener addresses.
type Listen struct {
	API   string `yaml:"api"`   // default 127.0.0.1:8080
	Admin string `yaml:"admin"` // default 127.0.0.1:8081
}

// Cluster configures gossip (see docs/SPEC.md §6).
type Cluster struct {
	Enabled   bool     `yaml:"enabled"`
	Bind      string   `yaml:"bind"`      // default 0.0.0.0:7946
	Advertise string   `yaml:"advertise"` // default: derived from bind
	Join      []string `yaml:"join"`
	Profile   string   `yaml:"profile"` // lan (default) | wan | local
	SecretKey string   `yaml:"secret_key"`
	Label     string   `yaml:"label"`
	Insecure  bool     `yaml:"insecure"`
	// Failure detection and gossip timing; 0 keeps the profile's value
	// (cluster.Config documents them).
	ProbeInterval    time.Duration `yaml:"probe_interval"`
	ProbeTimeout     time.Duration `yaml:"probe_timeout"`
	SuspicionMult    int           `yaml:"suspicion_mult"`
	GossipInterval   time.Duration `yaml:"gossip_interval"`
	PushPullInterval time.Duration `yaml:"push_pull_interval"`
	// 0 keeps memberlist's defaults (6 and 8).
	SuspicionMaxTimeoutMult int `yaml:"suspicion_max_timeout_mult"`
	AwarenessMaxMultiplier  int `yaml:"awareness_max_multiplier"`
}

// Ledger configures the credit ledger.
type Ledger struct {
	Durability         string `yaml:"durability"`          // group (default) | sync
	PartitionAllowance USD    `yaml:"partition_allowance"` // default 1 USD per key
	// SyncInterval spaces the fsyncs of group-committed spend (0 = 50ms,
	// negative = fsync every group); see ledger.Config.SyncInterval.
	SyncInterval time.Duration `yaml:"sync_interval"`
	// GenerationRetention is how long generation records are kept (0 = the
	// ledger's default, 720h).
	GenerationRetention time.Duration `yaml:"generation_retention"`
	// MaxDimensionValues caps distinct tag/app/user values per account per
	// hour in the rollups; more go to "(other)" (0 = default 1000).
	MaxDimensionValues int `yaml:"max_dimension_values"`
}

// Limits are request admission limits.
type Limits struct {
	MaxRequestBody        ByteSize      `yaml:"max_request_body"`         // default 32MiB
	MaxConcurrent         int           `yaml:"max_concurrent"`           // default 0 = unlimited
	RequestTimeout        time.Duration `yaml:"request_timeout"`          // default 10m: no fallback starts after it
	FreeRequestsPerMinute int           `yaml:"free_requests_per_minute"` // default 20
	FreeRequestsPerDay    int           `yaml:"free_requests_per_day"`    // default 200
	KeyRequestsPerMinute  int           `yaml:"key_requests_per_minute"`  // default 0 = unlimited
	KeyTokensPerMinute    int           `yaml:"key_tokens_per_minute"`    // default 0 = unlimited
}

// Server tunes the HTTP listeners.
type Server struct {
	ReadTimeout       time.Duration `yaml:"read_timeout"`        // default 30s: whole request read
	IdleTimeout       time.Duration `yaml:"idle_timeout"`        // default 120s: keep-alive idle
	MaxConnsPerIP     int           `yaml:"max_conns_per_ip"`    // default 0 = unlimited
	KeepAlive         time.Duration `yaml:"keepalive"`           // default 10s: SSE comment interval during silence
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`    // default 30s: drain deadline
	Concurrency       int           `yaml:"concurrency"`         // default 262144
	OverheadHeader    *bool         `yaml:"overhead_header"`     // default true: X-Tollgate-Overhead-Us
	TrustForwardedFor bool          `yaml:"trust_forwarded_for"` // default false
}

// Routing tunes the live statistics and circuit breaking of the router.
// Zero values take routing's documented defaults (routing.Config).
type Routing struct {
	TTFTHalfLife        time.Duration `yaml:"ttft_half_life"`         // default 5s
	LatencyHalfLife     time.Duration `yaml:"latency_half_life"`      // default 10s
	ThroughputHalfLife  time.Duration `yaml:"throughput_half_life"`   // default 10s
	ErrorHalfLife       time.Duration `yaml:"error_half_life"`        // default 30s
	CircuitFailures     int           `yaml:"circuit_failures"`       // default 5
	CircuitErrorRate    float64       `yaml:"circuit_error_rate"`     // default 0.5
	CircuitOpenDelay    time.Duration `yaml:"circuit_open_delay"`     // default 10s
	CircuitMaxOpenDelay time.Duration `yaml:"circuit_max_open_delay"` // default 5m
	CooldownDefault     time.Duration `yaml:"cooldown_default"`       // default 5s
	OutageWindow        time.Duration `yaml:"outage_window"`          // default 30s
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // text (default) | json
}

// Telemetry configures OpenTelemetry trace export over OTLP/HTTP
// (docs/telemetry.md). Off by default. When enabled, the standard
// variables fill what the file leaves unset: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// and OTEL_EXPORTER_OTLP_ENDPOINT (endpoints), OTEL_EXPORTER_OTLP_HEADERS and
// OTEL_EXPORTER_OTLP_TRACES_HEADERS (merged under headers),
// OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER_ARG (sample_ratio); and
// OTEL_SDK_DISABLED=true turns export off.
type Telemetry struct {
	Enabled bool `yaml:"enabled"`
	// Endpoint is the OTLP/HTTP base URL; /v1/traces is appended.
	// Default http://localhost:4318.
	Endpoint string `yaml:"endpoint"`
	// TracesEndpoint is the full traces URL, used as given; it wins over
	// Endpoint.
	TracesEndpoint string            `yaml:"traces_endpoint"`
	Headers        map[string]string `yaml:"headers"`
	ServiceName    string            `yaml:"service_name"` // default tollgate
	// SampleRatio of new traces recorded, 0..1 (default 1); a request with
	// a traceparent follows its caller's decision.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// CaptureContent records prompts and completions in spans.
	CaptureContent bool          `yaml:"capture_content"`
	Timeout        time.Duration `yaml:"timeout"` // default 10s per export
}

// TracesURL is the URL spans are exported to.
func (t Telemetry) TracesURL() string {
	if t.TracesEndpoint != "" {
		return t.TracesEndpoint
	}
	return strings.TrimRight(t.Endpoint, "/") + "/v1/traces"
}

// applyEnv fills the unset telemetry keys from the OTEL_* variables.
func (t *Telemetry) applyEnv(lookup func(string) (string, bool)) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		t.Enabled = false
	}
	if !t.Enabled {
		return
	}
	if t.Endpoint == "" && t.TracesEndpoint == "" {
		if v := get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
			t.TracesEndpoint = v
		} else {
			t.Endpoint = get("OTEL_EXPORTER_OTLP_ENDPOINT")
		}
	}
	env := map[string]string{}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		for _, kv := range strings.Split(get(k), ",") {
			name, value, ok := strings.Cut(kv, "=")
			name = strings.TrimSpace(name)
			if !ok || name == "" {
				continue
			}
			if v, err := url.PathUnescape(strings.TrimSpace(value)); err == nil {
				env[name] = v
			}
		}
	}
	if len(env) > 0 {
		for k, v := range t.Headers {
			env[k] = v
		}
		t.Headers = env
	}
	if t.ServiceName == "" {
		t.ServiceName = get("OTEL_SERVICE_NAME")
	}
	if t.SampleRatio == nil {
		if f, err := strconv.ParseFloat(get("OTEL_TRACES_SAMPLER_ARG"), 64); err == nil && f >= 0 && f <= 1 {
			t.SampleRatio = &f
		}
	}
}

// Provider is one upstream account.
type Provider struct {
	Name           string            `yaml:"name"`
	Protocol       string            `yaml:"protocol"` // openai | anthropic | gemini
	Preset         string            `yaml:"preset"`   // vendor preset: openai, groq, openrouter, deepseek, …
	BaseURL        string            `yaml:"base_url"`
	APIKey         string            `yaml:"api_key"`
	Headers        map[string]string `yaml:"headers"`
	DataPolicy     DataPolicy        `yaml:"data_policy"`
	Timeouts       Timeouts          `yaml:"timeouts"`
	MaxConnections int               `yaml:"max_connections"` // default 4096
	Disabled       bool              `yaml:"disabled"`
	// AllowLinkLocal lets base_url name a link-local address (169.254.0.0/16,
	// fe80::/10) or a cloud metadata endpoint, which Validate refuses by
	// default: a gateway that can be pointed there leaks instance
	// credentials. Loopback and private (RFC 1918) addresses are always
	// allowed: self-hosted vLLM and Ollama live there.
	AllowLinkLocal bool `yaml:"allow_link_local"`
}

// DataPolicy is what a provider does with prompts.
type DataPolicy struct {
	Training       bool `yaml:"training"`
	RetainsPrompts bool `yaml:"retains_prompts"`
	ZDR            bool `yaml:"zdr"`
}

// Timeouts of one provider (see core/upstream).
type Timeouts struct {
	Connect   time.Duration `yaml:"connect"`    // default 10s
	FirstByte time.Duration `yaml:"first_byte"` // default 180s
	Idle      time.Duration `yaml:"idle"`       // default 120s
}

// Model is one canonical model.
type Model struct {
	ID            string     `yaml:"id"`
	Name          string     `yaml:"name"`
	Created       int64      `yaml:"created"`
	ContextLength int        `yaml:"context_length"`
	Modalities    Modalities `yaml:"modalities"`
	Endpoints     []Endpoint `yaml:"endpoints"`
}

// Modalities of a model; default input [text], output [text].
type Modalities struct {
	Input  []string `yaml:"input"`
	Output []string `yaml:"output"`
}

// Endpoint is a model served by a provider.
type Endpoint struct {
	Provider            string   `yaml:"provider"`
	UpstreamModel       string   `yaml:"upstream_model"`
	Pricing             Pricing  `yaml:"pricing"`
	Quantization        string   `yaml:"quantization"`
	ContextLength       int      `yaml:"context_length"`
	MaxCompletionTokens int      `yaml:"max_completion_tokens"`
	SupportedParameters []string `yaml:"supported_parameters"`
	Disabled            bool     `yaml:"disabled"`
}

// Pricing in USD per million tokens (Request: USD per request).
type Pricing struct {
	Prompt            USD `yaml:"prompt"`
	Completion        USD `yaml:"completion"`
	Request           USD `yaml:"request"`
	InputCacheRead    USD `yaml:"input_cache_read"`
	InputCacheWrite   USD `yaml:"input_cache_write"`
	InternalReasoning USD `yaml:"internal_reasoning"`
}

// Account is seeded at start, idempotently.
type Account struct {
	Name    string `yaml:"name"`
	Credits USD    `yaml:"credits"`
	Keys    []Key  `yaml:"keys"`
}

// Key is an inference key declared in config, taken as given.
type Key struct {
	Name       string `yaml:"name"`
	Key        string `yaml:"key"`
	Limit      *USD   `yaml:"limit"`
	LimitReset string `yaml:"limit_reset"` // "" | daily | weekly | monthly
}

// USD is an amount parsed exactly from a decimal (never through float64)
// and held as nano-USD.
type USD int64

// UnmarshalYAML parses a YAML scalar like 10, 0.15 or "2.5".
func (u *USD) UnmarshalYAML(b []byte) error {
	s := strings.Trim(strings.TrimSpace(string(b)), `"'`)
	s = strings.TrimPrefix(s, "$")
	n, err := routing.ParseUSD(s)
	if err != nil {
		return fmt.Errorf("%q is not a USD amount (a non-negative decimal like 0.15)", s)
	}
	*u = USD(n)
	return nil
}

// Nano returns the amount in nano-USD.
func (u USD) Nano() int64 { return int64(u) }

// ByteSize is a size like 32MiB, 512KB or 1048576.
type ByteSize int64

// UnmarshalYAML parses sizes with B, KB/KiB, MB/MiB, GB/GiB suffixes
// (K/M/G are binary: 1KB = 1024 bytes, as everyone means for body limits).
func (s *ByteSize) UnmarshalYAML(b []byte) error {
	v := strings.ToUpper(strings.Trim(strings.TrimSpace(string(b)), `"'`))
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"GIB", 1 << 30}, {"GB", 1 << 30}, {"G", 1 << 30}, {"MIB", 1 << 20}, {"MB", 1 << 20}, {"M", 1 << 20}, {"KIB", 1 << 10}, {"KB", 1 << 10}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(v, suf.s) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, suf.s)), suf.m
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n < 0 || fmt.Sprint(n) != v || n > math.MaxInt64/mult {
		return fmt.Errorf("%q is not a size (use e.g. 32MiB, 512KiB or a byte count)", string(b))
	}
	*s = ByteSize(n * mult)
	return nil
}

// Defaults.
const (
	DefaultAPI            = "127.0.0.1:8080"
	DefaultAdmin          = "127.0.0.1:8081"
	DefaultDataDir        = "./tollgate-data"
	DefaultMaxRequestBody = 32 << 20
)

// EnsureDefaults fills every unset field with its documented default.
func (c *Config) EnsureDefaults() {
	if c.Node.Name == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.Node.Name = h
		} else {
			c.Node.Name = "tollgate"
		}
	}
	if c.Node.Region == "" {
		c.Node.Region = "local"
	}
	if c.Node.DataDir == "" {
		c.Node.DataDir = DefaultDataDir
	}
	if c.Listen.API == "" {
		c.Listen.API = DefaultAPI
	}
	if c.Listen.Admin == "" {
		c.Listen.Admin = DefaultAdmin
	}
	if c.Cluster.Bind == "" {
		c.Cluster.Bind = "0.0.0.0:7946"
	}
	if c.Cluster.Label == "" {
		// memberlist binds the label into every packet: unlabelled
		// clusters on one network would merge.
		c.Cluster.Label = "tollgate"
	}
	if c.Cluster.Profile == "" {
		c.Cluster.Profile = "lan"
	}
	if c.Ledger.Durability == "" {
		c.Ledger.Durability = "group"
	}
	if c.Ledger.PartitionAllowance == 0 {
		c.Ledger.PartitionAllowance = USD(routing.NanoPerUSD)
	}
	if c.Limits.MaxRequestBody == 0 {
		c.Limits.MaxRequestBody = DefaultMaxRequestBody
	}
	if c.Limits.RequestTimeout == 0 {
		c.Limits.RequestTimeout = 10 * time.Minute
	}
	if c.Limits.FreeRequestsPerMinute == 0 {
		c.Limits.FreeRequestsPerMinute = 20
	}
	if c.Limits.FreeRequestsPerDay == 0 {
		c.Limits.FreeRequestsPerDay = 200
	}
	if c.Server.ReadTimeout == 0 {
		c.Server.ReadTimeout = 30 * time.Second
	}
	if c.Server.IdleTimeout == 0 {
		c.Server.IdleTimeout = 120 * time.Second
	}
	if c.Server.KeepAlive == 0 {
		c.Server.KeepAlive = 10 * time.Second
	}
	if c.Server.ShutdownTimeout == 0 {
		c.Server.ShutdownTimeout = 30 * time.Second
	}
	if c.Server.Concurrency == 0 {
		c.Server.Concurrency = 256 * 1024
	}
	if c.Server.OverheadHeader == nil {
		t := true
		c.Server.OverheadHeader = &t
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Telemetry.Endpoint == "" {
		c.Telemetry.Endpoint = "http://localhost:4318"
	}
	if c.Telemetry.ServiceName == "" {
		c.Telemetry.ServiceName = "tollgate"
	}
	if c.Telemetry.SampleRatio == nil {
		one := 1.0
		c.Telemetry.SampleRatio = &one
	}
	if c.Telemetry.Timeout == 0 {
		c.Telemetry.Timeout = 10 * time.Second
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.Protocol == "" {
			p.Protocol = "openai"
		}
		if p.MaxConnections == 0 {
			p.MaxConnections = 4096
		}
		if p.Timeouts.Connect == 0 {
			p.Timeouts.Connect = 10 * time.Second
		}
		if p.Timeouts.FirstByte == 0 {
			p.Timeouts.FirstByte = 180 * time.Second
		}
		if p.Timeouts.Idle == 0 {
			p.Timeouts.Idle = 120 * time.Second
		}
	}
	for i := range c.Models {
		m := &c.Models[i]
		if len(m.Modalities.Input) == 0 {
			m.Modalities.Input = []string{"text"}
		}
		if len(m.Modalities.Output) == 0 {
			m.Modalities.Output = []string{"text"}
		}
	}
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// metadataHosts are the cloud instance-metadata names (GCP, AWS); their
// addresses are link-local or listed in metadataAddrs.
var metadataHosts = map[string]bool{
	"metadata": true, "metadata.google.internal": true, "metadata.goog": true,
	"instance-data": true, "instance-data.ec2.internal": true,
}

// forbiddenHost says why a provider base URL may not name host, or "" if
// it may: link-local addresses, cloud metadata endpoints, and IPv4
// addresses in a non-canonical form (2852039166, 0xa9.0xfe.0xa9.0xfe)
// that some resolvers map to them. Names are not resolved here; the
// upstream dialer refuses a name that resolves to such an address.
func forbiddenHost(host string) string {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if metadataHosts[h] {
		return "is a cloud metadata endpoint"
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return upstream.ForbiddenAddr(a)
	}
	numeric := h != ""
	for _, label := range strings.Split(h, ".") {
		if label == "" || strings.Trim(strings.TrimPrefix(label, "0x"), "0123456789abcdef") != "" ||
			(!strings.HasPrefix(label, "0x") && strings.Trim(label, "0123456789") != "") {
			numeric = false
		}
	}
	if numeric {
		return "is an IPv4 address in a non-canonical form; write it as a.b.c.d"
	}
	return ""
}

// Validate reports every invalid setting, joined.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, a := range []struct{ name, v string }{{"listen.api", c.Listen.API}, {"listen.admin", c.Listen.Admin}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			add("%s: %q is not host:port", a.name, a.v)
		}
	}
	switch c.Cluster.Profile {
	case "lan", "wan", "local":
	default:
		add("cluster.profile: %q must be lan, wan or local", c.Cluster.Profile)
	}
	if c.Cluster.ProbeInterval < 0 || c.Cluster.ProbeTimeout < 0 || c.Cluster.SuspicionMult < 0 || c.Cluster.GossipInterval < 0 || c.Cluster.PushPullInterval < 0 ||
		c.Cluster.SuspicionMaxTimeoutMult < 0 || c.Cluster.AwarenessMaxMultiplier < 0 {
		add("cluster: probe_interval, probe_timeout, suspicion_mult, gossip_interval, push_pull_interval, suspicion_max_timeout_mult and awareness_max_multiplier must not be negative")
	}
	if c.Cluster.ProbeInterval > 0 && c.Cluster.ProbeTimeout >= c.Cluster.ProbeInterval {
		add("cluster.probe_timeout %s must be below cluster.probe_interval %s", c.Cluster.ProbeTimeout, c.Cluster.ProbeInterval)
	}
	if c.Cluster.Enabled && c.Cluster.SecretKey == "" && !c.Cluster.Insecure {
		add("cluster.secret_key is required when the cluster is enabled (or set cluster.insecure: true)")
	}
	switch c.Ledger.Durability {
	case "group", "sync":
	default:
		add("ledger.durability: %q must be group or sync", c.Ledger.Durability)
	}
	if c.Ledger.SyncInterval > time.Second { // ledger.MaxSyncInterval
		add("ledger.sync_interval %s must be at most 1s", c.Ledger.SyncInterval)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level: %q must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format: %q must be text or json", c.Log.Format)
	}
	if t := &c.Telemetry; t.Enabled {
		for _, e := range []struct{ name, v string }{{"telemetry.endpoint", t.Endpoint}, {"telemetry.traces_endpoint", t.TracesEndpoint}} {
			if e.v == "" {
				continue
			}
			if u, err := url.Parse(e.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("%s: %q must be an http(s) URL", e.name, e.v)
			}
		}
		if r := t.SampleRatio; r != nil && (*r < 0 || *r > 1 || math.IsNaN(*r)) {
			add("telemetry.sample_ratio: %v must be within 0..1", *r)
		}
		if t.Timeout < 0 {
			add("telemetry.timeout: %v must not be negative", t.Timeout)
		}
		for k := range t.Headers {
			if k == "" || strings.ContainsAny(k, " :\r\n") {
				add("telemetry.headers: %q is not a header name", k)
			}
		}
	}
	if c.Limits.MaxRequestBody < 1024 {
		add("limits.max_request_body: %d is below the 1KiB minimum", c.Limits.MaxRequestBody)
	}
	provs := map[string]bool{}
	for i, p := range c.Providers {
		where := fmt.Sprintf("providers[%d]", i)
		if !nameRE.MatchString(p.Name) {
			add("%s.name: %q must be letters, digits, '.', '_' or '-'", where, p.Name)
		}
		if provs[strings.ToLower(p.Name)] {
			add("%s.name: duplicate provider %q", where, p.Name)
		}
		provs[strings.ToLower(p.Name)] = true
		switch p.Protocol {
		case "openai", "anthropic", "gemini":
		default:
			add("%s.protocol: %q must be openai, anthropic or gemini", where, p.Protocol)
		}
		if p.BaseURL != "" {
			u, err := url.Parse(p.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("%s.base_url: %q must be an http(s) URL", where, p.BaseURL)
			} else if why := forbiddenHost(u.Hostname()); why != "" && !p.AllowLinkLocal {
				add("%s.base_url: %q %s (set allow_link_local: true if that is intended)", where, p.BaseURL, why)
			}
		} else if p.Preset == "" {
			add("%s.base_url is required (or set a preset)", where)
		}
	}
	models := map[string]bool{}
	for i, m := range c.Models {
		where := fmt.Sprintf("models[%d]", i)
		if m.ID == "" || strings.ContainsAny(m.ID, " \t:") {
			add("%s.id: %q must be a slug like author/model without spaces or ':'", where, m.ID)
		}
		if models[m.ID] {
			add("%s.id: duplicate model %q", where, m.ID)
		}
		models[m.ID] = true
		if len(m.Endpoints) == 0 {
			add("%s: model %q has no endpoints", where, m.ID)
		}
		for j, e := range m.Endpoints {
			if !provs[strings.ToLower(e.Provider)] {
				add("%s.endpoints[%d].provider: unknown provider %q", where, j, e.Provider)
			}
		}
	}
	accounts := map[string]bool{}
	for i, a := range c.Accounts {
		where := fmt.Sprintf("accounts[%d]", i)
		if a.Name == "" {
			add("%s.name is required", where)
		}
		if accounts[a.Name] {
			add("%s.name: duplicate account %q", where, a.Name)
		}
		accounts[a.Name] = true
		for j, k := range a.Keys {
			if len(k.Key) < 16 {
				add("%s.keys[%d].key: keys must be at least 16 characters", where, j)
			}
			switch k.LimitReset {
			case "", "daily", "weekly", "monthly":
			default:
				add("%s.keys[%d].limit_reset: %q must be daily, weekly or monthly", where, j, k.LimitReset)
			}
		}
	}
	return errors.Join(errs...)
}

// Load reads, substitutes, parses, defaults and validates the file at path.
// lookup resolves ${VAR} (os.LookupEnv in production).
func Load(path string, lookup func(string) (string, bool)) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	return Parse(path, raw, lookup)
}

// Parse is Load for bytes; name prefixes error positions.
func Parse(name string, raw []byte, lookup func(string) (string, bool)) (*Config, error) {
	text, err := Substitute(raw, lookup)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var c Config
	if len(bytes.TrimSpace(text)) > 0 {
		if err := yaml.UnmarshalWithOptions(text, &c, yaml.Strict()); err != nil {
			var ye yaml.Error
			if !errors.As(err, &ye) {
				err = positioned(text, err)
			}
			// go-yaml formats "[line:col] message"; make it "name:line:col: message".
			msg := yaml.FormatError(err, false, true)
			if rest, ok := strings.CutPrefix(msg, "["); ok {
				msg = strings.Replace(rest, "] ", ": ", 1)
			} else {
				msg = " " + msg
			}
			return nil, fmt.Errorf("%s:%s", name, msg)
		}
	}
	c.Telemetry.applyEnv(lookup)
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: invalid config:\n%w", name, err)
	}
	return &c, nil
}

// positioned gives err the position of the value that caused it. go-yaml
// returns errors of time.ParseDuration and of UnmarshalYAML methods (USD,
// ByteSize) without one; decoding each scalar again finds the culprit.
func positioned(text []byte, err error) error {
	f, perr := parser.ParseBytes(text, 0)
	if perr != nil || len(f.Docs) == 0 {
		return err
	}
	if n, derr := badScalar(reflect.TypeFor[Config](), f.Docs[0].Body); n != nil && n.GetToken() != nil {
		return &yaml.SyntaxError{Message: derr.Error(), Token: n.GetToken()}
	}
	return err
}

// badScalar walks n as the YAML of a value of type t and returns the first
// scalar that does not decode, with its error.
func badScalar(t reflect.Type, n ast.Node) (ast.Node, error) {
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
			continue
		case *ast.TagNode:
			n = v.Value
			continue
		}
		break
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := n.(ast.MapNode)
		if !ok {
			return nil, nil
		}
		for it := m.MapRange(); it.Next(); {
			key := it.Key().GetToken()
			if key == nil {
				continue
			}
			for i := range t.NumField() {
				f := t.Field(i)
				if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == key.Value {
					if bad, err := badScalar(f.Type, it.Value()); bad != nil {
						return bad, err
					}
				}
			}
		}
	case reflect.Slice:
		s, ok := n.(*ast.SequenceNode)
		if !ok {
			return nil, nil
		}
		for _, v := range s.Values {
			if bad, err := badScalar(t.Elem(), v); bad != nil {
				return bad, err
			}
		}
	case reflect.Map, reflect.Interface:
	default:
		if n == nil {
			return nil, nil
		}
		if err := yaml.NodeToValue(n, reflect.New(t).Interface()); err != nil {
			return n, err
		}
	}
	return nil, nil
}

var varRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}\n]*))?\}|\$\{[^}\n]*\}?`)

// Substitute replaces ${VAR} and ${VAR:-default} (default when VAR is unset
// or empty) in raw; $$ is a literal $. An unset ${VAR} without a default is
// an error naming the line, so a missing secret never becomes "".
func Substitute(raw []byte, lookup func(string) (string, bool)) ([]byte, error) {
	var errs []error
	lines := bytes.SplitAfter(raw, []byte("\n"))
	for i, l := range lines {
		// Whole-line comments are documentation: leave their ${VAR}s alone.
		if t := bytes.TrimLeft(l, " \t"); len(t) > 0 && t[0] == '#' {
			continue
		}
		lines[i] = substituteLine(l, i+1, lookup, &errs)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return bytes.Join(lines, nil), nil
}

func substituteLine(raw []byte, line int, lookup func(string) (string, bool), errs *[]error) []byte {
	return varRE.ReplaceAllFunc(raw, func(m []byte) []byte {
		if string(m) == "$$" {
			return []byte("$")
		}
		sub := varRE.FindSubmatch(m)
		if len(sub[1]) == 0 {
			*errs = append(*errs, fmt.Errorf("line %d: malformed variable %q (use ${NAME} or ${NAME:-default})", line, m))
			return m
		}
		v, ok := lookup(string(sub[1]))
		if (!ok || v == "") && len(sub[2]) > 0 {
			return sub[3]
		}
		if !ok {
			*errs = append(*errs, fmt.Errorf("line %d: environment variable %s is not set (use ${%s:-default} for a default)", line, sub[1], sub[1]))
			return m
		}
		// A line break would shift every later line number and could
		// inject keys; YAML breaks lines at \r as well as \n.
		if strings.ContainsAny(v, "\r\n") {
			*errs = append(*errs, fmt.Errorf("line %d: value of %s contains a newline", line, sub[1]))
			return m
		}
		return []byte(v)
	})
}
