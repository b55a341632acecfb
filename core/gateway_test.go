package core_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
)

const chatBody = `{"model":"acme/chat","messages":[{"role":"user","content":"Hello there"}],"temperature":0,"stream":false,"provider":{"sort":"price"}}`

func TestChatNonStream(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 12}}}, oneModel, "")
	for _, path := range []string{"/api/v1/chat/completions", "/v1/chat/completions"} {
		r := e.post(path, chatBody)
		if r.status != 200 {
			t.Fatalf("%s: status %d: %s", path, r.status, r.body)
		}
		m := decode(t, r.body)
		id, _ := m["id"].(string)
		if !strings.HasPrefix(id, "gen-") || r.header.Get("X-Generation-Id") != id {
			t.Fatalf("id %q / header %q", id, r.header.Get("X-Generation-Id"))
		}
		if m["provider"] != "p1" || m["model"] != "acme/chat" || m["object"] != "chat.completion" {
			t.Fatalf("head: %s", r.body)
		}
		for h, want := range map[string]string{"X-Tollgate-Provider": "p1", "X-Tollgate-Model": "acme/chat", "X-Tollgate-Attempts": "1"} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if r.header.Get("X-Tollgate-Route") == "" || r.header.Get("X-Tollgate-Overhead-Us") == "" {
			t.Errorf("missing route/overhead headers: %v", r.header)
		}
		ch := m["choices"].([]any)[0].(map[string]any)
		if ch["finish_reason"] != "stop" || ch["native_finish_reason"] != "stop" {
			t.Errorf("finish: %v", ch)
		}
		if msg := ch["message"].(map[string]any); msg["role"] != "assistant" || msg["content"] == "" {
			t.Errorf("message: %v", msg)
		}
		u := m["usage"].(map[string]any)
		pt, ct := u["prompt_tokens"].(float64), u["completion_tokens"].(float64)
		if ct != 12 || pt <= 0 || u["total_tokens"].(float64) != pt+ct {
			t.Errorf("usage: %v", u)
		}
		// $1/M prompt, $2/M completion.
		wantCost := (pt*1 + ct*2) / 1e6
		if c := u["cost"].(float64); c < wantCost*0.999 || c > wantCost*1.001 {
			t.Errorf("cost %v, want %v", c, wantCost)
		}
		if hc, _ := strconv.ParseFloat(r.header.Get("X-Tollgate-Cost"), 64); hc != u["cost"].(float64) {
			t.Errorf("X-Tollgate-Cost %v != usage.cost %v", hc, u["cost"])
		}
		if _, ok := u["prompt_tokens_details"].(map[string]any)["cached_tokens"]; !ok {
			t.Errorf("no cached_tokens: %v", u)
		}
	}
	// The body went upstream byte for byte except model; provider{} was
	// dropped because strict OpenAI upstreams reject unknown fields.
	reqs := e.mocks["p1"].LastRequests()
	up := string(reqs[len(reqs)-1].Body)
	if !strings.Contains(up, `"temperature":0`) || !strings.Contains(up, `"model":"up-chat"`) || !strings.Contains(up, `"stream":false`) {
		t.Fatalf("upstream body changed: %s", up)
	}
	if strings.Contains(up, `"provider"`) {
		t.Fatalf("extension field forwarded: %s", up)
	}
	if want := `{"model":"up-chat","messages":[{"role":"user","content":"Hello there"}],"temperature":0,"stream":false}`; up != want {
		t.Fatalf("upstream body\n got %s\nwant %s", up, want)
	}
}

func TestChatStream(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 8}}}, oneModel, "")
	req, _ := http.NewRequest(http.MethodPost, e.api+"/api/v1/chat/completions",
		strings.NewReader(`{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("stream headers: %v", resp.Header)
	}
	frames := readFrames(t, resp.Body)
	if frames[0].comment != "PROCESSING" {
		t.Fatalf("first frame %+v, want the PROCESSING comment", frames[0])
	}
	data := dataFrames(frames)
	if data[len(data)-1] != "[DONE]" {
		t.Fatalf("last data %q", data[len(data)-1])
	}
	gen := resp.Header.Get("X-Generation-Id")
	var content strings.Builder
	usageChunks, finishIdx := 0, -1
	for i, d := range data[:len(data)-1] {
		var c map[string]any
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			t.Fatalf("chunk %d not JSON: %s", i, d)
		}
		if c["id"] != gen || c["object"] != "chat.completion.chunk" || c["model"] != "acme/chat" || c["provider"] != "p1" {
			t.Fatalf("chunk %d head: %s", i, d)
		}
		choices, ok := c["choices"].([]any)
		if !ok {
			t.Fatalf("chunk %d has no choices array: %s", i, d)
		}
		if c["usage"] != nil {
			usageChunks++
			if len(choices) != 0 {
				t.Fatalf("usage chunk with choices: %s", d)
			}
			if i != len(data)-2 {
				t.Fatalf("usage chunk is not the last before [DONE]")
			}
			u := c["usage"].(map[string]any)
			if u["completion_tokens"].(float64) != 8 || u["cost"] == nil {
				t.Fatalf("usage: %v", u)
			}
			continue
		}
		ch := choices[0].(map[string]any)
		delta := ch["delta"].(map[string]any)
		if i == 0 && delta["role"] != "assistant" {
			t.Fatalf("first delta has no role: %s", d)
		}
		if s, ok := delta["content"].(string); ok {
			content.WriteString(s)
		}
		if ch["finish_reason"] != nil {
			finishIdx = i
			if ch["finish_reason"] != "stop" || ch["native_finish_reason"] != "stop" {
				t.Fatalf("finish chunk: %s", d)
			}
		}
	}
	if usageChunks != 1 || finishIdx != len(data)-3 || content.Len() == 0 {
		t.Fatalf("usage chunks %d, finish at %d of %d, content %q", usageChunks, finishIdx, len(data), content.String())
	}
	// The client did not ask for usage; the gateway asked upstream for it.
	reqs := e.mocks["p1"].LastRequests()
	if up := string(reqs[len(reqs)-1].Body); !strings.Contains(up, `"stream_options":{"include_usage":true}`) {
		t.Fatalf("upstream request without include_usage: %s", up)
	}
}

// streamRaw opens a stream over a raw TCP connection so the test controls
// when the client goes away.
func streamRaw(t *testing.T, e *env, body string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", testKey, len(body), body)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return c, bufio.NewReader(resp.Body)
}

func TestClientDisconnectClosesUpstream(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 400, TokenGap: 50 * time.Millisecond}}}, oneModel, "")
	c, br := streamRaw(t, e, `{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	// Read a few data events, then vanish.
	for n := 0; n < 3; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data:") {
			n++
		}
	}
	closedAt := time.Now()
	c.Close()
	m := e.mocks["p1"]
	eventually(t, 3*time.Second, "the upstream stream to be aborted", func() bool { return m.Stats().StreamsAborted == 1 })
	if d := time.Since(closedAt); d > 1500*time.Millisecond {
		t.Fatalf("upstream closed %v after the client left; want within ~1s", d)
	}
	eventually(t, 2*time.Second, "no streams left", func() bool { return e.gw.API.Streams() == 0 })
}

func TestStreamKeepAliveDuringSilence(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 2, TTFT: 700 * time.Millisecond, RoleAfterTTFT: true}}}, oneModel,
		"server: {keepalive: 100ms}\n")
	c, br := streamRaw(t, e, `{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	defer c.Close()
	comments := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, ": PROCESSING") {
			comments++
		}
		if strings.HasPrefix(line, "data:") {
			break
		}
	}
	// One at once, then one per 100ms of silence during the 700ms TTFT.
	if comments < 4 {
		t.Fatalf("%d keep-alive comments before the first token; want >= 4", comments)
	}
}

func TestFailoverBeforeFirstByte(t *testing.T) {
	cases := []struct {
		name  string
		bad   mock.Config
		extra string
		modes []bool // stream values to try
	}{
		{"hang before headers", mock.Config{HangBeforeHeaders: true, HangFor: 10 * time.Second}, ", timeouts: {first_byte: 300ms}", []bool{false, true}},
		{"500", mock.Config{ErrorRate: 1, ErrorStatus: 500}, "", []bool{false, true}},
		{"429", mock.Config{RateLimitRate: 1, RetryAfter: 3 * time.Second}, "", []bool{false, true}},
		// A stream reset after its headers is past the first byte: that
		// case is TestMidStreamFailureEndsWithErrorChunk.
		{"connection reset", mock.Config{ResetAfter: 1}, "", []bool{false}},
		{"connection refused", mock.Config{}, "", []bool{false, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad := mockSpec{name: "bad", cfg: tc.bad, extra: tc.extra}
			if tc.name == "connection refused" {
				bad.url = deadURL(t)
			}
			e := newEnv(t, []mockSpec{bad, {name: "good"}}, twoProviderModel("bad", "good"), "")
			for i, stream := range tc.modes {
				body := fmt.Sprintf(`{"model":"acme/chat","stream":%v,"messages":[{"role":"user","content":"hi"}],"provider":{"order":["bad","good"]}}`, stream)
				r := e.post("/api/v1/chat/completions", body)
				if r.status != 200 {
					t.Fatalf("stream=%v: status %d: %s", stream, r.status, r.body)
				}
				// After the first failure the bad endpoint may be cooled
				// down or circuit-broken and skipped; the first request
				// must have tried it.
				wantAttempts := "2"
				if i > 0 && r.header.Get("X-Tollgate-Attempts") == "1" {
					wantAttempts = "1"
				}
				if r.header.Get("X-Tollgate-Provider") != "good" || r.header.Get("X-Tollgate-Attempts") != wantAttempts {
					t.Fatalf("stream=%v: provider %q attempts %q", stream, r.header.Get("X-Tollgate-Provider"), r.header.Get("X-Tollgate-Attempts"))
				}
			}
		})
	}
}

func TestMidStreamFailureEndsWithErrorChunk(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  mock.Config
	}{
		{"reset", mock.Config{Tokens: 20, ResetAfter: 4}},
		{"in-band error", mock.Config{Tokens: 20, InBandErrorAfter: 4}},
		{"idle timeout", mock.Config{Tokens: 20, StallAfter: 4, StallFor: 5 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, []mockSpec{{name: "p1", cfg: tc.cfg, extra: ", timeouts: {idle: 300ms}"}}, oneModel, "")
			r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
			if r.status != 200 {
				t.Fatalf("status %d", r.status)
			}
			data := dataFrames(readFrames(t, strings.NewReader(string(r.body))))
			if len(data) < 3 || data[len(data)-1] != "[DONE]" {
				t.Fatalf("frames: %q", data)
			}
			last := decode(t, []byte(data[len(data)-2]))
			if last["error"] == nil {
				t.Fatalf("last chunk has no error: %s", data[len(data)-2])
			}
			ch := last["choices"].([]any)[0].(map[string]any)
			if ch["finish_reason"] != "error" {
				t.Fatalf("finish_reason %v", ch["finish_reason"])
			}
			for _, d := range data[:len(data)-2] {
				if strings.Contains(d, `"usage":{`) {
					t.Fatalf("usage chunk before the error: %s", d)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, "limits: {max_request_body: 4KiB}\n")
	f := func(name string, status int, body string, wantMsg string, hdr ...string) {
		t.Helper()
		r := e.post("/api/v1/chat/completions", body, hdr...)
		if r.status != status {
			t.Fatalf("%s: status %d, want %d: %s", name, r.status, status, r.body)
		}
		code, msg, _ := errorOf(t, r.body)
		if code != status || !strings.Contains(msg, wantMsg) {
			t.Fatalf("%s: error %d %q, want %d containing %q", name, code, msg, status, wantMsg)
		}
	}
	f("bad json", 400, `{"model":"acme/chat","messages":[}`, "invalid JSON")
	f("not object", 400, `[1,2]`, "JSON object")
	f("empty", 400, ``, "empty")
	f("missing messages", 400, `{"model":"acme/chat"}`, "'messages' is required")
	f("empty messages", 400, `{"model":"acme/chat","messages":[]}`, "at least one message")
	f("wrong type", 400, `{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, "'stream' must be a boolean")
	f("duplicate model", 400, `{"model":"acme/chat","model":"x","messages":[{"role":"user","content":"x"}]}`, "duplicate key")
	f("invalid utf8", 400, "{\"model\":\"acme/chat\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", "UTF-8")
	f("deep nesting", 400, `{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"x":`+strings.Repeat("[", 500)+strings.Repeat("]", 500)+`}`, "nesting")
	f("huge max_tokens", 400, `{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"max_tokens":99999999999999999999999}`, "max_tokens")
	f("unknown model", 400, `{"model":"nope/nope","messages":[{"role":"user","content":"x"}]}`, "unknown model")
	f("no endpoint", 404, `{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"provider":{"only":["elsewhere"]}}`, "provider.only")
	f("max_price", 404, `{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"provider":{"max_price":{"prompt":0.5}}}`, "max_price")
	f("bad provider prefs", 400, `{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"provider":{"sort":42}}`, "provider")
	f("missing key", 401, chatBody, "missing API key", "Authorization", "")
	f("bad key", 401, chatBody, "invalid API key", "Authorization", "Bearer sk-tg-wrong")
	f("body too large", 413, `{"model":"acme/chat","messages":[{"role":"user","content":"`+strings.Repeat("a", 5000)+`"}]}`, "max_request_body")

	r := e.get(e.api, "/api/v1/nothing")
	if code, _, _ := errorOf(t, r.body); r.status != 404 || code != 404 {
		t.Fatalf("unknown path: %d %s", r.status, r.body)
	}
}

// A declared Content-Length over the limit is refused from the header,
// without reading (or waiting for) the body.
func TestBodyLimitNotRead(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, "limits: {max_request_body: 4KiB}\n")
	c, err := net.Dial("tcp", strings.TrimPrefix(e.api, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 104857600\r\n\r\n{\"model\":", testKey)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response without sending the body: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if code, _, _ := errorOf(t, b); code != 413 {
		t.Fatalf("body %s", b)
	}
}

func TestAllCandidatesFail(t *testing.T) {
	t.Run("5xx everywhere is 502 with attempts", func(t *testing.T) {
		e := newEnv(t, []mockSpec{{name: "a", cfg: mock.Config{ErrorRate: 1, ErrorStatus: 503}}, {name: "b", cfg: mock.Config{ErrorRate: 1, ErrorStatus: 500}}}, twoProviderModel("a", "b"), "")
		r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"x"}]}`)
		code, _, md := errorOf(t, r.body)
		if r.status != 502 || code != 502 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if at, _ := md["attempts"].([]any); len(at) != 2 || md["provider_name"] == nil {
			t.Fatalf("metadata: %v", md)
		}
		if r.header.Get("x-should-retry") != "false" {
			t.Fatalf("no x-should-retry: false after the gateway's own fallbacks: %v", r.header)
		}
		if id := r.header.Get("X-Generation-Id"); !strings.HasPrefix(id, "gen-") {
			t.Fatalf("a failed request recorded as a generation has no X-Generation-Id: %v", r.header)
		}
	})
	t.Run("429 everywhere is 429 with Retry-After", func(t *testing.T) {
		e := newEnv(t, []mockSpec{{name: "a", cfg: mock.Config{RateLimitRate: 1, RetryAfter: 7 * time.Second}}, {name: "b", cfg: mock.Config{RateLimitRate: 1, RetryAfter: 3 * time.Second}}}, twoProviderModel("a", "b"), "")
		r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"x"}]}`)
		if r.status != 429 || r.header.Get("Retry-After") != "3" {
			t.Fatalf("status %d retry-after %q: %s", r.status, r.header.Get("Retry-After"), r.body)
		}
	})
	t.Run("unreachable is 503", func(t *testing.T) {
		e := newEnv(t, []mockSpec{{name: "p1", url: deadURL(t)}}, oneModel, "")
		r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"x"}]}`)
		if r.status != 503 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("upstream 400 is passed on without fallback", func(t *testing.T) {
		e := newEnv(t, []mockSpec{{name: "a", cfg: mock.Config{ErrorRate: 1, ErrorStatus: 400}}, {name: "b"}}, twoProviderModel("a", "b"), "")
		r := e.post("/api/v1/chat/completions", `{"model":"acme/chat","messages":[{"role":"user","content":"x"}],"provider":{"order":["a","b"]}}`)
		_, _, md := errorOf(t, r.body)
		if r.status != 400 || md["provider_name"] != "a" {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if e.mocks["b"].Stats().Requests != 0 {
			t.Fatalf("fell back after a 400")
		}
	})
}

func TestModelsAndHealth(t *testing.T) {
	e := newEnv(t, []mockSpec{{name: "p1"}}, oneModel, "")
	r := e.get(e.api, "/api/v1/models")
	m := decode(t, r.body)
	data := m["data"].([]any)
	if r.status != 200 || len(data) != 1 {
		t.Fatalf("models: %d %s", r.status, r.body)
	}
	mo := data[0].(map[string]any)
	pr := mo["pricing"].(map[string]any)
	if mo["id"] != "acme/chat" || pr["prompt"] != "0.000001" || pr["completion"] != "0.000002" || mo["context_length"].(float64) != 8192 {
		t.Fatalf("model: %v", mo)
	}
	if r := e.get(e.api, "/api/v1/models?supported_parameters=tools"); !strings.Contains(string(r.body), `"acme/chat"`) {
		t.Fatalf("undeclared parameters count as supported: %s", r.body)
	}
	e.post("/api/v1/chat/completions", chatBody)
	r = e.get(e.api, "/api/v1/models/acme/chat/endpoints")
	if r.status != 200 || !strings.Contains(string(r.body), `"provider_name":"p1"`) || !strings.Contains(string(r.body), `"uptime_last_30m":100`) {
		t.Fatalf("endpoints: %d %s", r.status, r.body)
	}
	for _, base := range []string{e.api, e.admin} {
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := e.get(base, p); r.status != 200 {
				t.Fatalf("%s%s: %d %s", base, p, r.status, r.body)
			}
		}
	}
	r = e.get(e.admin, "/metrics")
	for _, want := range []string{
		`tollgate_http_requests_total{route="chat_completions",status="200"} 1`,
		`tollgate_upstream_ttft_seconds_bucket{provider="p1",model="acme/chat",le=`,
		`tollgate_gateway_overhead_seconds_bucket{le=`,
		`tollgate_http_inflight_requests`,
	} {
		mustContain(t, r.body, want)
	}
	if r := e.get(e.admin, "/admin/v1/providers"); r.status != 401 {
		t.Fatalf("admin without key: %d", r.status)
	}
	if r := e.get(e.admin, "/admin/v1/providers", "Authorization", "Bearer test-admin-key"); r.status != 200 || !strings.Contains(string(r.body), `"provider":"p1"`) {
		t.Fatalf("admin providers: %d %s", r.status, r.body)
	}
}

func TestShutdownDrainsStreams(t *testing.T) {
	t.Run("drain", func(t *testing.T) {
		e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 10, TokenGap: 50 * time.Millisecond}}}, oneModel, "")
		c, br := streamRaw(t, e, `{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		defer c.Close()
		go e.shutdown(5 * time.Second)
		rest, _ := io.ReadAll(br)
		if !strings.Contains(string(rest), `"usage":{`) || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
			t.Fatalf("drained stream did not finish normally: %s", rest)
		}
	})
	t.Run("deadline aborts with an error chunk", func(t *testing.T) {
		e := newEnv(t, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 200, TokenGap: 50 * time.Millisecond}}}, oneModel, "")
		c, br := streamRaw(t, e, `{"model":"acme/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		defer c.Close()
		go e.shutdown(200 * time.Millisecond)
		rest, _ := io.ReadAll(br)
		if !strings.Contains(string(rest), `"finish_reason":"error"`) || !strings.Contains(string(rest), "shutting down") {
			t.Fatalf("aborted stream: %s", rest)
		}
	})
}

// deadURL is a loopback base URL where nothing listens.
func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/v1"
}
