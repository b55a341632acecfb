package mock

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// The benchmarks measure the mock through a real fasthttp client on
// loopback (client and server share the machine's cores) and its handler
// alone.
//
//	go test -run '^$' -bench . -benchtime 3s ./bench/mock/

func benchRequest(url, body string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(url)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.SetBodyString(body)
	return req
}

func BenchmarkChatNonStream(b *testing.B) {
	s := start(b, Config{})
	c := fastClient(b)
	req := benchRequest("http://"+s.Addr()+"/v1/chat/completions", chatBody)
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("%v %d", err, resp.StatusCode())
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

func BenchmarkChatNonStreamParallel(b *testing.B) {
	s := start(b, Config{})
	c := fastClient(b)
	url := "http://" + s.Addr() + "/v1/chat/completions"
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := benchRequest(url, chatBody)
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Errorf("%v %d", err, resp.StatusCode())
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkChatStream streams whole responses without pacing. Allocations
// per stream stay the same from 16 to 256 tokens: none per chunk.
func BenchmarkChatStream(b *testing.B) {
	for _, tokens := range []int{16, 256} {
		b.Run("tokens="+itoa(tokens), func(b *testing.B) {
			s := start(b, Config{Tokens: tokens})
			c := fastClient(b)
			req := benchRequest("http://"+s.Addr()+"/v1/chat/completions", chatStreamBody(true))
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					b.Fatalf("%v %d", err, resp.StatusCode())
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "streams/s")
		})
	}
}

// handlerCtx is a request context that runs the handler without a network.
func handlerCtx(body string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI("/v1/chat/completions")
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Authorization", "Bearer sk-bench")
	req.SetBodyString(body)
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, nil, nil)
	return ctx
}

func BenchmarkChatHandler(b *testing.B) {
	s := New(Config{APIKey: "sk-bench"})
	defer s.Close()
	ctx := handlerCtx(chatBody)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		s.handle(ctx)
	}
	if ctx.Response.StatusCode() != 200 {
		b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}
