package api

import (
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/routing"
)

// OpenRouter model object (GET /models).
type modelObject struct {
	ID                  string         `json:"id"`
	CanonicalSlug       string         `json:"canonical_slug"`
	Name                string         `json:"name"`
	Created             int64          `json:"created"`
	Description         string         `json:"description"`
	ContextLength       int            `json:"context_length"`
	Architecture        architecture   `json:"architecture"`
	Pricing             pricingObject  `json:"pricing"`
	TopProvider         topProvider    `json:"top_provider"`
	PerRequestLimits    map[string]any `json:"per_request_limits"`
	SupportedParameters []string       `json:"supported_parameters"`
	Object              string         `json:"object"`   // OpenAI SDKs' Model.object
	OwnedBy             string         `json:"owned_by"` // OpenAI SDKs' Model.owned_by
}

type architecture struct {
	Modality         string   `json:"modality"`
	InputModalities  []string `json:"input_modalities"`
	OutputModalities []string `json:"output_modalities"`
	Tokenizer        string   `json:"tokenizer"`
	InstructType     *string  `json:"instruct_type"`
}

// pricingObject is USD per token (per request for Request) as decimal
// strings, exactly as OpenRouter shows prices.
type pricingObject struct {
	Prompt            string `json:"prompt"`
	Completion        string `json:"completion"`
	Request           string `json:"request"`
	Image             string `json:"image"`
	InputCacheRead    string `json:"input_cache_read,omitempty"`
	InputCacheWrite   string `json:"input_cache_write,omitempty"`
	InternalReasoning string `json:"internal_reasoning,omitempty"`
}

type topProvider struct {
	ContextLength       int  `json:"context_length"`
	MaxCompletionTokens *int `json:"max_completion_tokens"`
	IsModerated         bool `json:"is_moderated"`
}

// perTokenUSD formats a nano-USD-per-million-tokens price as USD per token
// (price / 1e15) without floating point.
func perTokenUSD(p int64) string {
	if p <= 0 {
		return "0"
	}
	s := strconv.FormatInt(p, 10)
	if len(s) <= 15 {
		s = strings.Repeat("0", 15-len(s)+1) + s
	}
	ip, fp := s[:len(s)-15], strings.TrimRight(s[len(s)-15:], "0")
	if fp == "" {
		return ip
	}
	return ip + "." + fp
}

// nanoUSD formats nano-USD as a USD decimal string ("0" for none).
func nanoUSD(n int64) string {
	if n <= 0 {
		return "0"
	}
	return string(routing.AppendUSD(nil, n))
}

func pricingOf(p routing.Pricing) pricingObject {
	po := pricingObject{
		Prompt:     perTokenUSD(p.Prompt),
		Completion: perTokenUSD(p.Completion),
		Request:    nanoUSD(p.Request),
		Image:      "0",
	}
	if p.InputCacheRead > 0 {
		po.InputCacheRead = perTokenUSD(p.InputCacheRead)
	}
	if p.InputCacheWrite > 0 {
		po.InputCacheWrite = perTokenUSD(p.InputCacheWrite)
	}
	if p.InternalReasoning > 0 {
		po.InternalReasoning = perTokenUSD(p.InternalReasoning)
	}
	return po
}

// topEndpoint is the endpoint whose terms a model shows: the cheapest
// enabled one (prompt + completion price).
func topEndpoint(m *routing.Model) *routing.Endpoint {
	var best *routing.Endpoint
	for _, ep := range m.Endpoints {
		if ep.Disabled {
			continue
		}
		if best == nil || ep.Pricing.Prompt+ep.Pricing.Completion < best.Pricing.Prompt+best.Pricing.Completion {
			best = ep
		}
	}
	if best == nil && len(m.Endpoints) > 0 {
		best = m.Endpoints[0]
	}
	return best
}

func modalities(in []string, def string) []string {
	if len(in) == 0 {
		return []string{def}
	}
	return in
}

func modelObj(m *routing.Model) modelObject {
	in := modalities(m.InputModalities, "text")
	out := modalities(m.OutputModalities, "text")
	mo := modelObject{
		ID: m.ID, CanonicalSlug: m.ID, Name: m.Name, Created: m.Created, ContextLength: m.ContextLength,
		Architecture: architecture{
			Modality:         strings.Join(in, "+") + "->" + strings.Join(out, "+"),
			InputModalities:  in,
			OutputModalities: out,
			Tokenizer:        "Other",
		},
		Object:  "model",
		OwnedBy: m.ID[:max(0, strings.IndexByte(m.ID, '/'))],
	}
	if mo.Name == "" {
		mo.Name = m.ID
	}
	if ep := topEndpoint(m); ep != nil {
		mo.Pricing = pricingOf(ep.Pricing)
		mo.TopProvider.ContextLength = ep.EffectiveContextLength()
		if ep.MaxCompletionTokens > 0 {
			n := ep.MaxCompletionTokens
			mo.TopProvider.MaxCompletionTokens = &n
		}
		mo.SupportedParameters = supportedParams(m)
	}
	if mo.SupportedParameters == nil {
		mo.SupportedParameters = []string{}
	}
	return mo
}

// supportedParams is the union over the model's endpoints.
func supportedParams(m *routing.Model) []string {
	seen := map[string]bool{}
	var out []string
	for _, ep := range m.Endpoints {
		for _, p := range ep.SupportedParameters {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// models serves GET /models: {"data":[model…]} in OpenRouter's shape, which
// also satisfies OpenAI SDKs' models.list (id, object, created, owned_by).
func (a *API) models(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		WriteError(ctx, errMethod)
		return
	}
	snap := a.o.Router.Snapshot()
	// ?supported_parameters=tools,response_format keeps the models whose
	// endpoints (together) support every listed parameter, as OpenRouter.
	var need []string
	if v := ctx.QueryArgs().Peek("supported_parameters"); len(v) > 0 {
		for _, p := range strings.Split(string(v), ",") {
			if p = strings.TrimSpace(p); p != "" {
				need = append(need, p)
			}
		}
	}
	data := make([]modelObject, 0, len(snap.Models()))
	for _, m := range snap.Models() {
		mo := modelObj(m)
		if !hasAll(m, mo.SupportedParameters, need) {
			continue
		}
		data = append(data, mo)
	}
	a.writeJSON(ctx, routeModels, map[string]any{"data": data, "object": "list"})
}

type endpointObject struct {
	Name                string         `json:"name"`
	ModelName           string         `json:"model_name"`
	ContextLength       int            `json:"context_length"`
	Pricing             pricingObject  `json:"pricing"`
	ProviderName        string         `json:"provider_name"`
	Tag                 string         `json:"tag"`
	Quantization        string         `json:"quantization"`
	MaxCompletionTokens *int           `json:"max_completion_tokens"`
	MaxPromptTokens     *int           `json:"max_prompt_tokens"`
	SupportedParameters []string       `json:"supported_parameters"`
	Status              int            `json:"status"`
	UptimeLast30m       *float64       `json:"uptime_last_30m"`
	LatencyLast30m      *percentiles   `json:"latency_last_30m"`
	ThroughputLast30m   *percentiles   `json:"throughput_last_30m"`
	Live                map[string]any `json:"tollgate_live"`
}

type percentiles struct {
	P50 float64 `json:"p50"`
	P75 float64 `json:"p75"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// modelEndpoints serves GET /models/{author}/{slug} (the model object, as
// OpenAI SDKs' models.retrieve expects) and GET
// /models/{author}/{slug}/endpoints with live
// statistics from the router.
func (a *API) modelEndpoints(ctx *fasthttp.RequestCtx, rest []byte) {
	if !ctx.IsGet() {
		a.fail(ctx, routeModels, errMethod)
		return
	}
	id, endpoints := strings.CutSuffix(string(rest), "/endpoints")
	snap := a.o.Router.Snapshot()
	m, ok := snap.Model(id)
	if !ok {
		a.fail(ctx, routeModels, errorf(fasthttp.StatusNotFound, "model "+strconv.Quote(id)+" not found"))
		return
	}
	if !endpoints {
		// GET /models/{id}: OpenAI SDKs' models.retrieve.
		a.writeJSON(ctx, routeModels, modelObj(m))
		return
	}
	mo := modelObj(m)
	eps := make([]endpointObject, 0, len(m.Endpoints))
	for _, ep := range m.Endpoints {
		st := a.o.Router.Stats(ep)
		eo := endpointObject{
			Name:                ep.Provider + " | " + ep.UpstreamModelID(),
			ModelName:           mo.Name,
			ContextLength:       ep.EffectiveContextLength(),
			Pricing:             pricingOf(ep.Pricing),
			ProviderName:        ep.Provider,
			Tag:                 strings.ToLower(ep.Provider),
			Quantization:        ep.Quantization,
			SupportedParameters: ep.SupportedParameters,
			Live: map[string]any{
				"ewma_ttft_ms":         ms(st.TTFT),
				"ewma_latency_ms":      ms(st.Latency),
				"ewma_throughput_tps":  st.Throughput,
				"error_rate":           st.ErrorRate,
				"consecutive_failures": st.ConsecutiveFailures,
				"in_flight":            st.InFlight,
				"circuit":              st.Circuit.String(),
				"healthy":              st.Healthy,
			},
		}
		if eo.Quantization == "" {
			eo.Quantization = "unknown"
		}
		if eo.SupportedParameters == nil {
			eo.SupportedParameters = []string{}
		}
		if ep.MaxCompletionTokens > 0 {
			n := ep.MaxCompletionTokens
			eo.MaxCompletionTokens = &n
		}
		if ep.Disabled || !st.Healthy {
			eo.Status = -1
		}
		if w := st.Last30m; w.Requests > 0 {
			up := w.Uptime
			eo.UptimeLast30m = &up
			eo.LatencyLast30m = &percentiles{ms(w.Latency.P50), ms(w.Latency.P75), ms(w.Latency.P90), ms(w.Latency.P99)}
			eo.ThroughputLast30m = &percentiles{w.Throughput.P50, w.Throughput.P75, w.Throughput.P90, w.Throughput.P99}
		}
		eps = append(eps, eo)
	}
	a.writeJSON(ctx, routeModels, map[string]any{"data": map[string]any{
		"id": mo.ID, "name": mo.Name, "created": mo.Created, "description": mo.Description,
		"architecture": mo.Architecture, "endpoints": eps,
	}})
}

// providers serves GET /providers.
func (a *API) providers(ctx *fasthttp.RequestCtx) {
	snap := a.o.Router.Snapshot()
	type prov struct {
		Name          string  `json:"name"`
		Slug          string  `json:"slug"`
		PrivacyPolicy *string `json:"privacy_policy_url"`
		Terms         *string `json:"terms_of_service_url"`
		StatusPage    *string `json:"status_page_url"`
		Training      bool    `json:"may_train_on_data"`
		Retains       bool    `json:"retains_prompts"`
		ZDR           bool    `json:"zdr"`
		Disabled      bool    `json:"disabled"`
	}
	data := []prov{}
	for _, p := range snap.Providers() {
		data = append(data, prov{Name: p.Name, Slug: strings.ToLower(p.Name), Training: p.DataPolicy.Training,
			Retains: p.DataPolicy.RetainsPrompts, ZDR: p.DataPolicy.ZDR, Disabled: p.Disabled})
	}
	a.writeJSON(ctx, routeOther, map[string]any{"data": data})
}

func (a *API) writeJSON(ctx *fasthttp.RequestCtx, r routeID, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		a.fail(ctx, r, errorf(fasthttp.StatusInternalServerError, "cannot encode response"))
		return
	}
	a.m.route(r, fasthttp.StatusOK)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// healthz: the process is alive.
func (a *API) healthz(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(`{"status":"ok"}`)
}

// readyz: stores open, catalog loaded (and later: cluster joined).
func (a *API) readyz(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	if a.closing.Load() {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString(`{"status":"shutting_down"}`)
		return
	}
	if a.o.Ready != nil {
		if err := a.o.Ready(); err != nil {
			b, _ := json.Marshal(map[string]string{"status": "not_ready", "reason": err.Error()})
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBody(b)
			return
		}
	}
	if len(a.o.Router.Snapshot().Models()) == 0 {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString(`{"status":"not_ready","reason":"catalog is empty"}`)
		return
	}
	ctx.SetBodyString(`{"status":"ok"}`)
}

// hasAll reports whether a model supports every parameter in need. An
// endpoint that declares no parameters supports all of them (routing's rule).
func hasAll(m *routing.Model, have, need []string) bool {
	if len(need) == 0 {
		return true
	}
	for _, ep := range m.Endpoints {
		if len(ep.SupportedParameters) == 0 {
			return true
		}
	}
	for _, n := range need {
		found := false
		for _, h := range have {
			if h == n {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
