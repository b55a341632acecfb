package core

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/tollgate/tollgate/core/config"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/provider/anthropic"
	"github.com/tollgate/tollgate/core/provider/gemini"
	"github.com/tollgate/tollgate/core/provider/openai"
	"github.com/tollgate/tollgate/core/telemetry"
	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// Upstreams builds one provider.Upstream per configured provider, keyed by
// lower-case name.
func Upstreams(cfg *config.Config) (map[string]*provider.Upstream, error) {
	out := make(map[string]*provider.Upstream, len(cfg.Providers))
	for _, p := range cfg.Providers {
		u := &provider.Upstream{Name: p.Name, Protocol: p.Protocol, APIKey: p.APIKey}
		base := p.BaseURL
		if p.Preset != "" {
			pre, ok := openai.PresetByName(p.Preset)
			if !ok {
				return nil, fmt.Errorf("provider %q: unknown preset %q", p.Name, p.Preset)
			}
			if base == "" {
				base = pre.BaseURL
			}
			u.Quirks = pre.Quirks
		}
		switch p.Protocol {
		case "openai":
			u.Adapter = openai.Adapter{}
		case "anthropic":
			u.Adapter = anthropic.Adapter{}
			if base == "" {
				base = anthropic.DefaultBaseURL
			}
		case "gemini":
			u.Adapter = gemini.Adapter{}
			if base == "" {
				base = gemini.DefaultBaseURL
			}
		default:
			return nil, fmt.Errorf("provider %q: protocol %q is not supported by this build yet", p.Name, p.Protocol)
		}
		for k, v := range p.Headers {
			u.Headers = append(u.Headers, [2]string{k, v})
		}
		c, err := upstream.New(upstream.Config{
			BaseURL:   base,
			Connect:   p.Timeouts.Connect,
			FirstByte: p.Timeouts.FirstByte,
			Idle:      p.Timeouts.Idle,
			MaxConns:  p.MaxConnections,
			// Validate refused literal link-local base URLs without it;
			// the dialer refuses names that resolve there.
			AllowLinkLocal: p.AllowLinkLocal,
		})
		if err != nil {
			return nil, fmt.Errorf("provider %q: %w", p.Name, err)
		}
		u.Client = c
		out[strings.ToLower(p.Name)] = u
	}
	return out, nil
}

// Catalog converts the configured providers and models for the router.
func Catalog(cfg *config.Config) routing.Catalog {
	var cat routing.Catalog
	for _, p := range cfg.Providers {
		cat.Providers = append(cat.Providers, routing.Provider{
			Name: p.Name, Protocol: p.Protocol, Disabled: p.Disabled,
			DataPolicy: routing.DataPolicy{Training: p.DataPolicy.Training, RetainsPrompts: p.DataPolicy.RetainsPrompts, ZDR: p.DataPolicy.ZDR},
		})
	}
	for _, m := range cfg.Models {
		rm := &routing.Model{
			ID: m.ID, Name: m.Name, Created: m.Created, ContextLength: m.ContextLength,
			InputModalities: m.Modalities.Input, OutputModalities: m.Modalities.Output,
		}
		for _, e := range m.Endpoints {
			rm.Endpoints = append(rm.Endpoints, &routing.Endpoint{
				Provider: e.Provider, Model: m.ID, UpstreamModel: e.UpstreamModel,
				Pricing: routing.Pricing{
					Prompt: e.Pricing.Prompt.Nano(), Completion: e.Pricing.Completion.Nano(),
					Request: e.Pricing.Request.Nano(), InputCacheRead: e.Pricing.InputCacheRead.Nano(),
					InputCacheWrite: e.Pricing.InputCacheWrite.Nano(), InternalReasoning: e.Pricing.InternalReasoning.Nano(),
				},
				ContextLength: e.ContextLength, MaxCompletionTokens: e.MaxCompletionTokens,
				Quantization: e.Quantization, SupportedParameters: e.SupportedParameters, Disabled: e.Disabled,
			})
		}
		cat.Models = append(cat.Models, rm)
	}
	return cat
}

// LedgerConfig maps the node and ledger sections for ledger.Open.
func LedgerConfig(cfg *config.Config, log *slog.Logger) ledger.Config {
	return ledger.Config{
		Dir:                 filepath.Join(cfg.Node.DataDir, "ledger"),
		Node:                cfg.Node.Name,
		Region:              cfg.Node.Region,
		Durability:          ledger.Durability(cfg.Ledger.Durability),
		PartitionAllowance:  cfg.Ledger.PartitionAllowance.Nano(),
		SyncInterval:        cfg.Ledger.SyncInterval,
		GenerationRetention: cfg.Ledger.GenerationRetention,
		MaxDimensionValues:  cfg.Ledger.MaxDimensionValues,
		Logger:              log,
	}
}

// SeedAccounts lists the accounts and keys declared in config, for
// ledger.Seed (idempotent; the seed grant counts once cluster-wide).
func SeedAccounts(cfg *config.Config) []ledger.SeedAccount {
	out := make([]ledger.SeedAccount, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		sa := ledger.SeedAccount{Name: a.Name, Credits: a.Credits.Nano()}
		for _, k := range a.Keys {
			sk := ledger.SeedKey{Name: k.Name, Secret: k.Key, LimitReset: ledger.LimitReset(k.LimitReset)}
			if k.Limit != nil {
				n := k.Limit.Nano()
				sk.Limit = &n
			}
			sa.Keys = append(sa.Keys, sk)
		}
		out = append(out, sa)
	}
	return out
}

// TelemetryConfig maps the telemetry section (environment already
// applied by config.Parse) and the node's identity for telemetry.New.
func TelemetryConfig(cfg *config.Config, version string, log *slog.Logger) telemetry.Config {
	t := cfg.Telemetry
	c := telemetry.Config{
		Endpoint: t.TracesURL(), Headers: t.Headers, Timeout: t.Timeout, SampleRatio: 1,
		CaptureContent: t.CaptureContent, ServiceName: t.ServiceName, ServiceVersion: version,
		Node: cfg.Node.Name, Region: cfg.Node.Region, Logger: log,
	}
	if t.SampleRatio != nil {
		c.SampleRatio = *t.SampleRatio
	}
	return c
}

// RoutingConfig maps the routing section of the config.
func RoutingConfig(cfg *config.Config) routing.Config {
	r := cfg.Routing
	return routing.Config{
		TTFTHalfLife: r.TTFTHalfLife, LatencyHalfLife: r.LatencyHalfLife,
		ThroughputHalfLife: r.ThroughputHalfLife, ErrorHalfLife: r.ErrorHalfLife,
		CircuitFailures: r.CircuitFailures, CircuitErrorRate: r.CircuitErrorRate,
		CircuitOpenDelay: r.CircuitOpenDelay, CircuitMaxOpenDelay: r.CircuitMaxOpenDelay,
		CooldownDefault: r.CooldownDefault, OutageWindow: r.OutageWindow,
	}
}
