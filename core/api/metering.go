package api

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// defaultMaxTokens is the completion size reserved for when a request sets
// no max_tokens and the endpoint declares no max_completion_tokens.
const defaultMaxTokens = 4096

// attribution copies what analytics groups by from the request headers:
// app (X-Title / X-OpenRouter-Title), referer, tags header, API path.
func (st *reqState) attribution(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	if v := h.Peek("X-Title"); len(v) > 0 {
		st.app = string(v)
	} else if v := h.Peek("X-OpenRouter-Title"); len(v) > 0 {
		st.app = string(v)
	}
	if v := h.Peek("HTTP-Referer"); len(v) > 0 {
		st.referer = string(v)
	}
	st.tagHdr = append(st.tagHdr[:0], h.Peek("X-Tollgate-Tags")...)
	st.apiPath = apiPath(ctx.Path())
}

// apiPath returns a constant string for the known paths (no allocation).
func apiPath(p []byte) string {
	for _, k := range [...]string{
		"/api/v1/chat/completions", "/v1/chat/completions",
		"/api/v1/completions", "/v1/completions",
		"/api/v1/embeddings", "/v1/embeddings",
		"/api/v1/messages", "/v1/messages",
		"/api/v1/responses", "/v1/responses",
	} {
		if string(p) == k {
			return k
		}
	}
	return string(p)
}

// maxCost is the most the request can cost on any of its candidates: the
// prompt estimate at the input price plus max_tokens (or the endpoint's
// limit, else defaultMaxTokens, within the context) at the output price.
func (st *reqState) maxCost() int64 {
	var worst int64
	st.maxTok = 0
	for _, c := range st.cands {
		ep := c.Endpoint
		n := int(st.chat.MaxTokens)
		if n == 0 {
			n = ep.MaxCompletionTokens
			if n == 0 {
				n = defaultMaxTokens
			}
			if ctxLen := ep.EffectiveContextLength(); ctxLen > 0 && ctxLen-st.rreq.PromptTokens < n {
				n = max(ctxLen-st.rreq.PromptTokens, 1)
			}
		}
		if st.kind == peek.KindEmbedding {
			n = 0
		}
		cost := ep.Pricing.Cost(routing.Usage{PromptTokens: st.rreq.PromptTokens, CompletionTokens: n})
		if cost > worst {
			worst, st.maxTok = cost, n
		}
	}
	return worst
}

// reserve holds the request's maximum cost, or explains in a 402 how many
// tokens the account or key can still afford.
func (a *API) reserve(st *reqState) error {
	maxCost := st.maxCost()
	res, err := a.o.Ledger.Reserve(st.principal, maxCost)
	if err == nil {
		st.resv = res
		return nil
	}
	var le *ledger.LimitError
	switch {
	case errors.As(err, &le):
		return st.limitError(le)
	case errors.Is(err, ledger.ErrManagementKey):
		return errMgmtKey
	case errors.Is(err, ledger.ErrKeyDisabled):
		return errKeyDisabled
	case errors.Is(err, ledger.ErrKeyExpired):
		return errKeyExpired
	case errors.Is(err, ledger.ErrKeyNotFound):
		return errBadKey
	}
	return fmt.Errorf("cannot reserve credits: %w", err)
}

func (st *reqState) limitError(le *ledger.LimitError) *Error {
	// How many completion tokens the affordable amount covers on the
	// endpoint the reservation was sized for.
	ep := st.cands[0].Endpoint
	for _, c := range st.cands {
		if c.Endpoint.Pricing.Cost(routing.Usage{PromptTokens: st.rreq.PromptTokens, CompletionTokens: st.maxTok}) == le.Requested {
			ep = c.Endpoint
			break
		}
	}
	prompt := ep.Pricing.Cost(routing.Usage{PromptTokens: st.rreq.PromptTokens})
	tokens := int64(0)
	if ep.Pricing.Completion > 0 && le.Affordable > prompt {
		tokens = (le.Affordable - prompt) * 1_000_000 / ep.Pricing.Completion
	}
	what := "insufficient credits"
	hint := "Add credits to the account or lower max_tokens."
	switch {
	case errors.Is(le, ledger.ErrKeyLimit):
		what, hint = "key limit exceeded", "Raise the key's limit, wait for its reset, or lower max_tokens."
	case errors.Is(le, ledger.ErrPartitionAllowance):
		what, hint = "this node is cut off from the cluster majority and the key's partition allowance is spent", "Retry on another node or after the partition heals."
	}
	msg := fmt.Sprintf("%s: this request can cost up to $%s (%d max tokens), but can only afford %d completion tokens. %s",
		what, nanoUSD(le.Requested), st.maxTok, tokens, hint)
	return &Error{Status: fasthttp.StatusPaymentRequired, Message: msg, Metadata: map[string]any{
		"requested_usd":        nanoUSD(le.Requested),
		"affordable_usd":       nanoUSD(le.Affordable),
		"affordable_tokens":    tokens,
		"requested_max_tokens": st.maxTok,
		"reason":               strings.TrimPrefix(le.Reason.Error(), "ledger: "),
	}}
}

// settle closes the reservation with the real cost (0 when nothing was
// served) and records the generation. It is called exactly once per
// request that reached the ranking; the ledger ignores repeats.
func (st *reqState) settle(status int, res *provider.Result, cancelled bool, ttft time.Duration) {
	a := st.a
	g := &st.gen
	*g = ledger.Generation{
		ID: st.genID, Created: st.start, Status: status,
		APIPath: st.apiPath, App: st.app, Referer: st.referer,
		Streamed: st.chat.Stream, Cancelled: cancelled,
		Latency: time.Since(st.start), TTFT: ttft,
	}
	if len(st.chat.User) > 0 {
		g.User = string(st.chat.User)
	}
	if len(st.chat.SessionID) > 0 {
		g.SessionID = string(st.chat.SessionID)
	}
	g.Tags = st.tags()
	if st.ep != nil {
		g.Model, g.Provider, g.UpstreamModel = st.ep.Model, st.up.Name, st.ep.UpstreamModelID()
	} else if len(st.cands) > 0 {
		g.Model = st.cands[0].Endpoint.Model
	}
	if len(st.attempt) > 0 {
		g.Attempts = make([]ledger.Attempt, len(st.attempt))
		for i, at := range st.attempt {
			g.Attempts[i] = ledger.Attempt{Provider: at.Provider, Model: at.Model, Status: at.Status, Error: at.Error,
				Latency: time.Duration(at.LatencyMs * float64(time.Millisecond))}
			if at.vendorMsg {
				// Providers echo prompts in their errors; keep only what
				// the gateway itself knows about the failure.
				g.Attempts[i].Error = "provider error (" + at.kind.String() + "); its message is not stored"
			}
		}
		if g.Provider == "" {
			g.Provider = st.attempt[len(st.attempt)-1].Provider
		}
	}
	var cost int64
	if res != nil && st.ep != nil {
		u := res.Usage
		cost = st.ep.Pricing.Cost(u)
		g.PromptTokens, g.CompletionTokens = int64(u.PromptTokens), int64(u.CompletionTokens)
		g.CachedTokens, g.CacheWriteTokens, g.ReasoningTokens = int64(u.CachedTokens), int64(u.CacheWriteTokens), int64(u.ReasoningTokens)
		g.FinishReason, g.NativeFinishReason = res.Finish, res.Native
		if ttft > 0 {
			g.GenerationTime = g.Latency - ttft
		}
	}
	if a.limits != nil {
		a.limits.addTokens(st.principal.Hash, int(g.PromptTokens+g.CompletionTokens), time.Now())
	}
	if st.tel != nil {
		st.traceSettle(status, res, cost, cancelled, ttft)
	}
	if err := a.o.Ledger.Settle(st.resv, cost, g); err != nil {
		a.log.Error("cannot settle generation", "gen", st.genID, "cost_nano", cost, "error", err)
	}
}

// tags merges X-Tollgate-Tags and metadata.tags, deduplicated; a new slice
// (the ledger's writer keeps it after the request).
func (st *reqState) tags() []string {
	var raw [16][]byte
	list := peek.SplitTags(st.tagHdr, raw[:0])
	list = peek.Tags(st.chat.Metadata, list)
	if len(list) == 0 {
		return nil
	}
	out := make([]string, 0, len(list))
	for _, t := range list {
		s := strings.TrimSpace(string(t))
		if s == "" || len(s) > 128 {
			continue
		}
		dup := false
		for _, o := range out {
			if o == s {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// free reports whether the request can only be served free: every ranked
// candidate has a zero price (":free" variants, free models).
func (st *reqState) free() bool {
	for _, c := range st.cands {
		if !c.Endpoint.Pricing.IsFree() {
			return false
		}
	}
	return len(st.cands) > 0
}
