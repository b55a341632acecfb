package load

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tollgate/tollgate/bench/mock"
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

// settledLeaks gives fasthttp's sleepers (worker-pool and connection
// cleaners) time to notice they were stopped, then reports what is left.
func settledLeaks(d time.Duration) error {
	end := time.Now().Add(d)
	for {
		err := goleak.Find(goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func startMock(t testing.TB, c mock.Config) *mock.Server {
	t.Helper()
	s := mock.New(c)
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatalf("cannot start mock: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func newClient(t testing.TB, r Request) *Client {
	t.Helper()
	if r.Model == "" {
		r.Model = "mock-chat"
	}
	if r.IdleConnTimeout == 0 {
		r.IdleConnTimeout = 200 * time.Millisecond
	}
	c, err := NewClient(r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func run(t testing.TB, c *Client, p Plan) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Run(ctx, c, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.Interrupted {
		t.Fatal("run interrupted")
	}
	return res
}

func TestNonStreamAgainstMock(t *testing.T) {
	m := startMock(t, mock.Config{Tokens: 12})
	c := newClient(t, Request{URL: m.URL(), PromptTokens: Range{Min: 10, Max: 50}})
	var done atomic.Int64
	res := run(t, c, Plan{Concurrency: 8, Requests: 200, OnDone: func() { done.Add(1) }})
	if done.Load() != 200 {
		t.Fatalf("OnDone called %d times", done.Load())
	}
	if res.Sent != 200 || res.Succeeded != 200 || res.Failed != 0 || res.Status[200] != 200 {
		t.Fatalf("sent %d ok %d failed %d status %v errors %v", res.Sent, res.Succeeded, res.Failed, res.Status, res.Errors)
	}
	if res.OutputTokens != 200*12 || res.UsageReported != 200 || res.Good != 200 {
		t.Fatalf("tokens %d usage %d good %d", res.OutputTokens, res.UsageReported, res.Good)
	}
	if res.E2E.TotalCount() != 200 || res.TTFT.TotalCount() != 0 || res.Lag.TotalCount() != 0 {
		t.Fatalf("histograms: e2e %d ttft %d lag %d", res.E2E.TotalCount(), res.TTFT.TotalCount(), res.Lag.TotalCount())
	}
	st := m.Stats()
	if st.Requests != 200 {
		t.Fatalf("mock saw %d requests", st.Requests)
	}
	// Prompt lengths: ceil(bytes/4) of the messages JSON, so between the
	// drawn 10 and 50 words plus the JSON around them.
	if p := float64(st.PromptTokens) / 200; p < 10 || p > 80 {
		t.Fatalf("mean prompt tokens %.1f", p)
	}
}

func TestStreamAgainstMock(t *testing.T) {
	const ttft, gap, tokens = 30 * time.Millisecond, 3 * time.Millisecond, 8
	m := startMock(t, mock.Config{TTFT: ttft, TokenGap: gap, Tokens: 100})
	c := newClient(t, Request{URL: m.URL(), Stream: true, MaxTokens: Range{Min: tokens, Max: tokens}})
	ref, err := c.Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != tokens || ref[0] != "Mock" {
		t.Fatalf("probe deltas %q", ref)
	}
	c.req.Expect = ExpectDeltas(ref)
	res := run(t, c, Plan{Rate: 200, Requests: 100, SLO: SLO{TTFT: 10 * time.Second}})
	if res.Sent != 100 || res.Succeeded != 100 || res.Verified != 100 || res.Good != 100 {
		t.Fatalf("sent %d ok %d verified %d good %d errors %v", res.Sent, res.Succeeded, res.Verified, res.Good, res.Errors)
	}
	if res.OutputTokens != 100*tokens || res.UsageReported != 100 {
		t.Fatalf("tokens %d usage %d", res.OutputTokens, res.UsageReported)
	}
	if n := res.ITL.TotalCount(); n != 100*(tokens-1) {
		t.Fatalf("%d inter-token gaps", n)
	}
	// The mock waits at least TTFT and gap: hard lower bounds. The upper
	// bounds are loose on purpose (a shared 2-core machine), they only
	// catch a TTFT taken at the wrong event.
	p50 := Quantile(res.TTFT, 50)
	if p50 < ttft || p50 > ttft+250*time.Millisecond {
		t.Fatalf("ttft p50 %v, mock ttft %v", p50, ttft)
	}
	if itl := Quantile(res.ITL, 50); itl < gap-time.Millisecond || itl > gap+100*time.Millisecond {
		t.Fatalf("itl p50 %v, mock gap %v", itl, gap)
	}
	if e2e := Quantile(res.E2E, 50); e2e < ttft+(tokens-1)*gap {
		t.Fatalf("e2e p50 %v", e2e)
	}
	if res.TPOT.TotalCount() != 100 || res.Lag.TotalCount() != 100 {
		t.Fatalf("tpot %d lag %d", res.TPOT.TotalCount(), res.Lag.TotalCount())
	}
	c.req.Expect = &Expect{Deltas: tokens, Hash: 1}
	res = run(t, c, Plan{Concurrency: 4, Requests: 8})
	if res.Errors["content_mismatch"] != 8 || res.Succeeded != 0 {
		t.Fatalf("mismatch not detected: %v", res.Errors)
	}
}

// TestStreamsReuseConnections: a stream read to [DONE] leaves its
// connection reusable, as SDK clients do, so a closed loop of 4 workers
// opens 4 connections however many streams it sends.
func TestStreamsReuseConnections(t *testing.T) {
	m := startMock(t, mock.Config{Tokens: 4})
	c := newClient(t, Request{URL: m.URL(), Stream: true})
	res := run(t, c, Plan{Concurrency: 4, Requests: 100})
	if res.Succeeded != 100 {
		t.Fatalf("ok %d errors %v", res.Succeeded, res.Errors)
	}
	// 4, one per worker (a few more are tolerated for a starved CI
	// machine; without the drain it is one per stream).
	if n := m.Accepted(); n > 8 {
		t.Fatalf("100 streams on 4 workers opened %d connections", n)
	}
}

func TestErrorKinds(t *testing.T) {
	m := startMock(t, mock.Config{Tokens: 8})
	f := func(stream bool, header, value, want string) {
		t.Helper()
		r := Request{URL: m.URL(), Stream: stream, Timeout: 300 * time.Millisecond,
			Headers: []Header{{Key: header, Value: value}}}
		c := newClient(t, r)
		res := run(t, c, Plan{Concurrency: 2, Requests: 4})
		if res.Errors[want] != 4 || res.Failed != 4 || res.Succeeded != 0 || res.E2E.TotalCount() != 0 {
			t.Fatalf("%s: %s: errors %v status %v, want 4 × %s", header, value, res.Errors, res.Status, want)
		}
	}
	f(false, "X-Mock-Status", "503", "http_503")
	f(true, "X-Mock-Status", "429", "http_429")
	f(true, "X-Mock-Error-After", "3", "stream_error")
	f(true, "X-Mock-Malformed-After", "3", "malformed_event")
	f(true, "X-Mock-Stall-After", "3", "timeout")
	f(false, "X-Mock-Hang", "2s", "timeout")
	f(true, "X-Mock-Reset-After", "3", "reset")

	c := newClient(t, Request{URL: "http://127.0.0.1:1/v1", Timeout: time.Second})
	res := run(t, c, Plan{Concurrency: 1, Requests: 2})
	if res.Errors["connect"] != 2 || res.Status[0] != 2 {
		t.Fatalf("closed port: %v %v", res.Errors, res.Status)
	}
}

func TestKeyAndHeaders(t *testing.T) {
	m := startMock(t, mock.Config{APIKey: "sk-test"})
	c := newClient(t, Request{URL: m.URL(), Key: "wrong", Headers: []Header{{Key: "Authorization", Value: "Bearer sk-test"}, {Key: "X-Extra", Value: "1"}}})
	res := run(t, c, Plan{Concurrency: 1, Requests: 3})
	if res.Succeeded != 3 {
		t.Fatalf("header did not replace the key: %v", res.Errors)
	}
	last := m.LastRequests()
	if len(last) == 0 || last[len(last)-1].Header.Get("X-Extra") != "1" {
		t.Fatalf("extra header not sent")
	}
	c = newClient(t, Request{URL: m.URL(), Key: "wrong"})
	if res := run(t, c, Plan{Concurrency: 1, Requests: 2}); res.Errors["http_401"] != 2 {
		t.Fatalf("bad key: %v", res.Errors)
	}
}

func TestOpenLoopRate(t *testing.T) {
	m := startMock(t, mock.Config{Tokens: 4})
	c := newClient(t, Request{URL: m.URL()})
	f := func(arrival Arrival, rate float64, n int) {
		t.Helper()
		res := run(t, c, Plan{Rate: rate, Arrival: arrival, Requests: n, Seed: 42})
		if res.Sent != int64(n) || res.Succeeded != int64(n) {
			t.Fatalf("%v: sent %d ok %d errors %v", arrival, res.Sent, res.Succeeded, res.Errors)
		}
		// The schedule spans (n-1)/rate; elapsed adds the last latency.
		got := float64(n-1) / res.Elapsed.Seconds()
		if math.Abs(got-rate)/rate > 0.15 {
			t.Fatalf("%v: achieved %.0f req/s, want %.0f ± 15%% (elapsed %v)", arrival, got, rate, res.Elapsed)
		}
		if lag := Quantile(res.Lag, 50); lag > 20*time.Millisecond {
			t.Fatalf("%v: send lag p50 %v", arrival, lag)
		}
	}
	f(Constant, 1000, 500)
	// Seed 42 fixes the Poisson gaps; their sum is checked in
	// TestArrivalProcess, here the pacing against the wall clock.
	f(Poisson, 1000, 500)
}

func TestArrivalProcess(t *testing.T) {
	const rate, n = 2000.0, 200000
	rng := rand.New(rand.NewPCG(1, 2))
	var sum, sumSq float64
	for i := 0; i < n; i++ {
		g := rng.ExpFloat64() / rate
		sum += g
		sumSq += g * g
	}
	mean := sum / n
	cv := math.Sqrt(sumSq/n-mean*mean) / mean
	if math.Abs(mean*rate-1) > 0.01 || math.Abs(cv-1) > 0.02 {
		t.Fatalf("poisson gaps: mean %.6f (want %.6f), cv %.3f (want 1)", mean, 1/rate, cv)
	}
}

func TestWarmupAndDuration(t *testing.T) {
	m := startMock(t, mock.Config{Tokens: 2})
	c := newClient(t, Request{URL: m.URL()})
	res := run(t, c, Plan{Rate: 400, Arrival: Constant, Warmup: 250 * time.Millisecond, Duration: 500 * time.Millisecond})
	// 100 warm-up requests are sent and not counted; 200 are measured.
	if res.Sent < 190 || res.Sent > 201 {
		t.Fatalf("measured %d requests, want about 200", res.Sent)
	}
	if st := m.Stats(); st.Requests < uint64(res.Sent)+90 {
		t.Fatalf("mock saw %d requests, measured %d: warm-up not sent", st.Requests, res.Sent)
	}
}

func TestCancel(t *testing.T) {
	m := startMock(t, mock.Config{Tokens: 1000, TokenGap: 5 * time.Millisecond})
	c := newClient(t, Request{URL: m.URL(), Stream: true})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, c, Plan{Concurrency: 4, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || time.Since(start) > 5*time.Second || res.Errors["canceled"] == 0 {
		t.Fatalf("interrupted %v after %v, errors %v", res.Interrupted, time.Since(start), res.Errors)
	}
}

func TestResultMerge(t *testing.T) {
	a, b := NewResult(), NewResult()
	a.Sent, a.Succeeded, a.Elapsed, a.Status[200] = 3, 3, time.Second, 3
	b.Sent, b.Failed, b.Elapsed, b.Errors["timeout"], b.Status[0] = 2, 2, time.Second, 2, 2
	_ = a.E2E.RecordValue(100)
	_ = b.E2E.RecordValue(300)
	a.Merge(b)
	if a.Sent != 5 || a.Failed != 2 || a.Elapsed != 2*time.Second || a.Status[0] != 2 || a.Errors["timeout"] != 2 || a.E2E.TotalCount() != 2 {
		t.Fatalf("merged %+v", a)
	}
	if s := Summarize(a.E2E); s.Max != 300*time.Microsecond || s.Min != 100*time.Microsecond {
		t.Fatalf("summary %+v", s)
	}
	if a.Throughput() != 1.5 {
		t.Fatalf("throughput %v", a.Throughput())
	}
}
