// Package floor is the bare reverse proxy that `tollgate bench overhead`
// measures as the floor of gateway overhead: the cost of one extra
// loopback hop and nothing else. SPEC §9 states Tollgate's budgets as
// ratios to this floor, measured in the same run.
//
// It is the canonical fasthttp pass-through: the server hands its own
// request object to a HostClient and the upstream's response object back,
// bytes unchanged (only Host is rewritten), with response streaming on, so
// an SSE stream is relayed read by read, each read flushed as one chunk,
// headers flushed at once. No parsing, no auth, no metrics: whatever a real
// gateway measures above this line is its own work.
//
// Who imports it: bench/overhead and tests. It imports nothing of
// Tollgate's.
package floor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Config configures a Proxy. The zero value of every field but Upstream
// has a default.
type Config struct {
	// Upstream is the base URL to forward to ("http://127.0.0.1:9000/v1");
	// request paths are forwarded unchanged, so the proxy's base URL has
	// the same path (see URL).
	Upstream string
	// MaxConns caps upstream connections. Zero means 8192.
	MaxConns int
	// IdleConnTimeout closes unused upstream connections. Zero means 90s.
	IdleConnTimeout time.Duration
}

// Proxy is a running pass-through proxy.
type Proxy struct {
	srv      *fasthttp.Server
	hc       *fasthttp.HostClient
	host     string
	tls      bool
	basePath string

	// mu guards the lifecycle fields below it.
	mu     sync.Mutex
	ln     net.Listener
	closed bool
	wg     sync.WaitGroup

	connMu sync.Mutex
	conns  map[net.Conn]struct{} // guarded by connMu
}

var streamType = []byte("text/event-stream")

// New returns a Proxy to c.Upstream; it does not listen yet.
func New(c Config) (*Proxy, error) {
	u, err := url.Parse(c.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("floor: upstream %q is not an http(s) base URL", c.Upstream)
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 8192
	}
	if c.IdleConnTimeout <= 0 {
		c.IdleConnTimeout = 90 * time.Second
	}
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	p := &Proxy{
		host:     u.Host,
		tls:      u.Scheme == "https",
		basePath: strings.TrimSuffix(u.Path, "/"),
		conns:    map[net.Conn]struct{}{},
		hc: &fasthttp.HostClient{
			Addr:                     addr,
			IsTLS:                    u.Scheme == "https",
			MaxConns:                 c.MaxConns,
			MaxConnWaitTimeout:       5 * time.Second,
			MaxIdleConnDuration:      c.IdleConnTimeout,
			StreamResponseBody:       true,
			DisablePathNormalizing:   true,
			NoDefaultUserAgentHeader: true,
			Dial:                     func(a string) (net.Conn, error) { return dialer.Dial("tcp", a) },
		},
	}
	p.srv = &fasthttp.Server{
		Handler:                      p.handle,
		Name:                         "tollgate-bench-floor",
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		NoDefaultDate:                true,
		DisablePreParseMultipartForm: true,
		MaxRequestBodySize:           64 << 20,
		IdleTimeout:                  90 * time.Second,
		CloseOnShutdown:              true,
		ConnState:                    p.connState,
		Logger:                       quietLogger{},
		// The worker-pool cleaner is not joined by Shutdown; a short
		// period bounds how long it outlives Close.
		MaxIdleWorkerDuration: time.Second,
	}
	return p, nil
}

func (p *Proxy) handle(ctx *fasthttp.RequestCtx) {
	req := &ctx.Request
	req.Header.SetHost(p.host)
	if p.tls {
		req.URI().SetScheme("https")
	}
	resp := &ctx.Response
	if err := p.hc.Do(req, resp); err != nil {
		resp.Reset()
		ctx.SetStatusCode(fasthttp.StatusBadGateway)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":{"message":"floor: upstream request failed","type":"upstream_error","code":502}}`)
		return
	}
	if bytes.HasPrefix(resp.Header.ContentType(), streamType) {
		resp.ImmediateHeaderFlush = true
	}
}

// Listen binds addr ("127.0.0.1:0" picks a port) and serves in the
// background until Close.
func (p *Proxy) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("floor: cannot listen on %s: %w", addr, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ln != nil {
		_ = ln.Close()
		return errors.New("floor: proxy already started or closed")
	}
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	return nil
}

// Addr is the bound address; "" before Listen.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return ""
	}
	return p.ln.Addr().String()
}

// URL is the proxy's base URL: its address with the upstream's base path.
func (p *Proxy) URL() string { return "http://" + p.Addr() + p.basePath }

// Close stops the proxy: it lets responses in progress finish for up to a
// second, then closes the remaining connections and waits for the serve
// loop. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	started := p.ln != nil
	p.mu.Unlock()
	if !started {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err := p.srv.ShutdownWithContext(ctx)
	cancel()
	if err != nil {
		p.connMu.Lock()
		for c := range p.conns {
			_ = c.Close()
		}
		p.connMu.Unlock()
		err = p.srv.Shutdown()
	}
	p.wg.Wait()
	p.hc.CloseIdleConnections()
	return err
}

func (p *Proxy) connState(c net.Conn, st fasthttp.ConnState) {
	switch st {
	case fasthttp.StateNew:
		p.connMu.Lock()
		p.conns[c] = struct{}{}
		p.connMu.Unlock()
	case fasthttp.StateClosed, fasthttp.StateHijacked:
		p.connMu.Lock()
		delete(p.conns, c)
		p.connMu.Unlock()
	}
}

type quietLogger struct{}

// Printf drops fasthttp's log lines: a client leaving mid-stream is
// normal in a benchmark.
func (quietLogger) Printf(string, ...any) {}
