package core_test

// The client-behaviour part of the reliability battery (issue 8 item 2,
// docs/RELIABILITY.md §2): clients that leave mid-stream, read slowly,
// wait through long silences, trickle their headers, hoard connections,
// send too much, or arrive all at once.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
)

// streamRawBody opens a stream on a raw connection and returns it with
// the reader positioned after the response headers.
func (e *env) streamRawBody(body string) (net.Conn, *bufio.Reader, http.Header) {
	e.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.api, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", testKey, len(body), body)
	br := bufio.NewReaderSize(c, 64)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		e.t.Fatalf("status %d", resp.StatusCode)
	}
	return c, br, resp.Header
}

// TestDisconnectAtRandomToken: a client that hangs up at a random token
// gets its upstream request closed within a second (p99 over the runs),
// and is charged for what was relayed before it left, once.
func TestDisconnectAtRandomToken(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 200, TokenGap: 10 * time.Millisecond}}}, oneModel, "")
	m := e.mocks["p1"]
	e.warmUp()
	base := e.baseline()
	const runs = 12
	var closeTimes []time.Duration
	var charged int64
	spent0 := e.spent()
	for i := 0; i < runs; i++ {
		c, br, hdr := e.streamRawBody(`{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"leave early"}]}`)
		at := 3 + rand.IntN(30)
		for n := 0; n < at; {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(line, `"content":"`) {
				n++
			}
		}
		aborted := m.Stats().StreamsAborted
		_ = c.Close()
		left := time.Now()
		eventually(t, 5*time.Second, "the upstream stream to be closed", func() bool { return m.Stats().StreamsAborted > aborted })
		closeTimes = append(closeTimes, time.Since(left))

		id := hdr.Get("X-Generation-Id")
		var g struct {
			cost, prompt, completion int64
			cancelled                bool
		}
		eventually(t, 5*time.Second, "the cancelled generation", func() bool {
			_ = e.ledger.Flush()
			gen, err := e.ledger.GetGeneration(id)
			g.cost, g.prompt, g.completion, g.cancelled = gen.Cost, gen.PromptTokens, gen.CompletionTokens, gen.Cancelled
			return err == nil
		})
		// The mock reported no usage (it was cut before the end): the
		// charge is the estimate of what was relayed, never the whole
		// 200-token completion, never nothing.
		if !g.cancelled || g.completion == 0 || g.completion >= 200 || g.cost != g.prompt*promptNano+g.completion*completionNano {
			t.Fatalf("run %d (left after %d tokens): generation %+v", i, at, g)
		}
		charged += g.cost
	}
	if got := e.spent() - spent0; got != charged {
		t.Fatalf("ledger charged %d, generations say %d", got, charged)
	}
	slices.Sort(closeTimes)
	p99 := closeTimes[len(closeTimes)*99/100]
	t.Logf("upstream closed after the client left: median %v, p99 %v (%d runs)", closeTimes[len(closeTimes)/2], p99, runs)
	if p99 > time.Second {
		t.Fatalf("upstream closed %v after the client left (p99), want ≤ 1s", p99)
	}
	e.checkNoLeaks(base, 1)
}

// TestSlowReader: a client reading a few bytes every 100 ms from a fast,
// large stream. The gateway buffers a bounded amount per stream, so the
// provider is backpressured (it has written a small share of the stream)
// and memory does not grow with the stream.
func TestSlowReader(t *testing.T) {
	const size = 100 << 20
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 1000, ResponseBytes: size}}}, oneModel, "")
	m := e.mocks["p1"]
	e.warmUp()
	base := e.baseline()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heap0 := ms.HeapInuse
	c, br, _ := e.streamRawBody(`{"model":"acme/chat","stream":true,"max_tokens":1000,"messages":[{"role":"user","content":"slowly"}]}`)
	buf := make([]byte, 16)
	var written []uint64
	for i := 0; i < 20; i++ {
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if i%5 == 4 {
			written = append(written, m.Stats().CompletionTokens)
		}
	}
	runtime.ReadMemStats(&ms)
	grew := int64(ms.HeapInuse) - int64(heap0)
	_ = c.Close()
	// Each token is ~100 KB; socket buffers on loopback hold a few MB.
	// Without backpressure the mock would have written all 1000 tokens in
	// well under the 2 s the client spent reading 320 bytes.
	last := written[len(written)-1]
	t.Logf("tokens written by the provider while the client read 320 bytes over 2s: %v of 1000; heap grew %d MB", written, grew>>20)
	if last > 200 {
		t.Fatalf("provider wrote %d of 1000 tokens (100 MB) to a client that read 320 bytes: no backpressure", last)
	}
	if written[len(written)-2] != last {
		// Stalled: the provider is blocked, not throttled slowly.
		t.Logf("provider still writing at the end (%v)", written)
	}
	if grew > 48<<20 {
		t.Fatalf("heap grew %d MB for one slow reader", grew>>20)
	}
	e.checkNoLeaks(base, 1)
}

// TestLongSilentStream stands in for a 15-minute stream with long
// silences: keep-alive comments every server.keepalive (100 ms here, 10 s
// by default) while the provider is silent for many intervals, and no
// timeout cuts the stream, not even limits.request_timeout, which is
// shorter than the whole stream here.
func TestLongSilentStream(t *testing.T) {
	const interval = 100 * time.Millisecond
	// Tokens 6 with a 700 ms gap: 4+ s of stream, each gap 7 keep-alive
	// periods of silence from the provider (which sends no comments).
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 6, TTFT: 700 * time.Millisecond, TokenGap: 700 * time.Millisecond, RoleAfterTTFT: true}, extra: ", timeouts: {first_byte: 2s, idle: 2s}"}},
		oneModel, "server: {keepalive: 100ms}\nlimits: {request_timeout: 1s}\n")
	c, br, _ := e.streamRawBody(`{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"take your time"}]}`)
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var gaps []time.Duration
	last := time.Now()
	start := last
	keepAlives, content := 0, 0
	done := false
	for !done {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream cut after %v: %v", time.Since(start), err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		now := time.Now()
		gaps = append(gaps, now.Sub(last))
		last = now
		switch {
		case strings.HasPrefix(line, ":"):
			keepAlives++
		case strings.Contains(line, `"content":"`):
			content++
		case line == "data: [DONE]":
			done = true
		case strings.Contains(line, `"error"`):
			t.Fatalf("stream ended with an error after %v: %s", time.Since(start), line)
		}
	}
	slices.Sort(gaps)
	maxGap := gaps[len(gaps)-1]
	t.Logf("%v stream: %d keep-alives, %d content chunks, longest silence %v (interval %v)", time.Since(start).Round(time.Millisecond), keepAlives, content, maxGap, interval)
	if content < 6 || keepAlives < 15 {
		t.Fatalf("%d content chunks, %d keep-alives", content, keepAlives)
	}
	// Generous for a loaded CI machine: the ticker is the interval, the
	// check is that silences never run to several intervals.
	if maxGap > 4*interval {
		t.Fatalf("longest silence %v with keep-alive every %v", maxGap, interval)
	}
}

// TestSlowloris: a client trickling its headers or its body is cut at
// server.read_timeout; connections beyond server.max_conns_per_ip are
// refused; an idle keep-alive connection is closed after
// server.idle_timeout.
func TestSlowloris(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel,
		"server: {read_timeout: 1s, idle_timeout: 700ms, max_conns_per_ip: 4}\n")
	addr := strings.TrimPrefix(e.api, "http://")
	base := e.baseline()

	// max_conns_per_ip first: fasthttp forgets a connection only after it
	// is closed, so one the server just cut may still count for a moment.
	t.Run("max_conns_per_ip", func(t *testing.T) {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		ask := func(c net.Conn) (int, error) {
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return 0, err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		for i := 0; i < 4; i++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			if code, err := ask(c); err != nil || code != 200 {
				t.Fatalf("connection %d: %d %v", i, code, err)
			}
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		code, err := ask(c)
		if err == nil && code == 200 {
			t.Fatalf("a fifth connection from one IP was served with max_conns_per_ip 4")
		}
		t.Logf("fifth connection: status %d, err %v", code, err)
		// Free the slots for the next subtests: fasthttp forgets a
		// connection only once it has seen it close.
		for _, c := range conns {
			c.Close()
		}
		conns = nil
		eventually(t, 5*time.Second, "a new connection to be served", func() bool {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return false
			}
			defer c.Close()
			code, err := ask(c)
			return err == nil && code == 200
		})
	})

	t.Run("trickled headers", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		closed := make(chan time.Duration, 1)
		go func() {
			_, _ = io.ReadAll(c) // until the server closes
			closed <- time.Since(start)
		}()
		header := "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 200)
		for i := 0; i < len(header); i++ {
			if _, err := c.Write([]byte{header[i]}); err != nil {
				break // cut
			}
			select {
			case d := <-closed:
				t.Logf("trickling client cut after %v", d)
				if d < 900*time.Millisecond || d > 5*time.Second {
					t.Fatalf("cut after %v, read_timeout is 1s", d)
				}
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		t.Fatalf("the server read %d trickled header bytes over %v without cutting the client", len(header), time.Since(start))
	})

	t.Run("trickled body", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		fmt.Fprintf(c, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 400\r\n\r\n", testKey)
		closed := make(chan time.Duration, 1)
		go func() {
			_, _ = io.ReadAll(c)
			closed <- time.Since(start)
		}()
		for i := 0; i < 400; i++ {
			if _, err := c.Write([]byte{' '}); err != nil {
				break
			}
			select {
			case d := <-closed:
				t.Logf("client trickling its body cut after %v", d)
				if d < 900*time.Millisecond || d > 5*time.Second {
					t.Fatalf("cut after %v, read_timeout is 1s", d)
				}
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		t.Fatalf("the server read a body trickled over %v without cutting the client", time.Since(start))
	})

	t.Run("idle keep-alive closed", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		idle := time.Now()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = br.ReadByte()
		d := time.Since(idle)
		var ne net.Error
		if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
			t.Fatalf("idle connection not closed by the server after %v (err %v)", d, err)
		}
		t.Logf("idle keep-alive connection closed after %v", d)
		if d < 500*time.Millisecond || d > 5*time.Second {
			t.Fatalf("closed after %v, idle_timeout is 700ms", d)
		}
	})
	e.checkNoLeaks(base, 1)
}

// TestBodyOverLimitNotRead: a chunked body (no Content-Length to refuse
// it by) that keeps coming past limits.max_request_body is answered with
// 413 without the gateway reading it whole.
func TestBodyOverLimitNotRead(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, "limits: {max_request_body: 64KiB}\n")
	c, err := net.Dial("tcp", strings.TrimPrefix(e.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n", testKey)
	got := make(chan *http.Response, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			got <- nil
			return
		}
		got <- resp
	}()
	chunk := strings.Repeat("a", 8<<10)
	sent := 0
	for sent < 64<<20 {
		if _, err := fmt.Fprintf(c, "%x\r\n%s\r\n", len(chunk), chunk); err != nil {
			break // the server closed the connection
		}
		sent += len(chunk)
		select {
		case resp := <-got:
			if resp == nil || resp.StatusCode != 413 {
				t.Fatalf("after %d KB: %v", sent>>10, resp)
			}
			t.Logf("413 after sending %d KB of a chunked body (limit 64 KB)", sent>>10)
			return
		default:
		}
	}
	resp := <-got
	if resp == nil || resp.StatusCode != 413 {
		t.Fatalf("after %d MB: %v", sent>>20, resp)
	}
	if sent >= 64<<20 {
		t.Fatalf("the gateway kept reading %d MB of a body over a 64 KB limit", sent>>20)
	}
	t.Logf("413, connection closed after %d KB sent (limit 64 KB)", sent>>10)
}

// TestAdmissionControl: a burst far over limits.max_concurrent gets fast
// 503s with Retry-After for the excess instead of queueing it; the
// admitted requests complete.
func TestAdmissionControl(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 5, Latency: 3 * time.Second}}}, oneModel, "limits: {max_concurrent: 4}\n")
	const burst = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var slowest503 time.Duration
	for i := 0; i < burst; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			r := e.post("/api/v1/chat/completions", chatBody)
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			codes[r.status]++
			if r.status == 503 {
				slowest503 = max(slowest503, d)
				if r.header.Get("Retry-After") == "" {
					t.Errorf("503 without Retry-After")
				}
				if code, _, _ := errorOf(t, r.body); code != 503 {
					t.Errorf("error body %s", r.body)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("burst of %d with max_concurrent 4: %v; slowest 503 took %v", burst, codes, slowest503)
	if codes[200] < 4 || codes[200]+codes[503] != burst {
		t.Fatalf("statuses %v", codes)
	}
	// Admitted requests take 3 s upstream; a refusal must not wait for
	// them.
	if slowest503 > 2500*time.Millisecond {
		t.Fatalf("a refused request waited %v", slowest503)
	}
	if n := e.mocks["p1"].Stats().Requests; n != uint64(codes[200]) {
		t.Fatalf("mock saw %d requests for %d admitted", n, codes[200])
	}
}

// TestNonStreamClientLeaves: a client that hangs up while waiting for a
// non-stream answer does not cancel the upstream request (as on
// OpenRouter, only streams are cancelled): the provider finishes and bills
// it, the gateway charges exactly what it reported, and nothing leaks.
func TestNonStreamClientLeaves(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 5, Latency: time.Second}}}, oneModel, "")
	e.warmUp()
	base := e.baseline()
	spent0, cost0 := e.spent(), e.reportedCost()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"acme/chat","messages":[{"role":"user","content":"gone"}]}`
	fmt.Fprintf(c, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s", testKey, len(body), body)
	eventually(t, 5*time.Second, "the upstream request", func() bool { return e.mocks["p1"].Stats().InFlight == 1 })
	_ = c.Close()
	eventually(t, 10*time.Second, "the upstream to finish", func() bool { return e.mocks["p1"].Stats().InFlight == 0 })
	eventually(t, 5*time.Second, "the charge", func() bool { return e.spent()-spent0 == e.reportedCost()-cost0 && e.spent() > spent0 })
	e.checkNoLeaks(base, 1)
}

// TestStreamFramesDoNotWaitForNextEvent: frames are batched per upstream
// read, but a frame never waits for the upstream's next event: with 1.5 s
// between tokens, the first token reaches the client long before the
// second is sent.
func TestStreamFramesDoNotWaitForNextEvent(t *testing.T) {
	const gap = 1500 * time.Millisecond
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 2, TokenGap: gap}}}, oneModel, "")
	c, br, _ := e.streamRawBody(`{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	defer c.Close()
	t0 := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before a content token: %v", err)
		}
		if strings.Contains(line, `"content":"`) && !strings.Contains(line, `"content":""`) {
			break
		}
	}
	if d := time.Since(t0); d > gap/2 {
		t.Fatalf("first token arrived %v after the headers; the upstream sent it at once and the next after %v", d, gap)
	}
}
