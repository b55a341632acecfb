package mock

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
	"time"
)

func TestInjectedErrors(t *testing.T) {
	f := func(c Config, hdr []string, wantStatus int, wantType, wantCode string) {
		t.Helper()
		s := start(t, c)
		for _, body := range []string{chatBody, chatStreamBody(true)} {
			r := post(t, s, "/v1/chat/completions", body, hdr...)
			if r.status != wantStatus {
				t.Fatalf("%v %v: status %d %s", c, hdr, r.status, r.body)
			}
			if wantStatus == 200 {
				continue
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("error Content-Type %q", ct)
			}
			e := path(t, obj(t, r.body), "error")
			if path(t, e, "type") != wantType || path(t, e, "code") != wantCode || path(t, e, "message") == "" {
				t.Fatalf("%v %v: error %v", c, hdr, e)
			}
		}
	}
	f(Config{ErrorRate: 1}, nil, 500, "server_error", "server_error")
	f(Config{ErrorRate: 1, ErrorStatus: 503}, nil, 503, "server_error", "service_unavailable")
	f(Config{ErrorRate: 1}, []string{"X-Mock-Status", "200"}, 200, "", "")
	f(Config{}, []string{"X-Mock-Status", "502"}, 502, "server_error", "server_error")
	f(Config{}, []string{"X-Mock-Status", "400"}, 400, "invalid_request_error", "invalid_request")
	f(Config{RateLimitRate: 1}, nil, 429, "requests", "rate_limit_exceeded")
}

func TestRateLimitHeaders(t *testing.T) {
	f := func(c Config, hdr []string, wantSecs, wantMs string) {
		t.Helper()
		s := start(t, c)
		r := post(t, s, "/v1/chat/completions", chatBody, hdr...)
		if r.status != 429 || r.header.Get("Retry-After") != wantSecs || r.header.Get("Retry-After-Ms") != wantMs {
			t.Fatalf("%d Retry-After %q retry-after-ms %q", r.status, r.header.Get("Retry-After"), r.header.Get("Retry-After-Ms"))
		}
	}
	f(Config{RateLimitRate: 1}, nil, "1", "1000")
	f(Config{RateLimitRate: 1, RetryAfter: 2500 * time.Millisecond}, nil, "3", "2500")
	f(Config{}, []string{"X-Mock-Status", "429", "X-Mock-Retry-After", "7"}, "7", "7000")
	f(Config{}, []string{"X-Mock-Status", "429", "X-Mock-Retry-After", "150ms"}, "1", "150")
}

func TestErrorRateIsAProbability(t *testing.T) {
	s := start(t, Config{ErrorRate: 0.5})
	fc := fastClient(t)
	failed := 0
	for i := 0; i < 400; i++ {
		code, _, err := fc.Post(nil, "http://"+s.Addr()+"/v1/chat/completions", nil)
		if err != nil {
			t.Fatal(err)
		}
		if code == 500 {
			failed++
		}
	}
	// Binomial(400, 0.5): 120..280 is more than 8 standard deviations wide.
	if failed < 120 || failed > 280 {
		t.Fatalf("%d of 400 failed", failed)
	}
}

func TestLatency(t *testing.T) {
	s := start(t, Config{Latency: 150 * time.Millisecond})
	t0 := time.Now()
	if r := post(t, s, "/v1/chat/completions", chatBody); r.status != 200 || time.Since(t0) < 150*time.Millisecond {
		t.Fatalf("status %d after %v", r.status, time.Since(t0))
	}
	t0 = time.Now()
	if r := post(t, s, "/v1/embeddings", `{"model":"e","input":"x"}`, "X-Mock-Latency", "250"); r.status != 200 || time.Since(t0) < 250*time.Millisecond {
		t.Fatalf("status %d after %v", r.status, time.Since(t0))
	}
}

func TestHang(t *testing.T) {
	// A hang ends when HangFor elapses; the request is then answered.
	s := start(t, Config{HangBeforeHeaders: true, HangFor: 200 * time.Millisecond})
	t0 := time.Now()
	if r := post(t, s, "/v1/chat/completions", chatBody); r.status != 200 || time.Since(t0) < 200*time.Millisecond {
		t.Fatalf("status %d after %v", r.status, time.Since(t0))
	}

	// A client that gives up is noticed while the mock still hangs.
	s2 := start(t, Config{})
	cl := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 150 * time.Millisecond}
	req, _ := http.NewRequest("POST", "http://"+s2.Addr()+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("X-Mock-Hang", "30s")
	if _, err := cl.Do(req); err == nil {
		t.Fatal("the hang did not hang")
	}
	eventually(t, settle, "abandoned request counted", func() bool {
		st := s2.Stats()
		return st.Abandoned == 1 && st.InFlight == 0
	})
	if st := s2.Stats(); len(st.ByStatus) != 0 {
		t.Fatalf("an abandoned request got a status: %v", st.ByStatus)
	}
}

func TestStall(t *testing.T) {
	s := start(t, Config{Tokens: 4})
	t0 := time.Now()
	_, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(false), "X-Mock-Stall-After", "2", "X-Mock-Stall-For", "300ms")
	evs = dataEvents(evs)
	if len(evs) != 1+4+1+1 {
		t.Fatalf("%d events", len(evs))
	}
	// Lower bounds from the request start hold however loaded the machine.
	if d := evs[2].at.Sub(t0); d < 300*time.Millisecond {
		t.Fatalf("third event after %v, before the stall ended", d)
	}
	checkTranscript(t, evs, false)

	_, evs = streamReq(t, s, "/v1/chat/completions", chatStreamBody(false),
		"X-Mock-Stall-After", "2", "X-Mock-Stall-For", "50ms", "X-Mock-Stall-Close", "true")
	if evs = dataEvents(evs); len(evs) != 2 {
		t.Fatalf("%d events after a closing stall", len(evs))
	}
	eventually(t, settle, "truncated stream counted", func() bool { return s.Stats().StreamsTruncated == 1 })
}

// readRawStream reads a raw HTTP/1.1 chunked SSE response from a
// connection until it ends, returning its data events and how it ended.
func readRawStream(t *testing.T, br *bufio.Reader) ([]string, error) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response head: %v", err)
	}
	if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("status %d, transfer encoding %v", resp.StatusCode, resp.TransferEncoding)
	}
	evs, err := readEvents(resp.Body)
	var out []string
	for _, e := range dataEvents(evs) {
		out = append(out, e.data)
	}
	return out, err
}

func TestResetMidStream(t *testing.T) {
	s := start(t, Config{})
	c := rawRequest(t, s, "/v1/chat/completions", chatStreamBody(true), "X-Mock-Reset-After", "3")
	evs, err := readRawStream(t, bufio.NewReader(c))
	if err == nil {
		t.Fatal("stream ended cleanly; want a reset")
	}
	if len(evs) != 3 {
		t.Fatalf("%d events before the reset, want 3: %v", len(evs), evs)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("error %v", err)
	}

	// net/http sees it too.
	_, err = httpStreamError(t, s, chatStreamBody(false), "X-Mock-Reset-After", "1")
	if err == nil {
		t.Fatal("net/http read the reset stream to its end")
	}
	eventually(t, settle, "resets counted", func() bool {
		st := s.Stats()
		return st.Resets == 2 && st.StreamsAborted == 2 && st.InFlight == 0
	})

	// Non-stream: reset before any response byte.
	req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("X-Mock-Reset-After", "1")
	if resp, err := httpClient(t).Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("non-stream reset answered %d", resp.StatusCode)
	}
	eventually(t, settle, "non-stream reset counted", func() bool { return s.Stats().Resets == 3 })
}

// httpStreamError reads a stream with net/http and returns the body read
// and the error that ended it.
func httpStreamError(t *testing.T, s *Server, body string, hdr ...string) ([]byte, error) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/v1/chat/completions", strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient(t).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func TestMalformedAfter(t *testing.T) {
	s := start(t, Config{Tokens: 3})
	_, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(false), "X-Mock-Malformed-After", "2")
	evs = dataEvents(evs)
	if len(evs) != 1+3+1+1+1 || evs[len(evs)-1].data != "[DONE]" {
		t.Fatalf("%d events: %v", len(evs), evs)
	}
	for i, e := range evs[:len(evs)-1] {
		valid := validJSON([]byte(e.data))
		if valid == (i == 2) {
			t.Fatalf("event %d valid=%v: %s", i, valid, e.data)
		}
	}
	rest := append(append([]sseEvent(nil), evs[:2]...), evs[3:]...)
	if content, _, _ := checkTranscript(t, rest, false); content != string(textGen{}.appendText(nil, 3)) {
		t.Fatalf("content %q", content)
	}
}

func TestInBandError(t *testing.T) {
	s := start(t, Config{})
	_, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(true), "X-Mock-Error-After", "3")
	evs = dataEvents(evs)
	if len(evs) != 4 {
		t.Fatalf("%d events: %v", len(evs), evs)
	}
	e := path(t, obj(t, []byte(evs[3].data)), "error")
	if path(t, e, "type") != "server_error" || path(t, e, "message") == "" || !has(e, "code") {
		t.Fatalf("in-band error %s", evs[3].data)
	}
	eventually(t, settle, "truncated stream counted", func() bool {
		st := s.Stats()
		return st.StreamsTruncated == 1 && st.StreamsCompleted == 0 && st.Reported.Responses == 0
	})
}

func TestUsagePlacement(t *testing.T) {
	s := start(t, Config{})
	// In the finish_reason chunk: no separate usage chunk.
	_, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(true), "X-Mock-Usage-In-Last-Choice", "true")
	evs = dataEvents(evs)
	if len(evs) != 1+16+1+1 {
		t.Fatalf("%d events", len(evs))
	}
	last := obj(t, []byte(evs[len(evs)-2].data))
	if path(t, last, "choices", 0, "finish_reason") != "stop" || path(t, last, "usage", "completion_tokens") != 16.0 {
		t.Fatalf("last choice chunk %s", evs[len(evs)-2].data)
	}
	_, _, u := checkTranscript(t, evs, true)
	if u == nil {
		t.Fatal("no usage")
	}

	// Usage although the request did not ask for it.
	_, evs = streamReq(t, s, "/v1/chat/completions", chatStreamBody(false), "X-Mock-Always-Usage", "true")
	if _, _, u := checkTranscript(t, evs, false); u == nil || u["completion_tokens"] != 16.0 {
		t.Fatalf("usage %v", u)
	}
	s2 := start(t, Config{AlwaysUsage: true, UsageInLastChoiceChunk: true})
	_, evs = streamReq(t, s2, "/v1/chat/completions", chatStreamBody(false))
	evs = dataEvents(evs)
	if len(evs) != 1+16+1+1 || !has(obj(t, []byte(evs[len(evs)-2].data)), "usage") {
		t.Fatalf("%d events, last %s", len(evs), evs[len(evs)-2].data)
	}
}

func TestPacing(t *testing.T) {
	s := start(t, Config{Tokens: 5})
	t0 := time.Now()
	_, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(false), "X-Mock-TTFT", "200ms", "X-Mock-Token-Gap", "30ms")
	evs = dataEvents(evs)
	// Lower bounds from the request start hold however loaded the
	// machine is: the first token after the TTFT, the last after four gaps.
	if d := evs[1].at.Sub(t0); d < 200*time.Millisecond {
		t.Fatalf("first token after %v", d)
	}
	if d := evs[5].at.Sub(t0); d < 200*time.Millisecond+4*30*time.Millisecond {
		t.Fatalf("last token after %v", d)
	}

	// The role chunk goes out with the headers, before the TTFT: with a
	// 30 s TTFT it still arrives at once.
	c := rawRequest(t, s, "/v1/chat/completions", chatStreamBody(false), "X-Mock-TTFT", "30s")
	if err := c.SetReadDeadline(time.Now().Add(settle)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("response head: %v", err)
	}
	sc := bufio.NewScanner(httputil.NewChunkedReader(br))
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: ") {
	}
	if !strings.Contains(sc.Text(), `"role":"assistant"`) {
		t.Fatalf("first event %q: %v", sc.Text(), sc.Err())
	}

	s2 := start(t, Config{Tokens: 2, TTFT: 200 * time.Millisecond, RoleAfterTTFT: true})
	t0 = time.Now()
	_, evs = streamReq(t, s2, "/v1/chat/completions", chatStreamBody(false))
	if d := dataEvents(evs)[0].at.Sub(t0); d < 200*time.Millisecond {
		t.Fatalf("role chunk after %v with RoleAfterTTFT", d)
	}
}

func TestKeepAliveComments(t *testing.T) {
	s := start(t, Config{Tokens: 2})
	_, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(false), "X-Mock-TTFT", "800ms", "X-Mock-Keep-Alive", "100ms")
	comments := 0
	for _, e := range evs {
		if e.comment {
			comments++
			if e.data != ": PROCESSING" {
				t.Fatalf("comment %q", e.data)
			}
		}
	}
	// Seven are due; a loaded machine may delay a few past the TTFT.
	if comments < 2 {
		t.Fatalf("%d keep-alive comments in an 800ms TTFT", comments)
	}
	checkTranscript(t, evs, false)
}

func TestClientDisconnectIsDetected(t *testing.T) {
	f := func(hdr ...string) {
		t.Helper()
		s := start(t, Config{Tokens: 1000})
		c := rawRequest(t, s, "/v1/chat/completions", chatStreamBody(false), hdr...)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("response head: %v", err)
		}
		cr := httputil.NewChunkedReader(br)
		sc := bufio.NewScanner(cr)
		seen := 0
		for seen < 2 && sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") {
				seen++
			}
		}
		if seen < 2 {
			t.Fatalf("saw %d chunks: %v", seen, sc.Err())
		}
		closed := time.Now()
		c.Close()
		eventually(t, settle, "aborted stream counted", func() bool {
			st := s.Stats()
			return st.StreamsAborted == 1 && st.InFlight == 0
		})
		t.Logf("%v: abort noticed %v after the client closed", hdr, time.Since(closed).Round(time.Millisecond))
		if st := s.Stats(); st.StreamsCompleted != 0 || st.CompletionTokens >= 1000 {
			t.Fatalf("stats after abort: %+v", st)
		}
	}
	// While tokens flow (a 20 s stream): the failed write tells.
	f("X-Mock-Token-Gap", "20ms")
	// While the stream is silent: only the connection poll can tell.
	f("X-Mock-TTFT", "1ms", "X-Mock-Stall-After", "2", "X-Mock-Stall-For", "30s")
}

func TestCloseEndsEverything(t *testing.T) {
	s := New(Config{})
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	// A silent stream, a hang, a slow non-stream response and an idle
	// keep-alive connection.
	c1 := rawRequest(t, s, "/v1/chat/completions", chatStreamBody(false), "X-Mock-TTFT", "30s")
	c2 := rawRequest(t, s, "/v1/chat/completions", chatBody, "X-Mock-Hang", "30s")
	c3 := rawRequest(t, s, "/v1/chat/completions", chatBody, "X-Mock-Latency", "30s")
	c4 := rawRequest(t, s, "/v1/models", "")
	eventually(t, settle, "requests in flight", func() bool { return s.Stats().InFlight == 3 })
	t0 := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("Close took %v", d)
	}
	for _, c := range []interface{ Close() error }{c1, c2, c3, c4} {
		c.Close()
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := s.Listen("127.0.0.1:0"); !errors.Is(err, ErrServing) {
		t.Fatalf("Listen after Close: %v", err)
	}
	if err := settledLeaks(3 * time.Second); err != nil {
		t.Fatal(err)
	}
}
