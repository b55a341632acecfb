// Package provider defines how the gateway talks to a model provider: the
// small Adapter interface that each wire protocol implements (one
// sub-package per protocol: openai, anthropic, gemini) and the pieces of the
// OpenAI response shape that every adapter emits the same way (usage with
// cost, the final usage chunk, error chunks, finish-reason normalisation).
//
// A vendor that speaks a known protocol is configuration (a Upstream with a
// base URL and Quirks), never code. Imported by core and core/api.
package provider

import (
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/core/upstream"
	"github.com/tollgate/tollgate/routing"
)

// Adapter speaks one wire protocol. Implementations are stateless and safe
// for concurrent use; per-stream state lives in the Stream they return.
type Adapter interface {
	// WriteChat fills req (method, URI, headers, body) for a chat
	// completion call c to its upstream.
	WriteChat(req *fasthttp.Request, c *Call) error
	// ReadChat converts a complete 2xx upstream body into an OpenAI
	// chat.completion object (with Tollgate's id, provider, model and usage
	// with cost) appended to dst.
	ReadChat(dst, body []byte, c *Call) ([]byte, *Result, error)
	// NewStream returns the translator for one streamed response.
	NewStream(c *Call) Stream
	// ReadError extracts what the upstream said in a non-2xx response.
	ReadError(status int, header *fasthttp.ResponseHeader, body []byte) *Failure
}

// Embedder is implemented by adapters of protocols whose embeddings API
// differs from OpenAI's (Gemini's embedContent/batchEmbedContents): the
// client's OpenAI /embeddings request goes out translated and the answer
// comes back as an OpenAI embeddings list with usage and cost. OpenAI-
// protocol upstreams need none: /embeddings passes through WriteChat.
type Embedder interface {
	WriteEmbeddings(req *fasthttp.Request, c *Call) error
	ReadEmbeddings(dst, body []byte, c *Call) ([]byte, *Result, error)
}

// Stream translates one upstream event stream into OpenAI chunks.
type Stream interface {
	// Event appends the client frames ("data: {...}\n\n") for one upstream
	// event to dst. It never appends the usage chunk or [DONE]: the caller
	// ends every stream the same way (FinishStream).
	Event(dst []byte, ev *sse.Event) ([]byte, error)
	// Result is what the stream has reported so far.
	Result() *Result
}

// Upstream is one configured provider: its adapter, HTTP client and
// credentials.
type Upstream struct {
	Name     string
	Protocol string // openai | anthropic | gemini
	Adapter  Adapter
	Client   *upstream.Client
	APIKey   string
	Headers  [][2]string
	Quirks   Quirks
}

// Quirks are per-vendor flags of a protocol; presets set them by name.
type Quirks struct {
	// KeepExtensions forwards OpenRouter request fields (models, provider,
	// route, usage…) because the upstream is itself a router.
	KeepExtensions bool
	// NoStreamOptions: the upstream rejects stream_options; usage is then
	// estimated when it does not report it unasked.
	NoStreamOptions bool
	// ReasoningContent: the upstream streams reasoning as
	// "reasoning_content" (DeepSeek); it is renamed to "reasoning".
	ReasoningContent bool
	// MistralToolIDs: the upstream accepts only tool-call ids of 9
	// letters and digits; ids in the history are mapped to such ids
	// (deterministically, so a call and its result still match).
	MistralToolIDs bool
}

// Call is one attempt of a request against one endpoint.
type Call struct {
	Body     []byte     // the client's request body
	Chat     *peek.Chat // what was peeked from Body
	Upstream *Upstream
	Endpoint *routing.Endpoint
	GenID    string // gen-… id shown to the client
	Created  int64  // unix seconds shown to the client
	Stream   bool
	// Kind is chat (default), legacy completion or embedding.
	Kind peek.Kind
	// Scratch is a reusable buffer adapters may use while building the
	// request. WriteChat leaves the request body in it and hands it to the
	// request without a copy (SetBodyRaw): the caller must not touch
	// Scratch until that request was sent (or reset).
	Scratch []byte
}

// Path is the OpenAI API path of a request kind.
func (c *Call) Path() string {
	switch c.Kind {
	case peek.KindCompletion:
		return "/completions"
	case peek.KindEmbedding:
		return "/embeddings"
	}
	return "/chat/completions"
}

// Object is the OpenAI "object" of a response of the call's kind.
func (c *Call) Object() string {
	switch c.Kind {
	case peek.KindCompletion:
		return "text_completion"
	case peek.KindEmbedding:
		return "list"
	}
	if c.Stream {
		return "chat.completion.chunk"
	}
	return "chat.completion"
}

// Result is the outcome an adapter read from a response.
type Result struct {
	Usage     routing.Usage
	HaveUsage bool // the upstream reported usage (else it is estimated)
	// Finish is the normalised finish reason of the last choice, Native the
	// upstream's own value.
	Finish, Native string
	// Done is set when the upstream ended its stream properly ([DONE] or
	// the protocol's end event).
	Done bool
	// Started is set once the stream carried any content for the client.
	Started bool
	// OutputBytes counts generated text bytes, to estimate usage when the
	// upstream reports none.
	OutputBytes int
	// Err is an error the upstream sent in-band (an "error" event).
	Err *Failure
}

// Reset clears r for reuse.
func (r *Result) Reset() { *r = Result{} }

// Failure is what an upstream said when it failed.
type Failure struct {
	Status  int    // upstream HTTP status (0 for in-band errors)
	Type    string // the vendor's error type/code, if any
	Message string
	// RetryAfterMs from Retry-After / retry-after-ms on 429 and 503.
	RetryAfterMs int64
	// ContextLength is set when the prompt did not fit the model's context,
	// so another model or endpoint may still take it.
	ContextLength bool
	Raw           []byte // the upstream body (copied), for metadata.raw
}

func (f *Failure) Error() string {
	if f.Message != "" {
		return f.Message
	}
	return "upstream error"
}

// StartRequest sets what every upstream call shares: the URI, POST, a JSON
// body and the Accept the call needs (SSE for streams). The adapter then
// adds its credentials and protocol headers, and ApplyHeaders last.
func StartRequest(req *fasthttp.Request, c *Call, uri []byte) {
	req.SetRequestURIBytes(uri)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	if c.Stream {
		req.Header.SetCanonical(hdrAccept, acceptStream)
	} else {
		req.Header.SetCanonical(hdrAccept, acceptJSON)
	}
}

// Canonical header bytes for SetCanonical (no normalisation, fewer copies).
var (
	hdrAccept    = []byte(fasthttp.HeaderAccept)
	acceptStream = []byte("text/event-stream")
	acceptJSON   = []byte("application/json")
)

// ApplyHeaders sets the upstream's configured headers; called last, so
// they can override a protocol header (anthropic-version, say).
func (u *Upstream) ApplyHeaders(req *fasthttp.Request) {
	for _, h := range u.Headers {
		req.Header.Set(h[0], h[1])
	}
}
