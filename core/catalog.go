package core

import (
	"fmt"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/api"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/routing"
)

// The admin catalog API changes models, endpoints, prices and provider
// availability at run time. Every change is a last-writer-wins
// routing.CatalogRecord: applied to the router (new snapshot, no restart),
// synced to the node's catalog store before the 200, and handed to
// Options.OnCatalogChange (the cluster gossips it).
//
//	GET    /admin/v1/catalog                              models, endpoints, providers and records
//	POST   /admin/v1/catalog/models                       {id, name, context_length, created, modalities{input,output}}
//	DELETE /admin/v1/catalog/models/{author}/{slug}
//	POST   /admin/v1/catalog/endpoints                    {model, provider, upstream_model, pricing{…USD per 1M}, context_length, max_completion_tokens, quantization, supported_parameters, disabled}
//	DELETE /admin/v1/catalog/endpoints/{provider}/{author}/{slug}
//	PUT    /admin/v1/catalog/prices                       {model, provider, pricing{prompt, completion, request, input_cache_read, input_cache_write, internal_reasoning}}
//	POST   /admin/v1/catalog/providers/{name}/disable     (and /enable)
//
// Endpoints may only name providers configured in the config file (their
// base URL and credentials live there).

type pricingIn struct {
	Prompt            json.Number `json:"prompt"`
	Completion        json.Number `json:"completion"`
	Request           json.Number `json:"request"`
	InputCacheRead    json.Number `json:"input_cache_read"`
	InputCacheWrite   json.Number `json:"input_cache_write"`
	InternalReasoning json.Number `json:"internal_reasoning"`
}

func (p *pricingIn) pricing() (routing.Pricing, error) {
	var out routing.Pricing
	for _, f := range []struct {
		name string
		in   json.Number
		dst  *int64
	}{
		{"prompt", p.Prompt, &out.Prompt}, {"completion", p.Completion, &out.Completion},
		{"request", p.Request, &out.Request}, {"input_cache_read", p.InputCacheRead, &out.InputCacheRead},
		{"input_cache_write", p.InputCacheWrite, &out.InputCacheWrite}, {"internal_reasoning", p.InternalReasoning, &out.InternalReasoning},
	} {
		if f.in == "" {
			continue
		}
		n, err := routing.ParseUSD(string(f.in))
		if err != nil {
			return out, fmt.Errorf("pricing.%s: %q is not a non-negative USD amount", f.name, f.in)
		}
		*f.dst = n
	}
	return out, nil
}

type modelIn struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Created       int64  `json:"created"`
	ContextLength int    `json:"context_length"`
	Modalities    struct {
		Input  []string `json:"input"`
		Output []string `json:"output"`
	} `json:"modalities"`
}

type endpointIn struct {
	Model               string    `json:"model"`
	Provider            string    `json:"provider"`
	UpstreamModel       string    `json:"upstream_model"`
	Pricing             pricingIn `json:"pricing"`
	ContextLength       int       `json:"context_length"`
	MaxCompletionTokens int       `json:"max_completion_tokens"`
	Quantization        string    `json:"quantization"`
	SupportedParameters []string  `json:"supported_parameters"`
	Disabled            bool      `json:"disabled"`
}

func badCatalog(msg string) *api.Error {
	return &api.Error{Status: fasthttp.StatusBadRequest, Message: msg}
}

func decodeStrict(body []byte, v any) *api.Error {
	if err := provider.CheckJSON(body); err != nil {
		return badCatalog("invalid JSON body: " + err.Error())
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badCatalog("invalid JSON body: " + err.Error())
	}
	return nil
}

func (g *Gateway) adminCatalog(ctx *fasthttp.RequestCtx, rest string) {
	r := g.o.Router
	method := string(ctx.Method())
	var rec routing.CatalogRecord
	switch {
	case rest == "" && method == fasthttp.MethodGet:
		g.catalogListing(ctx)
		return
	case rest == "/models" && method == fasthttp.MethodPost:
		var in modelIn
		if e := decodeStrict(ctx.PostBody(), &in); e != nil {
			api.WriteError(ctx, e)
			return
		}
		if in.ID == "" || strings.ContainsAny(in.ID, " \t:") || !strings.Contains(in.ID, "/") {
			api.WriteError(ctx, badCatalog("id must be a slug like author/model"))
			return
		}
		rec = routing.ModelRecord(&routing.Model{ID: in.ID, Name: in.Name, Created: in.Created, ContextLength: in.ContextLength,
			InputModalities: in.Modalities.Input, OutputModalities: in.Modalities.Output}, r.NextVersion(), g.o.Config.Node.Name)
	case strings.HasPrefix(rest, "/models/") && method == fasthttp.MethodDelete:
		id := strings.TrimPrefix(rest, "/models/")
		if _, ok := r.Snapshot().Model(id); !ok {
			api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no model " + id})
			return
		}
		rec = routing.Tombstone(routing.KindModel, id, r.NextVersion(), g.o.Config.Node.Name)
	case rest == "/endpoints" && method == fasthttp.MethodPost:
		var in endpointIn
		if e := decodeStrict(ctx.PostBody(), &in); e != nil {
			api.WriteError(ctx, e)
			return
		}
		if g.o.Upstreams[strings.ToLower(in.Provider)] == nil {
			api.WriteError(ctx, badCatalog(fmt.Sprintf("provider %q is not configured on this node", in.Provider)))
			return
		}
		pr, err := in.Pricing.pricing()
		if err != nil {
			api.WriteError(ctx, badCatalog(err.Error()))
			return
		}
		rec = routing.EndpointRecord(&routing.Endpoint{Provider: in.Provider, Model: in.Model, UpstreamModel: in.UpstreamModel,
			Pricing: pr, ContextLength: in.ContextLength, MaxCompletionTokens: in.MaxCompletionTokens,
			Quantization: in.Quantization, SupportedParameters: in.SupportedParameters, Disabled: in.Disabled},
			r.NextVersion(), g.o.Config.Node.Name)
	case strings.HasPrefix(rest, "/endpoints/") && method == fasthttp.MethodDelete:
		prov, model, ok := strings.Cut(strings.TrimPrefix(rest, "/endpoints/"), "/")
		if !ok {
			api.WriteError(ctx, badCatalog("use /admin/v1/catalog/endpoints/{provider}/{author}/{slug}"))
			return
		}
		if _, ok := r.Snapshot().Endpoint(prov, model); !ok {
			api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no endpoint " + prov + "/" + model})
			return
		}
		rec = routing.Tombstone(routing.KindEndpoint, strings.ToLower(prov)+"/"+model, r.NextVersion(), g.o.Config.Node.Name)
	case rest == "/prices" && (method == fasthttp.MethodPut || method == fasthttp.MethodPost):
		var in struct {
			Model    string    `json:"model"`
			Provider string    `json:"provider"`
			Pricing  pricingIn `json:"pricing"`
		}
		if e := decodeStrict(ctx.PostBody(), &in); e != nil {
			api.WriteError(ctx, e)
			return
		}
		if _, ok := r.Snapshot().Endpoint(in.Provider, in.Model); !ok {
			api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no endpoint " + in.Provider + "/" + in.Model})
			return
		}
		pr, err := in.Pricing.pricing()
		if err != nil {
			api.WriteError(ctx, badCatalog(err.Error()))
			return
		}
		rec = routing.PriceRecord(in.Provider, in.Model, pr, r.NextVersion(), g.o.Config.Node.Name)
	case strings.HasPrefix(rest, "/providers/") && method == fasthttp.MethodPost:
		name, action, _ := strings.Cut(strings.TrimPrefix(rest, "/providers/"), "/")
		if _, ok := r.Snapshot().Provider(name); !ok {
			api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no provider " + name})
			return
		}
		switch action {
		case "disable", "enable":
			rec = routing.DisableRecord(name, action == "disable", r.NextVersion(), g.o.Config.Node.Name)
		default:
			api.WriteError(ctx, badCatalog("use /providers/{name}/disable or /enable"))
			return
		}
	default:
		api.WriteError(ctx, &api.Error{Status: fasthttp.StatusNotFound, Message: "no such catalog endpoint"})
		return
	}
	if err := g.ApplyCatalog(rec); err != nil {
		api.WriteError(ctx, badCatalog(err.Error()))
		return
	}
	b, _ := json.Marshal(map[string]any{"ok": true, "kind": rec.Kind.String(), "key": rec.Key, "version": rec.Version})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// ApplyCatalog merges catalog records (from the admin API or gossip):
// router first, then the store (synced), then metrics and the change hook.
func (g *Gateway) ApplyCatalog(recs ...routing.CatalogRecord) error {
	var changed []routing.CatalogRecord
	for _, rec := range recs {
		ok, err := g.o.Router.Apply(rec)
		if err != nil {
			return err
		}
		if ok {
			changed = append(changed, rec)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	if g.o.Catalog != nil {
		if err := g.o.Catalog.Put(changed...); err != nil {
			return err
		}
	}
	g.Metrics.SyncEndpoints(g.o.Router.Snapshot())
	if g.o.OnCatalogChange != nil {
		g.o.OnCatalogChange(changed)
	}
	return nil
}

func (g *Gateway) catalogListing(ctx *fasthttp.RequestCtx) {
	snap := g.o.Router.Snapshot()
	type epOut struct {
		Provider            string          `json:"provider"`
		UpstreamModel       string          `json:"upstream_model"`
		Pricing             routing.Pricing `json:"pricing_nano_usd_per_1m"`
		ContextLength       int             `json:"context_length"`
		MaxCompletionTokens int             `json:"max_completion_tokens"`
		Disabled            bool            `json:"disabled"`
	}
	type modelOut struct {
		ID        string  `json:"id"`
		Name      string  `json:"name"`
		Endpoints []epOut `json:"endpoints"`
	}
	var models []modelOut
	for _, m := range snap.Models() {
		mo := modelOut{ID: m.ID, Name: m.Name}
		for _, ep := range m.Endpoints {
			mo.Endpoints = append(mo.Endpoints, epOut{ep.Provider, ep.UpstreamModelID(), ep.Pricing, ep.EffectiveContextLength(), ep.MaxCompletionTokens, ep.Disabled})
		}
		models = append(models, mo)
	}
	type recOut struct {
		Kind    string `json:"kind"`
		Key     string `json:"key"`
		Version uint64 `json:"version"`
		Node    string `json:"node"`
		Deleted bool   `json:"deleted"`
	}
	var recs []recOut
	for _, rec := range g.o.Router.Records() {
		recs = append(recs, recOut{rec.Kind.String(), rec.Key, rec.Version, rec.Node, rec.Deleted})
	}
	b, err := json.Marshal(map[string]any{"version": snap.Version(), "models": models, "providers": snap.Providers(), "records": recs})
	if err != nil {
		api.WriteError(ctx, &api.Error{Status: 500, Message: "cannot encode catalog"})
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}
