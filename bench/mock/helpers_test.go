package mock

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-json"
	"github.com/valyala/fasthttp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := settledLeaks(3 * time.Second); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// settledLeaks gives fasthttp's own sleepers (the server worker-pool
// cleaner, MaxIdleWorkerDuration apart; the client's connection cleaner)
// time to notice they were stopped, then reports what is left.
func settledLeaks(d time.Duration) error {
	end := time.Now().Add(d)
	for {
		err := goleak.Find(leakOptions()...)
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fastClient is a fasthttp client whose idle connections (and cleaner
// goroutine) go away soon after the test.
func fastClient(t testing.TB) *fasthttp.Client {
	c := &fasthttp.Client{
		MaxIdleConnDuration: 200 * time.Millisecond,
		MaxConnsPerHost:     512,
		// fasthttp's default dialer keeps a process-wide DNS cache
		// goroutine; a plain dial has none.
		Dial: func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) },
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func leakOptions() []goleak.Option {
	return []goleak.Option{
		// fasthttp refreshes its Date header from one process-wide
		// goroutine started on first use and never stopped.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	}
}

// start runs a mock on a loopback port for the test.
func start(t testing.TB, c Config) *Server {
	t.Helper()
	s := New(c)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatalf("cannot listen: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// httpClient is a plain net/http client without connection reuse across
// tests, so that goleak sees no idle connection goroutines.
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, s *Server, method, path, body string, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func post(t testing.TB, s *Server, path, body string, hdr ...string) response {
	t.Helper()
	return do(t, s, http.MethodPost, path, body, hdr...)
}

// obj decodes a JSON object.
func obj(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, b)
	}
	return m
}

// path walks a decoded JSON value: keys for objects, ints for arrays.
func path(t testing.TB, v any, steps ...any) any {
	t.Helper()
	for _, s := range steps {
		switch k := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %q: not an object: %v", k, v)
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("missing key %q in %v", k, m)
			}
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at [%d]: not an array that long: %v", k, v)
			}
			v = a[k]
		}
	}
	return v
}

func has(v any, key string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[key]
	return ok
}

// sseEvent is one event of a transcript: its data, or a comment.
type sseEvent struct {
	name    string // the event: line, if any
	data    string
	comment bool
	at      time.Time
}

// readEvents splits an SSE body into events as they arrive.
func readEvents(r io.Reader) ([]sseEvent, error) {
	var evs []sseEvent
	br := bufio.NewReader(r)
	var data []string
	name := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" && len(data) == 0 {
				return evs, nil
			}
			return evs, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if len(data) > 0 {
				evs = append(evs, sseEvent{name: name, data: strings.Join(data, "\n"), at: time.Now()})
				data, name = data[:0], ""
			}
		case strings.HasPrefix(line, ":"):
			evs = append(evs, sseEvent{data: line, comment: true, at: time.Now()})
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[len("data: "):])
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		default:
			return evs, io.ErrUnexpectedEOF
		}
	}
}

// streamReq posts a streaming request and returns its events.
func streamReq(t testing.TB, s *Server, path, body string, hdr ...string) (response, []sseEvent) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+s.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	r := response{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode != 200 {
		r.body, _ = io.ReadAll(resp.Body)
		return r, nil
	}
	evs, err := readEvents(resp.Body)
	if err != nil {
		t.Fatalf("reading stream: %v (events so far: %d)", err, len(evs))
	}
	return r, evs
}

// dataEvents drops comments.
func dataEvents(evs []sseEvent) []sseEvent {
	var out []sseEvent
	for _, e := range evs {
		if !e.comment {
			out = append(out, e)
		}
	}
	return out
}

// rawRequest sends a hand-written HTTP/1.1 request on a new connection.
func rawRequest(t testing.TB, s *Server, path, body string, hdr ...string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var b bytes.Buffer
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		b.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	b.WriteString("Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body)
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return c
}

func itoa(n int) string { return string(appendInt(nil, n)) }

// settle bounds how long a test waits for the mock to notice something
// (a departed client, a finished stream). It is generous because tests of
// other packages may load the machine at the same time; the latencies the
// mock achieves are logged by the tests that measure them.
const settle = 3 * time.Second

// eventually polls cond for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const chatBody = `{"model":"gpt-test","messages":[{"role":"user","content":"Hello there"}]}`

func chatStreamBody(includeUsage bool) string {
	if includeUsage {
		return `{"model":"gpt-test","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hello there"}]}`
	}
	return `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"Hello there"}]}`
}
