// Package telemetry exports OpenTelemetry traces of inference requests over
// OTLP/HTTP, following the GenAI semantic conventions: one SERVER span per
// request and one CLIENT span per upstream attempt, with W3C trace context
// taken from the client and passed on to each upstream.
//
// It owns the tracer provider (batching, sampling, resource, export) and
// small helpers the request pipeline calls; core/api decides what goes into
// the spans. Tracing is off unless configured: the pipeline then holds a nil
// *Tracer and pays one nil check per hook. Prompt and completion text reach
// a span only with Config.CaptureContent. Imported by core and core/api.
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
)

// Config configures trace export. Endpoint is required; zero values of the
// rest take the documented defaults.
type Config struct {
	// Endpoint is the full OTLP/HTTP traces URL, e.g.
	// http://127.0.0.1:4318/v1/traces.
	Endpoint string
	// Headers are sent with every export (authentication, tenant…).
	Headers map[string]string
	// Timeout bounds one export request. Default 10s.
	Timeout time.Duration
	// SampleRatio is the share of new traces recorded (0..1); a request
	// that carries a traceparent follows its caller's sampling decision.
	SampleRatio float64
	// CaptureContent records prompts and completions
	// (gen_ai.input.messages, gen_ai.output.messages). Off by default:
	// prompts are user data.
	CaptureContent bool
	// Resource attributes: service.name (default "tollgate"),
	// service.version, service.instance.id (the node name) and
	// cloud.region.
	ServiceName, ServiceVersion, Node, Region string
	// BatchTimeout is the longest a finished span waits before export.
	// Default 5s.
	BatchTimeout time.Duration
	// Logger receives export failures (throttled). Default slog.Default().
	Logger *slog.Logger
}

// Tracer creates the spans of the gateway. A nil *Tracer means tracing is
// off; callers check for nil before calling any method.
type Tracer struct {
	tp      *sdktrace.TracerProvider
	tr      trace.Tracer
	prop    propagation.TraceContext
	capture bool
	pool    sync.Pool // *Request
}

// New starts a tracer provider exporting to c.Endpoint. Call Shutdown to
// flush the spans still queued.
func New(c Config) (*Tracer, error) {
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telemetry: endpoint %q must be an http(s) URL", c.Endpoint)
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return nil, fmt.Errorf("telemetry: sample ratio %v must be within 0..1", c.SampleRatio)
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.ServiceName == "" {
		c.ServiceName = "tollgate"
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	// Every option is set explicitly, so the exporter's own reading of
	// OTEL_EXPORTER_OTLP_* does not override the config (config.Parse has
	// already applied those variables to it).
	headers := make(map[string]string, len(c.Headers))
	for k, v := range c.Headers {
		headers[k] = v
	}
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(c.Endpoint),
		otlptracehttp.WithHeaders(headers),
		otlptracehttp.WithTimeout(c.Timeout),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry: cannot create the OTLP exporter: %w", err)
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(c.ServiceName)}
	if c.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(c.ServiceVersion))
	}
	if c.Node != "" {
		attrs = append(attrs, semconv.ServiceInstanceID(c.Node))
	}
	if c.Region != "" {
		attrs = append(attrs, semconv.CloudRegion(c.Region))
	}
	res, err := resource.New(context.Background(), resource.WithTelemetrySDK(), resource.WithAttributes(attrs...))
	if err != nil {
		return nil, fmt.Errorf("telemetry: cannot build the resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))),
		sdktrace.WithBatcher(&logExporter{SpanExporter: exp, log: c.Logger}, sdktrace.WithBatchTimeout(c.BatchTimeout)),
	)
	t := &Tracer{tp: tp, tr: tp.Tracer("github.com/tollgate/tollgate/core"), capture: c.CaptureContent}
	t.pool.New = func() any { return &Request{t: t} }
	return t, nil
}

// Shutdown exports the queued spans and stops the provider; ctx bounds the
// flush. Safe on a nil *Tracer.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// CaptureContent reports whether prompts and completions are recorded.
func (t *Tracer) CaptureContent() bool { return t.capture }

// logExporter logs export failures itself (at most one line a minute)
// instead of leaving them to the process-wide otel error handler.
type logExporter struct {
	sdktrace.SpanExporter
	log    *slog.Logger
	last   atomic.Int64 // unix nanoseconds of the last log line
	failed atomic.Int64 // spans lost since the last log line
}

func (e *logExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		return nil
	}
	n := e.failed.Add(int64(len(spans)))
	now := time.Now().UnixNano()
	if last := e.last.Load(); now-last >= int64(time.Minute) && e.last.CompareAndSwap(last, now) {
		e.failed.Add(-n)
		e.log.Warn("cannot export traces", "spans_lost", n, "error", err)
	}
	return nil
}

// Header is the part of a request header the propagator reads and writes;
// *fasthttp.RequestHeader has it.
type Header interface {
	Peek(key string) []byte
	Set(key, value string)
}

// carrier adapts a Header to propagation.TextMapCarrier (W3C traceparent
// and tracestate only, so Keys is never needed).
type carrier struct{ h Header }

func (c carrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c carrier) Set(key, value string) { c.h.Set(key, value) }
func (c carrier) Keys() []string        { return nil }

// Request traces one inference request: its server span and the client
// span of the upstream attempt in progress. It is pooled: the owner calls
// End exactly once, after which it must not touch it.
type Request struct {
	t      *Tracer
	ctx    context.Context // carries the server span
	server trace.Span
	client trace.Span
	// ClientStart is when the open client span started; Attempt is the
	// caller's index of the attempt it traces (core/api: the number of
	// failed attempts recorded before it).
	ClientStart time.Time
	Attempt     int
	// NoContent keeps this request's messages out of its spans even with
	// capture_content (the request asked for zdr or data_collection: deny).
	NoContent bool

	// streamed completion text and finish reason (CaptureContent only)
	out    []byte
	finish string
}

// Start opens the server span of a request that began at start, as a child
// of the W3C traceparent in h when there is one. op is the GenAI operation
// ("chat", "text_completion", "embeddings") and the span's first name; the
// caller renames it "{op} {model}" once the model is known.
func (t *Tracer) Start(h Header, op string, start time.Time) *Request {
	r := t.pool.Get().(*Request)
	ctx := t.prop.Extract(context.Background(), carrier{h})
	r.ctx, r.server = t.tr.Start(ctx, op, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
		trace.WithAttributes(semconv.GenAIOperationNameKey.String(op)))
	r.ctx = trace.ContextWithSpan(r.ctx, r.server)
	return r
}

// Server is the request's server span.
func (r *Request) Server() trace.Span { return r.server }

// Client is the open client span, or nil.
func (r *Request) Client() trace.Span { return r.client }

// Capture reports whether prompts and completions are recorded for this
// request (configured, and the span is sampled).
func (r *Request) Capture() bool {
	return r.t.capture && !r.NoContent && r.server.IsRecording()
}

// StartAttempt opens the client span of one upstream attempt named
// "{op} {model}" and writes its traceparent into h, the upstream request's
// header. attempt is the caller's index for it.
func (r *Request) StartAttempt(h Header, op, model string, attempt int, attrs ...attribute.KeyValue) trace.Span {
	now := time.Now()
	ctx, sp := r.t.tr.Start(r.ctx, op+" "+model, trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(now),
		trace.WithAttributes(attrs...))
	r.client, r.ClientStart, r.Attempt = sp, now, attempt
	r.t.prop.Inject(ctx, carrier{h})
	return sp
}

// EndAttempt closes the open client span at end; errType, when set, marks
// it failed (error.type and an error status).
func (r *Request) EndAttempt(end time.Time, errType string) {
	sp := r.client
	if sp == nil {
		return
	}
	r.client = nil
	if errType != "" {
		sp.SetAttributes(semconv.ErrorTypeKey.String(errType))
		sp.SetStatus(codes.Error, errType)
	}
	sp.End(trace.WithTimestamp(end))
}

// End closes the server span (and a client span still open) and returns r
// to the pool. errType, when set, marks the request failed.
func (r *Request) End(errType string) {
	r.EndAttempt(time.Now(), errType)
	if errType != "" {
		r.server.SetAttributes(semconv.ErrorTypeKey.String(errType))
		r.server.SetStatus(codes.Error, errType)
	}
	r.server.End()
	t := r.t
	*r = Request{t: t, out: r.out[:0]}
	if cap(r.out) > 64<<10 {
		r.out = nil
	}
	t.pool.Put(r)
}

// ProviderName is gen_ai.provider.name for an upstream: the registry value
// when the provider's name is a vendor the conventions list (openai, groq,
// deepseek, mistral, xai, perplexity…), else the one of its wire protocol
// for Anthropic and Gemini, else the configured name itself — an
// OpenAI-compatible server (vLLM, a local model) is not OpenAI.
func ProviderName(name, protocol string) string {
	switch name = strings.ToLower(name); name {
	case "openai", "anthropic", "groq", "deepseek", "perplexity", "cohere":
		return name
	case "mistral", "mistralai", "mistral_ai":
		return "mistral_ai"
	case "xai", "x_ai", "x-ai":
		return "x_ai"
	case "gemini", "google":
		return "gcp.gemini"
	}
	switch protocol {
	case "anthropic":
		return "anthropic"
	case "gemini":
		return "gcp.gemini"
	}
	return name
}
