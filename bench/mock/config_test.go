package mock

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/goccy/go-json"
	"github.com/spf13/pflag"
)

// kebab turns a Go field name into its flag name: TokenGap → token-gap,
// APIKey → api-key, TTFT → ttft.
func kebab(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if unicode.IsUpper(c) && i > 0 {
			prevLower := unicode.IsLower(r[i-1])
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || (unicode.IsUpper(r[i-1]) && nextLower) {
				b.WriteByte('-')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

func TestEveryFieldHasAFlag(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	typ := reflect.TypeOf(c)
	n := 0
	fs.VisitAll(func(*pflag.Flag) { n++ })
	if n != typ.NumField() {
		t.Fatalf("%d flags for %d fields", n, typ.NumField())
	}
	for i := 0; i < typ.NumField(); i++ {
		name := kebab(typ.Field(i).Name)
		if fs.Lookup(name) == nil {
			t.Errorf("field %s has no flag --%s", typ.Field(i).Name, name)
		}
	}
}

func TestRegisterFlags(t *testing.T) {
	var c Config
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.RegisterFlags(fs)
	if c.Tokens != DefaultTokens || c.ErrorStatus != DefaultErrorStatus || c.Addr != DefaultAddr {
		t.Fatalf("defaults not filled: %+v", c)
	}
	err := fs.Parse([]string{"--ttft=250ms", "--token-gap", "5ms", "--tokens=40", "--error-rate=0.25",
		"--api-key=sk-x", "--models=a,b", "--usage-in-last-choice-chunk", "--in-band-error-after=7", "--hang-before-headers"})
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.TTFT, want.TokenGap, want.Tokens, want.ErrorRate = 250*time.Millisecond, 5*time.Millisecond, 40, 0.25
	want.APIKey, want.Models, want.UsageInLastChoiceChunk, want.InBandErrorAfter = "sk-x", []string{"a", "b"}, true, 7
	want.HangBeforeHeaders = true
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

func TestValidate(t *testing.T) {
	f := func(c Config, ok bool) {
		t.Helper()
		c.EnsureDefaults()
		if err := c.Validate(); (err == nil) != ok {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	f(Config{}, true)
	f(Config{ErrorRate: 1.5}, false)
	f(Config{RateLimitRate: -0.1}, false)
	f(Config{ErrorStatus: 200}, false)
	f(Config{TTFT: -time.Second}, false)
	f(Config{StallAfter: -1}, false)
	f(Config{ToolCalls: maxToolCalls + 1}, false)
	if err := New(Config{ErrorRate: 2}).Listen("127.0.0.1:0"); err == nil {
		t.Fatal("Listen accepted an invalid config")
	}
}

func TestSetConfig(t *testing.T) {
	s := start(t, Config{Tokens: 4})
	content := func() string {
		return path(t, obj(t, post(t, s, "/v1/chat/completions", chatBody).body), "choices", 0, "message", "content").(string)
	}
	if got := content(); got != string(textGen{}.appendText(nil, 4)) {
		t.Fatalf("content %q", got)
	}
	c := s.Config()
	c.Tokens = 2
	if err := s.SetConfig(c); err != nil {
		t.Fatal(err)
	}
	if got := content(); got != string(textGen{}.appendText(nil, 2)) {
		t.Fatalf("content after SetConfig %q", got)
	}
	c.ErrorRate = 3
	if err := s.SetConfig(c); err == nil {
		t.Fatal("SetConfig accepted error-rate 3")
	}
	if s.Config().ErrorRate != 0 {
		t.Fatal("a refused config was applied")
	}
}

func TestConfigEndpoint(t *testing.T) {
	s := start(t, Config{Tokens: 3})
	r := do(t, s, "PUT", "/mock/config", `{"ttft":"150ms","tokens":5,"error_rate":0,"models":["x","y"],"usage-in-last-choice-chunk":true}`)
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	m := obj(t, r.body)
	if m["ttft"] != "150ms" || m["tokens"] != 5.0 || m["usage-in-last-choice-chunk"] != true ||
		!reflect.DeepEqual(m["models"], []any{"x", "y"}) || m["error-status"] != 500.0 {
		t.Fatalf("config after PUT: %s", r.body)
	}
	c := s.Config()
	if c.TTFT != 150*time.Millisecond || c.Tokens != 5 || !c.UsageInLastChoiceChunk || c.Models[1] != "y" {
		t.Fatalf("Config() after PUT: %+v", c)
	}
	if g := do(t, s, "GET", "/mock/config", ""); g.status != 200 || !bytes.Equal(g.body, r.body) {
		t.Fatalf("GET: %d %s", g.status, g.body)
	}
	// The new TTFT applies to the next stream.
	t0 := time.Now()
	_, evs := streamReq(t, s, "/v1/chat/completions", chatStreamBody(false))
	if evs = dataEvents(evs); evs[1].at.Sub(t0) < 150*time.Millisecond {
		t.Fatal("PUT TTFT not applied")
	}
	for _, bad := range []string{`{"ttft":"soon"}`, `{"nope":1}`, `{"error-rate":2}`, `[1]`, `{"tokens":{}}`} {
		if r := do(t, s, "PUT", "/mock/config", bad); r.status != 400 || !strings.Contains(string(r.body), "mock:") {
			t.Fatalf("%s: %d %s", bad, r.status, r.body)
		}
	}
	if s.Config().Tokens != 5 {
		t.Fatal("a refused PUT changed the config")
	}
}

func TestStats(t *testing.T) {
	s := start(t, Config{Tokens: 4})
	prompt := uint64(tokensFor([]byte(`[{"role":"user","content":"Hello there"}]`)))
	post(t, s, "/v1/chat/completions", chatBody)
	post(t, s, "/v1/chat/completions", chatBody)
	post(t, s, "/v1/chat/completions", chatBody, "X-Mock-Status", "500")
	streamReq(t, s, "/v1/chat/completions", chatStreamBody(true))
	streamReq(t, s, "/v1/chat/completions", chatStreamBody(false))
	eventually(t, settle, "streams finished", func() bool { return s.Stats().StreamsCompleted == 2 })
	want := Stats{
		Requests:         5,
		ByStatus:         map[int]uint64{200: 4, 500: 1},
		StreamsStarted:   2,
		StreamsCompleted: 2,
		PromptTokens:     4 * prompt,
		CompletionTokens: 16,
		Reported: UsageTotals{
			Responses: 3, PromptTokens: 3 * prompt, CompletionTokens: 12, TotalTokens: 3*prompt + 12,
		},
	}
	if got := s.Stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
	r := do(t, s, "GET", "/stats", "")
	var fromJSON Stats
	if err := json.Unmarshal(r.body, &fromJSON); err != nil || !reflect.DeepEqual(fromJSON, want) {
		t.Fatalf("GET /stats: %v %s", err, r.body)
	}
	if r := post(t, s, "/mock/reset", ""); r.status != 204 {
		t.Fatalf("reset: %d", r.status)
	}
	if st := s.Stats(); st.Requests != 0 || len(st.ByStatus) != 0 || len(s.LastRequests()) != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}

func TestLastRequests(t *testing.T) {
	s := start(t, Config{History: 4})
	body := `{"model":"m","temperature":0,"stream":false,"messages":[{"role":"user","content":"é\u00e9"}]}`
	post(t, s, "/api/v1/chat/completions?x=1", body, "Authorization", "Bearer sk-upstream", "X-Title", "app")
	got := s.LastRequests()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	r := got[0]
	if string(r.Body) != body || r.Method != "POST" || r.URI != "/api/v1/chat/completions?x=1" ||
		r.Header.Get("Authorization") != "Bearer sk-upstream" || r.Header.Get("X-Title") != "app" ||
		time.Since(r.Time) > time.Minute {
		t.Fatalf("request %+v", r)
	}
	r.Body[0] = 'X' // a copy: the history keeps its own
	if s.LastRequests()[0].Body[0] != '{' {
		t.Fatal("LastRequests shares its buffers")
	}
	for i := 0; i < 6; i++ {
		post(t, s, "/v1/chat/completions", `{"model":"m`+itoa(i)+`","messages":[{"role":"user","content":"x"}]}`)
	}
	got = s.LastRequests()
	if len(got) != 4 || !strings.Contains(string(got[0].Body), `"m2"`) || !strings.Contains(string(got[3].Body), `"m5"`) {
		t.Fatalf("ring: %d requests, first %s", len(got), got[0].Body)
	}
}

func TestAuth(t *testing.T) {
	s := start(t, Config{APIKey: "sk-test"})
	f := func(hdr []string, want int) {
		t.Helper()
		r := post(t, s, "/v1/chat/completions", chatBody, hdr...)
		if r.status != want {
			t.Fatalf("%v: %d %s", hdr, r.status, r.body)
		}
		if want == 401 {
			e := path(t, obj(t, r.body), "error")
			if path(t, e, "code") != "invalid_api_key" || path(t, e, "type") != "invalid_request_error" {
				t.Fatalf("401 body %s", r.body)
			}
		}
	}
	f(nil, 401)
	f([]string{"Authorization", "Bearer sk-wrong"}, 401)
	f([]string{"Authorization", "sk-test"}, 401)
	f([]string{"Authorization", "Bearer sk-test"}, 200)
	f([]string{"Authorization", "bearer sk-test"}, 200)
	if r := do(t, s, "GET", "/v1/models", ""); r.status != 401 {
		t.Fatalf("models without key: %d", r.status)
	}
	if r := do(t, s, "GET", "/stats", ""); r.status != 200 {
		t.Fatalf("stats: %d", r.status)
	}
	if st := s.Stats(); st.ByStatus[401] != 4 {
		t.Fatalf("by status %v", st.ByStatus)
	}
}
