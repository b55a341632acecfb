package mock

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A script gives the first requests their own overrides, then the
// configuration applies again; SetConfig and ResetStats start it over.
func TestScript(t *testing.T) {
	s := start(t, Config{Tokens: 3, Script: []string{"status=503", "-", "status=429 retry-after=2", "tokens=7"}})
	want := []int{503, 200, 429, 200, 200}
	for i, w := range want {
		r := post(t, s, "/v1/chat/completions", chatBody)
		if r.status != w {
			t.Fatalf("request %d: status %d, want %d: %s", i, r.status, w, r.body)
		}
		if i == 2 && r.header.Get("Retry-After") != "2" {
			t.Fatalf("scripted 429 Retry-After %q", r.header.Get("Retry-After"))
		}
		if i == 3 {
			if n := path(t, obj(t, r.body), "usage", "completion_tokens"); n != float64(7) {
				t.Fatalf("scripted tokens: %v", n)
			}
		}
	}
	// Request headers win over the script.
	s.ResetStats()
	if r := post(t, s, "/v1/chat/completions", chatBody, "X-Mock-Status", "200"); r.status != 200 {
		t.Fatalf("header did not override the script: %d", r.status)
	}
	if err := s.SetConfig(Config{Script: []string{"status=502"}}); err != nil {
		t.Fatal(err)
	}
	if r := post(t, s, "/v1/chat/completions", chatBody); r.status != 502 {
		t.Fatalf("after SetConfig: %d", r.status)
	}
	for _, bad := range [][]string{{"nope=1"}, {"status"}, {"tokens=-1"}} {
		c := Config{Script: bad}
		if err := c.Validate(); err == nil {
			t.Fatalf("script %q accepted", bad)
		}
	}
	// Also through PUT /mock/config.
	req, _ := http.NewRequest(http.MethodPut, "http://"+s.Addr()+"/mock/config", strings.NewReader(`{"script":["status=500","status=501"]}`))
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT /mock/config: %d %s", resp.StatusCode, b)
	}
	for i, w := range []int{500, 501, 200} {
		if r := post(t, s, "/v1/chat/completions", chatBody); r.status != w {
			t.Fatalf("PUT script request %d: %d, want %d", i, r.status, w)
		}
	}
}

// ResetRate 1 resets every stream after at least one event and before its
// end; OpenConns sees the connections come and go.
func TestResetRateAndOpenConns(t *testing.T) {
	s := start(t, Config{Tokens: 10, ResetRate: 1})
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/v1/chat/completions", strings.NewReader(chatStreamBody(true)))
		resp, err := httpClient(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil || !strings.Contains(string(b), `"role":"assistant"`) || strings.Contains(string(b), "[DONE]") {
			t.Fatalf("stream %d not reset mid-way: err %v, body %q", i, err, b)
		}
	}
	if st := s.Stats(); st.Resets != 5 || st.Reported.Responses != 0 {
		t.Fatalf("stats %+v", st)
	}
	httpClient(t).CloseIdleConnections()
	eventually(t, 5*time.Second, "connections closed", func() bool { return s.OpenConns() == 0 })
	rawRequest(t, s, "/v1/models", "") // closed by the test cleanup
	eventually(t, 5*time.Second, "one connection open", func() bool { return s.OpenConns() == 1 })
}

// MalformedAfter on a non-stream chat completion: a 200 whose body is not
// JSON, and no usage counted as reported.
func TestMalformedNonStream(t *testing.T) {
	s := start(t, Config{MalformedAfter: 1})
	r := post(t, s, "/v1/chat/completions", chatBody)
	var v any
	if r.status != 200 || json.Unmarshal(r.body, &v) == nil {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if st := s.Stats(); st.Reported.Responses != 0 {
		t.Fatalf("malformed body counted as reported usage: %+v", st.Reported)
	}
}
