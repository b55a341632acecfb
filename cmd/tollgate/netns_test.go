//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/routing"
)

// TestClusterNetnsPartition cuts one node of a three-node cluster off for
// real. Each tollgate process runs in its own network namespace, linked by
// a veth pair to a bridge in a hub namespace (10.77.0.0/24, which exists
// only inside these namespaces); its upstream mock listens on loopback in
// the same namespace, and the test reaches each node's listeners through
// sockets it opens inside that namespace. Nothing touches the host's own
// network namespace.
//
// Setting the hub side of n3's veth down cuts n3 off: n3 must report the
// partition in /readyz and /admin/v1/cluster and hold each key's new spend
// to ledger.partition_allowance, n1 and n2 keep the majority and keep
// serving (and granting); after the link comes back up every node reports
// the same balances, equal to the grants minus what the three mocks served
// at the catalog price. Detection and convergence times are logged.
//
// It needs root and a working `ip netns`; otherwise it is skipped.
func TestClusterNetnsPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: the netns partition test needs root (ip netns, veth pairs)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: no `ip` command (install iproute2) for the netns partition test")
	}
	id := netnsID(t)
	hub := "tg" + id + "-hub"
	if out, err := exec.Command("ip", "netns", "add", hub).CombinedOutput(); err != nil {
		t.Skipf("skipped: `ip netns add` does not work here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", hub).Run() })
	ipRun(t, "-n", hub, "link", "set", "lo", "up")
	ipRun(t, "-n", hub, "link", "add", "br0", "type", "bridge")
	ipRun(t, "-n", hub, "link", "set", "br0", "up")

	bin := buildBinary(t)
	dir := t.TempDir()
	const (
		key      = "sk-tg-netns-test-0123456789abcdef"
		admin    = "netns-admin-key"
		gossipK  = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		apiAddr  = "127.0.0.1:18080"
		admAddr  = "127.0.0.1:18081"
		nodes    = 3
		perToken = 1000 // nano-USD per prompt token at 1 USD/M; completion is 2 USD/M
	)
	type nsNode struct {
		name, ns, hubIf, ip, data, cfg string
		mock                           *mock.Server
		client                         *http.Client
		cmd                            *exec.Cmd
	}
	ns := make([]*nsNode, nodes)
	for i := range ns {
		n := &nsNode{
			name:  fmt.Sprintf("n%d", i+1),
			ns:    fmt.Sprintf("tg%s-n%d", id, i+1),
			hubIf: fmt.Sprintf("tg%sh%d", id, i+1),
			ip:    fmt.Sprintf("10.77.0.%d", i+1),
		}
		n.data = filepath.Join(dir, n.name)
		ns[i] = n
		ipRun(t, "netns", "add", n.ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.ns).Run() })
		nodeIf := fmt.Sprintf("tg%sn%d", id, i+1)
		ipRun(t, "link", "add", n.hubIf, "type", "veth", "peer", "name", nodeIf)
		// Moved at once: a failure below leaves nothing in the host's
		// namespace (deleting a namespace deletes its interfaces).
		ipRun(t, "link", "set", n.hubIf, "netns", hub)
		ipRun(t, "link", "set", nodeIf, "netns", n.ns)
		ipRun(t, "-n", hub, "link", "set", n.hubIf, "master", "br0", "up")
		ipRun(t, "-n", n.ns, "link", "set", "lo", "up")
		ipRun(t, "-n", n.ns, "addr", "add", n.ip+"/24", "dev", nodeIf)
		ipRun(t, "-n", n.ns, "link", "set", nodeIf, "up")

		path := "/var/run/netns/" + n.ns
		n.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := inNetns(path, func() (err error) {
					c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
			MaxIdleConnsPerHost: 16,
		}}
		t.Cleanup(n.client.CloseIdleConnections)
		var ln net.Listener
		if err := inNetns(path, func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
			t.Fatal(err)
		}
		n.mock = mock.New(mock.Config{Tokens: 20, Latency: 2 * time.Millisecond})
		if err := n.mock.Serve(ln); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.mock.Close() })
	}
	for _, n := range ns {
		var join []string
		for _, o := range ns {
			if o != n {
				join = append(join, fmt.Sprintf("%q", o.ip+":7946"))
			}
		}
		// LAN profile with faster failure detection: the knobs the config
		// file exposes (config.example.yaml).
		cfg := fmt.Sprintf(`node: {name: %s, region: lab, data_dir: %q}
listen: {api: %q, admin: %q}
admin_key: %s
log: {level: error}
ledger: {partition_allowance: 0.001}
cluster: {enabled: true, bind: "%s:7946", join: [%s], profile: lan, secret_key: %q, label: netns-test,
  probe_interval: 500ms, probe_timeout: 200ms, suspicion_mult: 3, gossip_interval: 100ms, push_pull_interval: 2s%s}
providers: [{name: p1, base_url: %q}]
models: [{id: acme/chat, context_length: 8192, endpoints: [{provider: p1, upstream_model: up, pricing: {prompt: 1, completion: 2}}]}]
accounts: [{name: acme, credits: 100, keys: [{name: k, key: %q}]}]
`, n.name, n.data, apiAddr, admAddr, admin, n.ip, strings.Join(join, ", "), gossipK, netnsExtraKnobs(), n.mock.URL(), key)
		n.cfg = filepath.Join(dir, n.name+".yaml")
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		n.cmd = exec.Command("ip", "netns", "exec", n.ns, bin, "serve", "--config", n.cfg)
		var stderr strings.Builder
		n.cmd.Stdout, n.cmd.Stderr = io.Discard, &stderr
		if err := n.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if n.cmd.ProcessState == nil {
				_ = n.cmd.Process.Signal(syscall.SIGTERM)
				done := make(chan struct{})
				go func() { _ = n.cmd.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(15 * time.Second):
					_ = n.cmd.Process.Kill()
					<-done
				}
			}
			if t.Failed() && stderr.Len() > 0 {
				t.Logf("%s stderr:\n%s", n.name, stderr.String())
			}
		})
	}

	get := func(n *nsNode, path, bearer string, out any) int {
		req, _ := http.NewRequest("GET", "http://"+admAddr+path, nil)
		if strings.HasPrefix(path, "/api/") {
			req.URL.Host = apiAddr
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := n.client.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if out != nil && json.Unmarshal(b, out) != nil {
			return -1
		}
		return resp.StatusCode
	}
	view := func(n *nsNode) clusterView {
		var v clusterView
		get(n, "/admin/v1/cluster", admin, &v)
		return v
	}
	type credits struct{ total, usage int64 }
	read := func(n *nsNode) (credits, bool) {
		var out struct {
			Data struct {
				Total json.Number `json:"total_credits"`
				Usage json.Number `json:"total_usage"`
			} `json:"data"`
		}
		if get(n, "/api/v1/credits", key, &out) != 200 {
			return credits{}, false
		}
		total, err1 := routing.ParseUSD(string(out.Data.Total))
		usage, err2 := routing.ParseUSD(string(out.Data.Usage))
		return credits{total, usage}, err1 == nil && err2 == nil
	}
	// load sends requests to the given nodes for d with two workers each
	// and counts 200s and 402s.
	load := func(on []*nsNode, d time.Duration) (ok, refused int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		body := `{"model":"acme/chat","max_tokens":20,"messages":[{"role":"user","content":"count me once"}]}`
		for _, n := range on {
			for w := 0; w < 2; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(deadline) {
						req, _ := http.NewRequest("POST", "http://"+apiAddr+"/api/v1/chat/completions", strings.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+key)
						req.Header.Set("Content-Type", "application/json")
						resp, err := n.client.Do(req)
						if err != nil {
							time.Sleep(20 * time.Millisecond)
							continue
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						mu.Lock()
						switch resp.StatusCode {
						case 200:
							ok++
						case 402:
							refused++
						}
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		return ok, refused
	}
	wait := func(timeout time.Duration, what string, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		for !cond() {
			if time.Since(start) > timeout {
				t.Fatalf("after %s: %s", timeout, what)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return time.Since(start)
	}
	allSee := func(alive int) func() bool {
		return func() bool {
			for _, n := range ns {
				if v := view(n); v.MembersAlive != alive || !v.Majority || v.Partitioned {
					return false
				}
			}
			return true
		}
	}

	took := wait(30*time.Second, "three nodes joined over the bridge", allSee(3))
	t.Logf("joined: every node sees 3 members %s after start", took.Round(time.Millisecond))
	if okN, refused := load(ns, time.Second); okN == 0 || refused != 0 {
		t.Fatalf("load before the cut: %d ok, %d refused", okN, refused)
	}

	// Cut n3 off: its veth's hub side goes down.
	victim := ns[2]
	ipRun(t, "-n", hub, "link", "set", victim.hubIf, "down")
	cut := time.Now()
	var minority, majority time.Duration
	wait(60*time.Second, "n3 reports the partition and n1, n2 keep the majority", func() bool {
		v3 := view(victim)
		if v3.Partitioned && !v3.Majority && minority == 0 {
			minority = time.Since(cut)
		}
		both := true
		for _, n := range ns[:2] {
			v := view(n)
			both = both && v.Majority && !v.Partitioned && v.MembersAlive == 2
		}
		if both && majority == 0 {
			majority = time.Since(cut)
		}
		return minority > 0 && majority > 0
	})
	t.Logf("cut: n3 reports the partition after %s; n1 and n2 declare n3 failed after %s", minority.Round(time.Millisecond), majority.Round(time.Millisecond))
	var ready struct {
		Status      string `json:"status"`
		Partitioned bool   `json:"partitioned"`
	}
	if st := get(victim, "/readyz", "", &ready); st != 200 || !ready.Partitioned {
		t.Fatalf("n3 /readyz while cut off: %d %+v", st, ready)
	}
	before, _ := read(victim)
	okV, refusedV := load([]*nsNode{victim}, 700*time.Millisecond)
	after, _ := read(victim)
	spent := after.usage - before.usage
	allowance := int64(routing.NanoPerUSD / 1000)
	t.Logf("cut: n3 served %d and refused %d requests, spending %d of its %d nano-USD allowance", okV, refusedV, spent, allowance)
	if refusedV == 0 || spent <= 0 || spent > allowance {
		t.Fatalf("cut-off n3 spent %d nano-USD (allowance %d) and refused %d requests", spent, allowance, refusedV)
	}
	okM, refusedM := load(ns[:2], 700*time.Millisecond)
	if okM == 0 || refusedM != 0 {
		t.Fatalf("majority side while n3 is cut off: %d ok, %d refused", okM, refusedM)
	}
	grant := func(n *nsNode) {
		req, _ := http.NewRequest("POST", "http://"+admAddr+"/admin/v1/accounts/acme/credits", strings.NewReader(`{"amount":5}`))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Idempotency-Key", "netns-grant-1")
		req.Header.Set("Content-Type", "application/json")
		resp, err := n.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("grant on %s: %d", n.name, resp.StatusCode)
		}
	}
	grant(ns[0])
	if c, _ := read(victim); c.total != 100*routing.NanoPerUSD {
		t.Fatalf("n3 saw a grant across the cut: credits %d", c.total)
	}

	// Heal.
	ipRun(t, "-n", hub, "link", "set", victim.hubIf, "up")
	healed := time.Now()
	wait(60*time.Second, "membership heals", allSee(3))
	rejoined := time.Since(healed)
	var served int64
	for _, n := range ns {
		st := n.mock.Stats().Reported
		served += int64(st.PromptTokens)*perToken + int64(st.CompletionTokens)*2*perToken
	}
	var last [nodes]credits
	wait(60*time.Second, "balances converge after the heal", func() bool {
		for i, n := range ns {
			c, ok := read(n)
			if !ok {
				return false
			}
			last[i] = c
		}
		return last[0] == last[1] && last[1] == last[2] && last[0].total == 105*routing.NanoPerUSD && last[0].usage == served
	})
	t.Logf("heal: members see each other %s after the link came up; balances identical on every node %s after it: credits %d, usage %d nano-USD = what the mocks served",
		rejoined.Round(time.Millisecond), time.Since(healed).Round(time.Millisecond), last[0].total, last[0].usage)
}

// netnsExtraKnobs lowers memberlist's suspicion and awareness stretch so
// the cut-off node notices sooner; TOLLGATE_NETNS_DEFAULT_AWARENESS=1
// keeps memberlist's defaults (to measure them).
func netnsExtraKnobs() string {
	if os.Getenv("TOLLGATE_NETNS_DEFAULT_AWARENESS") != "" {
		return ""
	}
	return ", suspicion_max_timeout_mult: 2, awareness_max_multiplier: 2"
}

// netnsID is a short random id, so names (interfaces: at most 15 bytes)
// never collide with another run's.
func netnsID(t *testing.T) string {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func ipRun(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// inNetns runs fn on an OS thread that has joined the network namespace
// at path; sockets fn opens stay in that namespace. The thread is never
// returned to the scheduler (its goroutine exits locked, so the runtime
// discards the thread), so no other goroutine runs in the namespace.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
