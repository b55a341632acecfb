package ledger

import (
	"path/filepath"
	"testing"
	"time"
)

// benchLedger opens a ledger on the real disk (group durability, the
// default) with one funded account and key.
func benchLedger(b *testing.B, d Durability) (*Ledger, *Key, string) {
	b.Helper()
	l, err := Open(Config{
		Dir:        filepath.Join(b.TempDir(), "ledger"),
		Node:       "bench",
		Region:     "eu",
		Durability: d,
		Logger:     discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	acct, err := l.CreateAccount("bench")
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Grant(acct.ID, 1<<62, "bench"); err != nil {
		b.Fatal(err)
	}
	secret, k, err := l.CreateKey(acct.ID, KeyOptions{Name: "bench", Limit: ptr(int64(1 << 61)), LimitReset: LimitResetDaily})
	if err != nil {
		b.Fatal(err)
	}
	return l, k, secret
}

func benchGeneration() Generation {
	return Generation{
		Model: "openai/gpt-4o-mini", Provider: "openai", UpstreamModel: "gpt-4o-mini",
		APIPath: "/api/v1/chat/completions", App: "bench", User: "user-1",
		Tags: []string{"team:search"}, Status: 200, FinishReason: "stop",
		PromptTokens: 120, CompletionTokens: 300, Latency: 800 * time.Millisecond, TTFT: 150 * time.Millisecond,
		Attempts: []Attempt{{Provider: "openai", Status: 200, Latency: 800 * time.Millisecond}},
	}
}

// BenchmarkReserveSettle is the ledger's share of one request on the hot
// path: Reserve the maximum cost, then Settle the real cost with a full
// generation record (generation id set by the caller, as core does). The
// group writer runs concurrently and its work is included in the figures.
func BenchmarkReserveSettle(b *testing.B) {
	for _, d := range []Durability{DurabilityGroup, DurabilitySync} {
		b.Run(string(d), func(b *testing.B) {
			l, k, _ := benchLedger(b, d)
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = l.NewGenerationID()
			}
			gen := benchGeneration()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				res, err := l.Reserve(k, 5000)
				if err != nil {
					b.Fatal(err)
				}
				gen.ID = ids[i]
				gen.Created = time.Time{}
				if err := l.Settle(res, 4200, &gen); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkReserveSettleParallel runs the same from GOMAXPROCS goroutines
// on one key: the contended case.
func BenchmarkReserveSettleParallel(b *testing.B) {
	l, k, _ := benchLedger(b, DurabilityGroup)
	gen := benchGeneration()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		g := gen
		for pb.Next() {
			res, err := l.Reserve(k, 5000)
			if err != nil {
				b.Error(err)
				return
			}
			g.ID = "gen-bench-fixed"
			g.Created = time.Time{}
			if err := l.Settle(res, 4200, &g); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReserveRelease is a request that never reaches a provider.
func BenchmarkReserveRelease(b *testing.B) {
	l, k, _ := benchLedger(b, DurabilityGroup)
	b.ReportAllocs()
	for b.Loop() {
		res, err := l.Reserve(k, 5000)
		if err != nil {
			b.Fatal(err)
		}
		l.Release(res)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	l, _, secret := benchLedger(b, DurabilityGroup)
	// A realistic index size.
	acct, _ := l.AccountByName("bench")
	for range 1000 {
		if _, _, err := l.CreateKey(acct.ID, KeyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	s := []byte(secret)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Authenticate(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReserveSettleResponsePath measures what a request waits for:
// Reserve, then Settle up to its return, with the group writer's disk work
// kept out of the timed sections (the timer stops while a Flush drains the
// queue every 256 requests). BenchmarkReserveSettle/group includes that
// work and so measures the writer's sustained throughput instead.
func BenchmarkReserveSettleResponsePath(b *testing.B) {
	l, k, _ := benchLedger(b, DurabilityGroup)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = l.NewGenerationID()
	}
	gen := benchGeneration()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%256 == 255 {
			b.StopTimer()
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		res, err := l.Reserve(k, 5000)
		if err != nil {
			b.Fatal(err)
		}
		gen.ID = ids[i]
		gen.Created = time.Time{}
		if err := l.Settle(res, 4200, &gen); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkNewGenerationID: one id per request. "base62Encode" is the
// generic byte-wise encoder the id used before genBody, for comparison.
func BenchmarkNewGenerationID(b *testing.B) {
	l, _, _ := benchLedger(b, DurabilityGroup)
	b.Run("genBody", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = l.NewGenerationID()
		}
	})
	b.Run("base62Encode", func(b *testing.B) {
		var raw [12]byte
		var body [genBodyLen]byte
		for b.Loop() {
			raw[3]++
			base62Encode(body[:], raw[:])
		}
	})
}
