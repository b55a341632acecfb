package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/core/telemetry/otlptest"
)

// BenchmarkTelemetry compares the cost of a request through the gateway
// with telemetry off, on (every request traced) and on with sample_ratio 0
// (spans created but not recorded). allocs/op counts the whole process:
// client, gateway and mock.
//
//	go test -run='^$' -bench=Telemetry -benchtime=2000x ./core/
func BenchmarkTelemetry(b *testing.B) {
	rcv := otlptest.New()
	defer rcv.Close()
	for _, c := range []struct{ name, yaml string }{
		{"off", ""},
		{"on", fmt.Sprintf("telemetry: {enabled: true, endpoint: %q}\n", rcv.URL())},
		{"unsampled", fmt.Sprintf("telemetry: {enabled: true, endpoint: %q, sample_ratio: 0}\n", rcv.URL())},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := newEnv(b, []mockSpec{{name: "p1", cfg: mock.Config{Tokens: 16}}}, oneModel, "log: {level: error}\n"+c.yaml)
			defer e.shutdown(10 * time.Second)
			client := &fasthttp.Client{MaxConnsPerHost: 4, ReadTimeout: 10 * time.Second}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(e.api + "/api/v1/chat/completions")
			req.Header.SetMethod("POST")
			req.Header.SetContentType("application/json")
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.SetBodyString(`{"model":"acme/chat","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16}`)
			do := func() {
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					b.Fatalf("%v %d %s", err, resp.StatusCode(), resp.Body())
				}
			}
			for range 100 {
				do()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				do()
			}
		})
	}
}
