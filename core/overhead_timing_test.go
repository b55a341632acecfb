package core_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/bench/mock"
)

// BenchmarkOverhead measures what the gateway adds to a request: the same
// client sends the same chat completion to the mock directly and through
// the gateway, alternating request by request so both see the same machine
// noise, and reports p50/p99 of each and of the difference.
//
//	go test -run='^$' -bench=Overhead -benchtime=5000x ./core/
func BenchmarkOverhead(b *testing.B) {
	for _, stream := range []bool{false, true} {
		name := "nonstream"
		if stream {
			name = "stream"
		}
		b.Run(name, func(b *testing.B) { benchOverhead(b, stream) })
	}
}

func benchOverhead(b *testing.B, stream bool) {
	e := newBenchEnv(b)
	body := `{"model":"acme/chat","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}`
	directBody := `{"model":"up-chat","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}`
	if stream {
		body = strings.Replace(body, `"max_tokens"`, `"stream":true,"max_tokens"`, 1)
		directBody = strings.Replace(directBody, `"max_tokens"`, `"stream":true,"stream_options":{"include_usage":true},"max_tokens"`, 1)
	}
	c := &fasthttp.Client{MaxConnsPerHost: 4, ReadTimeout: 10 * time.Second}
	do := func(url, body, key string) time.Duration {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(url)
		req.Header.SetMethod("POST")
		req.Header.SetContentType("application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		req.SetBodyString(body)
		t0 := time.Now()
		if err := c.Do(req, resp); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		if resp.StatusCode() != 200 {
			b.Fatalf("%s: %d %s", url, resp.StatusCode(), resp.Body())
		}
		return d
	}
	direct := e.mock.URL() + "/chat/completions"
	gw := e.api + "/api/v1/chat/completions"
	for i := 0; i < 200; i++ { // warm-up: pools, connections, stats
		do(direct, directBody, "x")
		do(gw, body, testKey)
	}
	d := make([]time.Duration, 0, b.N)
	g := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d = append(d, do(direct, directBody, "x"))
		g = append(g, do(gw, body, testKey))
	}
	b.StopTimer()
	pd50, pd99 := pct(d, 50), pct(d, 99)
	pg50, pg99 := pct(g, 50), pct(g, 99)
	b.ReportMetric(us(pd50), "direct-p50-µs")
	b.ReportMetric(us(pd99), "direct-p99-µs")
	b.ReportMetric(us(pg50), "gateway-p50-µs")
	b.ReportMetric(us(pg99), "gateway-p99-µs")
	b.ReportMetric(us(pg50-pd50), "added-p50-µs")
	b.ReportMetric(us(pg99-pd99), "added-p99-µs")
	e.close()
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := len(s) * p / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

type benchEnv struct {
	*env
	mock  *mock.Server
	close func()
}

// newBenchEnv is newEnv for benchmarks: one mock p1 without delays.
func newBenchEnv(b *testing.B) *benchEnv {
	e := newEnv(b, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 16}}}, oneModel, "log: {level: error}\n")
	return &benchEnv{env: e, mock: e.mocks["p1"], close: func() { e.shutdown(5 * time.Second) }}
}
