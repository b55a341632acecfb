package ledger

import (
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
		if c, id, err := decodeGenTimeKey(appendGenTimeKey(nil, bucket, idem)); err != nil || c != bucket || id != idem {
			t.Fatalf("gen time key: %d %q %v", c, id, err)
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
			appendUsageKey(nil, h, node, epoch, p), appendGenerationKey(nil, idem), appendGenTimeKey(nil, bucket, idem)} {
			if k[0] < prefixMeta || k[0] > prefixRollup {
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
		if got := bytes.Compare(appendGenTimeKey(nil, i1, a1), appendGenTimeKey(nil, i2, a2)); got != want {
			t.Fatalf("gen time key order %d, want %d", got, want)
		}
		want = cmp.Or(cmp.Compare(a1, a2), cmp.Compare(i1, i2))
		if got := bytes.Compare(appendRollupPrefix(nil, GranularityMinute, a1, i1), appendRollupPrefix(nil, GranularityMinute, a2, i2)); got != want {
			t.Fatalf("rollup prefix order %d, want %d", got, want)
		}
	})
}
