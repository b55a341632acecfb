package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	json "github.com/goccy/go-json"
	"go.uber.org/goleak"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/cluster"
	"github.com/tollgate/tollgate/cluster/clustertest"
	"github.com/tollgate/tollgate/core/config"
	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

const (
	clusterAdminKey = "cluster-test-admin-key"
	clusterUserKey  = "sk-tg-cluster-test-0123456789abcdef"
	// clusterGossipKey is a base64 AES-256 key: the test runs encrypted,
	// as production must.
	clusterGossipKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	clusterBody      = `{"model":"acme/chat","max_tokens":50,"messages":[{"role":"user","content":"count me once"}]}`
)

// clusterTestConfig is one node's config file. The seed grant of acme is
// declared on every node and must count once cluster-wide.
const clusterTestConfig = `node: {name: %s, region: %s}
admin_key: ` + clusterAdminKey + `
log: {level: error}
ledger: {partition_allowance: 0.001}
cluster: {enabled: true, profile: local, secret_key: "` + clusterGossipKey + `", label: tollgate-test}
providers:
  - {name: p1, base_url: %q}
models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: p1, upstream_model: up, pricing: {prompt: 1, completion: 2}}
accounts:
  - {name: acme, credits: 100, keys: [{name: k, key: ` + clusterUserKey + `}]}
`

// testClusterNode is one in-process node: the same openNode serve uses,
// on loopback listeners and a fault-injecting gossip transport.
type testClusterNode struct {
	name   string
	n      *node
	api    string // base URL of the public listener
	admin  string // base URL of the admin listener
	gossip string // gossip address, to join
}

// fastCluster shrinks the timings so failures are detected and healed in
// about a second (the local profile's own defaults take several).
func fastCluster(c *cluster.Config) {
	c.JoinRetryMin = 50 * time.Millisecond
	c.JoinRetryMax = 400 * time.Millisecond
	c.ReconnectInterval = 300 * time.Millisecond
	c.LeaveTimeout = 2 * time.Second
	c.ProbeInterval = 250 * time.Millisecond
	c.ProbeTimeout = 150 * time.Millisecond
	c.SuspicionMult = 3
	c.GossipInterval = 50 * time.Millisecond
	c.PushPullInterval = time.Second
	c.TCPTimeout = time.Second
	c.DeadNodeReclaim = time.Second
}

func startClusterTestNode(t *testing.T, nw *clustertest.Network, name, region string, join []string, upstream string) *testClusterNode {
	t.Helper()
	return startClusterTestNodeYAML(t, nw, name, fmt.Appendf(nil, clusterTestConfig, name, region, upstream), join)
}

// startClusterTestNodeYAML starts a node from its config file text.
func startClusterTestNodeYAML(t *testing.T, nw *clustertest.Network, name string, yaml []byte, join []string) *testClusterNode {
	t.Helper()
	cfg, err := config.Parse(name+".yaml", yaml, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node.DataDir = t.TempDir()
	var log *slog.Logger
	if os.Getenv("TOLLGATE_CLUSTER_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test_node", name)
	} else {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tr, err := nw.NewTransport(name)
	if err != nil {
		t.Fatal(err)
	}
	n, err := openNode(cfg, log, apiLn.Addr().String(), adminLn.Addr().String(), func(c *cluster.Config) {
		c.Transport = tr
		c.Join = join
		fastCluster(c)
	})
	if err != nil {
		t.Fatalf("open node %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- n.gw.Serve(apiLn, adminLn) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = n.gw.Shutdown(ctx)
		<-done
		n.close()
	})
	return &testClusterNode{name: name, n: n, api: "http://" + apiLn.Addr().String(), admin: "http://" + adminLn.Addr().String(), gossip: tr.Addr()}
}

// clusterHTTP is the test's HTTP client; its idle connections are closed
// at the end so the leak check sees no transport goroutines.
var clusterHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func httpJSON(t *testing.T, method, url, bearer string, hdr map[string]string, body string, out any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

// credits reads GET /api/v1/credits on a node, in nano-USD.
func (n *testClusterNode) credits(t *testing.T) (total, usage int64) {
	t.Helper()
	var out struct {
		Data struct {
			TotalCredits json.Number `json:"total_credits"`
			TotalUsage   json.Number `json:"total_usage"`
		} `json:"data"`
	}
	if st := httpJSON(t, "GET", n.api+"/api/v1/credits", clusterUserKey, nil, "", &out); st != 200 {
		t.Fatalf("%s: GET /credits: %d", n.name, st)
	}
	return nano(t, out.Data.TotalCredits), nano(t, out.Data.TotalUsage)
}

// balance reads the admin view of acme's credits on a node, in nano-USD.
func (n *testClusterNode) balance(t *testing.T) (total, usage, balance int64) {
	t.Helper()
	var out struct {
		Data struct {
			TotalCredits json.Number `json:"total_credits"`
			TotalUsage   json.Number `json:"total_usage"`
			Balance      json.Number `json:"balance"`
		} `json:"data"`
	}
	if st := httpJSON(t, "GET", n.admin+"/admin/v1/accounts/acme/credits", clusterAdminKey, nil, "", &out); st != 200 {
		t.Fatalf("%s: GET admin credits: %d", n.name, st)
	}
	return nano(t, out.Data.TotalCredits), nano(t, out.Data.TotalUsage), nano(t, out.Data.Balance)
}

func (n *testClusterNode) clusterView(t *testing.T) clusterView {
	t.Helper()
	var v clusterView
	if st := httpJSON(t, "GET", n.admin+"/admin/v1/cluster", clusterAdminKey, nil, "", &v); st != 200 {
		t.Fatalf("%s: GET /admin/v1/cluster: %d", n.name, st)
	}
	return v
}

func (n *testClusterNode) grant(t *testing.T, usd, idem string) {
	t.Helper()
	st := httpJSON(t, "POST", n.admin+"/admin/v1/accounts/acme/credits", clusterAdminKey,
		map[string]string{"Idempotency-Key": idem}, `{"amount":`+usd+`}`, nil)
	if st != 200 {
		t.Fatalf("%s: grant %s: %d", n.name, usd, st)
	}
}

// chat sends one completion and returns its status.
func (n *testClusterNode) chat(t *testing.T) int {
	req, _ := http.NewRequest("POST", n.api+"/api/v1/chat/completions", strings.NewReader(clusterBody))
	req.Header.Set("Authorization", "Bearer "+clusterUserKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		t.Errorf("%s: chat: %v", n.name, err)
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func nano(t *testing.T, n json.Number) int64 {
	t.Helper()
	v, err := routing.ParseUSD(strings.TrimPrefix(string(n), "-"))
	if err != nil {
		t.Fatalf("bad USD %q: %v", n, err)
	}
	if strings.HasPrefix(string(n), "-") {
		return -v
	}
	return v
}

// waitFor polls cond every 5 ms until it holds, failing after timeout, and
// returns how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// converged reports whether every node shows the same credits and usage,
// and balance = credits − usage on each.
func converged(t *testing.T, nodes []*testClusterNode) (bool, string) {
	t.Helper()
	var desc []string
	var first [2]int64
	ok := true
	for i, n := range nodes {
		total, usage, bal := n.balance(t)
		desc = append(desc, fmt.Sprintf("%s: credits %d usage %d balance %d", n.name, total, usage, bal))
		if bal != total-usage {
			ok = false
		}
		if i == 0 {
			first = [2]int64{total, usage}
		} else if first != [2]int64{total, usage} {
			ok = false
		}
	}
	return ok, strings.Join(desc, "; ")
}

// TestClusterInProcess runs three gateways in one process, joined over an
// encrypted gossip network that can cut nodes apart, with load from a mock
// upstream. It checks the acceptance points of issue 7 that an in-process
// cluster can show: the seed grant counts once cluster-wide, a grant made
// on one node is visible on the others within 1 s, spend converges to the
// same total everywhere and equals what the mock served at the catalog
// price, a catalog change gossips, a node cut off from the majority
// reports it and spends at most the partition allowance per key, and
// everything converges again after the heal.
func TestClusterInProcess(t *testing.T) {
	leakOpts := []goleak.Option{
		goleak.IgnoreCurrent(),
		// fasthttp's process-wide date updater, started by the first server.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		// fasthttp client pools reap idle connections on their own
		// schedule (MaxIdleConnDuration) and then exit.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*Client).mCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
	}
	t.Cleanup(func() {
		// Runs last: every node has shut down. memberlist's Shutdown does
		// not wait for a probe in flight, so give it a few seconds.
		clusterHTTP.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := goleak.Find(leakOpts...)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutines leaked: %v", err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	m := mock.New(mock.Config{Tokens: 50, Latency: time.Millisecond})
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })

	nw := clustertest.NewNetwork()
	a := startClusterTestNode(t, nw, "a", "eu-west", nil, m.URL())
	b := startClusterTestNode(t, nw, "b", "eu-west", []string{a.gossip}, m.URL())
	c := startClusterTestNode(t, nw, "c", "us-east", []string{a.gossip}, m.URL())
	nodes := []*testClusterNode{a, b, c}

	took := waitFor(t, 10*time.Second, "three members alive everywhere", func() bool {
		for _, n := range nodes {
			if v := n.clusterView(t); v.MembersAlive != 3 || !v.Majority || v.Partitioned {
				return false
			}
		}
		return true
	})
	t.Logf("joined: 3 members alive on every node after %s", took.Round(time.Millisecond))
	v := a.clusterView(t)
	if len(v.Members) != 3 || len(v.Regions) != 2 {
		t.Fatalf("cluster view of a: %+v", v)
	}
	for _, mem := range v.Members {
		want := nodes[strings.Index("abc", mem.Name)]
		if mem.APIAddr != strings.TrimPrefix(want.api, "http://") || mem.Epoch != want.n.led.Epoch() || mem.State != "alive" {
			t.Fatalf("member %s: %+v, want api %s epoch %d", mem.Name, mem, want.api, want.n.led.Epoch())
		}
	}
	for _, n := range nodes {
		if st := httpJSON(t, "GET", n.api+"/readyz", "", nil, "", nil); st != 200 {
			t.Fatalf("%s: /readyz %d after joining", n.name, st)
		}
	}

	// The CLI verb renders the same view.
	out := mustRun(t, "cluster", "members", "--server", a.admin, "--admin-key", clusterAdminKey)
	if !strings.Contains(out, "a (this node)") || !strings.Contains(out, "us-east") || !strings.Contains(out, "majority: yes (3 of 3") {
		t.Fatalf("tollgate cluster members:\n%s", out)
	}

	// The seed grant (declared on all three) counts once once the seeds
	// have met.
	waitFor(t, 5*time.Second, "seed grant merged", func() bool {
		ok, _ := converged(t, nodes)
		return ok
	})
	for _, n := range nodes {
		if total, _ := n.credits(t); total != 100*routing.NanoPerUSD {
			t.Fatalf("%s: credits %d after seeding on three nodes, want 100 USD once", n.name, total)
		}
	}

	// A grant on a is visible on b and c within 1 s.
	start := time.Now()
	a.grant(t, "5", "cluster-test-grant-1")
	acked := time.Since(start)
	seen := make([]time.Duration, len(nodes))
	for time.Since(start) < 5*time.Second && (seen[1] == 0 || seen[2] == 0) {
		for i, n := range nodes[1:] {
			if seen[i+1] == 0 {
				if total, _ := n.credits(t); total == 105*routing.NanoPerUSD {
					seen[i+1] = time.Since(start)
				}
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("grant acknowledged on a after %s; visible on b after %s, on c after %s", acked.Round(time.Microsecond),
		seen[1].Round(time.Millisecond), seen[2].Round(time.Millisecond))
	for i, d := range seen[1:] {
		if d == 0 || d > time.Second {
			t.Fatalf("grant on a not visible on %s within 1 s (%s)", nodes[i+1].name, d)
		}
	}

	// Load on all three nodes.
	before := m.Stats().Reported
	load := func(ns []*testClusterNode, d time.Duration, workers int) (ok, refused int64) {
		var okN, refusedN atomic.Int64
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for _, n := range ns {
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(deadline) {
						switch st := n.chat(t); st {
						case 200:
							okN.Add(1)
						case 402:
							refusedN.Add(1)
						default:
							t.Errorf("%s: chat status %d", n.name, st)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
		return okN.Load(), refusedN.Load()
	}
	ok, _ := load(nodes, time.Second, 4)
	served := m.Stats().Reported
	cost1 := int64(served.PromptTokens-before.PromptTokens)*1000 + int64(served.CompletionTokens-before.CompletionTokens)*2000
	start = time.Now()
	var last string
	waitFor(t, 5*time.Second, "usage converged after load", func() bool {
		var good bool
		good, last = converged(t, nodes)
		if !good {
			return false
		}
		_, usage := a.credits(t)
		return usage == cost1
	})
	t.Logf("load: %d requests on three nodes (mock served %d); usage %d nano-USD converged on every node %s after the load ended",
		ok, served.Responses-before.Responses, cost1, time.Since(start).Round(time.Millisecond))
	t.Logf("state: %s", last)

	// A price change on a applies on b and c.
	if st := httpJSON(t, "PUT", a.admin+"/admin/v1/catalog/prices", clusterAdminKey, nil,
		`{"model":"acme/chat","provider":"p1","pricing":{"prompt":"3","completion":"4"}}`, nil); st != 200 {
		t.Fatalf("price change on a: %d", st)
	}
	took = waitFor(t, 5*time.Second, "price change on b and c", func() bool {
		for _, n := range nodes[1:] {
			ep, ok := n.n.router.Snapshot().Endpoint("p1", "acme/chat")
			if !ok || ep.Pricing.Prompt != 3*routing.NanoPerUSD || ep.Pricing.Completion != 4*routing.NanoPerUSD {
				return false
			}
		}
		return true
	})
	t.Logf("catalog: price change on a applied on b and c after %s", took.Round(time.Millisecond))

	// Partition: c alone against a and b.
	nw.Partition([]string{"a", "b"}, []string{"c"})
	start = time.Now()
	// memberlist slows the probes of a node whose probes go unanswered
	// (its awareness score), so the isolated side takes a few seconds.
	waitFor(t, 15*time.Second, "c partitioned, a and b keep the majority", func() bool {
		vc, va, vb := c.clusterView(t), a.clusterView(t), b.clusterView(t)
		return vc.Partitioned && !vc.Majority && va.Majority && !va.Partitioned && vb.Majority && !vb.Partitioned
	})
	t.Logf("partition: c reports it after %s", time.Since(start).Round(time.Millisecond))
	var ready struct {
		Status      string `json:"status"`
		Partitioned bool   `json:"partitioned"`
	}
	if st := httpJSON(t, "GET", c.api+"/readyz", "", nil, "", &ready); st != 200 || ready.Status != "ok" || !ready.Partitioned {
		t.Fatalf("c /readyz while partitioned: %d %+v", st, ready)
	}
	if out := mustRun(t, "cluster", "members", "--server", c.admin, "--admin-key", clusterAdminKey); !strings.Contains(out, "PARTITIONED") {
		t.Fatalf("cluster members on c while partitioned:\n%s", out)
	}

	_, cUsageBefore := c.credits(t)
	before = m.Stats().Reported
	okC, refusedC := load([]*testClusterNode{c}, 500*time.Millisecond, 2)
	_, cUsageAfter := c.credits(t)
	allowance := int64(routing.NanoPerUSD / 1000)
	spentC := cUsageAfter - cUsageBefore
	t.Logf("partition: c served %d and refused %d requests; spent %d nano-USD of a %d allowance", okC, refusedC, spentC, allowance)
	if refusedC == 0 || spentC <= 0 || spentC > allowance {
		t.Fatalf("partitioned c spent %d nano-USD (allowance %d), refused %d", spentC, allowance, refusedC)
	}
	// The majority side keeps serving and granting meanwhile.
	okAB, refusedAB := load([]*testClusterNode{a, b}, 300*time.Millisecond, 2)
	if refusedAB != 0 {
		t.Fatalf("majority side refused %d requests", refusedAB)
	}
	a.grant(t, "7", "cluster-test-grant-2")
	served = m.Stats().Reported
	cost2 := int64(served.PromptTokens-before.PromptTokens)*3000 + int64(served.CompletionTokens-before.CompletionTokens)*4000
	t.Logf("partition: a and b served %d requests meanwhile", okAB)
	if total, _ := c.credits(t); total != 105*routing.NanoPerUSD {
		t.Fatalf("c saw the grant made on the other side of the partition: credits %d", total)
	}

	// Heal: c rejoins, leaves partition mode and every node converges on
	// the same balances, equal to grants − what the mock served at each
	// phase's price.
	nw.Heal()
	start = time.Now()
	waitFor(t, 15*time.Second, "converged after heal", func() bool {
		for _, n := range nodes {
			if v := n.clusterView(t); !v.Majority || v.Partitioned || v.MembersAlive != 3 {
				return false
			}
		}
		var good bool
		good, last = converged(t, nodes)
		if !good {
			return false
		}
		total, usage := a.credits(t)
		return total == 112*routing.NanoPerUSD && usage == cost1+cost2
	})
	t.Logf("heal: every node converged %s after the heal: %s", time.Since(start).Round(time.Millisecond), last)
	for _, n := range nodes {
		if total, usage, bal := n.balance(t); bal != 112*routing.NanoPerUSD-(cost1+cost2) || total-usage != bal {
			t.Fatalf("%s: credits %d usage %d balance %d, want balance %d", n.name, total, usage, bal, 112*routing.NanoPerUSD-(cost1+cost2))
		}
		// Every node shares the key and label, so nothing of theirs is
		// refused. A label rejection can come from another cluster on this
		// machine's loopback (a concurrent test reaching a reused port):
		// logged, not failed.
		st := n.n.cn.c.Stats()
		if st.RejectedKey != 0 {
			t.Fatalf("%s: gossip rejected: %+v", n.name, st)
		}
		if st.RejectedLabel != 0 {
			t.Logf("%s: %d packets of another label refused (another cluster on loopback)", n.name, st.RejectedLabel)
		}
	}
	// GET /generation on any node answers for a generation another node
	// served: the id names the node, which is asked.
	{
		req, _ := http.NewRequest("POST", a.api+"/api/v1/chat/completions", strings.NewReader(clusterBody))
		req.Header.Set("Authorization", "Bearer "+clusterUserKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := clusterHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Generation-Id")
		var out struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if st := httpJSON(t, "GET", b.api+"/api/v1/generation?id="+id, clusterUserKey, nil, "", &out); st != 200 || out.Data.ID != id {
			t.Fatalf("GET /generation of a's %s on b: status %d, id %q", id, st, out.Data.ID)
		}
		// A Responses API id ("resp_" + the generation id) is forwarded too.
		out.Data.ID = ""
		if st := httpJSON(t, "GET", b.api+"/api/v1/generation?id=resp_"+id, clusterUserKey, nil, "", &out); st != 200 || out.Data.ID != id {
			t.Fatalf("GET /generation of a's resp_%s on b: status %d, id %q", id, st, out.Data.ID)
		}
	}
	// Analytics on any node fan out to the members and merge: grouped by
	// node, the rows cover all three, and no member is missing.
	{
		var out struct {
			Data struct {
				Nodes        []string `json:"nodes"`
				MissingNodes []string `json:"missing_nodes"`
				Rows         []struct {
					Group map[string]string `json:"group"`
				} `json:"rows"`
			} `json:"data"`
		}
		st := httpJSON(t, "POST", c.admin+"/admin/v1/analytics/query", clusterAdminKey, nil, `{"granularity":"day","group_by":["node"]}`, &out)
		seen := map[string]bool{}
		for _, r := range out.Data.Rows {
			seen[r.Group["node"]] = true
		}
		if st != 200 || len(out.Data.MissingNodes) != 0 || len(out.Data.Nodes) != 3 || !seen["a"] || !seen["b"] || !seen["c"] {
			t.Fatalf("analytics fan-out from c: status %d, %+v", st, out.Data)
		}
	}
	// GET /activity (management key) on any node covers every member.
	{
		var created struct {
			Key string `json:"key"`
		}
		if st := httpJSON(t, "POST", a.admin+"/admin/v1/accounts/acme/keys", clusterAdminKey, nil, `{"name":"mgmt","management":true}`, &created); st != 201 || created.Key == "" {
			t.Fatalf("management key: status %d", st)
		}
		var act struct {
			Data []struct {
				Requests int64 `json:"requests"`
			} `json:"data"`
		}
		var st int
		var total int64
		served := int64(m.Stats().Reported.Responses)
		waitFor(t, 5*time.Second, "the management key on c and activity from every member", func() bool {
			st = httpJSON(t, "GET", c.api+"/api/v1/activity", created.Key, nil, "", &act)
			total = 0
			for _, r := range act.Data {
				total += r.Requests
			}
			return st == 200 && total >= served
		})
	}
}

// TestLedgerChannelRejectsForgedCounters: a delta naming another node's
// counter, received from a member, changes nothing (SPEC §5: a delta may
// only raise its sender's own counters), and is counted.
func TestLedgerChannelRejectsForgedCounters(t *testing.T) {
	led, err := ledger.Open(ledger.Config{Dir: t.TempDir(), Node: "x", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer led.Close()
	if err := led.Seed([]ledger.SeedAccount{{Name: "acme", Credits: 10 * routing.NanoPerUSD}}); err != nil {
		t.Fatal(err)
	}
	ch := &ledgerChannel{led: led, log: slog.New(slog.NewTextHandler(io.Discard, nil)), m: newWireMetrics(metrics.NewSet()), lim: &logLimiter{}}
	id := ledger.AccountID("acme")
	forged := ledger.Delta{AccountID: id, Spend: []ledger.SpendCounter{{Node: "y", Epoch: 1, Value: 5 * routing.NanoPerUSD}}}
	b, err := forged.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	ch.Receive("z", ledgerWireVersion, b)
	if _, usage, _ := led.Credits(id); usage != 0 {
		t.Fatalf("forged counter of y sent by z changed usage to %d", usage)
	}
	if ch.m.ledgerRejected.Get() != 1 {
		t.Fatalf("rejections counted: %d", ch.m.ledgerRejected.Get())
	}
	// The same counter from its owner is merged.
	ch.Receive("y", ledgerWireVersion, b)
	if _, usage, _ := led.Credits(id); usage != 5*routing.NanoPerUSD {
		t.Fatalf("own counter of y: usage %d", usage)
	}
}

// TestMergeCounters: carried counters complete a later tick's payload;
// where both hold a counter the later value stands.
func TestMergeCounters(t *testing.T) {
	k1, k2 := ledger.HashSecret([]byte("k1")), ledger.HashSecret([]byte("k2"))
	older := ledger.Delta{AccountID: "acct", Spend: []ledger.SpendCounter{{Node: "a", Epoch: 1, Value: 10}},
		KeyUsage: []ledger.UsageCounter{{Key: k1, Node: "a", Epoch: 1, Value: 4}, {Key: k2, Node: "a", Epoch: 1, Value: 6}}}
	newer := ledger.Delta{AccountID: "acct", Spend: []ledger.SpendCounter{{Node: "a", Epoch: 1, Value: 15}},
		KeyUsage: []ledger.UsageCounter{{Key: k1, Node: "a", Epoch: 1, Value: 9}}}
	got := mergeCounters(newer, older)
	if len(got.Spend) != 1 || got.Spend[0].Value != 15 {
		t.Fatalf("spend %+v", got.Spend)
	}
	vals := map[ledger.KeyHash]int64{}
	for _, u := range got.KeyUsage {
		vals[u.Key] = u.Value
	}
	if len(got.KeyUsage) != 2 || vals[k1] != 9 || vals[k2] != 6 {
		t.Fatalf("usage %+v", got.KeyUsage)
	}
}

// TestDecodeList: state lists round-trip, and malformed ones are refused.
func TestDecodeList(t *testing.T) {
	var b []byte
	b = binary.AppendUvarint(b, 3)
	for _, s := range []string{"", "x", strings.Repeat("y", 300)} {
		b = appendItem(b, []byte(s))
	}
	items, err := decodeList(b)
	if err != nil || len(items) != 3 || len(items[0]) != 0 || string(items[1]) != "x" || len(items[2]) != 300 {
		t.Fatalf("decodeList: %v %q", err, items)
	}
	for _, bad := range [][]byte{nil, {5}, {1, 9, 'a'}, append(append([]byte(nil), b...), 0), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}} {
		if _, err := decodeList(bad); err == nil {
			t.Fatalf("decodeList(%x) accepted", bad)
		}
	}
}

// FuzzDecodeList: gossip state lists are untrusted bytes.
func FuzzDecodeList(f *testing.F) {
	f.Add([]byte{2, 1, 'a', 0})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		items, err := decodeList(b)
		if err != nil {
			return
		}
		out := binary.AppendUvarint(nil, uint64(len(items)))
		for _, it := range items {
			out = appendItem(out, it)
		}
		if string(out) != string(b) {
			t.Fatalf("round trip %x → %x", b, out)
		}
	})
}

func TestReachableAddr(t *testing.T) {
	f := func(addr, host, want string) {
		t.Helper()
		if got := reachableAddr(addr, host); got != want {
			t.Fatalf("reachableAddr(%q, %q) = %q, want %q", addr, host, got, want)
		}
	}
	f("0.0.0.0:8080", "10.0.0.5", "10.0.0.5:8080")
	f("[::]:8080", "10.0.0.5", "10.0.0.5:8080")
	f(":8080", "10.0.0.5", "10.0.0.5:8080")
	f("127.0.0.1:8080", "10.0.0.5", "127.0.0.1:8080")
	f("0.0.0.0:8080", "", "0.0.0.0:8080")
}

// TestClusterDryRun: serve --dry-run checks the cluster section too.
func TestClusterDryRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, cluster string) string {
		p := filepath.Join(dir, name)
		yaml := "node: {name: dry}\ncluster: " + cluster + "\nproviders: [{name: p1, base_url: \"http://127.0.0.1:1\"}]\n"
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if out, err := tollgate(t, "serve", "--dry-run", "--config", write("ok.yaml", `{enabled: true, insecure: true, bind: "127.0.0.1:7946", join: ["127.0.0.1:7947"]}`)); err != nil {
		t.Fatalf("valid cluster config refused: %v\n%s", err, out)
	}
	if _, err := tollgate(t, "serve", "--dry-run", "--config", write("bad.yaml", `{enabled: true, insecure: true, bind: "nowhere"}`)); err == nil || !strings.Contains(err.Error(), "bind") {
		t.Fatalf("bad bind accepted: %v", err)
	}
}

// TestClusterNotJoinedNotReady: a node configured to join that has not
// met any member is not ready (503) and its ledger is in partition mode.
func TestClusterNotJoinedNotReady(t *testing.T) {
	m := mock.New(mock.Config{Tokens: 5})
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	nw := clustertest.NewNetwork()
	// A seed nobody answers at: 127.0.0.1:1 is never a gossip port here.
	d := startClusterTestNode(t, nw, "d", "eu-west", []string{"127.0.0.1:1"}, m.URL())
	var ready struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	}
	req, _ := http.NewRequest("GET", d.api+"/readyz", nil)
	resp, err := clusterHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(b, &ready); err != nil || resp.StatusCode != 503 || !strings.Contains(ready.Reason, "not joined") {
		t.Fatalf("/readyz before joining: %d %s", resp.StatusCode, b)
	}
	if v := d.clusterView(t); v.Majority || !v.Partitioned || !v.Enabled {
		t.Fatalf("cluster view before joining: %+v", v)
	}
}
