package api

import (
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/telemetry"
	"github.com/tollgate/tollgate/routing"
)

// Tracing hooks of the pipeline (Options.Tracer; docs/telemetry.md). Each
// is called only when st.tel is set, so a gateway without tracing pays a
// nil check per hook. The spans of one request:
//
//	SERVER "chat {model}"             serve → traceEnd (stream: at its end)
//	  CLIENT "chat {upstream model}"  one per upstream call, traceAttempt →
//	                                  the next attempt or settle
//
// A client span is closed lazily: a failed attempt records an attemptInfo,
// so the next traceAttempt (or settle) knows it failed and when it ended.

// Tollgate's own span attributes.
const (
	attrGenerationID = attribute.Key("tollgate.generation_id")
	attrCostUSD      = attribute.Key("tollgate.cost_usd")
	attrCostNano     = attribute.Key("tollgate.cost_nano_usd")
	attrAttempts     = attribute.Key("tollgate.attempts")
	attrProvider     = attribute.Key("tollgate.provider")
	attrAccount      = attribute.Key("tollgate.account.id")
	attrKeyName      = attribute.Key("tollgate.key.name")
	attrApp          = attribute.Key("tollgate.app")
	attrCancelled    = attribute.Key("tollgate.cancelled")
	attrAttempt      = attribute.Key("tollgate.attempt")
)

func opName(k peek.Kind) string {
	switch k {
	case peek.KindCompletion:
		return "text_completion"
	case peek.KindEmbedding:
		return "embeddings"
	}
	return "chat"
}

// traceStart opens the server span; the client's traceparent, if any, is
// its parent.
func (st *reqState) traceStart(ctx *fasthttp.RequestCtx) {
	st.tel = st.a.o.Tracer.Start(&ctx.Request.Header, opName(st.kind), st.start)
}

// traceAttempt closes the previous attempt's span (it failed) and opens
// the client span of the upstream call about to be sent with req, whose
// header gets its traceparent.
func (st *reqState) traceAttempt(req *fasthttp.Request, up *provider.Upstream, ep *routing.Endpoint) {
	st.traceCloseAttempt(nil, 0, 0, false)
	t := st.tel
	model := ep.UpstreamModelID()
	if !t.Server().IsRecording() {
		t.StartAttempt(&req.Header, opName(st.kind), model, len(st.attempt))
		return
	}
	var buf [64]byte
	scheme, host := "http", up.Client.Host()
	if u := up.Client.URL(buf[:0], ""); len(u) >= 5 && string(u[:5]) == "https" {
		scheme = "https"
	}
	addr, port := splitHostPort(host, scheme)
	t.StartAttempt(&req.Header, opName(st.kind), model, len(st.attempt),
		semconv.GenAIOperationNameKey.String(opName(st.kind)),
		semconv.GenAIProviderNameKey.String(telemetry.ProviderName(up.Name, up.Protocol)),
		semconv.GenAIRequestModelKey.String(model),
		semconv.ServerAddress(addr),
		semconv.ServerPort(port),
		attrProvider.String(up.Name),
		attrAttempt.Int(len(st.attempt)+1),
		semconv.GenAIRequestStreamKey.Bool(st.chat.Stream),
	)
}

// splitHostPort splits a base URL's host, defaulting the port by scheme.
func splitHostPort(host, scheme string) (string, int) {
	for i := len(host) - 1; i >= 0; i-- {
		c := host[i]
		if c == ':' {
			if p, err := strconv.Atoi(host[i+1:]); err == nil {
				h := host[:i]
				if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
					h = h[1 : len(h)-1]
				}
				return h, p
			}
			break
		}
		if c < '0' || c > '9' {
			break
		}
	}
	if scheme == "https" {
		return host, 443
	}
	return host, 80
}

// traceCloseAttempt ends the open client span, if any: as failed when its
// attempt recorded a failure, else as served with res (nil: no outcome).
// ttft is settle's (for a stream: since the request started).
func (st *reqState) traceCloseAttempt(res *provider.Result, ttft time.Duration, status int, cancelled bool) {
	t := st.tel
	sp := t.Client()
	if sp == nil {
		return
	}
	if t.Attempt < len(st.attempt) {
		at := &st.attempt[t.Attempt]
		if at.Status != 0 {
			sp.SetAttributes(semconv.HTTPResponseStatusCode(at.Status))
		}
		t.EndAttempt(t.ClientStart.Add(time.Duration(at.LatencyMs*float64(time.Millisecond))), at.kind.String())
		return
	}
	if res == nil {
		t.EndAttempt(time.Now(), "")
		return
	}
	if sp.IsRecording() {
		sp.SetAttributes(semconv.HTTPResponseStatusCode(status))
		st.usageAttrs(sp.SetAttributes, res)
		if st.chat.Stream && ttft > 0 {
			sp.SetAttributes(semconv.GenAIResponseTimeToFirstChunk(st.start.Add(ttft).Sub(t.ClientStart).Seconds()))
		}
	}
	errType := ""
	switch {
	case cancelled:
		errType = routing.ErrCanceled.String()
	case res.Finish == "error":
		errType = routing.ErrStreamBroken.String()
	}
	t.EndAttempt(time.Now(), errType)
}

// usageAttrs sets the response's usage and finish reason.
func (st *reqState) usageAttrs(set func(...attribute.KeyValue), res *provider.Result) {
	u := &res.Usage
	set(semconv.GenAIUsageInputTokens(u.PromptTokens), semconv.GenAIUsageOutputTokens(u.CompletionTokens))
	if u.CachedTokens > 0 {
		set(semconv.GenAIUsageCacheReadInputTokens(u.CachedTokens))
	}
	if u.CacheWriteTokens > 0 {
		set(semconv.GenAIUsageCacheCreationInputTokens(u.CacheWriteTokens))
	}
	if u.ReasoningTokens > 0 {
		set(semconv.GenAIUsageReasoningOutputTokens(u.ReasoningTokens))
	}
	if res.Finish != "" {
		set(semconv.GenAIResponseFinishReasons(res.Finish))
	}
}

// traceSettle closes the last client span and records the outcome on the
// server span; settle calls it once it knows the cost.
func (st *reqState) traceSettle(status int, res *provider.Result, cost int64, cancelled bool, ttft time.Duration) {
	t := st.tel
	st.traceCloseAttempt(res, ttft, status, cancelled)
	sp := t.Server()
	if !sp.IsRecording() {
		return
	}
	op := opName(st.kind)
	if st.rreq.Model != "" {
		sp.SetName(op + " " + st.rreq.Model)
		sp.SetAttributes(semconv.GenAIRequestModelKey.String(st.rreq.Model))
	}
	if st.chat.MaxTokens > 0 {
		sp.SetAttributes(semconv.GenAIRequestMaxTokens(int(st.chat.MaxTokens)))
	}
	if v := gjson.GetBytes(st.body, "temperature"); v.Type == gjson.Number {
		sp.SetAttributes(semconv.GenAIRequestTemperature(v.Num))
	}
	if v := gjson.GetBytes(st.body, "top_p"); v.Type == gjson.Number {
		sp.SetAttributes(semconv.GenAIRequestTopP(v.Num))
	}
	attempts := len(st.attempt)
	if st.ep != nil {
		attempts++
		sp.SetAttributes(
			semconv.GenAIResponseModelKey.String(st.ep.Model),
			semconv.GenAIProviderNameKey.String(telemetry.ProviderName(st.up.Name, st.up.Protocol)),
			attrProvider.String(st.up.Name),
		)
	}
	sp.SetAttributes(
		semconv.GenAIRequestStreamKey.Bool(st.chat.Stream),
		semconv.GenAIResponseIDKey.String(st.genID),
		attrGenerationID.String(st.genID),
		attrAttempts.Int(attempts),
		attrCostNano.Int64(cost),
		attrCostUSD.Float64(float64(cost)/float64(routing.NanoPerUSD)),
		attrAccount.String(st.principal.AccountID),
		attrKeyName.String(st.principal.Name),
	)
	if st.app != "" {
		sp.SetAttributes(attrApp.String(st.app))
	}
	if len(st.chat.SessionID) > 0 {
		sp.SetAttributes(semconv.GenAIConversationIDKey.String(string(st.chat.SessionID)))
	}
	if res != nil && st.ep != nil {
		st.usageAttrs(sp.SetAttributes, res)
		switch {
		case cancelled:
			sp.SetAttributes(attrCancelled.Bool(true), semconv.ErrorTypeKey.String(routing.ErrCanceled.String()))
		case res.Finish == "error":
			sp.SetAttributes(semconv.ErrorTypeKey.String(routing.ErrStreamBroken.String()))
			sp.SetStatus(codes.Error, routing.ErrStreamBroken.String())
		}
	}
	if t.Capture() {
		switch st.kind {
		case peek.KindChat:
			sp.SetAttributes(semconv.GenAIInputMessagesKey.String(telemetry.InputMessages(st.chat.Messages)))
		case peek.KindCompletion:
			sp.SetAttributes(semconv.GenAIInputMessagesKey.String(telemetry.PromptMessages(st.chat.Prompt)))
		}
		if res != nil && st.kind != peek.KindEmbedding {
			out := ""
			if st.chat.Stream {
				out = t.StreamedOutput()
			} else {
				out = telemetry.OutputMessages(st.out)
			}
			sp.SetAttributes(semconv.GenAIOutputMessagesKey.String(out))
		}
	}
}

// traceEnd ends the server span with the HTTP status the client got and
// releases st.tel.
func (st *reqState) traceEnd(status int) {
	t := st.tel
	st.tel = nil
	if sp := t.Server(); sp.IsRecording() {
		sp.SetAttributes(semconv.HTTPResponseStatusCode(status), semconv.HTTPRequestMethodPost, semconv.URLPath(st.apiPath))
		if status >= 400 {
			code := strconv.Itoa(status)
			sp.SetAttributes(semconv.ErrorTypeKey.String(code))
			if status >= 500 {
				sp.SetStatus(codes.Error, code)
			}
		}
	}
	t.End("")
}
