package api

// The account endpoints of the public listener, in OpenRouter's shapes:
// GET /key (/auth/key), GET /credits, GET /generation, the provisioning API
// (GET/POST /keys, GET/PATCH/DELETE /keys/{hash}), GET /activity and
// POST /analytics/query. Money leaves as JSON numbers of USD written from
// nano-USD without floating point.

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

var (
	errNoSuchKey        = errorf(fasthttp.StatusNotFound, "no such key")
	errNoSuchGeneration = errorf(fasthttp.StatusNotFound, "generation not found")
	errBadKeyHash       = errorf(fasthttp.StatusBadRequest, "invalid key hash: want the 64 hex digits shown as 'hash'")
)

// usd is a nano-USD amount that encodes as a JSON number of USD.
type usd int64

func (u usd) MarshalJSON() ([]byte, error) { return routing.AppendUSD(nil, int64(u)), nil }

func usdPtr(p *int64) *usd {
	if p == nil {
		return nil
	}
	u := usd(*p)
	return &u
}

// timeOrNull renders t as RFC 3339 UTC, or null for the zero time.
func timeOrNull(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

func limitReset(r ledger.LimitReset) *string {
	if r == ledger.LimitResetNever {
		return nil
	}
	s := string(r)
	return &s
}

// keyUsage is what GET /key and the provisioning objects share. The BYOK
// members are always zero (Tollgate has no bring-your-own-key billing);
// they are present because OpenRouter SDKs require them.
type keyUsage struct {
	Limit              *usd    `json:"limit"`
	LimitRemaining     *usd    `json:"limit_remaining"`
	LimitReset         *string `json:"limit_reset"`
	IncludeBYOKInLimit bool    `json:"include_byok_in_limit"`
	Usage              usd     `json:"usage"`
	UsageDaily         usd     `json:"usage_daily"`
	UsageWeekly        usd     `json:"usage_weekly"`
	UsageMonthly       usd     `json:"usage_monthly"`
	BYOKUsage          usd     `json:"byok_usage"`
	BYOKUsageDaily     usd     `json:"byok_usage_daily"`
	BYOKUsageWeekly    usd     `json:"byok_usage_weekly"`
	BYOKUsageMonthly   usd     `json:"byok_usage_monthly"`
	ExpiresAt          *string `json:"expires_at"`
}

func keyUsageOf(info ledger.KeyInfo) keyUsage {
	k := info.Key
	return keyUsage{
		Limit:          usdPtr(k.Limit),
		LimitRemaining: usdPtr(info.LimitRemaining),
		LimitReset:     limitReset(k.LimitReset),
		Usage:          usd(info.Usage),
		UsageDaily:     usd(info.UsageDaily),
		UsageWeekly:    usd(info.UsageWeekly),
		UsageMonthly:   usd(info.UsageMonthly),
		ExpiresAt:      timeOrNull(k.ExpiresAt),
	}
}

// keyObject is one key of the provisioning API (and of the admin API).
type keyObject struct {
	Hash       string `json:"hash"`
	Name       string `json:"name"`
	Label      string `json:"label"`
	Disabled   bool   `json:"disabled"`
	Management bool   `json:"management"`
	AccountID  string `json:"account_id"`
	keyUsage
	CreatedAt string  `json:"created_at"`
	UpdatedAt *string `json:"updated_at"` // null until the key is changed
}

func keyObjectOf(info ledger.KeyInfo) keyObject {
	k := info.Key
	o := keyObject{
		Hash: k.Hash.String(), Name: k.Name, Label: k.Label, Disabled: k.Disabled,
		Management: k.Management, AccountID: k.AccountID, keyUsage: keyUsageOf(info),
		CreatedAt: k.Created.UTC().Format(time.RFC3339),
	}
	if k.Updated.After(k.Created) {
		o.UpdatedAt = timeOrNull(k.Updated)
	}
	return o
}

// currentKey is GET /key.
type currentKey struct {
	Label string `json:"label"`
	Name  string `json:"name"`
	Hash  string `json:"hash"`
	keyUsage
	IsFreeTier        bool      `json:"is_free_tier"`
	IsProvisioningKey bool      `json:"is_provisioning_key"`
	IsManagementKey   bool      `json:"is_management_key"`
	AccountID         string    `json:"account_id"`
	RateLimit         rateLimit `json:"rate_limit"`
}

// rateLimit is OpenRouter's deprecated rate_limit member, kept because
// older clients decode it as required.
type rateLimit struct {
	Requests int    `json:"requests"`
	Interval string `json:"interval"`
	Note     string `json:"note"`
}

type dataReply struct {
	Data any `json:"data"`
}

// reply writes v as JSON with status, counted under the "other" route.
func (a *API) reply(ctx *fasthttp.RequestCtx, status int, v any) {
	if e := writeData(ctx, status, v); e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	a.m.route(routeOther, status)
}

// writeData writes v as the JSON response of ctx.
func writeData(ctx *fasthttp.RequestCtx, status int, v any) *Error {
	b, err := json.Marshal(v)
	if err != nil {
		return errorf(fasthttp.StatusInternalServerError, "cannot encode response")
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
	return nil
}

// internalError logs err and returns the client-visible 500.
func (a *API) internalError(what string, err error) *Error {
	a.log.Error("cannot "+what, "error", err)
	return errorf(fasthttp.StatusInternalServerError, "cannot "+what)
}

// managementKey authenticates a provisioning request: only management
// keys manage keys and read activity and analytics.
func (a *API) managementKey(ctx *fasthttp.RequestCtx) (*ledger.Key, *Error) {
	k, e := a.authenticate(ctx, false)
	if e != nil {
		return nil, e
	}
	if !k.Management {
		return nil, errNeedMgmt
	}
	return k, nil
}

// currentKey serves GET /key and GET /auth/key for any key.
func (a *API) currentKey(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		a.fail(ctx, routeOther, errMethod)
		return
	}
	k, e := a.authenticate(ctx, false)
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	total, _, err := a.o.Ledger.Credits(k.AccountID)
	if err != nil {
		a.fail(ctx, routeOther, a.internalError("read credits", err))
		return
	}
	info := a.o.Ledger.KeyInfo(k)
	a.reply(ctx, fasthttp.StatusOK, dataReply{currentKey{
		Label: k.Label, Name: k.Name, Hash: k.Hash.String(), keyUsage: keyUsageOf(info),
		// OpenRouter's free tier is an account that never bought credits.
		IsFreeTier:        total == 0,
		IsProvisioningKey: k.Management, IsManagementKey: k.Management,
		AccountID: k.AccountID,
		RateLimit: rateLimit{Requests: -1, Interval: "10s", Note: "This field is deprecated and safe to ignore."},
	}})
}

type creditsObject struct {
	TotalCredits usd `json:"total_credits"`
	TotalUsage   usd `json:"total_usage"`
}

// credits serves GET /credits for the key's account.
func (a *API) credits(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		a.fail(ctx, routeOther, errMethod)
		return
	}
	k, e := a.authenticate(ctx, false)
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	total, used, err := a.o.Ledger.Credits(k.AccountID)
	if err != nil {
		a.fail(ctx, routeOther, a.internalError("read credits", err))
		return
	}
	a.reply(ctx, fasthttp.StatusOK, dataReply{creditsObject{TotalCredits: usd(total), TotalUsage: usd(used)}})
}

// generationObject is GET /generation: OpenRouter's members plus
// Tollgate's attempts, tags, user, session, node and region.
type generationObject struct {
	ID                     string            `json:"id"`
	UpstreamID             string            `json:"upstream_id"`
	TotalCost              usd               `json:"total_cost"`
	Usage                  usd               `json:"usage"`
	UpstreamInferenceCost  usd               `json:"upstream_inference_cost"`
	CacheDiscount          *usd              `json:"cache_discount"`
	CreatedAt              string            `json:"created_at"`
	Model                  string            `json:"model"`
	UpstreamModel          string            `json:"upstream_model"`
	ProviderName           string            `json:"provider_name"`
	APIType                string            `json:"api_type"`
	APIPath                string            `json:"api_path"`
	App                    string            `json:"app"`
	AppID                  *int64            `json:"app_id"`
	Origin                 string            `json:"origin"`
	HTTPReferer            string            `json:"http_referer"`
	Streamed               bool              `json:"streamed"`
	Cancelled              bool              `json:"cancelled"`
	IsBYOK                 bool              `json:"is_byok"`
	Status                 int               `json:"status"`
	FinishReason           *string           `json:"finish_reason"`
	NativeFinishReason     *string           `json:"native_finish_reason"`
	Latency                float64           `json:"latency"`         // ms, request start to last byte
	GenerationTime         float64           `json:"generation_time"` // ms, first token to last byte
	TimeToFirstToken       *float64          `json:"time_to_first_token"`
	ModerationLatency      *float64          `json:"moderation_latency"`
	TokensPrompt           int64             `json:"tokens_prompt"`
	TokensCompletion       int64             `json:"tokens_completion"`
	NativeTokensPrompt     int64             `json:"native_tokens_prompt"`
	NativeTokensCompletion int64             `json:"native_tokens_completion"`
	NativeTokensReasoning  int64             `json:"native_tokens_reasoning"`
	NativeTokensCached     int64             `json:"native_tokens_cached"`
	NativeTokensCacheWrite int64             `json:"native_tokens_cache_write"`
	ExternalUser           string            `json:"external_user"`
	User                   string            `json:"user"`
	SessionID              string            `json:"session_id"`
	Tags                   []string          `json:"tags"`
	Node                   string            `json:"node"`
	Region                 string            `json:"region"`
	KeyHash                string            `json:"key_hash"`
	ProviderResponses      []providerAttempt `json:"provider_responses"`
	Attempts               []attemptObject   `json:"attempts"`
}

type providerAttempt struct {
	ProviderName string  `json:"provider_name"`
	Status       int     `json:"status"`
	Latency      float64 `json:"latency"`
}

type attemptObject struct {
	Provider string  `json:"provider"`
	Model    string  `json:"model"`
	Status   int     `json:"status"`
	Error    string  `json:"error,omitempty"`
	Latency  float64 `json:"latency"`
}

func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func apiType(path string) string {
	switch {
	case strings.HasSuffix(path, "/chat/completions"), strings.HasSuffix(path, "/completions"):
		return "completions"
	case strings.HasSuffix(path, "/embeddings"):
		return "embeddings"
	case strings.HasSuffix(path, "/messages"):
		return "messages"
	case strings.HasSuffix(path, "/responses"):
		return "responses"
	}
	return ""
}

func generationObjectOf(g *ledger.Generation) generationObject {
	o := generationObject{
		ID: g.ID, UpstreamID: g.UpstreamID,
		TotalCost: usd(g.Cost), Usage: usd(g.Cost), UpstreamInferenceCost: usd(g.Cost),
		CreatedAt: g.Created.UTC().Format(time.RFC3339Nano),
		Model:     g.Model, UpstreamModel: g.UpstreamModel, ProviderName: g.Provider,
		APIType: apiType(g.APIPath), APIPath: g.APIPath,
		App: g.App, Origin: g.Referer, HTTPReferer: g.Referer,
		Streamed: g.Streamed, Cancelled: g.Cancelled, Status: g.Status,
		FinishReason: strOrNull(g.FinishReason), NativeFinishReason: strOrNull(g.NativeFinishReason),
		Latency: ms(g.Latency), GenerationTime: ms(g.GenerationTime),
		TokensPrompt: g.PromptTokens, TokensCompletion: g.CompletionTokens,
		NativeTokensPrompt: g.PromptTokens, NativeTokensCompletion: g.CompletionTokens,
		NativeTokensReasoning: g.ReasoningTokens, NativeTokensCached: g.CachedTokens,
		NativeTokensCacheWrite: g.CacheWriteTokens,
		ExternalUser:           g.User, User: g.User, SessionID: g.SessionID,
		Tags: g.Tags, Node: g.Node, Region: g.Region, KeyHash: g.KeyHash.String(),
		ProviderResponses: make([]providerAttempt, len(g.Attempts)),
		Attempts:          make([]attemptObject, len(g.Attempts)),
	}
	if o.Tags == nil {
		o.Tags = []string{}
	}
	if g.TTFT > 0 {
		t := ms(g.TTFT)
		o.TimeToFirstToken = &t
	}
	served := false
	rest := g.Latency
	for i, at := range g.Attempts {
		o.ProviderResponses[i] = providerAttempt{ProviderName: at.Provider, Status: at.Status, Latency: ms(at.Latency)}
		o.Attempts[i] = attemptObject{Provider: at.Provider, Model: at.Model, Status: at.Status, Error: at.Error, Latency: ms(at.Latency)}
		served = served || at.Status >= 200 && at.Status < 300
		rest -= at.Latency
	}
	// The pipeline records the attempts that failed; the one that served a
	// successful request is the generation's own provider, and took the
	// time the failed ones did not.
	if !served && g.Provider != "" && g.Status >= 200 && g.Status < 300 {
		lat := ms(max(rest, 0))
		o.ProviderResponses = append(o.ProviderResponses, providerAttempt{ProviderName: g.Provider, Status: g.Status, Latency: lat})
		o.Attempts = append(o.Attempts, attemptObject{Provider: g.Provider, Model: g.Model, Status: g.Status, Latency: lat})
	}
	return o
}

// generation serves GET /generation?id=… for generations of the key's
// account recorded on this node.
func (a *API) generation(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		a.fail(ctx, routeOther, errMethod)
		return
	}
	k, e := a.authenticate(ctx, false)
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	g, e := a.lookupGeneration(ctx)
	if e == nil && g.AccountID != k.AccountID {
		// Another account's generation does not exist for this key.
		e = errNoSuchGeneration
	}
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	a.reply(ctx, fasthttp.StatusOK, dataReply{generationObjectOf(&g)})
}

// GenerationID is the generation id of GET /generation?id=: a Responses
// API id ("resp_" + the generation id) names its generation too.
func GenerationID(ctx *fasthttp.RequestCtx) string {
	return strings.TrimPrefix(string(ctx.QueryArgs().Peek("id")), "resp_")
}

// lookupGeneration reads the generation named by the query parameter id
// from this node's store; the caller checks who may see it.
func (a *API) lookupGeneration(ctx *fasthttp.RequestCtx) (ledger.Generation, *Error) {
	id := GenerationID(ctx)
	if id == "" {
		return ledger.Generation{}, errorf(fasthttp.StatusBadRequest, "missing query parameter 'id' (a generation id such as gen-…)")
	}
	l := a.o.Ledger
	node := ledger.GenerationNode(id)
	if node != "" && node != l.Node() {
		return ledger.Generation{}, &Error{Status: fasthttp.StatusNotFound,
			Message:  fmt.Sprintf("generation %s was served by node %q; this node (%q) cannot look it up", id, node, l.Node()),
			Metadata: map[string]any{"node": node}}
	}
	g, err := l.GetGeneration(id)
	if errors.Is(err, ledger.ErrGenerationNotFound) && node != "" {
		// Records reach the store with the group commit; a client asking
		// right after its response waits for that commit instead of
		// seeing a 404 for a generation that exists.
		if ferr := l.Flush(); ferr == nil {
			g, err = l.GetGeneration(id)
		}
	}
	switch {
	case errors.Is(err, ledger.ErrGenerationNotFound):
		return g, errNoSuchGeneration
	case err != nil:
		return g, a.internalError("read the generation", err)
	}
	return g, nil
}

// keys serves GET /keys (list) and POST /keys (create) for a management
// key's account.
func (a *API) keys(ctx *fasthttp.RequestCtx) {
	mk, e := a.managementKey(ctx)
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	switch {
	case ctx.IsGet():
		list, e := a.listKeys(mk.AccountID)
		if e != nil {
			a.fail(ctx, routeOther, e)
			return
		}
		a.reply(ctx, fasthttp.StatusOK, dataReply{list})
	case ctx.IsPost():
		opts, e := parseKeyCreate(ctx.PostBody(), false, time.Now())
		if e != nil {
			a.fail(ctx, routeOther, e)
			return
		}
		out, e := a.createKey(mk.AccountID, opts)
		if e != nil {
			a.fail(ctx, routeOther, e)
			return
		}
		a.reply(ctx, fasthttp.StatusCreated, out)
	default:
		a.fail(ctx, routeOther, errMethod)
	}
}

// keyByHash serves GET/PATCH/DELETE /keys/{hash} for keys of the
// management key's account; other accounts' keys do not exist for it.
func (a *API) keyByHash(ctx *fasthttp.RequestCtx, hash []byte) {
	if len(hash) == 0 {
		a.keys(ctx)
		return
	}
	mk, e := a.managementKey(ctx)
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	status, v, e := a.keyOp(ctx, string(hash), mk.AccountID)
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	a.reply(ctx, status, v)
}

// keyOp runs GET, PATCH or DELETE on one key. account, when not empty,
// is the only account whose keys the caller may see.
func (a *API) keyOp(ctx *fasthttp.RequestCtx, hash, account string) (int, any, *Error) {
	h, err := ledger.ParseKeyHash(hash)
	if err != nil {
		return 0, nil, errBadKeyHash
	}
	l := a.o.Ledger
	info, err := l.Key(h)
	switch {
	case errors.Is(err, ledger.ErrKeyNotFound):
		return 0, nil, errNoSuchKey
	case err != nil:
		return 0, nil, a.internalError("read the key", err)
	case account != "" && info.Key.AccountID != account:
		return 0, nil, errNoSuchKey
	}
	switch {
	case ctx.IsGet():
		return fasthttp.StatusOK, dataReply{keyObjectOf(info)}, nil
	case ctx.IsPatch():
		patch, e := parseKeyPatch(ctx.PostBody(), time.Now())
		if e != nil {
			return 0, nil, e
		}
		if _, err := l.UpdateKey(h, patch); err != nil {
			return 0, nil, a.keyError("update the key", err)
		}
		info, err = l.Key(h)
		if err != nil {
			return 0, nil, a.keyError("read the key", err)
		}
		return fasthttp.StatusOK, dataReply{keyObjectOf(info)}, nil
	case ctx.IsDelete():
		if err := l.DeleteKey(h); err != nil {
			return 0, nil, a.keyError("delete the key", err)
		}
		return fasthttp.StatusOK, map[string]bool{"deleted": true}, nil
	}
	return 0, nil, errMethod
}

// keyError maps a ledger error of a key operation.
func (a *API) keyError(what string, err error) *Error {
	switch {
	case errors.Is(err, ledger.ErrKeyNotFound):
		return errNoSuchKey
	case errors.Is(err, ledger.ErrAccountNotFound):
		return errNoSuchAccount
	case errors.Is(err, ledger.ErrInvalidArgument), errors.Is(err, ledger.ErrInvalidAmount):
		return errorf(fasthttp.StatusBadRequest, strings.TrimPrefix(err.Error(), "ledger: "))
	}
	return a.internalError(what, err)
}

func (a *API) listKeys(account string) ([]keyObject, *Error) {
	infos, err := a.o.Ledger.ListKeys(account)
	if err != nil {
		return nil, a.keyError("list keys", err)
	}
	out := make([]keyObject, len(infos))
	for i, info := range infos {
		out[i] = keyObjectOf(info)
	}
	return out, nil
}

// createdKey is the answer to a key creation: the only time the secret
// is shown.
type createdKey struct {
	Data keyObject `json:"data"`
	Key  string    `json:"key"`
}

func (a *API) createKey(account string, opts ledger.KeyOptions) (createdKey, *Error) {
	l := a.o.Ledger
	secret, k, err := l.CreateKey(account, opts)
	if err != nil {
		return createdKey{}, a.keyError("create the key", err)
	}
	return createdKey{Data: keyObjectOf(l.KeyInfo(k)), Key: secret}, nil
}

// decodeObject decodes a JSON object body into its members; an empty body
// is an empty object. Unknown members are the caller's to ignore.
func decodeObject(body []byte) (map[string]json.RawMessage, *Error) {
	m := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(body)) == 0 {
		return m, nil
	}
	if err := provider.CheckJSON(body); err != nil {
		return nil, errorf(fasthttp.StatusBadRequest, "the body must be a JSON object: "+err.Error())
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, errorf(fasthttp.StatusBadRequest, "the body must be a JSON object: "+err.Error())
	}
	// A repeated member is an error, as in inference bodies: which of two
	// "limit"s a decoder keeps is not for a client to guess.
	n := 0
	_ = peek.Members(body, func(peek.Member) error { n++; return nil })
	if n != len(m) {
		seen := make(map[string]bool, n)
		var dup string
		_ = peek.Members(body, func(mb peek.Member) error {
			k := string(peek.Key(mb.Key))
			if seen[k] && dup == "" {
				dup = k
			}
			seen[k] = true
			return nil
		})
		return nil, errorf(fasthttp.StatusBadRequest, fmt.Sprintf("duplicate key %q in request body", dup))
	}
	return m, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func badField(field, want string) *Error {
	return errorf(fasthttp.StatusBadRequest, field+": want "+want)
}

func fieldString(m map[string]json.RawMessage, field string) (string, bool, *Error) {
	raw, ok := m[field]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, badField(field, "a string")
	}
	return s, true, nil
}

func fieldBool(m map[string]json.RawMessage, field string) (bool, bool, *Error) {
	raw, ok := m[field]
	if !ok || isNull(raw) {
		return false, false, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, false, badField(field, "true or false")
	}
	return b, true, nil
}

// fieldUSD reads a non-negative USD amount given as a JSON number or a
// decimal string, exactly (no float64 on the way to nano-USD).
func fieldUSD(raw json.RawMessage, field string) (int64, *Error) {
	s := string(bytes.TrimSpace(raw))
	if len(s) >= 2 && s[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, badField(field, "a non-negative USD amount such as 12.5")
		}
	}
	n, err := routing.ParseUSD(s)
	if err != nil {
		return 0, badField(field, "a non-negative USD amount such as 12.5")
	}
	return n, nil
}

// fieldLimitReset reads limit_reset; present reports whether the member
// was sent (null and "" mean never).
func fieldLimitReset(m map[string]json.RawMessage) (r ledger.LimitReset, present bool, e *Error) {
	if _, present = m["limit_reset"]; !present {
		return "", false, nil
	}
	s, _, e := fieldString(m, "limit_reset")
	if e != nil {
		return "", false, e
	}
	r = ledger.LimitReset(strings.ToLower(s))
	if r.Validate() != nil {
		return "", false, badField("limit_reset", `"daily", "weekly", "monthly" or null (never resets)`)
	}
	return r, true, nil
}

// fieldExpiry reads expires_at: an RFC 3339 time in the future, or null
// (never expires).
func fieldExpiry(m map[string]json.RawMessage, now time.Time) (time.Time, bool, *Error) {
	raw, present := m["expires_at"]
	if !present {
		return time.Time{}, false, nil
	}
	if isNull(raw) {
		return time.Time{}, true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, false, badField("expires_at", "an RFC 3339 time such as 2030-01-31T00:00:00Z, or null")
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, false, badField("expires_at", "an RFC 3339 time such as 2030-01-31T00:00:00Z, or null")
	}
	if !t.After(now) {
		return time.Time{}, false, errorf(fasthttp.StatusBadRequest, "expires_at must be in the future")
	}
	return t.UTC(), true, nil
}

// parseKeyCreate reads {name, limit, limit_reset, expires_at, disabled}
// (and management, when the caller may issue management keys). The
// provisioning API requires a name, as OpenRouter does.
func parseKeyCreate(body []byte, admin bool, now time.Time) (ledger.KeyOptions, *Error) {
	var opts ledger.KeyOptions
	m, e := decodeObject(body)
	if e != nil {
		return opts, e
	}
	var ok bool
	if opts.Name, ok, e = fieldString(m, "name"); e != nil {
		return opts, e
	}
	if !admin && (!ok || strings.TrimSpace(opts.Name) == "") {
		return opts, errorf(fasthttp.StatusBadRequest, "name is required")
	}
	if raw, present := m["limit"]; present && !isNull(raw) {
		n, e := fieldUSD(raw, "limit")
		if e != nil {
			return opts, e
		}
		opts.Limit = &n
	}
	if opts.LimitReset, _, e = fieldLimitReset(m); e != nil {
		return opts, e
	}
	if opts.ExpiresAt, _, e = fieldExpiry(m, now); e != nil {
		return opts, e
	}
	if opts.Disabled, _, e = fieldBool(m, "disabled"); e != nil {
		return opts, e
	}
	mgmt, _, e := fieldBool(m, "management")
	if e != nil {
		return opts, e
	}
	if mgmt && !admin {
		return opts, errorf(fasthttp.StatusForbidden, "management keys are issued by the operator through the admin API")
	}
	opts.Management = mgmt
	return opts, nil
}

// parseKeyPatch reads {name, disabled, limit (null removes), limit_reset
// (null: never), expires_at (null: never)}; absent members stay as they are.
func parseKeyPatch(body []byte, now time.Time) (ledger.KeyPatch, *Error) {
	var p ledger.KeyPatch
	m, e := decodeObject(body)
	if e != nil {
		return p, e
	}
	if s, ok, e := fieldString(m, "name"); e != nil {
		return p, e
	} else if ok {
		p.Name = &s
	}
	if b, ok, e := fieldBool(m, "disabled"); e != nil {
		return p, e
	} else if ok {
		p.Disabled = &b
	}
	if raw, present := m["limit"]; present {
		p.SetLimit = true
		if !isNull(raw) {
			n, e := fieldUSD(raw, "limit")
			if e != nil {
				return p, e
			}
			p.Limit = &n
		}
	}
	if r, ok, e := fieldLimitReset(m); e != nil {
		return p, e
	} else if ok {
		p.LimitReset = &r
	}
	if t, ok, e := fieldExpiry(m, now); e != nil {
		return p, e
	} else if ok {
		p.ExpiresAt = &t
	}
	return p, nil
}

// activityRow is one row of OpenRouter's GET /activity. There are no
// endpoint UUIDs in Tollgate; endpoint_id names provider and model.
type activityRow struct {
	Date               string `json:"date"`
	Model              string `json:"model"`
	ModelPermaslug     string `json:"model_permaslug"`
	EndpointID         string `json:"endpoint_id"`
	ProviderName       string `json:"provider_name"`
	Usage              usd    `json:"usage"`
	BYOKUsageInference usd    `json:"byok_usage_inference"`
	Requests           int64  `json:"requests"`
	PromptTokens       int64  `json:"prompt_tokens"`
	CompletionTokens   int64  `json:"completion_tokens"`
	ReasoningTokens    int64  `json:"reasoning_tokens"`
	CachedTokens       int64  `json:"cached_tokens"`
}

// activityDays is how many UTC days (today included) GET /activity covers
// without ?date=.
const activityDays = 30

// activity serves GET /activity[?date=YYYY-MM-DD]: the account's usage per
// UTC day, model and provider.
func (a *API) activity(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		a.fail(ctx, routeOther, errMethod)
		return
	}
	k, e := a.managementKey(ctx)
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -(activityDays-1)), now
	if d := ctx.QueryArgs().Peek("date"); len(d) > 0 {
		day, err := time.Parse(time.DateOnly, string(d))
		if err != nil {
			a.fail(ctx, routeOther, badField("date", "a UTC day as YYYY-MM-DD"))
			return
		}
		from, to = day, day.AddDate(0, 0, 1)
	}
	l := a.o.Ledger
	// Rollups reach the store with the group commit: wait for it so the
	// caller sees the requests it just made.
	if err := l.Flush(); err != nil {
		a.fail(ctx, routeOther, a.internalError("flush the ledger", err))
		return
	}
	res, err := l.Query(ledger.ActivityQuery(k.AccountID, from, to))
	if err != nil {
		a.fail(ctx, routeOther, a.internalError("read activity", err))
		return
	}
	if len(ctx.Request.Header.Peek(HeaderLocalOnly)) > 0 {
		b, err := json.Marshal(res)
		if err != nil {
			a.fail(ctx, routeOther, a.internalError("encode activity", err))
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
		return
	}
	if a.o.FanOut != nil {
		res, _ = a.o.FanOut(ctx, res)
	}
	rows := ledger.ActivityRows(res)
	out := make([]activityRow, len(rows))
	for i, r := range rows {
		out[i] = activityRow{
			Date: r.Date, Model: r.Model, ModelPermaslug: r.Model, EndpointID: r.Provider + "/" + r.Model,
			ProviderName: r.Provider, Usage: usd(r.Usage), Requests: r.Requests,
			PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
			ReasoningTokens: r.ReasoningTokens, CachedTokens: r.CachedTokens,
		}
	}
	a.reply(ctx, fasthttp.StatusOK, dataReply{out})
}

// analyticsRequest is the body of POST /analytics/query.
//
//	{"from": "2025-01-01T00:00:00Z" | 1735689600, "to": …,
//	 "granularity": "minute"|"hour"|"day",
//	 "group_by": ["tag", "model"], "filters": {"tag": ["team:search"]},
//	 "metrics": ["requests", "cost", "latency_p95"], "account": "…" (admin)}
//
// Defaults: to = now; from = to − 24 h (30 days for day granularity);
// granularity hour; every metric.
type analyticsRequest struct {
	From        json.RawMessage       `json:"from"`
	To          json.RawMessage       `json:"to"`
	Granularity string                `json:"granularity"`
	GroupBy     stringList            `json:"group_by"`
	Filters     map[string]stringList `json:"filters"`
	Metrics     stringList            `json:"metrics"`
	Account     string                `json:"account"`
}

// stringList accepts a JSON array of strings or a single string.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = stringList{one}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("want a string or an array of strings")
	}
	*s = list
	return nil
}

// maxAnalyticsBuckets bounds the time buckets one query may span.
const maxAnalyticsBuckets = 10_000

func dimensionNames() string {
	names := make([]string, len(ledger.Dimensions))
	for i, d := range ledger.Dimensions {
		names[i] = string(d)
	}
	return strings.Join(names, ", ")
}

func metricNames() string {
	names := make([]string, len(ledger.Metrics))
	for i, m := range ledger.Metrics {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

func parseDimension(s string) (ledger.Dimension, bool) {
	for _, d := range ledger.Dimensions {
		if string(d) == s {
			return d, true
		}
	}
	return "", false
}

// queryTime reads an RFC 3339 string or a number of Unix seconds.
func queryTime(raw json.RawMessage, field string, def time.Time) (time.Time, *Error) {
	if len(raw) == 0 || isNull(raw) {
		return def, nil
	}
	want := "an RFC 3339 time (2025-01-31T00:00:00Z) or Unix seconds"
	s := string(bytes.TrimSpace(raw))
	if s[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return time.Time{}, badField(field, want)
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, badField(field, want)
		}
		return t.UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 || sec > 1<<40 {
		return time.Time{}, badField(field, want)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// parseAnalytics turns a request body into a ledger query; the caller
// sets Account. account is the request's "account" member.
func parseAnalytics(body []byte, now time.Time) (q ledger.AnalyticsQuery, account string, e *Error) {
	var req analyticsRequest
	m, e := decodeObject(body)
	if e != nil {
		return q, "", errorf(fasthttp.StatusBadRequest, "invalid analytics query: "+e.Message)
	}
	// Member by member, so a type error names its field.
	for k, raw := range m {
		var dst any
		want := "a string"
		switch k {
		case "from":
			req.From = raw
		case "to":
			req.To = raw
		case "granularity":
			dst = &req.Granularity
		case "group_by":
			dst, want = &req.GroupBy, "a dimension or an array of dimensions"
		case "filters":
			dst, want = &req.Filters, "an object of dimension: value or [values]"
		case "metrics":
			dst, want = &req.Metrics, "a metric or an array of metrics"
		case "account":
			dst = &req.Account
		}
		if dst != nil {
			if err := json.Unmarshal(raw, dst); err != nil {
				return q, "", errorf(fasthttp.StatusBadRequest, "invalid analytics query: "+k+": want "+want)
			}
		}
	}
	gran := req.Granularity
	if gran == "" {
		gran = "hour"
	}
	g, err := ledger.ParseGranularity(gran)
	if err != nil {
		return q, "", badField("granularity", `"minute", "hour" or "day"`)
	}
	q.Granularity = g
	if q.To, e = queryTime(req.To, "to", now); e != nil {
		return q, "", e
	}
	span := 24 * time.Hour
	if g == ledger.GranularityDay {
		span = 30 * 24 * time.Hour
	}
	if q.From, e = queryTime(req.From, "from", q.To.Add(-span)); e != nil {
		return q, "", e
	}
	if !q.From.Before(q.To) {
		return q, "", errorf(fasthttp.StatusBadRequest, "from must be before to")
	}
	width := time.Hour
	switch g {
	case ledger.GranularityMinute:
		width = time.Minute
	case ledger.GranularityDay:
		width = 24 * time.Hour
	}
	if n := q.To.Sub(q.From.Truncate(width)) / width; n > maxAnalyticsBuckets {
		return q, "", errorf(fasthttp.StatusBadRequest, fmt.Sprintf(
			"the range spans %d %s buckets, more than %d: narrow it or use a coarser granularity", n, g, maxAnalyticsBuckets))
	}
	for _, s := range req.GroupBy {
		d, ok := parseDimension(s)
		if !ok {
			return q, "", errorf(fasthttp.StatusBadRequest, fmt.Sprintf("group_by: unknown dimension %q (known: %s)", s, dimensionNames()))
		}
		for _, o := range q.GroupBy {
			if o == d {
				return q, "", errorf(fasthttp.StatusBadRequest, fmt.Sprintf("group_by: dimension %q listed twice", s))
			}
		}
		q.GroupBy = append(q.GroupBy, d)
	}
	if len(req.Filters) > 0 {
		q.Filters = make(map[ledger.Dimension][]string, len(req.Filters))
		for s, vals := range req.Filters {
			d, ok := parseDimension(s)
			if !ok {
				return q, "", errorf(fasthttp.StatusBadRequest, fmt.Sprintf("filters: unknown dimension %q (known: %s)", s, dimensionNames()))
			}
			if len(vals) == 0 {
				return q, "", errorf(fasthttp.StatusBadRequest, fmt.Sprintf("filters.%s: list at least one value", s))
			}
			q.Filters[d] = vals
		}
	}
	for _, s := range req.Metrics {
		found := false
		for _, m := range ledger.Metrics {
			if string(m) == s {
				q.Metrics = append(q.Metrics, m)
				found = true
				break
			}
		}
		if !found {
			return q, "", errorf(fasthttp.StatusBadRequest, fmt.Sprintf("metrics: unknown metric %q (known: %s)", s, metricNames()))
		}
	}
	if len(q.Metrics) == 0 {
		q.Metrics = ledger.Metrics
	}
	return q, req.Account, nil
}

// runAnalytics answers q from this node and renders it as JSON or, when
// the client accepts text/csv, as CSV.
func (a *API) runAnalytics(ctx *fasthttp.RequestCtx, q ledger.AnalyticsQuery) *Error {
	l := a.o.Ledger
	if err := l.Flush(); err != nil {
		return a.internalError("flush the ledger", err)
	}
	res, err := l.Query(q)
	if errors.Is(err, ledger.ErrInvalidArgument) {
		return errorf(fasthttp.StatusBadRequest, strings.TrimPrefix(err.Error(), "ledger: "))
	}
	if err != nil {
		return a.internalError("query analytics", err)
	}
	// A peer asking for this node's share gets the raw result to merge.
	if len(ctx.Request.Header.Peek(HeaderLocalOnly)) > 0 {
		b, err := json.Marshal(res)
		if err != nil {
			return a.internalError("encode analytics", err)
		}
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
		return nil
	}
	var missing []string
	if a.o.FanOut != nil {
		res, missing = a.o.FanOut(ctx, res)
	}
	if bytes.Contains(ctx.Request.Header.Peek(fasthttp.HeaderAccept), []byte("text/csv")) {
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetContentType("text/csv; charset=utf-8")
		ctx.SetBody(analyticsCSV(&q, &res))
		return nil
	}
	nodes := res.Nodes
	if nodes == nil {
		nodes = []string{}
	}
	groupBy := q.GroupBy
	if groupBy == nil {
		groupBy = []ledger.Dimension{}
	}
	out := analyticsResult{
		From: q.From.Format(time.RFC3339), To: q.To.Format(time.RFC3339),
		Granularity: q.Granularity.String(), GroupBy: groupBy, Metrics: q.Metrics,
		Nodes: nodes, MissingNodes: missing, PerTag: res.PerTag, Rows: make([]analyticsRowJSON, len(res.Rows)),
	}
	if out.MissingNodes == nil {
		out.MissingNodes = []string{}
	}
	for i := range res.Rows {
		out.Rows[i] = analyticsRowJSON{q: &q, r: &res.Rows[i]}
	}
	if e := writeData(ctx, fasthttp.StatusOK, dataReply{out}); e != nil {
		return e
	}
	return nil
}

type analyticsResult struct {
	From        string             `json:"from"`
	To          string             `json:"to"`
	Granularity string             `json:"granularity"`
	GroupBy     []ledger.Dimension `json:"group_by"`
	Metrics     []ledger.Metric    `json:"metrics"`
	// Nodes lists the nodes whose rollups the rows hold.
	Nodes []string `json:"nodes"`
	// MissingNodes lists cluster members that did not answer: the rows
	// lack their share.
	MissingNodes []string `json:"missing_nodes"`
	// PerTag: the rows come from per-tag rollups; a request with n tags
	// counts in n groups.
	PerTag bool               `json:"per_tag"`
	Rows   []analyticsRowJSON `json:"rows"`
}

// analyticsRowJSON renders one row as
// {"bucket":"…","group":{"tag":"team:search"},"stats":{"requests":3,…}}
// with the stats in the order the query asked for: cost in USD, latencies
// in milliseconds, the rest as counts.
type analyticsRowJSON struct {
	q *ledger.AnalyticsQuery
	r *ledger.AnalyticsRow
}

func (j analyticsRowJSON) MarshalJSON() ([]byte, error) {
	b := []byte(`{"bucket":`)
	b = peek.AppendString(b, j.r.Bucket.UTC().Format(time.RFC3339))
	b = append(b, `,"group":{`...)
	for i, d := range j.q.GroupBy {
		if i > 0 {
			b = append(b, ',')
		}
		b = peek.AppendString(b, string(d))
		b = append(b, ':')
		b = peek.AppendString(b, j.r.Group[i])
	}
	b = append(b, `},"stats":{`...)
	for i, m := range j.q.Metrics {
		if i > 0 {
			b = append(b, ',')
		}
		b = peek.AppendString(b, string(m))
		b = append(b, ':')
		b = appendMetric(b, m, &j.r.Stats)
	}
	return append(b, "}}"...), nil
}

func appendMetric(b []byte, m ledger.Metric, s *ledger.Stats) []byte {
	v, _ := s.Value(m)
	switch m {
	case ledger.MetricCost:
		return routing.AppendUSD(b, v)
	case ledger.MetricLatencyAvg, ledger.MetricLatencyP50, ledger.MetricLatencyP95,
		ledger.MetricTTFTAvg, ledger.MetricTTFTP50, ledger.MetricTTFTP95:
		return strconv.AppendFloat(b, ms(time.Duration(v)), 'f', -1, 64)
	}
	return strconv.AppendInt(b, v, 10)
}

func analyticsCSV(q *ledger.AnalyticsQuery, res *ledger.AnalyticsResult) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	rec := []string{"bucket"}
	for _, d := range q.GroupBy {
		rec = append(rec, string(d))
	}
	for _, m := range q.Metrics {
		rec = append(rec, string(m))
	}
	_ = w.Write(rec)
	var num []byte
	for i := range res.Rows {
		r := &res.Rows[i]
		rec = append(rec[:0], r.Bucket.UTC().Format(time.RFC3339))
		rec = append(rec, r.Group...)
		for _, m := range q.Metrics {
			num = appendMetric(num[:0], m, &r.Stats)
			rec = append(rec, string(num))
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes()
}

// analyticsQuery serves POST /analytics/query for a management key's own
// account.
func (a *API) analyticsQuery(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		a.fail(ctx, routeOther, errMethod)
		return
	}
	k, e := a.managementKey(ctx)
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	q, account, e := parseAnalytics(ctx.PostBody(), time.Now().UTC())
	if e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	if account != "" && account != k.AccountID {
		if acct, err := a.o.Ledger.Account(k.AccountID); err != nil || acct.Name != account {
			a.fail(ctx, routeOther, errorf(fasthttp.StatusForbidden, "a management key queries its own account only"))
			return
		}
	}
	q.Account = k.AccountID
	if e := a.runAnalytics(ctx, q); e != nil {
		a.fail(ctx, routeOther, e)
		return
	}
	a.m.route(routeOther, fasthttp.StatusOK)
}
