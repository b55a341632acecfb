package ledger

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

type genSpec struct {
	model, provider, app, user string
	tags                       []string
	cost                       int64
	latency, ttft              time.Duration
	status                     int
}

func record(t testing.TB, l *Ledger, k *Key, at time.Time, s genSpec) {
	t.Helper()
	res, err := l.Reserve(k, s.cost)
	if err != nil {
		t.Fatal(err)
	}
	g := &Generation{
		Model: s.model, Provider: s.provider, App: s.app, User: s.user, Tags: s.tags,
		APIPath: "/api/v1/chat/completions", Created: at, Status: s.status,
		PromptTokens: 100, CompletionTokens: 50, ReasoningTokens: 5, CachedTokens: 10,
		Latency: s.latency, TTFT: s.ttft,
	}
	if err := l.Settle(res, s.cost, g); err != nil {
		t.Fatal(err)
	}
}

func TestAnalyticsQuery(t *testing.T) {
	l, clock, acct, k := newFixture(t, 1000e9, KeyOptions{})
	t0 := clock.Now().Truncate(time.Hour) // 10:00
	specs := []genSpec{
		{model: "gpt", provider: "openai", app: "chat", user: "u1", tags: []string{"team:a", "feature:x"}, cost: 1e6, latency: 100 * time.Millisecond, ttft: 40 * time.Millisecond, status: 200},
		{model: "gpt", provider: "azure", app: "chat", user: "u2", tags: []string{"team:a"}, cost: 2e6, latency: 200 * time.Millisecond, status: 200},
		{model: "claude", provider: "anthropic", app: "ide", user: "u1", cost: 4e6, latency: 400 * time.Millisecond, ttft: 90 * time.Millisecond, status: 502},
		{model: "claude", provider: "anthropic", app: "ide", user: "u3", tags: []string{"team:b", "team:b"}, cost: 8e6, latency: 3 * time.Second, status: 200},
	}
	for i, s := range specs {
		record(t, l, k, t0.Add(time.Duration(i)*20*time.Minute+time.Second), s) // 10:00, 10:20, 10:40, 11:00
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	q := func(q AnalyticsQuery) AnalyticsResult {
		t.Helper()
		if q.Account == "" {
			q.Account = acct.ID
		}
		if q.From.IsZero() {
			q.From, q.To = t0, t0.Add(2*time.Hour)
		}
		res, err := l.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	// Totals per hour.
	res := q(AnalyticsQuery{Granularity: GranularityHour})
	if len(res.Rows) != 2 || res.Rows[0].Stats.Requests != 3 || res.Rows[1].Stats.Requests != 1 || res.PerTag {
		t.Fatalf("hourly totals: %+v", res.Rows)
	}
	if s := res.Rows[0].Stats; s.Cost != 7e6 || s.Errors != 1 || s.PromptTokens != 300 || s.TTFTCount != 2 || s.LatencyAvg() != 700*time.Millisecond/3 {
		t.Fatalf("first hour stats %+v", s)
	}
	// Group by model over a day.
	res = q(AnalyticsQuery{Granularity: GranularityDay, GroupBy: []Dimension{DimModel}})
	if len(res.Rows) != 2 || res.Rows[0].Group[0] != "claude" || res.Rows[0].Stats.Cost != 12e6 || res.Rows[1].Stats.Cost != 3e6 {
		t.Fatalf("by model: %+v", res.Rows)
	}
	if !res.Rows[0].Bucket.Equal(t0.Truncate(24 * time.Hour)) {
		t.Fatalf("day bucket %v", res.Rows[0].Bucket)
	}
	// Group by tag: a request counts once per distinct tag; untagged requests
	// form the "" group; the sum exceeds the total.
	res = q(AnalyticsQuery{Granularity: GranularityDay, GroupBy: []Dimension{DimTag}})
	byTag := map[string]int64{}
	var sum int64
	for _, r := range res.Rows {
		byTag[r.Group[0]] = r.Stats.Requests
		sum += r.Stats.Requests
	}
	if !res.PerTag || byTag["team:a"] != 2 || byTag["feature:x"] != 1 || byTag["team:b"] != 1 || byTag[""] != 1 || sum != 5 {
		t.Fatalf("by tag: %v (sum %d)", byTag, sum)
	}
	// Filters, several dimensions, minute granularity.
	res = q(AnalyticsQuery{Granularity: GranularityMinute, GroupBy: []Dimension{DimProvider, DimUser},
		Filters: map[Dimension][]string{DimApp: {"chat"}}})
	if len(res.Rows) != 2 || res.Rows[0].Group[0] != "openai" || res.Rows[1].Group[1] != "u2" ||
		!res.Rows[1].Bucket.Equal(t0.Add(20*time.Minute)) {
		t.Fatalf("filtered by app: %+v", res.Rows)
	}
	res = q(AnalyticsQuery{Granularity: GranularityHour, GroupBy: []Dimension{DimModel},
		Filters: map[Dimension][]string{DimTag: {"team:a"}}})
	if len(res.Rows) != 1 || res.Rows[0].Group[0] != "gpt" || res.Rows[0].Stats.Requests != 2 {
		t.Fatalf("filtered by tag: %+v", res.Rows)
	}
	// Key, node, region, account, api path.
	res = q(AnalyticsQuery{Granularity: GranularityDay, GroupBy: []Dimension{DimKey, DimNode, DimRegion, DimAccount, DimAPIPath}})
	if len(res.Rows) != 1 || res.Rows[0].Group[0] != k.Hash.String() || res.Rows[0].Group[1] != "n1" ||
		res.Rows[0].Group[2] != "eu" || res.Rows[0].Group[3] != acct.ID || res.Rows[0].Group[4] != "/api/v1/chat/completions" {
		t.Fatalf("by key/node/region: %+v", res.Rows)
	}
	// All accounts (operator) sees the same total.
	res, err := l.Query(AnalyticsQuery{From: t0, To: t0.Add(2 * time.Hour), Granularity: GranularityDay})
	if err != nil || len(res.Rows) != 1 || res.Rows[0].Stats.Requests != 4 {
		t.Fatalf("all accounts: %+v, %v", res.Rows, err)
	}
	// The time range is half-open.
	res = q(AnalyticsQuery{From: t0, To: t0.Add(time.Hour), Granularity: GranularityHour})
	if len(res.Rows) != 1 || res.Rows[0].Stats.Requests != 3 {
		t.Fatalf("[10:00, 11:00): %+v", res.Rows)
	}
	// Metric values.
	s := &res.Rows[0].Stats
	for _, m := range Metrics {
		if _, ok := s.Value(m); !ok {
			t.Errorf("metric %s unknown", m)
		}
	}
	if v, _ := s.Value(MetricTotalTokens); v != 450 {
		t.Fatalf("total tokens %d", v)
	}
	if p50, _ := s.Value(MetricLatencyP50); p50 < int64(100*time.Millisecond) || p50 > int64(200*time.Millisecond) {
		t.Fatalf("latency p50 %v", time.Duration(p50))
	}

	f := func(q AnalyticsQuery) {
		t.Helper()
		if _, err := l.Query(q); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Query(%+v) = %v, want ErrInvalidArgument", q, err)
		}
	}
	f(AnalyticsQuery{From: t0, To: t0.Add(time.Hour)})
	f(AnalyticsQuery{From: t0, To: t0, Granularity: GranularityHour})
	f(AnalyticsQuery{From: t0, To: t0.Add(time.Hour), Granularity: GranularityHour, GroupBy: []Dimension{"color"}})
	f(AnalyticsQuery{From: t0, To: t0.Add(time.Hour), Granularity: GranularityHour, GroupBy: []Dimension{DimModel, DimModel}})
	f(AnalyticsQuery{From: t0, To: t0.Add(time.Hour), Granularity: GranularityHour, Metrics: []Metric{"vibes"}})
}

func TestActivity(t *testing.T) {
	l, clock, acct, k := newFixture(t, 1000e9, KeyOptions{})
	day := clock.Now().Truncate(24 * time.Hour)
	record(t, l, k, day.Add(time.Hour), genSpec{model: "gpt", provider: "openai", cost: 1e6})
	record(t, l, k, day.Add(2*time.Hour), genSpec{model: "gpt", provider: "openai", cost: 2e6})
	record(t, l, k, day.Add(26*time.Hour), genSpec{model: "gpt", provider: "openai", cost: 4e6})
	record(t, l, k, day.Add(27*time.Hour), genSpec{model: "claude", provider: "anthropic", cost: 8e6})
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	rows, err := l.Activity(acct.ID, day, day.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []ActivityRow{
		{Date: "2026-03-11", Model: "gpt", Provider: "openai", Requests: 2, PromptTokens: 200, CompletionTokens: 100, ReasoningTokens: 10, CachedTokens: 20, Usage: 3e6},
		{Date: "2026-03-12", Model: "claude", Provider: "anthropic", Requests: 1, PromptTokens: 100, CompletionTokens: 50, ReasoningTokens: 5, CachedTokens: 10, Usage: 8e6},
		{Date: "2026-03-12", Model: "gpt", Provider: "openai", Requests: 1, PromptTokens: 100, CompletionTokens: 50, ReasoningTokens: 5, CachedTokens: 10, Usage: 4e6},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("Activity =\n%+v\nwant\n%+v", rows, want)
	}
}

func TestDimensionCap(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	cfg.MaxDimensionValues = 2
	l := openTest(t, cfg)
	acct, _ := l.CreateAccount("acme")
	_ = l.Grant(acct.ID, 100e9, "g")
	_, k, _ := l.CreateKey(acct.ID, KeyOptions{})
	now := clock.Now()
	for i := range 5 {
		record(t, l, k, now, genSpec{model: "m", user: fmt.Sprintf("user-%d", i), tags: []string{fmt.Sprintf("t%d", i)}, cost: 1})
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	res, err := l.Query(AnalyticsQuery{Account: acct.ID, From: now.Add(-time.Hour), To: now.Add(time.Hour),
		Granularity: GranularityHour, GroupBy: []Dimension{DimUser}})
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]int64{}
	for _, r := range res.Rows {
		users[r.Group[0]] = r.Stats.Requests
	}
	if len(users) != 3 || users[OverflowValue] != 3 {
		t.Fatalf("users %v, want 2 values and 3 in %q", users, OverflowValue)
	}
}

func TestMergeResults(t *testing.T) {
	b := time.Unix(3600, 0).UTC()
	r1 := AnalyticsResult{Nodes: []string{"n1"}, Rows: []AnalyticsRow{{Bucket: b, Group: []string{"gpt"}, Stats: Stats{Requests: 1, Cost: 5}}}}
	r2 := AnalyticsResult{Nodes: []string{"n2"}, Rows: []AnalyticsRow{
		{Bucket: b, Group: []string{"gpt"}, Stats: Stats{Requests: 2, Cost: 7}},
		{Bucket: b, Group: []string{"claude"}, Stats: Stats{Requests: 1}},
	}}
	m := MergeResults(r1, r2)
	if len(m.Nodes) != 2 || len(m.Rows) != 2 || m.Rows[1].Group[0] != "gpt" || m.Rows[1].Stats.Requests != 3 || m.Rows[1].Stats.Cost != 12 {
		t.Fatalf("MergeResults = %+v", m)
	}
	if r1.Rows[0].Stats.Requests != 1 {
		t.Fatal("MergeResults modified its input")
	}
}

func TestQuantiles(t *testing.T) {
	var s Stats
	for i := range 100 {
		s.addGeneration(&Generation{Latency: time.Duration(i+1) * 10 * time.Millisecond, TTFT: 20 * time.Millisecond})
	}
	p50, p95 := s.LatencyQuantile(0.5), s.LatencyQuantile(0.95)
	if p50 < 400*time.Millisecond || p50 > 600*time.Millisecond || p95 < 900*time.Millisecond || p95 > 1100*time.Millisecond {
		t.Fatalf("p50 %v p95 %v for uniform 10ms..1s", p50, p95)
	}
	if q := s.TTFTQuantile(0.5); q <= 10*time.Millisecond || q > 25*time.Millisecond {
		t.Fatalf("TTFT p50 %v", q)
	}
	var empty Stats
	if empty.LatencyQuantile(0.5) != 0 || empty.TTFTAvg() != 0 || empty.LatencyAvg() != 0 {
		t.Fatal("empty stats not zero")
	}
	// Encoding round trip and merge operator.
	var back Stats
	if err := addEncodedStats(&back, encodeStats(nil, &s)); err != nil || back != s {
		t.Fatalf("stats round trip: %v", err)
	}
	m := &statsMerger{}
	_ = m.MergeNewer(encodeStats(nil, &s))
	_ = m.MergeOlder(encodeStats(nil, &s))
	_ = m.MergeOlder([]byte{9, 9}) // undecodable operands are dropped
	out, _, _ := m.Finish(true)
	var sum Stats
	if err := addEncodedStats(&sum, out); err != nil || sum.Requests != 200 || sum.LatencySum != 2*s.LatencySum {
		t.Fatalf("merge operator: %+v, %v", sum, err)
	}
}

func TestPrune(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	cfg.GenerationRetention = 24 * time.Hour
	cfg.MinuteRollupRetention = time.Hour
	l := openTest(t, cfg)
	acct, _ := l.CreateAccount("acme")
	_ = l.Grant(acct.ID, 100e9, "g")
	_, k, _ := l.CreateKey(acct.ID, KeyOptions{Limit: ptr(int64(50e9)), LimitReset: LimitResetDaily})
	old := clock.Now()
	res, _ := l.Reserve(k, 1e6)
	_ = l.Settle(res, 1e6, &Generation{ID: "gen-n1-old", Model: "m", Created: old})
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * 24 * time.Hour)
	res, _ = l.Reserve(k, 1e6)
	_ = l.Settle(res, 1e6, &Generation{ID: "gen-n1-new", Model: "m"})
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.Prune(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.GetGeneration("gen-n1-old"); !errors.Is(err, ErrGenerationNotFound) {
		t.Fatalf("old generation: %v, want pruned", err)
	}
	if _, err := l.GetGeneration("gen-n1-new"); err != nil {
		t.Fatalf("new generation pruned: %v", err)
	}
	count := func(g Granularity) int64 {
		r, err := l.Query(AnalyticsQuery{Account: acct.ID, From: old.Add(-time.Hour), To: clock.Now().Add(time.Hour), Granularity: g})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, row := range r.Rows {
			n += row.Stats.Requests
		}
		return n
	}
	if n := count(GranularityMinute); n != 1 {
		t.Fatalf("minute rollups kept %d requests, want 1", n)
	}
	if n := count(GranularityHour); n != 2 {
		t.Fatalf("hour rollups kept %d requests, want 2", n)
	}
	// Past daily spans are gone, totals stay.
	info := l.KeyInfo(k)
	if info.Usage != 2e6 || info.UsageDaily != 1e6 {
		t.Fatalf("key info after prune %+v", info)
	}
	var stale int
	_ = l.scan([]byte{prefixKeyUsage}, func(kb, _ []byte) error {
		if _, _, p, err := decodeUsageKey(kb); err == nil && p.stale(l.periods.at(clock.Now())) {
			stale++
		}
		return nil
	})
	if stale != 0 {
		t.Fatalf("%d stale usage counters left", stale)
	}
}

// TestPruneGenerationLayout prunes generation records of every kind the
// store can hold: ids of this node and of another whose name extends it
// ("n1" and "n1-b" share a textual prefix), ids of no known form (judged by
// their Created time), and records of the old key layout.
func TestPruneGenerationLayout(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	cfg.GenerationRetention = 24 * time.Hour
	l := openTest(t, cfg)
	acct, _ := l.CreateAccount("acme")
	_ = l.Grant(acct.ID, 100e9, "g")
	_, k, _ := l.CreateKey(acct.ID, KeyOptions{})
	id := func(node string, at time.Time, r uint64) string {
		var raw [12]byte
		ms := uint64(at.UnixMilli())
		for i := 5; i >= 0; i-- {
			raw[i], raw[i+6] = byte(ms), byte(r)
			ms, r = ms>>8, r>>8
		}
		var body [genBodyLen]byte
		base62Encode(body[:], raw[:])
		return "gen-" + node + "-" + string(body[:])
	}
	settle := func(id string, created time.Time) {
		t.Helper()
		res, err := l.Reserve(k, 1e3)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Settle(res, 1e3, &Generation{ID: id, Model: "m", Created: created}); err != nil {
			t.Fatal(err)
		}
	}
	legacy := func(id string, created time.Time) {
		t.Helper()
		g := Generation{ID: id, Node: "n1", AccountID: acct.ID, Created: created, Cost: 1}
		b := l.db.NewBatch()
		_ = b.Set(appendGenerationKeyV0(nil, id), encodeGeneration(nil, &g), nil)
		_ = b.Set(appendGenTimeKeyV0(nil, created.UnixNano(), id), nil, nil)
		if err := l.commit(b, true); err != nil {
			t.Fatal(err)
		}
	}
	t0 := clock.Now()
	t1 := t0.Add(48 * time.Hour)
	var expired, kept []string
	for i := range uint64(3) {
		expired = append(expired, id("n1", t0.Add(time.Duration(i)*time.Second), i), id("n1-b", t0, i))
		kept = append(kept, id("n1", t1.Add(time.Duration(i)*time.Second), i), id("n1-b", t1, i))
	}
	expired = append(expired, "custom-old", "gen-n1-old")
	kept = append(kept, "custom-new", "gen-n1-new")
	for _, g := range expired {
		settle(g, t0)
	}
	for _, g := range kept {
		settle(g, t1)
	}
	legacy("gen-n1-legacyold", t0)
	legacy("gen-n1-legacynew", t1)
	expired = append(expired, "gen-n1-legacyold")
	kept = append(kept, "gen-n1-legacynew")
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, g := range append(append([]string(nil), expired...), kept...) {
		if _, err := l.GetGeneration(g); err != nil {
			t.Fatalf("before prune, %s: %v", g, err)
		}
	}
	clock.Advance(49 * time.Hour)
	if err := l.Prune(); err != nil {
		t.Fatal(err)
	}
	for _, g := range expired {
		if _, err := l.GetGeneration(g); !errors.Is(err, ErrGenerationNotFound) {
			t.Errorf("%s: %v, want pruned", g, err)
		}
	}
	for _, g := range kept {
		if got, err := l.GetGeneration(g); err != nil || got.ID != g {
			t.Errorf("%s: %v, want kept", g, err)
		}
	}
	n := 0
	_ = l.scan([]byte{prefixGenTimeV0}, func(_, _ []byte) error { n++; return nil })
	if n != 1 {
		t.Errorf("%d old-layout time index entries left, want 1", n)
	}
}

// TestRollupLastRowCache: reusing the previous generation's rows gives the
// same merge operands, summed per key, as building every key, across
// changing dimensions, tags, minutes and hours, value caps and evictions.
func TestRollupLastRowCache(t *testing.T) {
	l := openTest(t, testConfig(newTestClock()))
	cached, plain := &rollupAgg{}, &rollupAgg{}
	cached.init(3)
	plain.init(3)
	sums := func(b *pebble.Batch) map[string]Stats {
		out := map[string]Stats{}
		r := b.Reader()
		for {
			kind, k, v, ok, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return out
			}
			if kind != pebble.InternalKeyKindMerge {
				t.Fatalf("rollup record of kind %v", kind)
			}
			s := out[string(k)]
			if err := addEncodedStats(&s, v); err != nil {
				t.Fatal(err)
			}
			out[string(k)] = s
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	start := time.Date(2026, 3, 11, 10, 58, 0, 0, time.UTC)
	now := start
	for round := range 40 {
		bc, bp := l.db.NewBatch(), l.db.NewBatch()
		for range 50 {
			now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			g := &Generation{
				AccountID: pick("a1", "a2"), Model: pick("m1", "m1", "m1", "m2"), Provider: "p",
				App: pick("", "app1", "app1", "app2", "app3", "app4", "app5"), User: pick("", "u1"),
				APIPath: "/api/v1/chat/completions", Region: "eu",
				Created: now.Add(-time.Duration(rng.IntN(2)) * time.Minute), Status: 200,
				PromptTokens: int64(rng.IntN(100)), Cost: int64(rng.IntN(1000)), Latency: time.Duration(rng.IntN(1e9)),
			}
			g.KeyHash[0] = byte(rng.IntN(2))
			if rng.IntN(5) == 0 {
				g.Tags = []string{pick("t1", "t2"), pick("t1", "t3")}
			}
			cached.add(g)
			plain.last.ok = false
			plain.add(g)
		}
		cached.flush(bc, nil, now)
		plain.flush(bp, nil, now)
		if c, p := sums(bc), sums(bp); !maps.Equal(c, p) {
			t.Fatalf("round %d (%v): cached rows wrote %d keys, built rows %d, or different sums", round, now.Sub(start), len(c), len(p))
		}
		_, _ = bc.Close(), bp.Close()
	}
}
