package cluster

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/hashicorp/memberlist"
)

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := Config{Enabled: true, NodeName: "n1", SecretKey: testKey}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Bind != DefaultBind || c.Profile != ProfileLAN || c.GossipTick != DefaultGossipTick ||
		c.ChunkBytes != DefaultChunkBytes || c.MaxInlineState != DefaultMaxInlineState {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if err := (&Config{}).Validate(); err != nil {
		t.Fatalf("a disabled config must validate: %v", err)
	}
	if _, err := New(Config{}, nil); !errors.Is(err, ErrDisabled) {
		t.Fatalf("New(disabled) = %v, want ErrDisabled", err)
	}
	f := func(mutate func(*Config)) {
		t.Helper()
		c := Config{Enabled: true, NodeName: "n1", SecretKey: testKey}
		c.EnsureDefaults()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", c)
		}
	}
	f(func(c *Config) { c.NodeName = "" })
	f(func(c *Config) { c.NodeName = "bad name" })
	f(func(c *Config) { c.NodeName = strings.Repeat("n", 65) })
	f(func(c *Config) { c.SecretKey = "" })
	f(func(c *Config) { c.SecretKey = "short" })
	f(func(c *Config) { c.Profile = "moon" })
	f(func(c *Config) { c.Bind = "0.0.0.0" })
	f(func(c *Config) { c.Bind = "example.com:7946" })
	f(func(c *Config) { c.Advertise = "10.0.0.1:99999" })
	f(func(c *Config) { c.GossipTick = 101 * time.Millisecond })
	f(func(c *Config) { c.JoinRetryMax = time.Millisecond })
	f(func(c *Config) { c.Label = strings.Repeat("l", 256) })
	f(func(c *Config) { c.Region = strings.Repeat("r", 65) })
	f(func(c *Config) { c.Join = []string{""} })
	f(func(c *Config) { c.ChunkBytes = 10 })
	f(func(c *Config) { c.MaxInlineState = 64 << 20 })
	f(func(c *Config) { c.ProbeTimeout = -time.Second })
	// Each address fits alone, together they overflow the 512-byte meta.
	f(func(c *Config) {
		c.APIAddr, c.AdminAddr, c.Version = strings.Repeat("a", 200), strings.Repeat("b", 200), strings.Repeat("c", 200)
	})

	ok := Config{Enabled: true, NodeName: "n1", Insecure: true, Advertise: "10.0.0.1", Join: []string{"10.0.0.2:7946"}}
	ok.EnsureDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("insecure config without key: %v", err)
	}
}

func TestParseSecretKey(t *testing.T) {
	f := func(in string, wantLen int) {
		t.Helper()
		k, err := parseSecretKey(in)
		if wantLen < 0 {
			if err == nil {
				t.Errorf("parseSecretKey(%q) accepted", in)
			}
			return
		}
		if err != nil || len(k) != wantLen {
			t.Errorf("parseSecretKey(%q) = %d bytes, %v; want %d", in, len(k), err, wantLen)
		}
	}
	f("", 0)
	f(testKey, 32)
	f("MDEyMzQ1Njc4OWFiY2RlZg==", 16) // base64 of 16 bytes
	f("MDEyMzQ1Njc4OWFiY2RlZg", 16)   // unpadded
	f("0123456789abcdef", 16)         // raw 16 bytes
	f("0123456789abcdef01234567", 24) // raw 24 bytes
	f("not a key", -1)
	f("MDEy", -1) // base64 of 3 bytes
}

func TestMaxGossipMessage(t *testing.T) {
	mc := memberlist.DefaultLANConfig()
	if got, want := maxGossipMessage(mc), 1400-2-2-1; got != want {
		t.Errorf("plain: %d, want %d", got, want)
	}
	mc.Label = "tollgate"
	mc.SecretKey = make([]byte, 32)
	if got, want := maxGossipMessage(mc), 1400-2-(2+8)-29-2-1; got != want {
		t.Errorf("label+key: %d, want %d", got, want)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	f := func(m Meta) {
		t.Helper()
		b, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("AppendBinary(%+v): %v", m, err)
		}
		if len(b) > MetaMaxSize {
			t.Fatalf("%d bytes", len(b))
		}
		var got Meta
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary: %v", err)
		}
		if got != m {
			t.Fatalf("round trip: %+v, want %+v", got, m)
		}
	}
	f(Meta{Name: "n1"})
	f(Meta{Name: "node-1.eu", Region: "eu-west-1", APIAddr: "10.0.0.1:8080", AdminAddr: "127.0.0.1:8081", Version: "v1.2.3", Epoch: 1<<64 - 1})
	f(Meta{Name: "n", Region: strings.Repeat("r", 64), APIAddr: strings.Repeat("a", 200), AdminAddr: strings.Repeat("b", 150)})

	// A later version appends fields: a v1 decoder ignores them.
	b, _ := Meta{Name: "n2", Epoch: 3}.AppendBinary(nil)
	b[0] = 2
	b = append(b, 0xde, 0xad)
	var m Meta
	if err := m.UnmarshalBinary(b); err != nil || m.Name != "n2" || m.Epoch != 3 {
		t.Fatalf("forward compatible decode: %+v, %v", m, err)
	}

	if _, err := (Meta{Name: "n", APIAddr: strings.Repeat("a", 255), AdminAddr: strings.Repeat("b", 255)}).AppendBinary(nil); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("oversized meta: %v, want ErrMetaTooLarge", err)
	}
	for _, bad := range [][]byte{nil, {0}, {1}, {1, 5, 'a'}, {1, 3, 'a', ' ', 'b', 0, 0, 0, 0, 0}, bytes.Repeat([]byte{1}, 600)} {
		if err := m.UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%x) accepted", bad)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	f := func(in frame) {
		t.Helper()
		b := in.appendBinary(nil)
		got, err := parseFrame(b)
		if err != nil {
			t.Fatalf("parseFrame(%x): %v", b, err)
		}
		if !framesEqual(got, in) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
		}
	}
	f(frame{kind: kindBroadcast, origin: "n1", seq: 1<<63 + 5, key: "acct-1", typ: TypeLedger, ver: 2, payload: []byte("delta")})
	f(frame{kind: kindBroadcast, origin: "n1", seq: 1, typ: TypeHealth, ver: 1})
	f(frame{kind: kindDirect, origin: "n-2", seq: 99, key: strings.Repeat("k", 255), typ: 0xDF, payload: bytes.Repeat([]byte{7}, 5000)})
	f(frame{kind: kindRepair, origin: "n3", typ: TypeCatalog, ver: 1, payload: []byte{1, 2, 3}})
	f(frame{kind: kindState, origin: "n4"})
	f(frame{kind: kindState, origin: "n4", states: []stateEntry{{typ: 1, ver: 1, data: []byte("digest")}, {typ: 2, flags: stateDeferred}}})
	f(frame{kind: kindChunk, origin: "n5", xfer: 42, index: 2, total: 3, payload: []byte("part")})
	f(frame{kind: kindLeave, origin: "n6", seq: 12345})
	f(frame{kind: kindBatch, origin: "n7"})
	f(frame{kind: kindBatch, origin: "n7", batch: []frame{
		{kind: kindBroadcast, origin: "n7", seq: 1, key: "a", typ: 1, ver: 1, payload: []byte("x")},
		{kind: kindBroadcast, origin: "n7", seq: 2, typ: 2, ver: 1},
	}})

	for _, bad := range [][]byte{
		nil, {kindBroadcast}, {0x01, 1}, {kindBroadcast, 9, 1, 'a'},
		{kindBroadcast, 1, 0},                    // empty origin
		{kindBroadcast, 1, 2, 'n', '1', 1, 0, 0}, // truncated before type
		{kindBroadcast, 1, 2, 'n', '1', 1, 0, TypeReserved, 1},
		{kindChunk, 1, 2, 'n', '1', 1, 3, 3},
		{kindState, 1, 2, 'n', '1', 0xff, 0xff, 0xff, 0xff, 0x0f},
		{kindLeave, 1, 2, 'n', '1', 1, 0},
		// A batch may hold only broadcasts of its own origin, never batches.
		append([]byte{kindBatch, 1, 2, 'n', '1', 8}, (&frame{kind: kindBroadcast, origin: "n2", seq: 1, typ: 1}).appendBinary(nil)...),
		{kindBatch, 1, 2, 'n', '1', 5, kindBatch, 1, 2, 'n', '1'},
		{kindBatch, 1, 2, 'n', '1', 9, kindBroadcast},
	} {
		if _, err := parseFrame(bad); err == nil {
			t.Errorf("parseFrame(%x) accepted", bad)
		}
	}
}

func framesEqual(a, b frame) bool {
	return reflect.DeepEqual(normFrame(a), normFrame(b))
}

// normFrame makes empty slices nil, so decoded and built frames compare.
func normFrame(f frame) frame {
	if len(f.payload) == 0 {
		f.payload = nil
	}
	if len(f.states) == 0 {
		f.states = nil
	}
	states := make([]stateEntry, len(f.states))
	copy(states, f.states)
	for i := range states {
		if len(states[i].data) == 0 {
			states[i].data = nil
		}
	}
	if f.states != nil {
		f.states = states
	}
	if len(f.batch) == 0 {
		f.batch = nil
	}
	batch := make([]frame, len(f.batch))
	for i := range f.batch {
		batch[i] = normFrame(f.batch[i])
	}
	if f.batch != nil {
		f.batch = batch
	}
	return f
}

// TestCoalesceAndInvalidate checks both replacement mechanisms without a
// network: Broadcast keeps the last payload per (type, key) until the
// flush, and a flushed frame replaces the previous one still queued.
func TestCoalesceAndInvalidate(t *testing.T) {
	cfg := testConfig("solo")
	cfg.Bind = "127.0.0.1:0"
	c, err := New(cfg, metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(TypeLedger, "ledger", 1, &recorder{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Broadcast(TypeLedger, "a", []byte("x")); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Broadcast before Start: %v", err)
	}
	c.state.Store(stateStarted) // no goroutines: flush by hand
	for _, p := range []string{"a1", "a2", "a3"} {
		if err := c.Broadcast(TypeLedger, "a", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Broadcast(TypeLedger, "b", []byte("b1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Broadcast(TypeLedger, "", []byte("u1")); err != nil {
		t.Fatal(err)
	}
	if err := c.Broadcast(TypeLedger, "", []byte("u2")); err != nil {
		t.Fatal(err)
	}
	c.flush()
	if n := c.queue.NumQueued(); n != 4 {
		t.Fatalf("queued %d frames, want 4 (a3, b1, u1, u2)", n)
	}
	if s := c.Stats(); s.Coalesced != 2 || s.Sent != 4 {
		t.Fatalf("coalesced %d, sent %d; want 2, 4", s.Coalesced, s.Sent)
	}
	if err := c.Broadcast(TypeLedger, "a", []byte("a4")); err != nil {
		t.Fatal(err)
	}
	c.flush()
	if n := c.queue.NumQueued(); n != 4 {
		t.Fatalf("queued %d frames after a newer a, want 4", n)
	}
	got := map[string]bool{}
	for _, m := range c.queue.GetBroadcasts(0, 1<<20) {
		f, err := parseFrame(m)
		if err != nil {
			t.Fatal(err)
		}
		got[string(f.payload)] = true
	}
	if want := map[string]bool{"a4": true, "b1": true, "u1": true, "u2": true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("queued payloads %v, want %v", got, want)
	}
	if err := c.Broadcast(9, "a", nil); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unregistered type: %v", err)
	}
	if err := c.Broadcast(TypeLedger, strings.Repeat("k", 256), nil); !errors.Is(err, ErrKeyTooLong) {
		t.Fatalf("long key: %v", err)
	}
	if err := c.Register(TypeReserved, "x", 1, &recorder{}); !errors.Is(err, ErrReservedType) {
		t.Fatalf("reserved type: %v", err)
	}
	c.state.Store(stateClosed)
}

// TestNotifyMsgCopies checks that the packet-path callbacks keep a copy:
// memberlist reuses its buffer once NotifyMsg returns.
func TestNotifyMsgCopies(t *testing.T) {
	cfg := testConfig("solo")
	cfg.Bind = "127.0.0.1:0"
	c, err := New(cfg, metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	d := &delegate{c: c}
	buf := []byte("hello")
	d.NotifyMsg(buf)
	buf[0] = 'J'
	if got := <-c.ingress; string(got) != "hello" {
		t.Fatalf("queued %q, want a copy", got)
	}
	cfg.IngressQueue = 1
	c, err = New(cfg, metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	d = &delegate{c: c}
	d.NotifyMsg(buf)
	d.NotifyMsg(buf)
	if got := c.Stats().Dropped[dropIngressFull]; got != 1 {
		t.Fatalf("ingress drops %d, want 1", got)
	}
}

// TestLogFilterCounts feeds memberlist's own rejection lines through the
// filter.
func TestLogFilterCounts(t *testing.T) {
	cfg := testConfig("solo")
	cfg.Bind = "127.0.0.1:0"
	c, err := New(cfg, metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	w := &logFilter{c: c}
	for _, line := range []string{
		`[ERR] memberlist: discarding packet with unacceptable label "other": from=127.0.0.1:5`,
		`[ERR] memberlist: discarding stream with unacceptable label "": from=127.0.0.1:5`,
		`[ERR] memberlist: Decrypt packet failed: no installed keys could decrypt the message from=127.0.0.1:5`,
		`[ERR] memberlist: failed to receive: No installed keys could decrypt the message from=127.0.0.1:5`,
		`[ERR] memberlist: failed to receive: encryption is configured but remote state is not encrypted from=x`,
		`[DEBUG] memberlist: Stream connection from=127.0.0.1:5`,
	} {
		if _, err := w.Write([]byte(line + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	if s := c.Stats(); s.RejectedLabel != 2 || s.RejectedKey != 3 {
		t.Fatalf("rejected label %d key %d, want 2 and 3", s.RejectedLabel, s.RejectedKey)
	}
}
