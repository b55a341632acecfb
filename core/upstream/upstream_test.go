package upstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rawServer answers every connection with script(conn) after reading the
// request head.
func rawServer(t *testing.T, script func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				script(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/v1"
}

func newReq(c *Client) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURIBytes(c.URL(nil, "/chat/completions"))
	req.Header.SetMethod("GET")
	return req
}

func TestTimeoutsByPhase(t *testing.T) {
	f := func(name string, script func(c net.Conn), stream bool, want Kind) {
		t.Helper()
		url := rawServer(t, script)
		c, err := New(Config{BaseURL: url, FirstByte: 200 * time.Millisecond, Idle: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		req := newReq(c)
		defer fasthttp.ReleaseRequest(req)
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		err = c.Do(req, resp, stream)
		if err == nil && stream {
			_, err = io.ReadAll(resp.BodyStream())
			if err != nil {
				err = Classify(err)
			}
			_ = resp.CloseBodyStream()
		}
		var ue *Error
		if !errors.As(err, &ue) || ue.Kind != want {
			t.Fatalf("%s: error %v, want kind %v", name, err, want)
		}
	}
	f("no byte at all", func(c net.Conn) { time.Sleep(time.Second) }, false, KindFirstByte)
	f("silent after headers", func(c net.Conn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		io.WriteString(c, "6\r\ndata: \r\n")
		time.Sleep(time.Second)
	}, true, KindIdle)
	f("reset before response", func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}, false, KindBroken)
}

// A slow but steady stream is never cut: each read only has to arrive
// within Idle, however long the whole response takes.
func TestSteadyStreamOutlivesTimeouts(t *testing.T) {
	url := rawServer(t, func(c net.Conn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		for i := 0; i < 8; i++ {
			time.Sleep(100 * time.Millisecond)
			io.WriteString(c, "2\r\nok\r\n")
		}
		io.WriteString(c, "0\r\n\r\n")
	})
	c, err := New(Config{BaseURL: url, FirstByte: 300 * time.Millisecond, Idle: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req := newReq(c)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	if err := c.Do(req, resp, true); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.BodyStream())
	_ = resp.CloseBodyStream()
	if err != nil || string(b) != strings.Repeat("ok", 8) {
		t.Fatalf("body %q err %v after 800ms with 300ms timeouts", b, err)
	}
}

func TestConnectError(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(Config{BaseURL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	req := newReq(c)
	defer fasthttp.ReleaseRequest(req)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	var ue *Error
	if err := c.Do(req, resp, false); !errors.As(err, &ue) || ue.Kind != KindConnect {
		t.Fatalf("error %v, want connect", err)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"ftp://x", "http://", "::", "localhost:80"} {
		if _, err := New(Config{BaseURL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	c, err := New(Config{BaseURL: "https://api.example.com/v1/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(c.URL(nil, "/chat/completions")); got != "https://api.example.com/v1/chat/completions" {
		t.Fatalf("URL %q", got)
	}
}

// After the provider restarts, pooled connections to it are dead: the next
// requests must redial instead of failing once per stale connection.
func TestStalePooledConnectionsAreRedialled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	serve := func(ln net.Listener) *fasthttp.Server {
		s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
		go s.Serve(ln)
		return s
	}
	srv := serve(ln)
	c, err := New(Config{BaseURL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	do := func() error {
		req := newReq(c)
		req.Header.SetMethod("POST")
		defer fasthttp.ReleaseRequest(req)
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		return c.Do(req, resp, false)
	}
	// Fill the pool with a few keep-alive connections.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _ = do() }()
	}
	wg.Wait()
	_ = srv.Shutdown() // closes the server side of every pooled connection
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot rebind %s: %v", addr, err)
	}
	srv2 := serve(ln2)
	defer srv2.Shutdown()
	for i := 0; i < 4; i++ {
		if err := do(); err != nil {
			t.Fatalf("request %d after the restart: %v", i, err)
		}
	}
}

// TestMoveDeadline: a deadline moves when it is later than wanted or
// earlier by more than the slack, so a phase never ends late and at most
// the slack early.
func TestMoveDeadline(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		d    time.Duration
		cur  time.Time
		move bool
	}{
		{time.Minute, time.Time{}, true},
		{time.Minute, now.Add(-time.Second), true},
		{time.Minute, now.Add(time.Minute), false},
		{time.Minute, now.Add(time.Minute - 900*time.Millisecond), false},
		{time.Minute, now.Add(time.Minute - 1100*time.Millisecond), true},
		{time.Minute, now.Add(time.Minute + time.Millisecond), true},
		{320 * time.Millisecond, now.Add(310 * time.Millisecond), false},
		{320 * time.Millisecond, now.Add(300 * time.Millisecond), true},
	} {
		if got := moveDeadline(tc.cur, now, tc.d); got != tc.move {
			t.Errorf("d %v, deadline in %v: move %v, want %v", tc.d, tc.cur.Sub(now), got, tc.move)
		}
	}
}

// TestLargeResponseHead: a response head of 6 KiB (many rate-limit and
// tracing headers) fits the read buffer; one larger than it fails as a
// broken upstream, which the gateway falls back from.
func TestLargeResponseHead(t *testing.T) {
	for _, tc := range []struct {
		size int
		ok   bool
	}{{6 << 10, true}, {readBufferSize + 1024, false}} {
		url := rawServer(t, func(c net.Conn) {
			var b strings.Builder
			b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n")
			for i := 0; b.Len() < tc.size; i++ {
				fmt.Fprintf(&b, "X-Trace-%d: %s\r\n", i, strings.Repeat("a", 60))
			}
			b.WriteString("\r\n{}")
			_, _ = io.WriteString(c, b.String())
		})
		c, err := New(Config{BaseURL: url})
		if err != nil {
			t.Fatal(err)
		}
		req, resp := newReq(c), fasthttp.AcquireResponse()
		err = c.Do(req, resp, false)
		if tc.ok && (err != nil || string(resp.Body()) != "{}") {
			t.Errorf("%d-byte head: %v, body %q", tc.size, err, resp.Body())
		}
		if !tc.ok && err == nil {
			t.Errorf("%d-byte head accepted with a %d-byte buffer", tc.size, readBufferSize)
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}

// TestTLSHandshakeUnderConnect: the TLS handshake is bounded by the
// connect timeout (a server that accepts and never answers the ClientHello
// fails as a connect error, not after first_byte), and an https provider's
// connection is reused across requests.
func TestTLSHandshakeUnderConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	c, err := New(Config{BaseURL: "https://" + ln.Addr().String() + "/v1", Connect: 200 * time.Millisecond, FirstByte: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	req, resp := newReq(c), fasthttp.AcquireResponse()
	t0 := time.Now()
	err = c.Do(req, resp, false)
	var ue *Error
	if !errors.As(err, &ue) || ue.Kind != KindConnect || time.Since(t0) > 3*time.Second {
		t.Fatalf("silent TLS server: %v after %v, want a connect error after about 200ms", err, time.Since(t0))
	}

	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "{}")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig
	c, err = New(Config{BaseURL: srv.URL + "/v1", TLSConfig: roots})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		req := newReq(c)
		resp.Reset()
		if err := c.Do(req, resp, false); err != nil || string(resp.Body()) != "{}" {
			t.Fatalf("request %d over TLS: %v %q", i, err, resp.Body())
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("3 requests opened %d TLS connections", n)
	}
}

func TestDialAside(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c, err := dialAside(func() (net.Conn, error) { return a, nil })
	if c != a || err != nil {
		t.Fatalf("got %v, %v; want the dialed conn", c, err)
	}
	want := errors.New("refused")
	if c, err = dialAside(func() (net.Conn, error) { return nil, want }); c != nil || err != want {
		t.Fatalf("got %v, %v; want the dial error", c, err)
	}
	c, err = dialAside(func() (net.Conn, error) { panic("bug") })
	var ue *Error
	if c != nil || !errors.As(err, &ue) || ue.Kind != KindConnect || !strings.Contains(err.Error(), "bug") {
		t.Fatalf("got %v, %v; want a connect error naming the panic", c, err)
	}
}

// BenchmarkDialAside is what dialing on a goroutine of its own adds to a
// dial: a goroutine and a channel hand-off.
func BenchmarkDialAside(b *testing.B) {
	a, c := net.Pipe()
	defer a.Close()
	defer c.Close()
	dial := func() (net.Conn, error) { return a, nil }
	for b.Loop() {
		if _, err := dialAside(dial); err != nil {
			b.Fatal(err)
		}
	}
}
