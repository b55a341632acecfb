package floor

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"

	"github.com/tollgate/tollgate/bench/load"
	"github.com/tollgate/tollgate/bench/mock"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		end := time.Now().Add(3 * time.Second)
		for {
			err := goleak.Find(goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
			if err == nil {
				break
			}
			if time.Now().After(end) {
				fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
				code = 1
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.Exit(code)
}

func setup(t *testing.T, c mock.Config) (*mock.Server, *Proxy) {
	t.Helper()
	c.History = 4
	m := mock.New(c)
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	p, err := New(Config{Upstream: m.URL(), IdleConnTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return m, p
}

func probe(t *testing.T, url string, stream bool) []string {
	t.Helper()
	c, err := load.NewClient(load.Request{URL: url, Model: "mock-chat", Stream: stream, IdleConnTimeout: 200 * time.Millisecond,
		MaxTokens: load.Range{Min: 12, Max: 12}, Headers: []load.Header{{Key: "X-Mock-Token-Gap", Value: "1ms"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := c.Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPassThrough(t *testing.T) {
	m, p := setup(t, mock.Config{})
	if !strings.HasSuffix(p.URL(), "/v1") {
		t.Fatalf("base path not kept: %s", p.URL())
	}
	for _, stream := range []bool{false, true} {
		direct, via := probe(t, m.URL(), stream), probe(t, p.URL(), stream)
		if strings.Join(direct, "|") != strings.Join(via, "|") || len(via) == 0 {
			t.Fatalf("stream=%v: direct %q, through the floor %q", stream, direct, via)
		}
	}
	// The request reached the mock with its path, body and headers.
	last := m.LastRequests()
	r := last[len(last)-1]
	if r.URI != "/v1/chat/completions" || r.Header.Get("X-Mock-Token-Gap") != "1ms" || !strings.Contains(string(r.Body), `"stream":true`) {
		t.Fatalf("upstream saw %s %v %s", r.URI, r.Header, r.Body)
	}
}

// TestStreamIsRelayedEventByEvent reads the first event through the floor
// while the mock still holds the rest back.
func TestStreamIsRelayedEventByEvent(t *testing.T) {
	_, p := setup(t, mock.Config{TTFT: 50 * time.Millisecond, TokenGap: 3 * time.Second, Tokens: 3})
	conn, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(conn)
	start := time.Now()
	sawHeaders, sawToken := false, false
	for !sawToken {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
		if strings.HasPrefix(line, "HTTP/1.1 200") {
			sawHeaders = true
		}
		sawToken = strings.Contains(line, `"content":"Mock"`)
	}
	// The second token is 3 s behind the first: a buffering proxy would
	// hold the first one back until then (closing the connection ends
	// the stream early).
	if !sawHeaders || time.Since(start) > 2*time.Second {
		t.Fatalf("first token after %v (headers %v)", time.Since(start), sawHeaders)
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	p, err := New(Config{Upstream: "http://" + addr + "/v1", IdleConnTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := &fasthttp.HostClient{Addr: p.Addr(), MaxIdleConnDuration: 200 * time.Millisecond,
		Dial: func(a string) (net.Conn, error) { return net.Dial("tcp", a) }}
	defer c.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + p.Addr() + "/v1/chat/completions")
	req.Header.SetMethod("POST")
	if err := c.Do(req, resp); err != nil || resp.StatusCode() != fasthttp.StatusBadGateway {
		t.Fatalf("status %d, %v", resp.StatusCode(), err)
	}
	if err := p.Listen("127.0.0.1:0"); err == nil {
		t.Fatal("second Listen accepted")
	}
	if _, err := New(Config{Upstream: "ftp://x"}); err == nil {
		t.Fatal("non-http upstream accepted")
	}
}
