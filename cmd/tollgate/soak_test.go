package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
)

// The soak (issue 8 item 6, docs/RELIABILITY.md §6): two real tollgate
// processes in one cluster on loopback, two mock providers injecting 5 %
// 5xx, 2 % 429 and 1 % connection resets at a random point, mixed traffic
// (stream and not, tags, three keys on two accounts) at a bounded rate,
// idempotent grants through the admin API, and node 2 killed with SIGKILL
// and restarted periodically. Node 1 is never killed: its RSS, goroutines
// and open files are sampled every interval and must not grow between the
// first and the last quarter of the run. At the end both nodes must agree,
// every grant must count exactly once, and the spend must match what the
// mocks reported within the bounds below.
//
// `go test` runs a 10-second variant; `make soak DURATION=30m` sets
// TOLLGATE_SOAK=30m (and TOLLGATE_SOAK_OUT for a Markdown table).

// Growth thresholds between the median of the first and the last quarter of
// the samples of the node that is never killed.
const (
	soakRSSGrowth       = 1.5 // × (and at least soakRSSSlack more)
	soakRSSSlack        = 32 << 20
	soakGoroutineSlack  = 50 // more goroutines
	soakFDSlack         = 50 // more open files
	soakLossPerKill     = 32 // requests in flight at a kill + one group window
	soakRate            = 40 // requests per second
	soakWorkers         = 12
	soakMaxTokens       = 24
	soakSeedUSD         = 1000
	soakGrantUSD        = 1
	soakPromptPrice     = 1000 // nano-USD per prompt token ($1/M)
	soakCompletionPrice = 2000 // nano-USD per completion token ($2/M)
)

var soakKeys = []struct{ key, account string }{
	{"sk-tg-soak-acme-one-0123456789abcdef", "acme"},
	{"sk-tg-soak-acme-two-0123456789abcdef", "acme"},
	{"sk-tg-soak-beta-one-0123456789abcdef", "beta"},
}

type soakNode struct {
	name, api, admin, gossip, cfg string
	cmd                           *exec.Cmd
	up                            atomic.Bool
}

type soakSample struct {
	at              time.Duration
	rss             float64 // bytes
	goroutines, fds float64
	reqs, ok, errs  int64
	p99, p99TTFB    time.Duration
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	duration := 10 * time.Second
	if s := os.Getenv("TOLLGATE_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 10*time.Second {
			t.Fatalf("TOLLGATE_SOAK=%q: want a duration of at least 10s", s)
		}
		duration = d
	}
	// About 30 samples and 10 kills whatever the duration.
	interval := max(duration/30, time.Second)
	killEvery := max(duration/10, 3*time.Second)
	grantEvery := max(duration/40, time.Second)

	bin := buildBinary(t)
	mcfg := mock.Config{Tokens: soakMaxTokens, TokenGap: 2 * time.Millisecond, Latency: 5 * time.Millisecond,
		ErrorRate: 0.05, ErrorStatus: 503, RateLimitRate: 0.02, RetryAfter: 500 * time.Millisecond, ResetRate: 0.01}
	mocks := []*mock.Server{mock.New(mcfg), mock.New(mcfg)}
	for _, m := range mocks {
		if err := m.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer m.Close()
	}

	dir := t.TempDir()
	nodes := []*soakNode{{name: "n1"}, {name: "n2"}}
	for _, n := range nodes {
		n.api, n.admin, n.gossip = freeAddr(t), freeAddr(t), freeAddr(t)
	}
	var keys strings.Builder
	for _, acct := range []string{"acme", "beta"} {
		fmt.Fprintf(&keys, "  - {name: %s, credits: %d, keys: [", acct, soakSeedUSD)
		sep := ""
		for i, k := range soakKeys {
			if k.account == acct {
				fmt.Fprintf(&keys, "%s{name: k%d, key: %q}", sep, i, k.key)
				sep = ", "
			}
		}
		keys.WriteString("]}\n")
	}
	for i, n := range nodes {
		other := nodes[1-i]
		cfg := fmt.Sprintf(`node: {name: %s, data_dir: %q}
listen: {api: %q, admin: %q}
admin_key: soak-admin
log: {level: error}
cluster: {enabled: true, bind: %q, join: [%q], profile: local, insecure: true, label: soak}
providers:
  - {name: p1, base_url: %q}
  - {name: p2, base_url: %q}
models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: p1, upstream_model: up1, pricing: {prompt: 1, completion: 2}}
      - {provider: p2, upstream_model: up2, pricing: {prompt: 1, completion: 2}}
accounts:
%s`, n.name, filepath.Join(dir, n.name), n.api, n.admin, n.gossip, other.gossip, mocks[0].URL(), mocks[1].URL(), keys.String())
		n.cfg = filepath.Join(dir, n.name+".yaml")
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := func(n *soakNode) { n.cmd = startServe(t, bin, n.cfg) }
	for _, n := range nodes {
		start(n)
	}
	for _, n := range nodes {
		waitReady(t, "http://"+n.api+"/readyz")
		n.up.Store(true)
	}

	tr := &http.Transport{MaxIdleConnsPerHost: soakWorkers, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	var (
		mu        sync.Mutex
		lat, ttfb []time.Duration
		bad       []string
		outcomes  = map[string]int64{}
		reqs, oks atomic.Int64
		errCount  atomic.Int64
	)
	record := func(outcome string, d, first time.Duration, detail string) {
		mu.Lock()
		defer mu.Unlock()
		outcomes[outcome]++
		switch outcome {
		case "ok", "ok-stream":
			lat = append(lat, d)
			if first > 0 {
				ttfb = append(ttfb, first)
			}
		case "bad":
			if len(bad) < 20 {
				bad = append(bad, detail)
			}
		}
	}

	stop := make(chan struct{})
	ticks := make(chan struct{}, soakWorkers)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the pacer: soakRate requests per second at most
		defer wg.Done()
		tk := time.NewTicker(time.Second / soakRate)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				close(ticks)
				return
			case <-tk.C:
				select {
				case ticks <- struct{}{}:
				default: // workers are busy: the rate drops, the load stays bounded
				}
			}
		}
	}()
	for w := 0; w < soakWorkers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				if _, ok := <-ticks; !ok {
					return
				}
				n := nodes[(w+i)%len(nodes)]
				if !n.up.Load() {
					n = nodes[0]
				}
				k := soakKeys[rand.IntN(len(soakKeys))]
				stream := rand.IntN(2) == 0
				reqs.Add(1)
				outcome, d, first, detail := soakRequest(client, n.api, k.key, stream, i)
				if outcome == "ok" || outcome == "ok-stream" {
					oks.Add(1)
				} else {
					errCount.Add(1)
				}
				record(outcome, d, first, detail)
			}
		}(w)
	}

	// Grants: each retried with its idempotency key until acknowledged.
	var grants atomic.Int64
	grant := func(i int) {
		body := fmt.Sprintf(`{"amount":%d}`, soakGrantUSD)
		for try := 0; ; try++ {
			n := nodes[(i+try)%len(nodes)]
			req, _ := http.NewRequest("POST", "http://"+n.admin+"/admin/v1/accounts/acme/credits", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer soak-admin")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("soak-grant-%d", i))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 || resp.StatusCode == 201 {
					grants.Add(1)
					return
				}
				if resp.StatusCode != 503 {
					t.Errorf("grant %d: status %d: %s", i, resp.StatusCode, b)
					return
				}
			}
			if try > 100 {
				t.Errorf("grant %d never acknowledged: %v", i, err)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	survivor, victim := nodes[0], nodes[1]
	began := time.Now()
	var samples []soakSample
	var kills int
	var downTotal time.Duration
	lastKill, lastGrant, nGrants := began, began, 0
	next := began.Add(interval)
	var prevReqs, prevOK, prevErr int64
	for time.Since(began) < duration {
		now := time.Now()
		if now.Sub(lastGrant) >= grantEvery {
			lastGrant = now
			grant(nGrants)
			nGrants++
		}
		if now.Sub(lastKill) >= killEvery && time.Since(began)+killEvery/2 < duration {
			lastKill = now
			victim.up.Store(false)
			_ = victim.cmd.Process.Signal(syscall.SIGKILL)
			_ = victim.cmd.Wait()
			kills++
			down := time.Now()
			start(victim)
			waitReady(t, "http://"+victim.api+"/readyz") // the listeners are back
			downTotal += time.Since(down)
			victim.up.Store(true)
		}
		if now.After(next) {
			next = next.Add(interval)
			s := soakSample{at: time.Since(began).Round(time.Second)}
			m := scrapeMetrics(t, survivor.admin)
			s.rss, s.goroutines, s.fds = m["process_resident_memory_bytes"], m["go_goroutines"], m["process_open_fds"]
			r, o, e := reqs.Load(), oks.Load(), errCount.Load()
			s.reqs, s.ok, s.errs = r-prevReqs, o-prevOK, e-prevErr
			prevReqs, prevOK, prevErr = r, o, e
			mu.Lock()
			s.p99, s.p99TTFB = p99(lat), p99(ttfb)
			lat, ttfb = lat[:0], ttfb[:0]
			mu.Unlock()
			samples = append(samples, s)
			if testing.Verbose() {
				t.Logf("%v: n1 RSS %.1f MiB, %.0f goroutines, %.0f fds; %d requests (%d ok), p99 %v, kills %d, grants %d",
					s.at, s.rss/(1<<20), s.goroutines, s.fds, s.reqs, s.ok, s.p99.Round(100*time.Microsecond), kills, grants.Load())
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	// Convergence: both nodes report the same credits and usage for both
	// accounts.
	type view struct{ total, usage int64 }
	read := func(n *soakNode, key string) (view, bool) {
		req, _ := http.NewRequest("GET", "http://"+n.api+"/api/v1/credits", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return view{}, false
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Total json.Number `json:"total_credits"`
				Usage json.Number `json:"total_usage"`
			} `json:"data"`
		}
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		if resp.StatusCode != 200 || dec.Decode(&out) != nil {
			return view{}, false
		}
		return view{nanoOf(out.Data.Total.String()), nanoOf(out.Data.Usage.String())}, true
	}
	var acme, beta [2]view
	settled := time.Now()
	for {
		ok := true
		for i, n := range nodes {
			var ok1, ok2 bool
			acme[i], ok1 = read(n, soakKeys[0].key)
			beta[i], ok2 = read(n, soakKeys[2].key)
			ok = ok && ok1 && ok2
		}
		if ok && acme[0] == acme[1] && beta[0] == beta[1] {
			break
		}
		if time.Since(settled) > 30*time.Second {
			t.Fatalf("nodes did not converge: acme %+v beta %+v", acme, beta)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Money.
	var st mock.Stats
	for _, m := range mocks {
		s := m.Stats()
		st.Requests += s.Requests
		st.Resets += s.Resets
		st.StreamsAborted += s.StreamsAborted
		st.StreamsTruncated += s.StreamsTruncated
		st.Reported.Responses += s.Reported.Responses
		st.Reported.PromptTokens += s.Reported.PromptTokens
		st.Reported.CompletionTokens += s.Reported.CompletionTokens
	}
	spend := acme[0].usage + beta[0].usage
	reported := int64(st.Reported.PromptTokens)*soakPromptPrice + int64(st.Reported.CompletionTokens)*soakCompletionPrice
	// A request costs at most its prompt (≤ 64 tokens here) and the
	// completion estimate of what was relayed before a break (≤ 4 ×
	// max_tokens: a token is a word of at most 16 bytes).
	const maxPerRequest = 64*soakPromptPrice + 4*soakMaxTokens*soakCompletionPrice
	broken := int64(st.Resets + st.StreamsAborted + st.StreamsTruncated)
	lossBound := int64(kills*(soakWorkers+soakLossPerKill)) * maxPerRequest
	wantTotal := int64(soakSeedUSD+grants.Load()*soakGrantUSD) * 1e9

	// Report.
	var tab strings.Builder
	fmt.Fprintf(&tab, "| t | RSS MiB | goroutines | fds | requests | ok | errors | p99 | p99 TTFB |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range samples {
		fmt.Fprintf(&tab, "| %s | %.1f | %.0f | %.0f | %d | %d | %d | %s | %s |\n", s.at, s.rss/(1<<20), s.goroutines, s.fds,
			s.reqs, s.ok, s.errs, s.p99.Round(100*time.Microsecond), s.p99TTFB.Round(100*time.Microsecond))
	}
	mu.Lock()
	var oc []string
	for k, v := range outcomes {
		oc = append(oc, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(oc)
	badList := slices.Clone(bad)
	mu.Unlock()
	fmt.Fprintf(&tab, "\nduration %s, %d samples, %d kill -9 + restart of n2 (mean time to ready %s), %d grants acknowledged\n",
		duration, len(samples), kills, (downTotal / time.Duration(max(kills, 1))).Round(time.Millisecond), grants.Load())
	fmt.Fprintf(&tab, "client outcomes: %s\n", strings.Join(oc, " "))
	fmt.Fprintf(&tab, "mocks: %d requests, %d usage reports, %d resets, %d aborted, %d truncated streams\n",
		st.Requests, st.Reported.Responses, st.Resets, st.StreamsAborted, st.StreamsTruncated)
	fmt.Fprintf(&tab, "money (nano-USD): credits %d on both nodes (want %d); spend %d; mock-reported usage x price %d; spend - reported %d (allowed [-%d, +%d])\n",
		acme[0].total+beta[0].total, wantTotal+soakSeedUSD*1e9, spend, reported, spend-reported, lossBound, broken*maxPerRequest)
	t.Log("\n" + tab.String())
	if out := os.Getenv("TOLLGATE_SOAK_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(tab.String()), 0o644); err != nil {
			t.Error(err)
		}
	}

	// Verdicts.
	if len(badList) > 0 {
		t.Errorf("%d malformed responses, e.g.:\n%s", outcomes["bad"], strings.Join(badList, "\n"))
	}
	if acme[0].total != wantTotal || beta[0].total != soakSeedUSD*1e9 {
		t.Errorf("credits acme %d beta %d, want %d and %d: a grant was lost or counted twice", acme[0].total, beta[0].total, wantTotal, int64(soakSeedUSD*1e9))
	}
	if spend > reported+broken*maxPerRequest {
		t.Errorf("spend %d exceeds the mock-reported %d by more than %d broken requests can explain: double charge", spend, reported, broken)
	}
	if spend < reported-lossBound {
		t.Errorf("spend %d is below the mock-reported %d by more than the loss bound of %d kills (%d)", spend, reported, kills, lossBound)
	}
	if oks.Load() == 0 {
		t.Errorf("no request succeeded")
	}
	if len(samples) >= 8 {
		q := len(samples) / 4
		first, last := samples[:q], samples[len(samples)-q:]
		med := func(ss []soakSample, f func(soakSample) float64) float64 {
			v := make([]float64, len(ss))
			for i, s := range ss {
				v[i] = f(s)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		rss0, rss1 := med(first, func(s soakSample) float64 { return s.rss }), med(last, func(s soakSample) float64 { return s.rss })
		g0, g1 := med(first, func(s soakSample) float64 { return s.goroutines }), med(last, func(s soakSample) float64 { return s.goroutines })
		f0, f1 := med(first, func(s soakSample) float64 { return s.fds }), med(last, func(s soakSample) float64 { return s.fds })
		if rss1 > rss0*soakRSSGrowth && rss1 > rss0+soakRSSSlack {
			t.Errorf("RSS grew from %.1f to %.1f MiB (first to last quarter)", rss0/(1<<20), rss1/(1<<20))
		}
		if g1 > g0+soakGoroutineSlack {
			t.Errorf("goroutines grew from %.0f to %.0f", g0, g1)
		}
		if f1 > f0+soakFDSlack {
			t.Errorf("open files grew from %.0f to %.0f", f0, f1)
		}
	}
	for _, n := range nodes {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		if err := n.cmd.Wait(); err != nil {
			t.Errorf("%s: graceful stop: %v", n.name, err)
		}
	}
}

// soakRequest sends one chat completion and classifies the answer: "ok" /
// "ok-stream" (a complete answer), "error-NNN" (an OpenAI-shape error, or a
// stream that ends with a terminal error chunk and [DONE]), "down" (no
// connection: the node is being killed) or "bad" (anything else).
func soakRequest(c *http.Client, api, key string, stream bool, i int) (outcome string, d, first time.Duration, detail string) {
	body := fmt.Sprintf(`{"model":"acme/chat","stream":%v,"max_tokens":%d,"messages":[{"role":"user","content":"soak %s"}],"metadata":{"tags":"soak,w%d"}}`,
		stream, soakMaxTokens, strings.Repeat("x", i%97), i%4)
	req, _ := http.NewRequest("POST", "http://"+api+"/api/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if i%3 == 0 {
		req.Header.Set("X-Tollgate-Tags", "soak-hdr")
	}
	t0 := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return "down", 0, 0, ""
	}
	defer resp.Body.Close()
	first = time.Since(t0)
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Code != resp.StatusCode || e.Error.Message == "" {
			return "bad", 0, 0, fmt.Sprintf("status %d: %.200s", resp.StatusCode, b)
		}
		return "error-" + strconv.Itoa(resp.StatusCode), 0, 0, ""
	}
	if !stream {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return "down", 0, 0, ""
		}
		var out struct {
			Choices []struct {
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				Total int `json:"total_tokens"`
			} `json:"usage"`
		}
		if json.Unmarshal(b, &out) != nil || len(out.Choices) != 1 || out.Usage == nil || out.Usage.Total == 0 {
			return "bad", 0, 0, fmt.Sprintf("non-stream 200: %.200s", b)
		}
		return "ok", time.Since(t0), 0, ""
	}
	// A stream: data lines until [DONE]; the one before [DONE] is the
	// usage chunk or a terminal error chunk.
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last, prev []byte
	firstData := time.Duration(0)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("data: ")) {
			continue
		}
		if firstData == 0 && !bytes.Contains(line, []byte(`"role"`)) {
			firstData = time.Since(t0)
		}
		prev, last = last, append(last[:0:0], line[6:]...)
	}
	if sc.Err() != nil {
		return "down", 0, 0, ""
	}
	if string(last) != "[DONE]" {
		return "bad", 0, 0, fmt.Sprintf("stream ended without [DONE] after %.200s", last)
	}
	switch {
	case bytes.Contains(prev, []byte(`"error":`)) && bytes.Contains(prev, []byte(`"finish_reason":"error"`)):
		return "error-midstream", 0, 0, ""
	case bytes.Contains(prev, []byte(`"usage":{`)):
		return "ok-stream", time.Since(t0), firstData, ""
	}
	return "bad", 0, 0, fmt.Sprintf("stream without usage or error: %.200s", prev)
}

// scrapeMetrics reads the gauges of /metrics that have no labels.
func scrapeMetrics(t *testing.T, admin string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Errorf("metrics: %v", err)
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.ContainsAny(name, "{#") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// p99 is the 99th percentile of d (0 if empty); it sorts d.
func p99(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[(len(d)*99)/100]
}

// nanoOf parses a decimal USD amount into nano-USD.
func nanoOf(usd string) int64 {
	whole, frac, _ := strings.Cut(usd, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	frac = (frac + "000000000")[:9]
	f, _ := strconv.ParseInt(frac, 10, 64)
	if strings.HasPrefix(usd, "-") {
		return n*1e9 - f
	}
	return n*1e9 + f
}
