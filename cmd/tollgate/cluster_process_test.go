package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
)

// TestClusterProcessesSurviveKillAndWipe runs three real tollgate processes
// in one cluster on loopback with load on all of them, kills one with
// SIGKILL and restarts it twice, the second time with its data wiped: at
// the end every node reports the same credits and usage, the seed grant
// counted once, and usage equals what the mock served at the catalog price
// within the documented loss bound (requests in flight at each kill plus one
// group-commit window), never more.
func TestClusterProcessesSurviveKillAndWipe(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	bin := buildBinary(t)
	m := mock.New(mock.Config{Tokens: 20, Latency: 2 * time.Millisecond})
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	const key = "sk-tg-cluster-proc-0123456789abcdef"
	dir := t.TempDir()
	type node struct {
		name, api, admin, gossip, cfg, data string
		cmd                                 *exec.Cmd
	}
	nodes := make([]*node, 3)
	for i := range nodes {
		nodes[i] = &node{name: fmt.Sprintf("n%d", i+1), api: freeAddr(t), admin: freeAddr(t), gossip: freeAddr(t)}
		nodes[i].data = filepath.Join(dir, nodes[i].name)
	}
	for i, n := range nodes {
		var join []string
		for j, o := range nodes {
			if j != i {
				join = append(join, fmt.Sprintf("%q", o.gossip))
			}
		}
		cfg := fmt.Sprintf(`node: {name: %s, data_dir: %q}
listen: {api: %q, admin: %q}
admin_key: proc-admin
log: {level: error}
cluster: {enabled: true, bind: %q, join: [%s], profile: local, insecure: true, label: proc-test}
providers: [{name: p1, base_url: %q}]
models: [{id: acme/chat, context_length: 8192, endpoints: [{provider: p1, upstream_model: up, pricing: {prompt: 1, completion: 2}}]}]
accounts: [{name: acme, credits: 100, keys: [{name: k, key: %q}]}]
`, n.name, n.data, n.api, n.admin, n.gossip, strings.Join(join, ", "), m.URL(), key)
		n.cfg = filepath.Join(dir, n.name+".yaml")
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	start := func(n *node) { n.cmd = startServe(t, bin, n.cfg) }
	for _, n := range nodes {
		start(n)
	}
	for _, n := range nodes {
		waitReady(t, "http://"+n.api+"/readyz")
	}

	body := `{"model":"acme/chat","max_tokens":20,"messages":[{"role":"user","content":"count me once"}]}`
	client := &http.Client{Timeout: 5 * time.Second}
	const perNode = 3
	load := func(d time.Duration) {
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for _, n := range nodes {
			for w := 0; w < perNode; w++ {
				wg.Add(1)
				go func(api string) {
					defer wg.Done()
					for time.Now().Before(deadline) {
						req, _ := http.NewRequest("POST", "http://"+api+"/api/v1/chat/completions", strings.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+key)
						resp, err := client.Do(req)
						if err != nil {
							time.Sleep(20 * time.Millisecond) // the node is down
							continue
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}(n.api)
			}
		}
		wg.Wait()
	}
	victim := nodes[2]
	kills := 0
	for round := 0; round < 2; round++ {
		done := make(chan struct{})
		go func() { load(1500 * time.Millisecond); close(done) }()
		time.Sleep(700 * time.Millisecond)
		_ = victim.cmd.Process.Signal(syscall.SIGKILL)
		_ = victim.cmd.Wait()
		kills++
		<-done
		if round == 1 {
			if err := os.RemoveAll(victim.data); err != nil {
				t.Fatal(err)
			}
		}
		start(victim)
		waitReady(t, "http://"+victim.api+"/readyz")
	}
	load(time.Second)

	type credits struct{ total, usage string }
	read := func(n *node) credits {
		req, _ := http.NewRequest("GET", "http://"+n.api+"/api/v1/credits", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			return credits{}
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
		if dec.Decode(&out) != nil {
			return credits{}
		}
		return credits{out.Data.Total.String(), out.Data.Usage.String()}
	}
	msgs := `[{"role":"user","content":"count me once"}]`
	perRequest := int64((len(msgs)+3)/4)*1000 + 20*2000 // nano-USD
	served := int64(m.Stats().Reported.Responses)
	began := time.Now()
	var last [3]credits
	for {
		for i, n := range nodes {
			last[i] = read(n)
		}
		if last[0] == last[1] && last[1] == last[2] && last[0].total != "" {
			break
		}
		if time.Since(began) > 20*time.Second {
			t.Fatalf("nodes did not converge after the load: %+v", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if last[0].total != "100" {
		t.Fatalf("total credits %s, want 100 (the seed grant once, cluster-wide)", last[0].total)
	}
	var usd float64
	if _, err := fmt.Sscan(last[0].usage, &usd); err != nil {
		t.Fatal(err)
	}
	charged := int64(usd*1e9 + 0.5)
	lost := (served*perRequest - charged) / perRequest
	// Each kill loses what was in flight on the victim plus one group
	// window; the wipe also loses the victim's spend that had not been
	// gossiped yet: one tick (≤ 100 ms) of its share of the load (the load
	// ran about 4 s over 3 nodes).
	victimRate := float64(served) / 4 / 3
	bound := int64(kills*(perNode+32)) + int64(victimRate*0.15)
	t.Logf("converged %v after the load: credits %s, usage %s USD on every node; mock served %d, charged %d requests, %d lost to %d kills and a wipe (bound %d)",
		time.Since(began).Round(time.Millisecond), last[0].total, last[0].usage, served, charged/perRequest, lost, kills, bound)
	if charged > served*perRequest {
		t.Fatalf("charged %d nano-USD for %d served requests: something was charged twice", charged, served)
	}
	if lost > bound {
		t.Fatalf("lost %d requests' charges, more than the bound %d", lost, bound)
	}
	for _, n := range nodes {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		_ = n.cmd.Wait()
	}
}
