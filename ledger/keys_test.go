package ledger

import (
	"encoding/binary"
	"time"

	"bytes"
	"cmp"
	"testing"
)

func TestAppendStrOrder(t *testing.T) {
	f := func(a, b string) {
		t.Helper()
		ea, eb := appendStr(nil, a), appendStr(nil, b)
		if got, want := bytes.Compare(ea, eb), cmp.Compare(a, b); got != want {
			t.Errorf("compare(enc(%q), enc(%q)) = %d, want %d", a, b, got, want)
		}
		s, rest, err := decodeStr(append(ea, 0xAB))
		if err != nil || s != a || !bytes.Equal(rest, []byte{0xAB}) {
			t.Errorf("decodeStr(enc(%q)) = %q, %x, %v", a, s, rest, err)
		}
	}
	f("", "a")
	f("a", "a\x00")
	f("a\x00", "a\x01")
	f("a\x00\x00", "a\x00\x01")
	f("a\xff", "b")
	f("ab", "a")
	f("\x00", "")
	f("same", "same")
}

func TestDecodeStrRejects(t *testing.T) {
	for _, b := range [][]byte{nil, {'a'}, {'a', 0}, {0, 2}, {'a', 0, 0xFF}} {
		if _, _, err := decodeStr(b); err == nil {
			t.Errorf("decodeStr(%x) accepted", b)
		}
	}
}

func TestPrefixEnd(t *testing.T) {
	f := func(p, want []byte) {
		t.Helper()
		if got := prefixEnd(p); !bytes.Equal(got, want) {
			t.Errorf("prefixEnd(%x) = %x, want %x", p, got, want)
		}
	}
	f([]byte{1}, []byte{2})
	f([]byte{1, 0xFF}, []byte{2})
	f([]byte{0xFF, 0xFF}, nil)
	f([]byte{5, 3, 0xFF}, []byte{5, 4})
}

// FuzzKeyRoundTrip checks that every storage key decodes to what was
// encoded and starts with its record's prefix byte.
func FuzzKeyRoundTrip(f *testing.F) {
	f.Add("acct_1", "idem", "node-1", uint64(7), uint8(1), int64(20000), int64(1700000000), []byte("k"), "model", "tag")
	f.Add("", "\x00", "\x00\x01", uint64(0), uint8(0), int64(-1), int64(-5), []byte{0, 0xFF}, "", "\x00\xff")
	f.Fuzz(func(t *testing.T, acct, idem, node string, epoch uint64, kind uint8, idx, bucket int64, hashSeed []byte, model, tag string) {
		var h KeyHash
		copy(h[:], hashSeed)
		p := Period{Kind: PeriodKind(kind % 4), Index: idx}

		if got, err := decodeAccountKey(appendAccountKey(nil, acct)); err != nil || got != acct {
			t.Fatalf("account key: %q, %v", got, err)
		}
		if got, err := decodeKeyRecKey(appendKeyRecKey(nil, h)); err != nil || got != h {
			t.Fatalf("key record key: %v", err)
		}
		if a, i, err := decodeGrantKey(appendGrantKey(nil, acct, idem)); err != nil || a != acct || i != idem {
			t.Fatalf("grant key: %q %q %v", a, i, err)
		}
		if a, ne, err := decodeSpendKey(appendSpendKey(nil, acct, node, epoch)); err != nil || a != acct || ne != (nodeEpoch{node, epoch}) {
			t.Fatalf("spend key: %q %v %v", a, ne, err)
		}
		if gh, ne, gp, err := decodeUsageKey(appendUsageKey(nil, h, node, epoch, p)); err != nil || gh != h || ne != (nodeEpoch{node, epoch}) || gp != p {
			t.Fatalf("usage key: %v %v %v", ne, gp, err)
		}
		if c, id, err := decodeGenTimeKeyV0(appendGenTimeKeyV0(nil, bucket, idem)); err != nil || c != bucket || id != idem {
			t.Fatalf("gen time key: %d %q %v", c, id, err)
		}
		for _, id := range []string{idem, "gen-" + node + "-" + idem} {
			gn, rest, err := decodeGenerationKey(appendGenerationKey(nil, id))
			if err != nil || genID(gn, rest) != id {
				t.Fatalf("generation key of %q: %q %q %v", id, gn, rest, err)
			}
		}
		for _, fam := range []byte{familyBase, familyTag} {
			d := rollupDims{Key: string(hashSeed), Model: model, Provider: node, App: idem, User: acct, APIPath: "/v1", Region: model}
			if fam == familyTag {
				d.Tag = tag
			}
			g, a, b, gf, gd, err := decodeRollupKey(appendRollupKey(nil, GranularityHour, acct, bucket, fam, &d))
			if err != nil || g != GranularityHour || a != acct || b != bucket || gf != fam || gd != d {
				t.Fatalf("rollup key: %v %+v", err, gd)
			}
		}
		for _, k := range [][]byte{appendAccountKey(nil, acct), appendGrantKey(nil, acct, idem), appendSpendKey(nil, acct, node, epoch),
			appendUsageKey(nil, h, node, epoch, p), appendGenerationKey(nil, idem), appendGenTimeKeyV0(nil, bucket, idem)} {
			if k[0] > prefixRollup {
				t.Fatalf("key %x has no record prefix", k)
			}
		}
	})
}

// FuzzKeyOrder checks that key encodings sort like their components.
func FuzzKeyOrder(f *testing.F) {
	f.Add("a", "b", "n1", "n2", uint64(1), uint64(2), int64(-3), int64(4))
	f.Add("a\x00", "a", "", "\x00", uint64(1<<63), uint64(1), int64(1), int64(-1))
	f.Fuzz(func(t *testing.T, a1, a2, n1, n2 string, e1, e2 uint64, i1, i2 int64) {
		want := cmp.Or(cmp.Compare(a1, a2), cmp.Compare(n1, n2), cmp.Compare(e1, e2))
		if got := bytes.Compare(appendSpendKey(nil, a1, n1, e1), appendSpendKey(nil, a2, n2, e2)); got != want {
			t.Fatalf("spend key order %d, want %d", got, want)
		}
		want = cmp.Or(cmp.Compare(a1, a2), cmp.Compare(n1, n2))
		if got := bytes.Compare(appendGrantKey(nil, a1, n1), appendGrantKey(nil, a2, n2)); got != want {
			t.Fatalf("grant key order %d, want %d", got, want)
		}
		want = cmp.Or(cmp.Compare(i1, i2), cmp.Compare(a1, a2))
		if got := bytes.Compare(appendGenTimeKeyV0(nil, i1, a1), appendGenTimeKeyV0(nil, i2, a2)); got != want {
			t.Fatalf("gen time key order %d, want %d", got, want)
		}
		// Generation keys order by node, then by the rest of the id, and
		// a node's keys all sort below the next-node bound prune seeks to.
		b1, b2 := genBodyString(e1, uint64(i1)), genBodyString(e2, uint64(i2))
		g1, g2 := "gen-"+n1+"-"+b1, "gen-"+n2+"-"+b2
		if GenerationNode(g1) == n1 && GenerationNode(g2) == n2 {
			want = cmp.Or(cmp.Compare(n1, n2), cmp.Compare(b1, b2))
			if got := bytes.Compare(appendGenerationKey(nil, g1), appendGenerationKey(nil, g2)); got != want {
				t.Fatalf("generation key order %d, want %d", got, want)
			}
			next := appendGenerationNodeKey(nil, n1)
			next[len(next)-1]++
			if got, want := bytes.Compare(appendGenerationKey(nil, g2), next), cmp.Compare(n2, n1); n1 != n2 && got != want {
				t.Fatalf("generation of node %q vs next-node bound of %q: %d, want %d", n2, n1, got, want)
			} else if n1 == n2 && got >= 0 {
				t.Fatalf("generation %q not below its node's bound", g2)
			}
		}
		want = cmp.Or(cmp.Compare(a1, a2), cmp.Compare(i1, i2))
		if got := bytes.Compare(appendRollupPrefix(nil, GranularityMinute, a1, i1), appendRollupPrefix(nil, GranularityMinute, a2, i2)); got != want {
			t.Fatalf("rollup prefix order %d, want %d", got, want)
		}
	})
}

// genID reassembles an id from its generation key parts.
func genID(node, rest string) string {
	if node == "" {
		return rest
	}
	return "gen-" + node + "-" + rest
}

// TestGenerationIDTime reads back the time NewGenerationID put in an id,
// and refuses rests of any other form.
func TestGenerationIDTime(t *testing.T) {
	clock := newTestClock()
	l := openTest(t, testConfig(clock))
	for range 100 {
		id := l.NewGenerationID()
		node, rest := splitGenerationID(id)
		ms, ok := generationIDTime(rest)
		if node != "n1" || !ok || ms != clock.Now().UnixMilli() {
			t.Fatalf("%s: node %q, time %d %v, want %d", id, node, ms, ok, clock.Now().UnixMilli())
		}
		clock.Advance(time.Hour + time.Millisecond)
	}
	for _, rest := range []string{"", "0", "00000000000000000", "zzzzzzzzzzzzzzzzz", "1ZZZZZZZZZZZZZZZZ", "0000000000000000-", "000000000000000000"} {
		ms, ok := generationIDTime(rest)
		var raw [12]byte
		want := len(rest) == genBodyLen && base62Decode(raw[:], rest)
		if ok != want || ok && ms != int64(binary.BigEndian.Uint64(raw[:8])>>16) {
			t.Errorf("generationIDTime(%q) = %d, %v; want ok %v", rest, ms, ok, want)
		}
	}
	if node, rest := splitGenerationID("gen-n1-old"); node != "" || rest != "gen-n1-old" {
		t.Errorf("a foreign id split as %q %q", node, rest)
	}
}

// genBodyString is the id body NewGenerationID makes of 48 bits of time
// and 48 random bits (the low 48 bits of each argument).
func genBodyString(ms, r uint64) string {
	var body [genBodyLen]byte
	genBody(&body, ms, r)
	return string(body[:])
}

// FuzzGenBody: the fast id encoder writes what base62Encode writes.
func FuzzGenBody(f *testing.F) {
	f.Add(uint64(0), uint64(0))
	f.Add(uint64(1<<48-1), uint64(1<<48-1))
	f.Add(uint64(1764000000000), uint64(0xDEADBEEF))
	f.Fuzz(func(t *testing.T, ms, r uint64) {
		var raw [12]byte
		m, q := ms, r
		for i := 5; i >= 0; i-- {
			raw[i], raw[i+6] = byte(m), byte(q)
			m, q = m>>8, q>>8
		}
		var want, got [genBodyLen]byte
		base62Encode(want[:], raw[:])
		genBody(&got, ms, r)
		if got != want {
			t.Fatalf("genBody(%d, %d) = %s, want %s", ms, r, got[:], want[:])
		}
	})
}
