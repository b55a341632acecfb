package cluster

import (
	"context"
	"encoding/binary"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"go.uber.org/goleak"

	"github.com/tollgate/tollgate/cluster/clustertest"
)

// TestMain fails the run if goroutines outlive the tests. memberlist's
// Shutdown does not wait for a probe already in flight (bounded by its
// probe interval and TCP timeout), so leaks are retried for a while before
// they count.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(15 * time.Second)
		for {
			err := goleak.Find()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
				code = 1
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.Exit(code)
}

// testKey is a base64 AES-256 key.
const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func testLogger() *slog.Logger {
	if os.Getenv("TOLLGATE_CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig is a fast local-profile config: timings shrunk so failures
// are detected and healed within seconds.
func testConfig(name string) Config {
	return Config{
		Enabled:           true,
		NodeName:          name,
		Region:            "eu-west",
		APIAddr:           "127.0.0.1:8080",
		AdminAddr:         "127.0.0.1:8081",
		Version:           "test",
		Epoch:             7,
		Profile:           ProfileLocal,
		SecretKey:         testKey,
		Label:             "tollgate-test",
		Logger:            testLogger(),
		GossipTick:        20 * time.Millisecond,
		JoinRetryMin:      50 * time.Millisecond,
		JoinRetryMax:      400 * time.Millisecond,
		ReconnectInterval: 300 * time.Millisecond,
		LeaveTimeout:      2 * time.Second,
		ProbeInterval:     250 * time.Millisecond,
		ProbeTimeout:      150 * time.Millisecond,
		SuspicionMult:     3,
		GossipInterval:    50 * time.Millisecond,
		PushPullInterval:  time.Second,
		TCPTimeout:        time.Second,
		ChunkBytes:        64 << 10,
	}
}

// node starts one cluster node on network nw (a plain loopback NetTransport
// when nw is nil) and shuts it down at the end of the test.
func node(t testing.TB, nw *clustertest.Network, name string, join []string, mutate func(*Config), register func(*Cluster)) (*Cluster, *clustertest.Transport) {
	t.Helper()
	cfg := testConfig(name)
	cfg.Join = join
	var tr *clustertest.Transport
	if nw != nil {
		var err error
		if tr, err = nw.NewTransport(name); err != nil {
			t.Fatal(err)
		}
		cfg.Transport = tr
	} else {
		cfg.Bind = "127.0.0.1:0"
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg, metrics.NewSet())
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	if register != nil {
		register(c)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Logf("Shutdown(%s): %v", name, err)
		}
	})
	return c, tr
}

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// crash stops a node without a graceful leave, as kill -9 would.
func crash(t testing.TB, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.shutdown(ctx, false); err != nil {
		t.Fatalf("crash %s: %v", c.Name(), err)
	}
}

// eventually polls cond until it holds or timeout passes, and returns how
// long it took.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func aliveNames(c *Cluster) []string {
	var out []string
	for _, m := range c.Members() {
		if m.State == MemberAlive {
			out = append(out, m.Name)
		}
	}
	return out
}

func allSeeAlive(cs []*Cluster, n int) func() bool {
	return func() bool {
		for _, c := range cs {
			if len(aliveNames(c)) != n {
				return false
			}
		}
		return true
	}
}

// recorder is a Channel that records what it receives.
type recorder struct {
	mu   sync.Mutex
	msgs []recvd
	gate chan struct{} // when non-nil, Receive waits for it to close
}

type recvd struct {
	from    string
	ver     byte
	payload string
	at      time.Time
}

func (r *recorder) Receive(from string, ver byte, payload []byte) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, recvd{from: from, ver: ver, payload: string(payload), at: time.Now()})
	r.mu.Unlock()
}

func (r *recorder) all() []recvd {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recvd(nil), r.msgs...)
}

func (r *recorder) has(payload string) bool {
	for _, m := range r.all() {
		if m.payload == payload {
			return true
		}
	}
	return false
}

func (r *recorder) firstAt(payload string) (time.Time, bool) {
	for _, m := range r.all() {
		if m.payload == payload {
			return m.at, true
		}
	}
	return time.Time{}, false
}

// maxCounter is a grow-only max-counter CRDT: one counter per node, merged
// by max. A node only ever raises its own; Receive accepts a payload only
// as the sender's own counter (the rule the ledger applies to deltas).
type maxCounter struct {
	self string
	c    *Cluster
	typ  byte
	mu   sync.Mutex
	vals map[string]uint64
}

func newMaxCounter(self string, typ byte) *maxCounter {
	return &maxCounter{self: self, typ: typ, vals: make(map[string]uint64)}
}

// inc raises this node's counter; with broadcast it also gossips it.
func (m *maxCounter) inc(t testing.TB, by uint64, broadcast bool) {
	m.mu.Lock()
	m.vals[m.self] += by
	v := m.vals[m.self]
	m.mu.Unlock()
	if broadcast {
		if err := m.c.Broadcast(m.typ, m.self, binary.AppendUvarint(nil, v)); err != nil {
			t.Errorf("Broadcast: %v", err)
		}
	}
}

func (m *maxCounter) raise(node string, v uint64) {
	if v > m.vals[node] {
		m.vals[node] = v
	}
}

func (m *maxCounter) Receive(from string, _ byte, payload []byte) {
	v, n := binary.Uvarint(payload)
	if n <= 0 || from == m.self {
		return
	}
	m.mu.Lock()
	m.raise(from, v)
	m.mu.Unlock()
}

func (m *maxCounter) LocalState(bool) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return encodeCounters(m.vals)
}

func (m *maxCounter) MergeState(_ string, _ byte, state []byte) {
	vals, ok := decodeCounters(state)
	if !ok {
		return
	}
	m.mu.Lock()
	for node, v := range vals {
		if node != m.self {
			m.raise(node, v)
		}
	}
	m.mu.Unlock()
}

func (m *maxCounter) snapshot() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return string(encodeCounters(m.vals))
}

func encodeCounters(vals map[string]uint64) []byte {
	names := make([]string, 0, len(vals))
	for n := range vals {
		names = append(names, n)
	}
	sort.Strings(names)
	var b []byte
	for _, n := range names {
		b = append(b, byte(len(n)))
		b = append(b, n...)
		b = binary.AppendUvarint(b, vals[n])
	}
	return b
}

func decodeCounters(b []byte) (map[string]uint64, bool) {
	out := make(map[string]uint64)
	for len(b) > 0 {
		n := int(b[0])
		if len(b) < 1+n {
			return nil, false
		}
		name := string(b[1 : 1+n])
		v, k := binary.Uvarint(b[1+n:])
		if k <= 0 {
			return nil, false
		}
		out[name] = v
		b = b[1+n+k:]
	}
	return out, true
}

// blobSet is a Repairer: a grow-only set of blobs whose LocalState is a
// digest (count and total size); StateSince answers with the whole set
// when the digests differ, which for a large set means a chunked transfer.
type blobSet struct {
	mu    sync.Mutex
	blobs map[string]bool
}

func newBlobSet() *blobSet { return &blobSet{blobs: make(map[string]bool)} }

func (s *blobSet) add(b string) {
	s.mu.Lock()
	s.blobs[b] = true
	s.mu.Unlock()
}

func (s *blobSet) digestLocked() []byte {
	size := 0
	for b := range s.blobs {
		size += len(b)
	}
	return []byte(fmt.Sprintf("%d/%d", len(s.blobs), size))
}

func (s *blobSet) Receive(string, byte, []byte) {}

func (s *blobSet) LocalState(bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.digestLocked()
}

func (s *blobSet) StateSince(_ string, _ byte, digest []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if string(digest) == string(s.digestLocked()) {
		return nil
	}
	var out []byte
	for b := range s.blobs {
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

func (s *blobSet) MergeState(_ string, _ byte, state []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(state) > 0 {
		n, k := binary.Uvarint(state)
		if k <= 0 || uint64(len(state)-k) < n {
			return
		}
		s.blobs[string(state[k:k+int(n)])] = true
		state = state[k+int(n):]
	}
}

func (s *blobSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blobs)
}

// bigState is a plain StateChannel whose state is too large for one
// push/pull, so the cluster ships it deferred in chunks.
type bigState struct {
	mu    sync.Mutex
	state []byte
}

func (b *bigState) Receive(string, byte, []byte) {}

func (b *bigState) LocalState(bool) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

func (b *bigState) MergeState(_ string, _ byte, state []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(state) > len(b.state) {
		b.state = state
	}
}

func (b *bigState) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.state)
}

// TestPackageDoc checks the package doc comment and that cluster imports no
// other Tollgate package (SPEC §1).
func TestPackageDoc(t *testing.T) {
	for _, dir := range []string{".", "clustertest"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		documented := false
		for _, name := range files {
			f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package "+f.Name.Name+" ") {
				documented = true
			}
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			for _, imp := range f.Imports {
				if strings.Contains(imp.Path.Value, "github.com/tollgate/tollgate/") {
					t.Errorf("%s imports %s: cluster must not import other tollgate packages", name, imp.Path.Value)
				}
			}
		}
		if !documented {
			t.Errorf("%s: no package doc comment", dir)
		}
	}
}
