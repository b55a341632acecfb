package core_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/core"
	"github.com/tollgate/tollgate/core/catalogstore"
	"github.com/tollgate/tollgate/core/config"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fasthttp's process-wide date ticker and idle-conn cleaners.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	)
}

const testKey = "sk-tg-test-0123456789abcdef0123456789"

// env is one gateway wired to simulated providers on loopback.
type env struct {
	t     testing.TB
	mocks map[string]*mock.Server
	gw    *core.Gateway
	cfg   *config.Config
	api   string // http://127.0.0.1:port
	admin string
	done  chan error
	once  sync.Once

	router  *routing.Router
	ledger  *ledger.Ledger
	catalog *catalogstore.Store
}

type mockSpec struct {
	name string
	cfg  mock.Config
	// extra provider YAML (timeouts etc.), inside the flow mapping
	extra string
	// url, when set, is used as base_url and no mock is started.
	url string
	// protocol is openai (default), anthropic or gemini.
	protocol string
}

// newEnv starts mocks and a gateway. models is the YAML of the models list;
// extra is appended to the config (top-level keys).
func newEnv(t testing.TB, mocks []mockSpec, models, extra string) *env {
	t.Helper()
	return newEnvRouting(t, routing.Config{}, mocks, models, extra)
}

// newEnvRouting is newEnv with a routing configuration (short circuit
// delays and half-lives for tests).
func newEnvRouting(t testing.TB, rc routing.Config, mocks []mockSpec, models, extra string) *env {
	t.Helper()
	return newEnvLog(t, rc, nil, mocks, models, extra)
}

// newEnvLog is newEnvRouting with the gateway's and ledger's debug log
// going to logw; with logw nil it is discarded (or goes to t.Log under -v).
func newEnvLog(t testing.TB, rc routing.Config, logw io.Writer, mocks []mockSpec, models, extra string) *env {
	t.Helper()
	e := &env{t: t, mocks: map[string]*mock.Server{}, done: make(chan error, 1)}
	var b strings.Builder
	b.WriteString("node: {name: test-node}\nadmin_key: test-admin-key\nproviders:\n")
	for _, m := range mocks {
		if m.url != "" {
			proto := m.protocol
			if proto == "" {
				proto = "openai"
			}
			fmt.Fprintf(&b, "  - {name: %s, protocol: %s, base_url: %q%s}\n", m.name, proto, m.url, m.extra)
			continue
		}
		s := mock.New(m.cfg)
		if err := s.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		e.mocks[m.name] = s
		base, proto := s.URL(), m.protocol
		switch proto {
		case "":
			proto = "openai"
		case "gemini":
			base = "http://" + s.Addr() + "/v1beta"
		}
		fmt.Fprintf(&b, "  - {name: %s, protocol: %s, base_url: %q%s}\n", m.name, proto, base, m.extra)
	}
	b.WriteString(models)
	fmt.Fprintf(&b, "accounts:\n  - {name: acme, credits: 100, keys: [{name: k1, key: %q}]}\n", testKey)
	b.WriteString(extra)
	cfg, err := config.Parse("test.yaml", []byte(b.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = cfg
	router, err := routing.New(rc, core.Catalog(cfg), time.Now, 1)
	if err != nil {
		t.Fatal(err)
	}
	ups, err := core.Upstreams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	switch {
	case logw != nil:
		log = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	case testing.Verbose():
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg.Node.DataDir = t.TempDir()
	led, err := ledger.Open(core.LedgerConfig(cfg, log))
	if err != nil {
		t.Fatal(err)
	}
	e.ledger = led
	t.Cleanup(func() {
		e.shutdown(5 * time.Second)
		if err := led.Close(); err != nil {
			t.Errorf("ledger close: %v", err)
		}
	})
	if err := led.Seed(core.SeedAccounts(cfg)); err != nil {
		t.Fatal(err)
	}
	cat, err := catalogstore.Open(filepath.Join(cfg.Node.DataDir, "catalog"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	e.catalog = cat
	gw, err := core.New(core.Options{Config: cfg, Router: router, Upstreams: ups, Ledger: led, Catalog: cat, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	e.router = router
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.api = "http://" + apiLn.Addr().String()
	e.admin = "http://" + adminLn.Addr().String()
	go func() { e.done <- gw.Serve(apiLn, adminLn) }()
	t.Cleanup(func() { e.shutdown(5 * time.Second) })
	return e
}

func (e *env) shutdown(d time.Duration) {
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_ = e.gw.Shutdown(ctx)
		<-e.done
		http.DefaultClient.CloseIdleConnections()
	})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

const oneModel = `models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: p1, upstream_model: up-chat, pricing: {prompt: 1, completion: 2}}
`

func twoProviderModel(first, second string) string {
	return fmt.Sprintf(`models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: %s, upstream_model: up-chat, pricing: {prompt: 1, completion: 2}}
      - {provider: %s, upstream_model: up-chat-2, pricing: {prompt: 1, completion: 2}}
`, first, second)
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) post(path, body string, hdr ...string) result {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.api+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, b}
}

func (e *env) get(base, path string, hdr ...string) result {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b}
}

// sseFrame is one raw frame of a stream: a comment or a data payload.
type sseFrame struct {
	comment string
	data    string
}

// readFrames reads a text/event-stream body into frames.
func readFrames(t *testing.T, r io.Reader) []sseFrame {
	t.Helper()
	var frames []sseFrame
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data != nil {
				frames = append(frames, sseFrame{data: strings.Join(data, "\n")})
				data = nil
			}
		case strings.HasPrefix(line, ":"):
			frames = append(frames, sseFrame{comment: strings.TrimSpace(line[1:])})
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading stream: %v", err)
	}
	if data != nil {
		t.Fatalf("stream ended inside an event: %q", data)
	}
	return frames
}

func dataFrames(frames []sseFrame) []string {
	var out []string
	for _, f := range frames {
		if f.comment == "" {
			out = append(out, f.data)
		}
	}
	return out
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return m
}

// errorOf returns code and message of an OpenAI-shape error body.
func errorOf(t *testing.T, b []byte) (int, string, map[string]any) {
	t.Helper()
	m := decode(t, b)
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %s", b)
	}
	code, _ := e["code"].(float64)
	msg, _ := e["message"].(string)
	md, _ := e["metadata"].(map[string]any)
	return int(code), msg, md
}

func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

func mustContain(t *testing.T, b []byte, sub string) {
	t.Helper()
	if !bytes.Contains(b, []byte(sub)) {
		t.Fatalf("%q not found in:\n%s", sub, b)
	}
}
