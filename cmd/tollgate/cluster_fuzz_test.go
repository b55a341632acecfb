package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/tollgate/tollgate/ledger"
	"github.com/tollgate/tollgate/routing"
)

// The gossip payloads each channel decodes are untrusted bytes (anyone
// holding the key, or a corrupted packet that still authenticates). These
// targets drive the channels' own entry points — Receive, MergeState,
// StateSince — with arbitrary payloads and check that nothing panics and
// that the merge properties hold: counters and grants never go down, and
// hints never become local statistics. Seeds are in testdata/fuzz
// (regenerate with TOLLGATE_REWRITE_CORPUS=1 go test -run TestWriteClusterCorpus).

var fuzzDiscard = slog.New(slog.NewTextHandler(io.Discard, nil))

// fuzzLedger is one ledger shared by every run of a fuzz target.
type fuzzLedger struct {
	once sync.Once
	led  *ledger.Ledger
	ch   *ledgerChannel
	err  error
}

func (fl *fuzzLedger) get(tb testing.TB, dir string) *ledgerChannel {
	fl.once.Do(func() {
		fl.led, fl.err = ledger.Open(ledger.Config{Dir: dir, Node: "x", Logger: fuzzDiscard})
		if fl.err != nil {
			return
		}
		fl.err = fl.led.Seed([]ledger.SeedAccount{{Name: "acme", Credits: 10 * routing.NanoPerUSD}})
		fl.ch = &ledgerChannel{led: fl.led, log: fuzzDiscard, m: newWireMetrics(metrics.NewSet()), lim: &logLimiter{}}
	})
	if fl.err != nil {
		tb.Fatal(fl.err)
	}
	return fl.ch
}

// ledgerSeeds are valid and forged ledger payloads: a delta of y's own
// counters, one naming another node's counter, a digest and a state list.
func ledgerSeeds(tb testing.TB) map[string][]byte {
	id := ledger.AccountID("acme")
	k := ledger.HashSecret([]byte("sk-tg-fuzz"))
	own := ledger.Delta{AccountID: id, Spend: []ledger.SpendCounter{{Node: "y", Epoch: 1, Value: 5000}},
		KeyUsage: []ledger.UsageCounter{{Key: k, Node: "y", Epoch: 1, Value: 5000}}}
	forged := ledger.Delta{AccountID: id, Spend: []ledger.SpendCounter{{Node: "x", Epoch: 1, Value: 1}}}
	enc := func(d ledger.Delta) []byte {
		b, err := d.AppendBinary(nil)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	var dg ledger.Digest
	dgb, err := dg.AppendBinary(nil)
	if err != nil {
		tb.Fatal(err)
	}
	list := binary.AppendUvarint(nil, 2)
	list = appendItem(list, enc(own))
	list = appendItem(list, enc(forged))
	return map[string][]byte{"own": enc(own), "forged": enc(forged), "digest": dgb, "state": list}
}

// FuzzLedgerChannel: op selects Receive, StateSince or MergeState.
func FuzzLedgerChannel(f *testing.F) {
	for _, b := range ledgerSeeds(f) {
		for op := byte(0); op < 3; op++ {
			f.Add(op, "y", b)
		}
	}
	var fl fuzzLedger
	dir := f.TempDir()
	f.Cleanup(func() {
		if fl.led != nil {
			_ = fl.led.Close()
		}
	})
	f.Fuzz(func(t *testing.T, op byte, from string, payload []byte) {
		ch := fl.get(t, dir)
		id := ledger.AccountID("acme")
		total0, usage0, _ := fl.led.Credits(id)
		switch op % 3 {
		case 0:
			ch.Receive(from, ledgerWireVersion, payload)
		case 1:
			_ = ch.StateSince(from, ledgerWireVersion, payload)
		case 2:
			ch.MergeState(from, ledgerWireVersion, payload)
		}
		total1, usage1, _ := fl.led.Credits(id)
		if total1 < total0 || usage1 < usage0 {
			t.Fatalf("a merge lowered grow-only state: credits %d → %d, usage %d → %d", total0, total1, usage0, usage1)
		}
	})
}

func fuzzRouter(tb testing.TB) *routing.Router {
	cat := routing.Catalog{
		Providers: []routing.Provider{{Name: "p1", Protocol: "openai"}, {Name: "p2", Protocol: "openai"}},
		Models: []*routing.Model{{ID: "acme/chat", Endpoints: []*routing.Endpoint{
			{Provider: "p1", Pricing: routing.Pricing{Prompt: 1000, Completion: 2000}},
			{Provider: "p2", Pricing: routing.Pricing{Prompt: 500, Completion: 1000}},
		}}},
	}
	r, err := routing.New(routing.Config{}, cat, time.Now, 1)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func catalogSeeds() map[string][]byte {
	recs := []routing.CatalogRecord{
		routing.PriceRecord("p1", "acme/chat", routing.Pricing{Prompt: 3000, Completion: 4000}, 7, "y"),
		routing.DisableRecord("p2", true, 8, "y"),
		routing.Tombstone(routing.KindModel, "acme/other", 9, "y"),
	}
	out := map[string][]byte{}
	list := binary.AppendUvarint(nil, uint64(len(recs)))
	for i, r := range recs {
		out[fmt.Sprintf("record-%d", i)] = r.Marshal()
		list = appendItem(list, r.Marshal())
	}
	out["state"] = list
	return out
}

// FuzzCatalogChannel: op selects Receive or MergeState; the router keeps
// ranking.
func FuzzCatalogChannel(f *testing.F) {
	for _, b := range catalogSeeds() {
		f.Add(byte(0), b)
		f.Add(byte(1), b)
	}
	f.Fuzz(func(t *testing.T, op byte, payload []byte) {
		r := fuzzRouter(t)
		ch := &catalogChannel{router: r, self: "x", log: fuzzDiscard, m: newWireMetrics(metrics.NewSet()), lim: &logLimiter{},
			apply: func(recs ...routing.CatalogRecord) error { _, err := r.ApplyAll(recs); return err }}
		if op%2 == 0 {
			ch.Receive("y", catalogWireVersion, payload)
		} else {
			ch.MergeState("y", catalogWireVersion, payload)
		}
		for _, m := range r.Snapshot().Models() {
			_, _ = r.Rank(&routing.Request{Model: m.ID}, nil)
		}
		_ = ch.LocalState(false)
	})
}

// FuzzHealthChannel: whatever arrives, hints never show up in this node's
// own summaries (no echo) nor in its statistics.
func FuzzHealthChannel(f *testing.F) {
	for _, b := range healthSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r := fuzzRouter(t)
		ch := &healthChannel{self: "x", router: r, region: "eu-west", log: fuzzDiscard, lim: &logLimiter{},
			rejected: metrics.NewSet().NewCounter("r"), errs: metrics.NewSet().NewCounter("e"), applied: metrics.NewSet().NewCounter("a")}
		ch.Receive("y", healthWireVersion, payload)
		ch.MergeState("z", healthWireVersion, payload)
		if hs := r.HealthSummaries(nil); len(hs) != 0 {
			t.Fatalf("received hints became local summaries: %+v", hs)
		}
		for _, m := range r.Snapshot().Models() {
			if _, err := r.Rank(&routing.Request{Model: m.ID}, nil); err != nil {
				t.Fatalf("rank after hints: %v", err)
			}
			for _, e := range m.Endpoints {
				if s := r.Stats(e); s.Samples != 0 {
					t.Fatalf("hints changed local stats: %+v", s)
				}
			}
		}
	})
}

// TestWriteClusterCorpus writes the seeds above to testdata/fuzz when
// TOLLGATE_REWRITE_CORPUS is set.
func TestWriteClusterCorpus(t *testing.T) {
	if os.Getenv("TOLLGATE_REWRITE_CORPUS") == "" {
		t.Skip("set TOLLGATE_REWRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	write := func(target, name string, vals ...any) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := "go test fuzz v1\n"
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				s += fmt.Sprintf("[]byte(%q)\n", v)
			case string:
				s += fmt.Sprintf("string(%q)\n", v)
			case byte:
				s += fmt.Sprintf("byte(%q)\n", v)
			default:
				t.Fatalf("corpus value of type %T", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ops := []string{"receive", "since", "merge"}
	for name, b := range ledgerSeeds(t) {
		for op := byte(0); op < 3; op++ {
			write("FuzzLedgerChannel", name+"-"+ops[op], op, "y", b)
		}
	}
	for name, b := range catalogSeeds() {
		write("FuzzCatalogChannel", name+"-receive", byte(0), b)
		write("FuzzCatalogChannel", name+"-merge", byte(1), b)
	}
	for i, b := range healthSeeds() {
		write("FuzzHealthChannel", fmt.Sprint(i), b)
		write("FuzzHealthDecode", fmt.Sprint(i), b)
	}
	list := binary.AppendUvarint(nil, 2)
	list = appendItem(list, []byte("a"))
	list = appendItem(list, nil)
	write("FuzzDecodeList", "two", list)
	write("FuzzDecodeList", "empty", []byte{0})
}
