package mock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
)

// ErrServing is returned by Listen and Serve on a Server that already
// serves or was closed.
var ErrServing = errors.New("mock: server already started or closed")

// maxRequestBody lets large-prompt tests through (fasthttp's default is
// 4 MiB, and <= 0 means that default, not unlimited).
const maxRequestBody = 64 << 20

// shutdownGrace is how long Close lets in-flight responses finish before it
// closes their connections.
const shutdownGrace = time.Second

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	cfg atomic.Pointer[Config]
	// script is the Config.Script in force and its position.
	script atomic.Pointer[script]
	srv    *fasthttp.Server
	c      counters
	hist   *history
	emb    sync.Map  // embeddingKey -> []byte, rendered vectors
	bufs   sync.Pool // *[]byte response buffers

	// done is closed by Close: every wait and stream ends early.
	done chan struct{}
	// serveDone is closed when the serve loop returns.
	serveDone chan struct{}

	// mu guards the lifecycle; wg counts the goroutines the Server owns
	// (serve loop, stream writers, hijacked connections). A goroutine is
	// added only under mu while !closed, so Add never races with Wait.
	mu       sync.Mutex
	started  bool
	closed   bool
	ln       net.Listener
	serveErr error
	wg       sync.WaitGroup

	connMu   sync.Mutex
	conns    map[net.Conn]struct{} // guarded by connMu; open client connections
	accepted int                   // guarded by connMu; connections ever accepted
}

// New returns a Server for c (defaults filled). It does not listen yet; an
// invalid c is reported by Listen or Serve.
func New(c Config) *Server {
	c.EnsureDefaults()
	c.Models = append([]string(nil), c.Models...)
	c.Script = append([]string(nil), c.Script...)
	s := &Server{
		hist:      newHistory(c.History),
		done:      make(chan struct{}),
		serveDone: make(chan struct{}),
		conns:     make(map[net.Conn]struct{}),
	}
	s.cfg.Store(&c)
	s.script.Store(&script{steps: c.Script})
	s.srv = &fasthttp.Server{
		Handler:                      s.handle,
		Name:                         "tollgate-mock",
		MaxRequestBodySize:           maxRequestBody,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		ConnState:                    s.connState,
		Logger:                       quietLogger{},
		DisablePreParseMultipartForm: true,
		// fasthttp's worker-pool cleaner sleeps this long between rounds
		// and is not joined by Shutdown; one second bounds how long it
		// outlives Close (the 10 s default would outlive most tests).
		MaxIdleWorkerDuration: time.Second,
	}
	return s
}

type quietLogger struct{}

// Printf drops fasthttp's own log lines: a client that hangs up mid-stream
// is a test case here, not news.
func (quietLogger) Printf(string, ...any) {}

// connState tracks open connections so that Close can end those that
// outlive the grace period. Active/idle transitions (two per request) take
// no lock.
func (s *Server) connState(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		s.connMu.Lock()
		s.conns[c] = struct{}{}
		s.accepted++
		s.connMu.Unlock()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		s.connMu.Lock()
		delete(s.conns, c)
		s.connMu.Unlock()
	}
}

// Listen binds addr ("" means Config.Addr; "127.0.0.1:0" picks a free port)
// and serves in the background until Close.
func (s *Server) Listen(addr string) error {
	if addr == "" {
		addr = s.cfg.Load().Addr
	}
	if err := s.cfg.Load().Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mock: cannot listen on %s: %w", addr, err)
	}
	if err := s.Serve(ln); err != nil {
		_ = ln.Close()
		return err
	}
	return nil
}

// Serve serves on ln in the background until Close, which closes ln. It
// returns at once; use Wait to block until serving stops.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.cfg.Load().Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return ErrServing
	}
	s.started = true
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.srv.Serve(ln)
		s.mu.Lock()
		if !s.closed {
			s.serveErr = err
		}
		s.mu.Unlock()
		close(s.serveDone)
	}()
	return nil
}

// Wait blocks until the serve loop stops and returns why (nil after Close).
// It returns at once if the server was never started.
func (s *Server) Wait() error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	<-s.serveDone
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serveErr
}

// Addr is the bound address, "127.0.0.1:port"; "" before Listen or Serve.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the OpenAI base URL, "http://127.0.0.1:port/v1", as SDKs take it.
func (s *Server) URL() string {
	return "http://" + s.Addr() + "/v1"
}

// Close stops accepting, ends hangs, stalls and streams at once, lets
// other responses finish for up to a second, then closes the remaining
// connections and waits for every goroutine the Server started. It is
// idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	close(s.done)
	if !started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	err := s.srv.ShutdownWithContext(ctx)
	cancel()
	if err != nil {
		s.connMu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.connMu.Unlock()
		err = s.srv.Shutdown()
	}
	s.wg.Wait()
	return err
}

// own registers a goroutine the Server must wait for; false once Close has
// begun.
func (s *Server) own() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// Config returns the configuration in force.
func (s *Server) Config() Config {
	c := *s.cfg.Load()
	c.Models = append([]string(nil), c.Models...)
	c.Script = append([]string(nil), c.Script...)
	return c
}

// SetConfig replaces the configuration for the requests that start after
// it (running streams keep theirs). Zero fields get their defaults; an
// invalid c is refused and the old one stays.
func (s *Server) SetConfig(c Config) error {
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return err
	}
	c.Models = append([]string(nil), c.Models...)
	c.Script = append([]string(nil), c.Script...)
	s.hist.resize(c.History)
	s.cfg.Store(&c)
	s.script.Store(&script{steps: c.Script})
	return nil
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats { return s.c.snapshot() }

// ResetStats zeroes the counters (except InFlight), forgets the request
// history and starts Config.Script over.
func (s *Server) ResetStats() {
	s.c.reset()
	s.hist.clear()
	s.script.Load().next.Store(0)
}

// OpenConns is the number of client connections open now (hijacked stream
// connections excluded), for leak checks.
func (s *Server) OpenConns() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return len(s.conns)
}

// Accepted is the number of connections accepted since the server
// started, for connection-reuse checks.
func (s *Server) Accepted() int {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.accepted
}

// LastRequests returns copies of the last Config.History API requests
// received, oldest first.
func (s *Server) LastRequests() []Request { return s.hist.list() }

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch string(path) {
	case "/stats":
		s.serveStats(ctx)
		return
	case "/mock/config":
		s.serveConfig(ctx)
		return
	case "/mock/reset":
		if !ctx.IsPost() {
			writePlainError(ctx, fasthttp.StatusMethodNotAllowed)
			return
		}
		s.ResetStats()
		ctx.SetStatusCode(fasthttp.StatusNoContent)
		return
	}
	s.route(ctx, path)
}

// route dispatches provider API paths. OpenAI paths are accepted under
// /v1, /api/v1 (OpenRouter) and bare.
func (s *Server) route(ctx *fasthttp.RequestCtx, path []byte) {
	// Gemini: /v1beta/models/{model}:method (and /v1/models/...:method).
	if bytes.HasPrefix(path, []byte("/v1beta/")) ||
		(bytes.HasPrefix(path, []byte("/v1/models/")) && bytes.IndexByte(path, ':') >= 0) {
		if _, _, ok := geminiModelFromPath(path); ok {
			s.api(ctx, gemini{}, fasthttp.MethodPost, (*Server).geminiGenerate)
			return
		}
	}
	p := path
	if bytes.HasPrefix(p, []byte("/api/v1/")) {
		p = p[len("/api/v1"):]
	} else if bytes.HasPrefix(p, []byte("/v1/")) {
		p = p[len("/v1"):]
	}
	switch {
	case string(p) == "/chat/completions":
		s.api(ctx, openAI{}, fasthttp.MethodPost, (*Server).openAIChat)
	case string(p) == "/completions":
		s.api(ctx, openAI{}, fasthttp.MethodPost, (*Server).openAICompletions)
	case string(p) == "/embeddings":
		s.api(ctx, openAI{}, fasthttp.MethodPost, (*Server).openAIEmbeddings)
	case string(p) == "/messages":
		s.api(ctx, anthropic{}, fasthttp.MethodPost, (*Server).anthropicMessages)
	case string(p) == "/messages/count_tokens":
		s.api(ctx, anthropic{}, fasthttp.MethodPost, (*Server).anthropicCountTokens)
	case string(p) == "/models" || bytes.HasPrefix(p, []byte("/models/")):
		s.api(ctx, openAI{}, fasthttp.MethodGet, (*Server).openAIModels)
	default:
		s.c.requests.Add(1)
		s.fail(ctx, openAI{}, apiError{status: 404, code: "unknown_url",
			msg: "Unknown request URL: " + string(ctx.Method()) + " " + string(path) + "."})
	}
}

// endpoint serves one API request after the shared prologue. It returns true
// when a stream took over the request (and will finish its accounting).
type endpoint func(s *Server, ctx *fasthttp.RequestCtx, p plan) bool

// api runs the part every protocol shares: history, accounting, method,
// auth, overrides and the faults that strike before a body is read.
func (s *Server) api(ctx *fasthttp.RequestCtx, d dialect, method string, h endpoint) {
	s.c.requests.Add(1)
	s.c.inFlight.Add(1)
	handedOff := false
	defer func() {
		if !handedOff {
			s.c.inFlight.Add(-1)
		}
	}()
	s.record(ctx)

	cfg := s.cfg.Load()
	if string(ctx.Method()) != method {
		s.fail(ctx, d, apiError{status: 405, msg: "Method " + string(ctx.Method()) + " is not allowed here; use " + method + "."})
		return
	}
	if cfg.APIKey != "" && !d.authorized(ctx, cfg.APIKey) {
		s.fail(ctx, d, apiError{status: 401, code: "invalid_api_key", msg: "Incorrect API key provided."})
		return
	}
	p := newPlan(cfg)
	if step, ok := s.script.Load().step(); ok {
		_ = p.applyStep(step) // validated with the Config
	}
	if err := p.applyHeaders(&ctx.Request.Header); err != nil {
		s.fail(ctx, d, apiError{status: 400, msg: err.Error()})
		return
	}
	if p.hang > 0 {
		w := waiter{s: s, conn: ctx.Conn()}
		switch w.wait(p.hang, 0, nil) {
		case waitGone:
			s.c.abandoned.Add(1)
			ctx.SetConnectionClose()
			return
		case waitClosing:
			ctx.SetConnectionClose()
			s.fail(ctx, d, apiError{status: 503, msg: "The mock is shutting down."})
			return
		}
	}
	switch {
	case p.status == 200:
		// Forced success overrides the random faults.
	case p.status != 0:
		s.injectError(ctx, d, &p, p.status)
		return
	case cfg.RateLimitRate > 0 && rand.Float64() < cfg.RateLimitRate:
		s.injectError(ctx, d, &p, 429)
		return
	case cfg.ErrorRate > 0 && rand.Float64() < cfg.ErrorRate:
		s.injectError(ctx, d, &p, cfg.ErrorStatus)
		return
	}
	if p.resetAfter == 0 && cfg.ResetRate > 0 && rand.Float64() < cfg.ResetRate {
		// Past the role chunk (event 1) and before the last token event.
		p.resetAfter = 2 + rand.IntN(max(p.tokens, 1))
	}
	// By value: a pointer through a func value would move the plan to the heap.
	handedOff = h(s, ctx, p)
}

func (s *Server) record(ctx *fasthttp.RequestCtx) {
	s.hist.add(time.Now(), ctx.Method(), ctx.RequestURI(), func(dst []byte) []byte {
		for k, v := range ctx.Request.Header.All() {
			dst = append(dst, k...)
			dst = append(dst, 0)
			dst = append(dst, v...)
			dst = append(dst, 0)
		}
		return dst
	}, ctx.Request.Body())
}

// injectError answers with an injected error status; 429 carries the
// retry headers.
func (s *Server) injectError(ctx *fasthttp.RequestCtx, d dialect, p *plan, status int) {
	e := apiError{status: status, msg: "Injected error (mock)."}
	if status == 429 {
		e.code = "rate_limit_exceeded"
		e.msg = "Rate limit reached (mock). Please try again later."
		ra := p.retryAfter
		secs := int64((ra + time.Second - 1) / time.Second)
		ctx.Response.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
		ctx.Response.Header.Set("retry-after-ms", strconv.FormatInt(ra.Milliseconds(), 10))
	}
	s.fail(ctx, d, e)
}

// fail writes a protocol-shaped error and counts its status.
func (s *Server) fail(ctx *fasthttp.RequestCtx, d dialect, e apiError) {
	s.c.status(e.status)
	ctx.SetStatusCode(e.status)
	ctx.SetContentType("application/json")
	ctx.SetBody(d.appendError(nil, e))
}

// writeJSON writes a successful JSON body and counts it.
func (s *Server) writeJSON(ctx *fasthttp.RequestCtx, body []byte) {
	s.c.status(200)
	ctx.SetStatusCode(200)
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.SetBody(body)
}

var contentTypeJSON = []byte("application/json")

// waitBeforeResponse applies the non-stream latency; false means the
// request is over (client gone or server closing) and nothing must be
// written.
func (s *Server) waitBeforeResponse(ctx *fasthttp.RequestCtx, d dialect, p *plan) bool {
	if p.latency <= 0 {
		return true
	}
	w := waiter{s: s, conn: ctx.Conn()}
	switch w.wait(p.latency, 0, nil) {
	case waitGone:
		s.c.abandoned.Add(1)
		ctx.SetConnectionClose()
		return false
	case waitClosing:
		ctx.SetConnectionClose()
		s.fail(ctx, d, apiError{status: 503, msg: "The mock is shutting down."})
		return false
	}
	return true
}

// resetNow resets the connection before any response byte: the handler
// hijacks it so fasthttp writes nothing, then closes it with SO_LINGER 0.
func (s *Server) resetNow(ctx *fasthttp.RequestCtx) {
	s.c.resets.Add(1)
	raw := ctx.Conn()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(net.Conn) { resetConn(raw) })
}

// resetConn closes c so that the peer sees a reset rather than a clean end.
func resetConn(c net.Conn) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		_ = l.SetLinger(0)
	}
	_ = c.Close()
}

func writePlainError(ctx *fasthttp.RequestCtx, status int) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(fmt.Appendf(nil, `{"error":{"message":%q}}`, fasthttp.StatusMessage(status)))
}

func (s *Server) serveStats(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		writePlainError(ctx, fasthttp.StatusMethodNotAllowed)
		return
	}
	b, err := json.Marshal(s.Stats())
	if err != nil {
		panic("BUG: mock: cannot marshal stats: " + err.Error())
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func (s *Server) serveConfig(ctx *fasthttp.RequestCtx) {
	switch {
	case ctx.IsGet():
	case ctx.IsPut() || ctx.IsPost() || string(ctx.Method()) == fasthttp.MethodPatch:
		c := s.Config()
		if err := c.applyJSON(ctx.Request.Body()); err != nil {
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			ctx.SetContentType("application/json")
			msg, _ := json.Marshal(err.Error())
			ctx.SetBody(fmt.Appendf(nil, `{"error":{"message":%s,"type":"invalid_request_error","code":null}}`, msg))
			return
		}
		if err := s.SetConfig(c); err != nil {
			panic("BUG: mock: validated config refused: " + err.Error())
		}
	default:
		writePlainError(ctx, fasthttp.StatusMethodNotAllowed)
		return
	}
	c := s.Config()
	b, err := c.marshalJSON()
	if err != nil {
		panic("BUG: mock: cannot marshal config: " + err.Error())
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// getBuf returns a response buffer; responses are built in one and copied
// into fasthttp's own reused body buffer.
func (s *Server) getBuf() *[]byte {
	if b, ok := s.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 2048)
	return &b
}

func (s *Server) putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // do not keep what a large-response test grew
	}
	*b = (*b)[:0]
	s.bufs.Put(b)
}
