package cluster

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var rewriteCorpus = flag.Bool("rewrite-corpus", false, "rewrite the fuzz seed corpus in testdata/fuzz")

// seedFrames is one frame of every kind, the seed of FuzzFrame.
func seedFrames() map[string]frame {
	bc := frame{kind: kindBroadcast, origin: "n1", seq: 1764025200000000000, key: "acct-42", typ: TypeLedger, ver: 1, payload: []byte("\x01\x07acct-42\x00\x00\x01\x02n1\x03\x90\x4e\x00\x00")}
	return map[string]frame{
		"broadcast":        bc,
		"broadcast-unique": {kind: kindBroadcast, origin: "n2", seq: 5, typ: TypeCatalog, ver: 2, payload: []byte("record")},
		"direct":           {kind: kindDirect, origin: "node-3.eu", seq: 1<<63 + 1, key: "k", typ: TypeHealth, ver: 1, payload: make([]byte, 1500)},
		"repair":           {kind: kindRepair, origin: "n1", typ: TypeLedger, ver: 1, payload: []byte("state")},
		"state":            {kind: kindState, origin: "n1", states: []stateEntry{{typ: TypeLedger, ver: 1, data: make([]byte, 1032)}, {typ: TypeCatalog, ver: 1, flags: stateDeferred}}},
		"state-empty":      {kind: kindState, origin: "n9"},
		"chunk":            {kind: kindChunk, origin: "n1", xfer: 77, index: 3, total: 9, payload: []byte("chunk data")},
		"leave":            {kind: kindLeave, origin: "n4", seq: 1764025200000000001},
		"batch":            {kind: kindBatch, origin: "n1", batch: []frame{bc, {kind: kindBroadcast, origin: "n1", seq: 9, key: "acct-7", typ: TypeLedger, ver: 1, payload: []byte("x")}}},
	}
}

func seedMetas() map[string]Meta {
	return map[string]Meta{
		"minimal": {Name: "n1"},
		"full":    {Name: "gw-1.eu-west", Region: "eu-west-1", APIAddr: "10.0.0.1:8080", AdminAddr: "127.0.0.1:8081", Version: "v0.3.0", Epoch: 12},
		"max":     {Name: "n", APIAddr: string(make([]byte, 200)), AdminAddr: string(make([]byte, 200)), Epoch: 1<<64 - 1},
	}
}

// writeCorpus writes one seed file per value under testdata/fuzz/<target>.
func writeCorpus(t *testing.T, target string, seeds map[string][]any) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, vals := range seeds {
		s := "go test fuzz v1\n"
		for _, v := range vals {
			switch v := v.(type) {
			case []byte:
				s += fmt.Sprintf("[]byte(%q)\n", v)
			case string:
				s += fmt.Sprintf("string(%q)\n", v)
			case uint64:
				s += fmt.Sprintf("uint64(%d)\n", v)
			default:
				t.Fatalf("corpus value of type %T", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRewriteCorpus regenerates testdata/fuzz with -rewrite-corpus.
func TestRewriteCorpus(t *testing.T) {
	if !*rewriteCorpus {
		t.Skip("run with -rewrite-corpus to regenerate testdata/fuzz")
	}
	frames := map[string][]any{}
	for name, f := range seedFrames() {
		frames[name] = []any{f.appendBinary(nil)}
	}
	writeCorpus(t, "FuzzFrame", frames)
	metas := map[string][]any{}
	fields := map[string][]any{}
	for name, m := range seedMetas() {
		b, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		metas[name] = []any{b}
		fields[name] = []any{m.Name, m.Region, m.APIAddr, m.AdminAddr, m.Version, m.Epoch}
	}
	writeCorpus(t, "FuzzMeta", metas)
	writeCorpus(t, "FuzzMetaEncode", fields)
}

// FuzzFrame: decoding never panics, and whatever decodes re-encodes to a
// frame that decodes to the same value.
func FuzzFrame(f *testing.F) {
	for _, fr := range seedFrames() {
		f.Add(fr.appendBinary(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := parseFrame(b)
		if err != nil {
			return
		}
		again, err := parseFrame(fr.appendBinary(nil))
		if err != nil {
			t.Fatalf("re-encoded frame does not decode: %v (%+v)", err, fr)
		}
		if !framesEqual(fr, again) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, again)
		}
	})
}

// FuzzMeta: decoding never panics; decoded metadata re-encodes (within the
// size limit) to the same value.
func FuzzMeta(f *testing.F) {
	for _, m := range seedMetas() {
		b, _ := m.AppendBinary(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Meta
		if m.UnmarshalBinary(b) != nil {
			return
		}
		enc, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("decoded meta does not encode: %v (%+v)", err, m)
		}
		var again Meta
		if err := again.UnmarshalBinary(enc); err != nil || again != m {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}

// FuzzMetaEncode: any metadata the encoder accepts fits MetaMaxSize and
// decodes to itself.
func FuzzMetaEncode(f *testing.F) {
	for _, m := range seedMetas() {
		f.Add(m.Name, m.Region, m.APIAddr, m.AdminAddr, m.Version, m.Epoch)
	}
	f.Fuzz(func(t *testing.T, name, region, api, admin, version string, epoch uint64) {
		m := Meta{Name: name, Region: region, APIAddr: api, AdminAddr: admin, Version: version, Epoch: epoch}
		b, err := m.AppendBinary(nil)
		if err != nil {
			return
		}
		if len(b) > MetaMaxSize {
			t.Fatalf("encoded %d bytes", len(b))
		}
		var got Meta
		if err := got.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: %+v, %v; want %+v", got, err, m)
		}
	})
}
