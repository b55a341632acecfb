// Package upstream owns the pooled fasthttp clients that carry requests to
// model providers.
//
// One Client serves one provider base URL. It enforces three timeouts that
// fit LLM traffic, instead of fasthttp's whole-response ReadTimeout that
// would cut long generations:
//
//   - Connect: dialing (and the TLS handshake) must finish within it.
//   - FirstByte: after a request is written, the first response byte must
//     arrive within it. For a non-streaming request the headers usually
//     arrive only when the whole answer is ready, so this bounds the
//     generation too.
//   - Idle: once the response has started, every later read must return
//     within it; a stream that goes silent for longer is broken.
//
// Pools are sized for rate × latency and wait (MaxConnWait) for a free
// connection instead of failing at once with fasthttp.ErrNoFreeConns.
// Imported by core only.
package upstream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Config of one upstream client. The zero value of each field takes the
// documented default in EnsureDefaults.
type Config struct {
	// BaseURL is the provider's API base, e.g. https://api.openai.com/v1.
	BaseURL string
	// Connect bounds dialing plus TLS. Default 10s.
	Connect time.Duration
	// FirstByte bounds the wait for the first response byte. Default 180s.
	FirstByte time.Duration
	// Idle bounds silence between reads of a started response. Default 120s.
	Idle time.Duration
	// MaxConns caps connections to the host. Default 4096, enough for
	// 5k req/s at 0.8 s mean latency.
	MaxConns int
	// MaxConnWait is how long a request waits for a free connection when
	// MaxConns are busy. Default 5s.
	MaxConnWait time.Duration
	// MaxResponseBody caps non-streaming response bodies. Default 64 MiB.
	MaxResponseBody int
	// TLSConfig for https base URLs; nil uses the system roots.
	TLSConfig *tls.Config
	// AllowLinkLocal lets the dialer connect to link-local and cloud
	// metadata addresses (ForbiddenAddr). Without it such a connection is
	// refused after name resolution, before a packet is sent, so a DNS
	// name that resolves there cannot reach instance credentials.
	AllowLinkLocal bool
}

// metadataAddrs are cloud metadata endpoints outside the link-local
// ranges: AWS over IPv6 and Alibaba Cloud.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("100.100.100.200"): true,
}

// ForbiddenAddr says why a provider may not be reached at a, or "" if it
// may: link-local addresses (169.254.0.0/16, fe80::/10, where cloud
// metadata lives) and the metadata endpoints outside them.
func ForbiddenAddr(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case metadataAddrs[a]:
		return "is a cloud metadata endpoint"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "is a link-local address (cloud metadata lives there)"
	}
	return ""
}

// newDialer is the upstream dialer: it refuses forbidden addresses unless
// allowLinkLocal.
func newDialer(connect time.Duration, allowLinkLocal bool) *net.Dialer {
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	if !allowLinkLocal {
		d.Control = refuseForbidden
	}
	return d
}

// refuseForbidden is the dialer's Control hook: it runs on the resolved
// address before connect.
func refuseForbidden(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil
	}
	if why := ForbiddenAddr(ap.Addr()); why != "" {
		return fmt.Errorf("refusing to connect to %s: it %s (set the provider's allow_link_local to allow it)", address, why)
	}
	return nil
}

// EnsureDefaults fills zero fields with their defaults.
func (c *Config) EnsureDefaults() {
	if c.Connect <= 0 {
		c.Connect = 10 * time.Second
	}
	if c.FirstByte <= 0 {
		c.FirstByte = 180 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 120 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 4096
	}
	if c.MaxConnWait <= 0 {
		c.MaxConnWait = 5 * time.Second
	}
	if c.MaxResponseBody <= 0 {
		c.MaxResponseBody = 64 << 20
	}
}

// readBufferSize is each connection's read buffer, the largest response
// head accepted.
const readBufferSize = 8 << 10

// Client sends requests to one provider. Safe for concurrent use.
type Client struct {
	hc     *fasthttp.HostClient
	scheme string
	host   string
	prefix string // base path without trailing slash, e.g. "/v1"
	cfg    Config
}

// New returns a client for cfg.BaseURL.
func New(cfg Config) (*Client, error) {
	cfg.EnsureDefaults()
	u, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse base_url %q: %w", cfg.BaseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("base_url %q: scheme must be http or https", cfg.BaseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("base_url %q: missing host", cfg.BaseURL)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	c := &Client{
		scheme: u.Scheme,
		host:   u.Host,
		prefix: strings.TrimRight(u.EscapedPath(), "/"),
		cfg:    cfg,
	}
	connect, firstByte, idle := cfg.Connect, cfg.FirstByte, cfg.Idle
	var tlsCfg *tls.Config
	if u.Scheme == "https" {
		tlsCfg = clientTLSConfig(cfg.TLSConfig, u.Hostname())
	}
	c.hc = &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         u.Scheme == "https", // TLS itself is done in Dial
		MaxConns:                      cfg.MaxConns,
		MaxConnWaitTimeout:            cfg.MaxConnWait,
		MaxIdleConnDuration:           60 * time.Second,
		MaxResponseBodySize:           cfg.MaxResponseBody,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		// Bounds a response head too. Providers send 1-2 KiB (Azure and
		// rate-limit headers included); 8 KiB leaves room, and at 1,000
		// concurrent streams each KiB here is 1 MiB of heap.
		ReadBufferSize: readBufferSize,
		// A pooled keep-alive connection the provider already closed (it
		// restarted, or its idle timeout was shorter than ours) fails at
		// once with EOF before any response byte. Retry those on another
		// connection instead of failing the request; anything else is left
		// to the gateway's fallback logic.
		// The other idle connections are then as stale: drop them too.
		MaxIdemponentCallAttempts: 3,
		// Responses are bounded by our own per-read deadlines (timedConn),
		// so no ReadTimeout here: it would be one deadline for the whole
		// streamed body. Writes too (connect + 20 s each), set lazily.
		// The TLS handshake is part of Connect: done here, under its
		// deadline, rather than by fasthttp, which without a WriteTimeout
		// leaves it to the first write and so to the first-byte timeout.
		Dial: func(addr string) (net.Conn, error) {
			return dialAside(func() (net.Conn, error) {
				deadline := time.Now().Add(connect)
				conn, err := newDialer(connect, cfg.AllowLinkLocal).Dial("tcp", addr)
				if err != nil {
					return nil, &Error{Kind: KindConnect, Err: err}
				}
				if tlsCfg != nil {
					if conn, err = handshake(conn, tlsCfg, deadline); err != nil {
						return nil, &Error{Kind: KindConnect, Err: err}
					}
				}
				return &timedConn{Conn: conn, firstByte: firstByte, idle: idle, write: connect + 20*time.Second}, nil
			})
		},
	}
	c.hc.RetryIfErr = func(_ *fasthttp.Request, _ int, err error) (bool, bool) {
		stale := errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
			errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
		if stale {
			c.hc.CloseIdleConnections()
		}
		return false, stale
	}
	return c, nil
}

// URL appends the absolute URL of path (e.g. "/chat/completions") under
// the base URL to dst.
func (c *Client) URL(dst []byte, path string) []byte {
	dst = append(dst, c.scheme...)
	dst = append(dst, "://"...)
	dst = append(dst, c.host...)
	dst = append(dst, c.prefix...)
	return append(dst, path...)
}

// Host is the host[:port] of the base URL, for the Host header.
func (c *Client) Host() string { return c.host }

// Prefix is the base URL's path without a trailing slash.
func (c *Client) Prefix() string { return c.prefix }

// Do sends req and reads the response head into resp. With stream set the
// body is left on the wire: read resp.BodyStream() and close it with
// resp.CloseBodyStream (or CloseWithError from another goroutine, which
// interrupts a blocked read). Errors are *Error.
func (c *Client) Do(req *fasthttp.Request, resp *fasthttp.Response, stream bool) error {
	resp.StreamBody = stream
	err := c.hc.Do(req, resp)
	if err != nil {
		return classify(err)
	}
	return nil
}

// Conns reports open connections (for leak checks and metrics).
func (c *Client) Conns() int { return c.hc.ConnsCount() }

// CloseIdle closes idle pooled connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

// Kind classifies an upstream failure for routing and error mapping.
type Kind uint8

const (
	KindOther     Kind = iota
	KindConnect        // dial or TLS failed: nothing reached the provider
	KindFirstByte      // no response byte within FirstByte
	KindIdle           // a started response went silent for Idle
	KindPoolFull       // no free connection within MaxConnWait
	KindBroken         // connection reset or closed mid-response
)

func (k Kind) String() string {
	switch k {
	case KindConnect:
		return "connect"
	case KindFirstByte:
		return "first_byte_timeout"
	case KindIdle:
		return "idle_timeout"
	case KindPoolFull:
		return "pool_full"
	case KindBroken:
		return "connection_broken"
	}
	return "other"
}

// Error is an upstream transport failure.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return "upstream " + e.Kind.String() + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Classify maps an error from Do or from reading a body stream to *Error.
func Classify(err error) *Error { return classify(err) }

func classify(err error) *Error {
	if err == nil {
		return nil
	}
	var ue *Error
	if errors.As(err, &ue) {
		return ue
	}
	var te *phaseTimeout
	if errors.As(err, &te) {
		if te.first {
			return &Error{Kind: KindFirstByte, Err: err}
		}
		return &Error{Kind: KindIdle, Err: err}
	}
	switch {
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return &Error{Kind: KindPoolFull, Err: err}
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		// fasthttp folds every deadline error of Do into ErrTimeout; Do
		// returns once headers are read, so this is the first-byte phase
		// (dial timeouts arrive as *Error from our dialer).
		if errors.Is(err, fasthttp.ErrDialTimeout) {
			return &Error{Kind: KindConnect, Err: err}
		}
		return &Error{Kind: KindFirstByte, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: KindIdle, Err: err}
	}
	return &Error{Kind: KindBroken, Err: err}
}

// clientTLSConfig is base (or the defaults) for host: its ServerName, and a
// session cache so that reconnecting to a provider resumes TLS sessions.
func clientTLSConfig(base *tls.Config, host string) *tls.Config {
	c := &tls.Config{}
	if base != nil {
		c = base.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	if c.ClientSessionCache == nil {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	}
	return c
}

// dialAside runs dial on a goroutine of its own and waits for it. fasthttp
// dials on the goroutine of the request (unless it queued for a pooled
// connection), which for a stream is the client connection's goroutine for
// the whole stream. Resolving and connecting need deep stacks: run there,
// they grew that goroutine's stack from 8 to 16 KiB for as long as it
// serves the stream (measured against a plain-HTTP upstream at 1,000
// concurrent streams: 17.3 → 13.3 MiB of stacks; a TLS handshake is deeper
// still). A goroutine per new connection costs 0.8-1.1 µs and 3 allocations
// (BenchmarkDialAside) beside a connect's round trip. A panic in dial (a bug, or a TLS callback)
// becomes a connect error, as the gateway's recoverer made of it before.
func dialAside(dial func() (net.Conn, error)) (net.Conn, error) {
	type dialed struct {
		conn net.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- dialed{nil, &Error{Kind: KindConnect, Err: fmt.Errorf("dial panicked: %v", r)}}
			}
		}()
		c, err := dial()
		ch <- dialed{c, err}
	}()
	d := <-ch
	return d.conn, d.err
}

// handshake runs the TLS handshake over conn by deadline; it closes conn
// if the handshake fails.
func handshake(conn net.Conn, cfg *tls.Config, deadline time.Time) (net.Conn, error) {
	tc := tls.Client(conn, cfg)
	err := conn.SetDeadline(deadline)
	if err == nil {
		err = tc.Handshake()
	}
	if err == nil {
		err = conn.SetDeadline(time.Time{}) // timedConn sets its own from here
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// Handshake tells fasthttp that the connection is already TLS (or plain
// by choice), so it does not wrap it again; the handshake ran in Dial.
func (c *timedConn) Handshake() error { return nil }

// phaseTimeout is the read-deadline error of a timedConn, naming the phase.
type phaseTimeout struct {
	first bool
	err   error
}

func (e *phaseTimeout) Error() string {
	if e.first {
		return "no response byte within first_byte timeout: " + e.err.Error()
	}
	return "response idle longer than idle timeout: " + e.err.Error()
}
func (e *phaseTimeout) Unwrap() error { return e.err }
func (e *phaseTimeout) Timeout() bool { return true }

// timedConn applies a per-read deadline: FirstByte for the first read after
// a write (the request went out, the response has not started), Idle for
// every later read; and a deadline for each write. Setting a deadline costs
// a runtime timer update, far cheaper than a goroutine per stream, and it
// is skipped when the deadline in place is already within deadlineSlack of
// the wanted one (a connection serving back-to-back requests moves it
// about once a second, not two or three times a request). So a phase may
// time out up to that slack early, never late.
type timedConn struct {
	net.Conn
	firstByte, idle, write time.Duration
	awaiting               atomic.Bool // a request was written, no byte read yet

	readBy  time.Time // the read deadline in place; the reading goroutine's
	writeBy time.Time // the write deadline in place; the writing goroutine's
}

// deadlineSlack is how early a deadline may fire: a 32nd of its timeout,
// at most a second.
func deadlineSlack(d time.Duration) time.Duration { return min(d/32, time.Second) }

// moveDeadline reports whether a deadline at cur must move to now+d: it is
// later than that or earlier by more than the slack.
func moveDeadline(cur, now time.Time, d time.Duration) bool {
	want := now.Add(d)
	return cur.After(want) || want.Sub(cur) > deadlineSlack(d)
}

func (c *timedConn) Write(p []byte) (int, error) {
	c.awaiting.Store(true)
	if now := time.Now(); moveDeadline(c.writeBy, now, c.write) {
		c.writeBy = now.Add(c.write)
		if err := c.Conn.SetWriteDeadline(c.writeBy); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

func (c *timedConn) Read(p []byte) (int, error) {
	first := c.awaiting.Load()
	d := c.idle
	if first {
		d = c.firstByte
	}
	if now := time.Now(); moveDeadline(c.readBy, now, d) {
		c.readBy = now.Add(d)
		if err := c.Conn.SetReadDeadline(c.readBy); err != nil {
			return 0, err
		}
	}
	n, err := c.Conn.Read(p)
	if n > 0 && first {
		c.awaiting.Store(false)
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return n, &phaseTimeout{first: first, err: err}
		}
	}
	return n, err
}
