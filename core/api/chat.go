package api

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/core/telemetry"
	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// reqState is the pooled per-request state of the chat pipeline. A
// streaming request hands it to the stream writer, which returns it to the
// pool when the stream ends; nothing in it may alias the RequestCtx then.
type reqState struct {
	a       *API
	body    []byte // copy of the client body (streams outlive the ctx)
	chat    peek.Chat
	rreq    routing.Request
	prefs   routing.Preferences
	models  []string
	cands   []routing.Candidate
	call    provider.Call
	out     []byte
	pend    []byte // stream frames not yet written (writeStream)
	attempt []attemptInfo

	// per-request facts
	kind      peek.Kind
	route     routeID
	edge      edgeKind
	edgeSt    edgeStream // per-stream converter for a non-OpenAI edge
	scratch   []byte
	start     time.Time
	upstream  time.Duration // time spent waiting on upstreams
	genID     string
	principal *ledger.Key
	resv      ledger.Reservation
	maxTok    int // completion tokens the reservation covers
	gen       ledger.Generation

	// attribution, copied from the request (the generation record keeps it)
	app, referer string
	tagHdr       []byte
	apiPath      string

	// the winning attempt, for streams
	ep      *routing.Endpoint
	up      *provider.Upstream
	att     routing.Attempt
	resp    *fasthttp.Response
	stream  provider.Stream
	scanner *sse.Scanner
	conn    net.Conn

	// guarded by mu: the stream writer and the watcher share the client
	// writer.
	mu        sync.Mutex
	w         io.Writer // the client, during writeStream
	lastWrite time.Time
	// writeDeadline is the client conn's write deadline (sendLocked).
	writeDeadline time.Time
	done          bool        // the writer finished; the watcher must not touch w
	gone          atomic.Bool // the client went away (read without mu by the writer loop)
	aborted       bool        // aborted by shutdown
	sbody         streamBody  // the response body of a stream

	tel *telemetry.Request // the request's spans; nil when not tracing
}

type attemptInfo struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Status   int    `json:"status,omitempty"`
	Error    string `json:"error"`
	Raw      string `json:"raw,omitempty"`
	// LatencyMs is how long the attempt took.
	LatencyMs float64 `json:"latency_ms"`
	kind      routing.ErrorKind
	retryMs   int64
	// vendorMsg: Error is the provider's own text, which may quote the
	// prompt; the client sees it, the generation record does not.
	vendorMsg bool
}

func newReqState(a *API) any {
	st := &reqState{a: a, scanner: sse.NewScanner(nil, 0)}
	st.scanner.BeforeRead(st.flushPending)
	return st
}

func (st *reqState) reset() {
	st.body = st.body[:0]
	st.models = st.models[:0]
	st.cands = st.cands[:0]
	st.out = st.out[:0]
	st.pend = st.pend[:0]
	st.attempt = st.attempt[:0]
	st.rreq = routing.Request{}
	st.prefs = routing.Preferences{}
	st.call = provider.Call{Scratch: st.call.Scratch[:0]}
	st.upstream = 0
	st.genID = ""
	st.principal = nil
	st.resv = ledger.Reservation{}
	st.gen = ledger.Generation{}
	st.app, st.referer, st.apiPath = "", "", ""
	st.tagHdr = st.tagHdr[:0]
	st.ep, st.up, st.resp, st.stream, st.conn, st.w = nil, nil, nil, nil, nil, nil
	st.done, st.aborted = false, false
	st.edge, st.edgeSt = edgeOpenAI, nil
	st.scratch = st.scratch[:0]
	st.gone.Store(false)
	st.writeDeadline = time.Time{}
	st.tel = nil
}

func (a *API) getState() *reqState {
	st := a.pool.Get().(*reqState)
	st.reset()
	return st
}

func (a *API) putState(st *reqState) {
	if st.resp != nil {
		fasthttp.ReleaseResponse(st.resp)
		st.resp = nil
	}
	if cap(st.body) > 1<<20 {
		st.body = nil
	}
	if cap(st.out) > 1<<20 {
		st.out = nil
	}
	if cap(st.pend) > 1<<20 {
		st.pend = nil
	}
	a.pool.Put(st)
}

// inference serves POST /chat/completions, /completions and /embeddings:
// one pipeline, the kind decides the body's required fields, the upstream
// path and the response object.
func (a *API) inference(ctx *fasthttp.RequestCtx, kind peek.Kind, route routeID) {
	a.serve(ctx, kind, route, edgeOpenAI)
}

// serve runs the pipeline for one request; edge says which wire format the
// client speaks (the pipeline itself always speaks OpenAI's).
func (a *API) serve(ctx *fasthttp.RequestCtx, kind peek.Kind, route routeID, edge edgeKind) {
	start := time.Now()
	fail := func(e *Error) { a.failEdge(ctx, route, e, edge) }
	if !ctx.IsPost() {
		fail(errMethod)
		return
	}
	if a.closing.Load() {
		fail(errShutdown)
		return
	}
	if n := a.inflight.Add(1); a.o.MaxConcurrent > 0 && n > int64(a.o.MaxConcurrent) {
		a.inflight.Add(-1)
		fail(errOverloaded)
		return
	}
	p, e := a.authenticate(ctx, edge == edgeAnthropic)
	if e == nil && p.Management {
		e = errMgmtKey
	}
	if e != nil {
		a.inflight.Add(-1)
		fail(e)
		return
	}
	st := a.getState()
	st.start = start
	st.principal = p
	st.kind, st.route, st.edge = kind, route, edge
	var err error
	if st.body, err = edge.request(st.body[:0], ctx.PostBody()); err != nil {
		a.inflight.Add(-1)
		a.putState(st)
		fail(AsError(err))
		return
	}
	st.attribution(ctx)
	if a.o.Tracer != nil {
		st.traceStart(ctx)
	}
	streaming, err := a.runChat(ctx, st)
	if err != nil {
		if st.genID != "" {
			// Failed after it was recorded: the id finds its attempts.
			ctx.Response.Header.Set("X-Generation-Id", st.genID)
		}
		fail(AsError(err))
	}
	if !streaming {
		if st.tel != nil {
			st.traceEnd(ctx.Response.StatusCode())
		}
		// Settle or Release closed it already on every path that reached
		// a provider; this closes it on the others (a no-op otherwise).
		a.o.Ledger.Release(st.resv)
		a.inflight.Add(-1)
		a.putState(st)
	}
}

func (a *API) fail(ctx *fasthttp.RequestCtx, r routeID, e *Error) {
	a.m.route(r, e.Status)
	WriteError(ctx, e)
}

// runChat runs the pipeline. It returns streaming=true when it handed st to
// a stream writer (which then owns st and the in-flight slot).
func (a *API) runChat(ctx *fasthttp.RequestCtx, st *reqState) (streaming bool, err error) {
	c := &st.chat
	if err := peek.ParseRequest(st.body, c, st.kind); err != nil {
		return false, err
	}
	if c.Stream && st.kind == peek.KindEmbedding {
		return false, &peek.BadRequest{Msg: "embeddings cannot be streamed"}
	}
	if _, err := a.middleOut(st); err != nil {
		return false, err
	}
	if err := a.buildRouting(st); err != nil {
		return false, err
	}
	if st.tel != nil && (st.prefs.ZDR || st.prefs.DataCollection == routing.DataCollectionDeny) {
		st.tel.NoContent = true // no prompt or completion in traces either
	}
	st.cands, err = a.o.Router.Rank(&st.rreq, st.cands[:0])
	if err != nil {
		return false, err
	}
	if a.limits != nil {
		if e := a.limits.admit(st.principal.Hash, st.free(), st.start); e != nil {
			return false, e
		}
	}
	if err := a.reserve(st); err != nil {
		return false, err
	}
	st.genID = a.o.Ledger.NewGenerationID()
	// Rank already applied allow_fallbacks and models[]: every candidate
	// is a permitted fallback.
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	deadline := st.start.Add(a.o.RequestTimeout)
	for i, cand := range st.cands {
		if a.o.RequestTimeout > 0 && i > 0 && time.Now().After(deadline) {
			st.attempt = append(st.attempt, attemptInfo{Provider: cand.Endpoint.Provider, Model: cand.Endpoint.Model,
				Error: "not tried: limits.request_timeout reached", kind: routing.ErrTimeout})
			break
		}
		if i > 0 {
			a.m.fallback.Inc()
		}
		done, streaming, err := a.attempt(ctx, st, req, cand)
		if done || err != nil {
			return streaming, err
		}
	}
	e := st.allFailed()
	st.settle(e.Status, nil, false, 0)
	return false, e
}

// attempt tries one candidate. done reports that the response was written
// (or handed to a stream writer); false with a nil error means "try the
// next candidate".
func (a *API) attempt(ctx *fasthttp.RequestCtx, st *reqState, req *fasthttp.Request, cand routing.Candidate) (done, streaming bool, err error) {
	ep := cand.Endpoint
	up := a.o.Upstreams[strings.ToLower(ep.Provider)]
	if up == nil {
		st.attempt = append(st.attempt, attemptInfo{Provider: ep.Provider, Model: ep.Model, Error: "provider not configured", kind: routing.ErrConnect})
		return false, false, nil
	}
	emb, _ := up.Adapter.(provider.Embedder)
	if st.kind != peek.KindChat && up.Protocol != "openai" && !(st.kind == peek.KindEmbedding && emb != nil) {
		st.attempt = append(st.attempt, attemptInfo{Provider: up.Name, Model: ep.Model,
			Error: "provider protocol " + up.Protocol + " does not serve this endpoint", kind: routing.ErrBadRequest})
		return false, false, nil
	}
	st.call = provider.Call{
		Body: st.body, Chat: &st.chat, Upstream: up, Endpoint: ep,
		GenID: st.genID, Created: st.start.Unix(), Stream: st.chat.Stream,
		Kind: st.kind, Scratch: st.call.Scratch[:0],
	}
	req.Reset()
	write := up.Adapter.WriteChat
	if st.kind == peek.KindEmbedding && emb != nil {
		write = emb.WriteEmbeddings
	}
	if err := write(req, &st.call); err != nil {
		// A valid OpenAI request this protocol cannot express (audio to
		// Anthropic, say): another candidate may take it; 400 if none can.
		var br *peek.BadRequest
		if !errors.As(err, &br) {
			return false, false, err
		}
		st.attempt = append(st.attempt, attemptInfo{Provider: up.Name, Model: ep.Model, Status: fasthttp.StatusBadRequest, Error: br.Msg, kind: routing.ErrBadRequest})
		return false, false, nil
	}
	if st.tel != nil {
		st.traceAttempt(req, up, ep)
	}
	resp := fasthttp.AcquireResponse()
	att := a.o.Router.Begin(ep)
	t0 := time.Now()
	derr := up.Client.Do(req, resp, st.chat.Stream)
	headerAt := time.Since(t0)
	if derr != nil {
		fasthttp.ReleaseResponse(resp)
		ue := upstream.Classify(derr)
		kind := routing.ErrConnect
		switch ue.Kind {
		case upstream.KindFirstByte, upstream.KindIdle:
			kind = routing.ErrTimeout
		case upstream.KindBroken:
			kind = routing.ErrStreamBroken
		}
		st.upstream += headerAt
		a.o.Router.End(att, routing.Outcome{Err: kind, Latency: headerAt})
		a.m.observeAttempt(ep, false, 0, 0, nil, 0)
		st.attempt = append(st.attempt, attemptInfo{Provider: up.Name, Model: ep.Model, Error: ue.Error(), kind: kind, LatencyMs: msSince(t0)})
		a.log.Warn("upstream attempt failed", "gen", st.genID, "provider", up.Name, "model", ep.Model, "error", ue.Kind.String())
		return false, false, nil
	}
	status := resp.StatusCode()
	if status < 200 || status > 299 {
		body := readErrorBody(resp, st.chat.Stream)
		st.upstream += time.Since(t0)
		f := up.Adapter.ReadError(status, &resp.Header, body)
		fasthttp.ReleaseResponse(resp)
		kind := routing.KindFromStatus(status)
		if f.ContextLength {
			kind = routing.ErrContextLength
		}
		a.o.Router.End(att, routing.Outcome{Err: kind, Status: status, Latency: time.Since(t0), RetryAfter: time.Duration(f.RetryAfterMs) * time.Millisecond})
		a.m.observeAttempt(ep, false, 0, 0, nil, 0)
		st.attempt = append(st.attempt, attemptInfo{Provider: up.Name, Model: ep.Model, Status: status, Error: f.Message, Raw: string(f.Raw), kind: kind, retryMs: f.RetryAfterMs, LatencyMs: msSince(t0), vendorMsg: true})
		a.log.Warn("upstream attempt failed", "gen", st.genID, "provider", up.Name, "model", ep.Model, "status", status)
		if retryableStatus(status, kind) {
			return false, false, nil
		}
		// The request's own fault (400 and kin): the client sees the
		// provider's message, and no other endpoint would do better.
		code := status
		if code < 400 || code > 499 {
			code = fasthttp.StatusBadGateway
		}
		st.settle(code, nil, false, 0)
		return true, false, &Error{Status: code, Message: f.Message,
			Metadata: map[string]any{"provider_name": up.Name, "raw": string(f.Raw)}}
	}
	st.ep, st.up, st.att = ep, up, att
	if st.chat.Stream {
		st.resp = resp
		st.upstream += headerAt
		a.startStream(ctx, st, cand)
		return true, true, nil
	}
	body := resp.Body()
	latency := time.Since(t0)
	st.upstream += latency
	read := up.Adapter.ReadChat
	if st.kind == peek.KindEmbedding && emb != nil {
		read = emb.ReadEmbeddings
	}
	out, res, rerr := read(st.out[:0], body, &st.call)
	st.out = out
	if rerr != nil {
		fasthttp.ReleaseResponse(resp)
		a.o.Router.End(att, routing.Outcome{Err: routing.ErrStreamBroken, Status: status, Latency: latency})
		a.m.observeAttempt(ep, false, 0, 0, nil, 0)
		st.attempt = append(st.attempt, attemptInfo{Provider: up.Name, Model: ep.Model, Status: status, Error: "malformed upstream response: " + rerr.Error(), kind: routing.ErrStreamBroken, LatencyMs: msSince(t0)})
		return false, false, nil
	}
	fasthttp.ReleaseResponse(resp)
	if res.Err != nil {
		// A 200 whose body is an error object: the provider failed.
		a.o.Router.End(att, routing.Outcome{Err: routing.ErrStatus5xx, Status: status, Latency: latency})
		a.m.observeAttempt(ep, false, 0, 0, nil, 0)
		st.attempt = append(st.attempt, attemptInfo{Provider: up.Name, Model: ep.Model, Status: status, Error: res.Err.Message, Raw: string(res.Err.Raw), kind: routing.ErrStatus5xx, LatencyMs: msSince(t0), vendorMsg: true})
		return false, false, nil
	}
	cost := ep.Pricing.Cost(res.Usage)
	a.o.Router.End(att, routing.Outcome{Status: status, TTFT: headerAt, Latency: latency, OutputTokens: res.Usage.CompletionTokens})
	a.m.observeAttempt(ep, true, headerAt, latency, &res.Usage, cost)
	st.ep, st.up = ep, up
	if st.edge != edgeOpenAI {
		// Convert before charging: a client that gets a 500 instead of
		// its response is not billed for it.
		out, err := st.edge.response(st.scratch[:0], st.out)
		st.scratch = out
		if err != nil {
			st.settle(fasthttp.StatusInternalServerError, nil, false, 0)
			return true, false, fmt.Errorf("cannot convert the response: %w", err)
		}
	}
	st.settle(fasthttp.StatusOK, res, false, headerAt) // sees the OpenAI-shaped st.out
	if st.edge != edgeOpenAI {
		st.out, st.scratch = st.scratch, st.out
	}

	st.setHeaders(ctx, cand)
	var b [32]byte
	ctx.Response.Header.SetCanonical(hdrCost, routing.AppendUSD(b[:0], cost))
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(fasthttp.StatusOK)
	// The response takes st.out's memory and st.out gets the response's
	// old buffer: no copy of the body.
	st.out = ctx.Response.SwapBody(st.out)
	a.m.route(st.route, fasthttp.StatusOK)
	if a.o.OverheadHeader {
		st.setOverhead(ctx)
	}
	return true, false, nil
}

// retryableStatus: 408, 429, 5xx and context-length errors go to the next
// candidate (SPEC §4), and so do 401/402/403/404 from an upstream: they
// mean this provider's key, credit or model id is wrong, which another
// endpoint does not share.
func retryableStatus(status int, kind routing.ErrorKind) bool {
	if routing.Retryable(routing.Outcome{Err: kind, Status: status}) {
		return true
	}
	switch status {
	case 401, 402, 403, 404:
		return true
	}
	return false
}

func readErrorBody(resp *fasthttp.Response, stream bool) []byte {
	if !stream {
		return resp.Body()
	}
	bs := resp.BodyStream()
	if bs == nil {
		return resp.Body()
	}
	b, _ := io.ReadAll(io.LimitReader(bs, 64<<10))
	_ = resp.CloseBodyStream()
	return b
}

// The response headers of every answer, in canonical form: SetCanonical
// skips the key normalisation and two of the three copies of Set (the
// header setters took 2.7 % of a node's CPU at a closed loop of 64, 1.0 %
// after: docs/BENCHMARKS.md, session 3).
var (
	hdrGenerationID = []byte("X-Generation-Id")
	hdrProvider     = []byte("X-Tollgate-Provider")
	hdrModel        = []byte("X-Tollgate-Model")
	hdrAttempts     = []byte("X-Tollgate-Attempts")
	hdrRoute        = []byte("X-Tollgate-Route")
	hdrCost         = []byte("X-Tollgate-Cost")
	hdrOverhead     = []byte("X-Tollgate-Overhead-Us")
)

// setCanonical sets header k, in canonical form, to v. SetCanonical copies
// the value and only reads it, so v's bytes are handed over as they are.
func setCanonical(h *fasthttp.ResponseHeader, k []byte, v string) {
	h.SetCanonical(k, unsafe.Slice(unsafe.StringData(v), len(v)))
}

func (st *reqState) setHeaders(ctx *fasthttp.RequestCtx, cand routing.Candidate) {
	h := &ctx.Response.Header
	setCanonical(h, hdrGenerationID, st.genID)
	setCanonical(h, hdrProvider, st.up.Name)
	setCanonical(h, hdrModel, st.ep.Model)
	var b [8]byte
	h.SetCanonical(hdrAttempts, strconv.AppendInt(b[:0], int64(len(st.attempt)+1), 10))
	setCanonical(h, hdrRoute, cand.Reason.String())
}

func (st *reqState) setOverhead(ctx *fasthttp.RequestCtx) {
	over := time.Since(st.start) - st.upstream
	if over < 0 {
		over = 0
	}
	st.a.m.overhead.Update(over.Seconds())
	var b [24]byte
	ctx.Response.Header.SetCanonical(hdrOverhead, strconv.AppendInt(b[:0], over.Microseconds(), 10))
}

// allFailed picks the status that describes every candidate failing: 429
// when all were rate limited (with the shortest Retry-After), 408 when all
// timed out, 503 when no provider could be reached, else 502. Each attempt
// is listed in metadata.
func (st *reqState) allFailed() *Error {
	if len(st.attempt) == 0 {
		return &Error{Status: fasthttp.StatusServiceUnavailable, Message: "no provider available for this request"}
	}
	all := func(k routing.ErrorKind) bool {
		for _, at := range st.attempt {
			if at.kind != k {
				return false
			}
		}
		return true
	}
	e := &Error{Status: fasthttp.StatusBadGateway, Message: "every provider failed for this request"}
	switch {
	case all(routing.ErrRateLimited):
		e.Status, e.Message = fasthttp.StatusTooManyRequests, "every provider is rate limiting this model; retry later"
		for _, at := range st.attempt {
			if at.retryMs > 0 && (e.RetryAfterMs == 0 || at.retryMs < e.RetryAfterMs) {
				e.RetryAfterMs = at.retryMs
			}
		}
		if e.RetryAfterMs == 0 {
			e.RetryAfterMs = 1000
		}
	case all(routing.ErrTimeout):
		e.Status, e.Message = fasthttp.StatusRequestTimeout, "every provider timed out"
	case all(routing.ErrConnect):
		e.Status, e.Message = fasthttp.StatusServiceUnavailable, "no provider could be reached"
	case all(routing.ErrBadRequest):
		e.Status, e.Message = fasthttp.StatusBadRequest, st.attempt[0].Error
	case all(routing.ErrContextLength):
		e.Status, e.Message = fasthttp.StatusBadRequest, "the prompt does not fit the context of any endpoint: "+st.attempt[0].Error
	}
	last := st.attempt[len(st.attempt)-1]
	e.Metadata = map[string]any{"provider_name": last.Provider, "attempts": st.attempt}
	// The gateway already retried across providers: tell OpenAI and
	// Anthropic SDKs not to multiply that with their own retries, except
	// for rate limits, where waiting Retry-After is the right move.
	if e.Status != fasthttp.StatusTooManyRequests {
		e.Headers = append(e.Headers, [2]string{"x-should-retry", "false"})
	}
	if last.Raw != "" {
		e.Metadata["raw"] = last.Raw
	}
	return e
}

// buildRouting fills st.rreq from the peeked body.
func (a *API) buildRouting(st *reqState) error {
	c := &st.chat
	r := &st.rreq
	if len(c.Model) > 0 {
		r.Model = string(c.Model)
	}
	peek.EachModel(c.Models, func(m []byte) {
		st.models = append(st.models, string(m))
	})
	if r.Model == "" && len(st.models) > 0 {
		r.Model, st.models = st.models[0], st.models[1:]
	}
	if r.Model == "" {
		return &peek.BadRequest{Msg: "'model' must not be empty"}
	}
	if c.Reasoning == nil && strings.HasSuffix(r.Model, ":thinking") {
		// The variant turns reasoning on at the default effort; each
		// adapter translates it (thinking budget, reasoning_effort, …).
		c.Reasoning = reasoningOn
	}
	r.Models = st.models
	if c.Provider != nil {
		if err := json.Unmarshal(c.Provider, &st.prefs); err != nil {
			return &peek.BadRequest{Msg: "invalid 'provider' preferences: " + cleanJSONError(err)}
		}
		r.Provider = &st.prefs
	}
	r.PromptTokens = provider.EstimateTokens(len(c.Messages) + len(c.Prompt))
	r.MaxTokens = int(c.MaxTokens)
	r.Tools, r.ToolChoice, r.Images = c.Tools, c.ToolChoice, c.Images
	r.JSONObject, r.JSONSchema, r.Reasoning = c.JSONObject, c.JSONSchema, c.Reasoning != nil
	r.Params = paramsOf(c.Params)
	return nil
}

// reasoningOn is the reasoning object the ":thinking" variant implies.
var reasoningOn = []byte(`{"enabled":true}`)

// paramsOf converts the peek parameter bitset into routing's.
func paramsOf(bits uint64) routing.Params {
	var p routing.Params
	for i, name := range peek.ParamNames {
		if bits&(1<<uint(i)) != 0 {
			if q, ok := routing.ParamByName(name); ok {
				p |= q
			}
		}
	}
	return p
}

func cleanJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error()
	}
	var ue *json.UnmarshalTypeError
	if errors.As(err, &ue) {
		return "field " + ue.Field + " must be " + ue.Type.String()
	}
	return err.Error()
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }
