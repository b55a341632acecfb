package main

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tollgate/tollgate/bench/mock"
	"github.com/tollgate/tollgate/cluster/clustertest"
	"github.com/tollgate/tollgate/routing"
)

// healthTestConfig has two endpoints for acme/chat: p1 and the cheaper p2,
// which the default weighting prefers about 4 to 1.
const healthTestConfig = `node: {name: %s, region: eu-west}
admin_key: ` + clusterAdminKey + `
log: {level: error}
cluster: {enabled: true, profile: local, secret_key: "` + clusterGossipKey + `", label: tollgate-test}
providers:
  - {name: p1, base_url: %q}
  - {name: p2, base_url: %q}
models:
  - id: acme/chat
    context_length: 8192
    endpoints:
      - {provider: p1, upstream_model: up, pricing: {prompt: 2, completion: 4}}
      - {provider: p2, upstream_model: up, pricing: {prompt: 1, completion: 2}}
accounts:
  - {name: acme, credits: 100, keys: [{name: k, key: ` + clusterUserKey + `}]}
`

func startMock(t *testing.T, c mock.Config) *mock.Server {
	t.Helper()
	m := mock.New(c)
	if err := m.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// TestClusterHealthHintsWarmNewNode: p2 fails on a, which ranks it down
// (outage); a node that joins afterwards learns it from a's health summaries
// and ranks p2 as a fallback before sending it a single request.
func TestClusterHealthHintsWarmNewNode(t *testing.T) {
	good := startMock(t, mock.Config{Tokens: 10, Latency: time.Millisecond})
	bad := startMock(t, mock.Config{ErrorRate: 1, ErrorStatus: 503})
	// d's own p2: failing too, and counting what d sends it.
	badD := startMock(t, mock.Config{ErrorRate: 1, ErrorStatus: 503})
	yaml := func(name, p2 string) []byte { return fmt.Appendf(nil, healthTestConfig, name, good.URL(), p2) }

	nw := clustertest.NewNetwork()
	a := startClusterTestNodeYAML(t, nw, "a", yaml("a", bad.URL()), nil)
	b := startClusterTestNodeYAML(t, nw, "b", yaml("b", bad.URL()), []string{a.gossip})
	waitFor(t, 10*time.Second, "a and b joined", func() bool {
		return len(a.n.cn.c.Members()) == 2 && len(b.n.cn.c.Members()) == 2
	})
	epA, ok := a.n.router.Snapshot().Endpoint("p2", "acme/chat")
	if !ok {
		t.Fatal("no p2 endpoint on a")
	}
	// A few failures put p2 in an outage on a (3 of 3 attempts failed);
	// p1 serves what p2 fails.
	for i := 0; i < 40 && a.n.router.Stats(epA).Healthy; i++ {
		if st := a.chat(t); st != 200 {
			t.Fatalf("chat on a: %d (p1 should serve what p2 fails)", st)
		}
	}
	if s := a.n.router.Stats(epA); s.Healthy {
		t.Fatalf("p2 still healthy on a after 40 requests: %+v; mock %+v", s, bad.Stats())
	}

	d := startClusterTestNodeYAML(t, nw, "d", yaml("d", badD.URL()), []string{a.gossip})
	epD, ok := d.n.router.Snapshot().Endpoint("p2", "acme/chat")
	if !ok {
		t.Fatal("no p2 endpoint on d")
	}
	took := waitFor(t, 10*time.Second, "d learns p2's health from a", func() bool {
		h := d.n.router.Hint(epD)
		return h.Active && !h.UnhealthyUntil.IsZero()
	})
	t.Logf("d holds a's hint about p2 %s after it started (%+v)", took.Round(time.Millisecond), d.n.router.Hint(epD))
	if s := d.n.router.Stats(epD); s.Samples != 0 || s.Circuit != routing.CircuitClosed {
		t.Fatalf("d's own stats of p2 changed by a hint: %+v", s)
	}
	cands, err := d.n.router.Rank(&routing.Request{Model: "acme/chat"}, nil)
	if err != nil || len(cands) != 2 || cands[0].Endpoint.Provider != "p1" || cands[1].Reason != routing.ReasonFallback {
		t.Fatalf("d's ranking: %v %+v", err, cands)
	}
	// Only while the hinted outage lasts: on a slow machine 30 requests
	// can outlive it, and then d may rightly try p2 again.
	sent := 0
	for ; sent < 30; sent++ {
		if h := d.n.router.Hint(epD); !h.Active || time.Until(h.UnhealthyUntil) < 100*time.Millisecond {
			break
		}
		if st := d.chat(t); st != 200 {
			t.Fatalf("chat on d: %d", st)
		}
	}
	if sent < 5 {
		t.Fatalf("the hinted outage ended after %d requests (hint %+v)", sent, d.n.router.Hint(epD))
	}
	if n := badD.Stats().Requests; n != 0 {
		t.Fatalf("d sent %d of %d requests to the failing p2 despite the hint (hint now %+v)", n, sent, d.n.router.Hint(epD))
	}
	if v := d.n.cn.health.applied.Get(); v == 0 {
		t.Fatal("no health summary counted as applied on d")
	}
}

func TestHealthWireRoundTrip(t *testing.T) {
	pub := time.UnixMilli(1_795_000_000_123) // the wire keeps milliseconds
	hs := []routing.HealthSummary{
		{Published: pub, Endpoint: "p1/acme/chat", TTFT: 123456 * time.Microsecond, Throughput: 87.5, ErrorRate: 0.25, Samples: 12.5, Circuit: routing.CircuitOpen, UnhealthyFor: 9500 * time.Millisecond},
		{Published: pub, Endpoint: "p2/x", Circuit: routing.CircuitHalfOpen},
		{Published: pub, Endpoint: "anthropic/claude-sonnet-4", TTFT: time.Second, Throughput: 50, Samples: 0.5},
	}
	region, got, err := decodeHealth(encodeHealth("eu-west", hs))
	if err != nil || region != "eu-west" || !reflect.DeepEqual(got, hs) {
		t.Fatalf("round trip: %q %v\n got %+v\nwant %+v", region, err, got, hs)
	}
	// Split into packet-sized parts: every entry lands in exactly one part,
	// each part decodes on its own and fits the limit.
	var many []routing.HealthSummary
	for i := 0; i < 100; i++ {
		many = append(many, routing.HealthSummary{Published: pub, Endpoint: fmt.Sprintf("provider-%03d/vendor/model-%03d", i, i), TTFT: time.Duration(i) * time.Millisecond, Samples: float64(i)})
	}
	parts := splitHealth("us-east", many, 300)
	var all []routing.HealthSummary
	for _, p := range parts {
		if len(p) > 300 {
			t.Fatalf("part of %d bytes, limit 300", len(p))
		}
		_, hs, err := decodeHealth(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, hs...)
	}
	if len(parts) < 2 || !reflect.DeepEqual(all, many) {
		t.Fatalf("%d parts, %d entries back of %d", len(parts), len(all), len(many))
	}
	// Out-of-range values are clamped on encode, refused on decode.
	odd := []routing.HealthSummary{{Endpoint: "p/m", ErrorRate: 3, Throughput: math.Inf(1), Samples: math.NaN(), TTFT: -time.Second}}
	_, back, err := decodeHealth(encodeHealth("", odd))
	if err != nil || back[0].ErrorRate != 1 || back[0].TTFT != 0 || back[0].Samples != 0 {
		t.Fatalf("clamped: %v %+v", err, back)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"region":    {5, 'a'},
		"published": {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"count":     {0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge":      {0, 0, 100, 1, 'x', 0, 0, 0, 0, 0, 0},
		"circuit":   {0, 0, 1, 1, 'x', 9, 0, 0, 0, 0, 0},
		"rate":      append([]byte{0, 0, 1, 1, 'x', 0, 0, 0}, append(uvarintBytes(1e6+1), 0, 0)...),
		"truncated": {0, 0, 1, 1, 'x', 0, 0, 0},
		"trailing":  {0, 0, 1, 1, 'x', 0, 0, 0, 0, 0, 0, 0},
		"emptykey":  {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
	} {
		if _, _, err := decodeHealth(b); err == nil {
			t.Errorf("%s: decoded %x", name, b)
		}
	}
}

func uvarintBytes(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// FuzzHealthDecode: any input decodes or fails without panicking, and what
// decodes re-encodes to the same bytes.
func FuzzHealthDecode(f *testing.F) {
	for _, seed := range healthSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		region, hs, err := decodeHealth(b)
		if err != nil {
			return
		}
		if again := encodeHealth(region, hs); !bytes.Equal(again, b) {
			// Uvarints have a canonical form; a non-minimal one decodes but
			// re-encodes shorter. Accept that, but the values must survive.
			r2, hs2, err := decodeHealth(again)
			if err != nil || r2 != region || !reflect.DeepEqual(hs2, hs) {
				t.Fatalf("re-encoding changed the summaries: %v\n%+v\n%+v", err, hs, hs2)
			}
		}
	})
}

func healthSeeds() [][]byte {
	return [][]byte{
		encodeHealth("eu-west", []routing.HealthSummary{{Endpoint: "p1/acme/chat", TTFT: 120 * time.Millisecond, Throughput: 80, ErrorRate: 0.9, Samples: 9, Circuit: routing.CircuitOpen, UnhealthyFor: 10 * time.Second}}),
		encodeHealth("", []routing.HealthSummary{{Endpoint: "a/b", Circuit: routing.CircuitHalfOpen}, {Endpoint: "c/d", Samples: 1}}),
		encodeHealth("us-east-1", nil),
	}
}
