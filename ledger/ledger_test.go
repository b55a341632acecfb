package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestAccounts(t *testing.T) {
	clock := newTestClock()
	l := openTest(t, testConfig(clock))
	a, err := l.CreateAccount("acme")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != AccountID("acme") || a.Name != "acme" || !a.Created.Equal(clock.Now()) {
		t.Fatalf("account %+v", a)
	}
	again, err := l.CreateAccount("acme")
	if !errors.Is(err, ErrAccountExists) || again.ID != a.ID {
		t.Fatalf("second CreateAccount = %+v, %v; want the account and ErrAccountExists", again, err)
	}
	if _, err := l.CreateAccount(""); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty name: %v", err)
	}
	if _, err := l.CreateAccount("beta"); err != nil {
		t.Fatal(err)
	}
	if got, err := l.AccountByName("acme"); err != nil || got != a {
		t.Fatalf("AccountByName = %+v, %v", got, err)
	}
	if _, err := l.Account("acct_nope"); !errors.Is(err, ErrAccountNotFound) {
		t.Fatalf("Account(unknown) = %v", err)
	}
	all := l.Accounts()
	if len(all) != 2 || all[0].Name != "acme" || all[1].Name != "beta" {
		t.Fatalf("Accounts = %+v", all)
	}
}

func TestGrantIdempotency(t *testing.T) {
	l, _, acct, _ := newFixture(t, 0, KeyOptions{})
	if err := l.Grant(acct.ID, 10e9, "invoice-1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Grant(acct.ID, 10e9, "invoice-1"); err != nil {
		t.Fatalf("same key, same amount: %v, want nil", err)
	}
	if err := l.Grant(acct.ID, 11e9, "invoice-1"); !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("same key, other amount: %v, want ErrIdempotencyConflict", err)
	}
	if err := l.Grant(acct.ID, 5e9, "invoice-2"); err != nil {
		t.Fatal(err)
	}
	if total, usage := mustCredits(t, l, acct.ID); total != 15e9 || usage != 0 {
		t.Fatalf("credits = %d/%d, want 15e9/0", total, usage)
	}
	f := func(account string, amount int64, idem string, want error) {
		t.Helper()
		if err := l.Grant(account, amount, idem); !errors.Is(err, want) {
			t.Errorf("Grant(%q, %d, %q) = %v, want %v", account, amount, idem, err, want)
		}
	}
	f(acct.ID, 0, "x", ErrInvalidAmount)
	f(acct.ID, -5, "x", ErrInvalidAmount)
	f(acct.ID, 5, "", ErrInvalidArgument)
	f("acct_missing", 5, "x", ErrAccountNotFound)
	grants, err := l.Grants(acct.ID)
	if err != nil || len(grants) != 2 || grants[0].IdempotencyKey != "invoice-1" || grants[1].Amount != 5e9 {
		t.Fatalf("Grants = %+v, %v", grants, err)
	}
}

func TestKeyLifecycle(t *testing.T) {
	l, clock, acct, _ := newFixture(t, 10e9, KeyOptions{})
	secret, k, err := l.CreateKey(acct.ID, KeyOptions{Name: "ci", Limit: ptr(int64(2e9)), LimitReset: LimitResetDaily})
	if err != nil {
		t.Fatal(err)
	}
	if kind, err := ParseKeyFormat(secret); err != nil || kind != KeyKindInference {
		t.Fatalf("ParseKeyFormat(new key) = %v, %v", kind, err)
	}
	if k.Hash != HashSecret([]byte(secret)) || k.Label != keyLabel(secret) || k.Name != "ci" || *k.Limit != 2e9 {
		t.Fatalf("key %+v", k)
	}
	got, err := l.Authenticate([]byte(secret))
	if err != nil || got.Hash != k.Hash {
		t.Fatalf("Authenticate = %v, %v", got, err)
	}
	if _, err := l.Authenticate([]byte(secret + "x")); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("wrong secret: %v", err)
	}

	// Disable, re-enable, rename, lift the limit.
	if _, err := l.UpdateKey(k.Hash, KeyPatch{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Authenticate([]byte(secret)); !errors.Is(err, ErrKeyDisabled) {
		t.Fatalf("disabled key: %v", err)
	}
	if _, err := l.Reserve(got, 1); !errors.Is(err, ErrKeyDisabled) {
		t.Fatalf("Reserve on a key disabled after auth: %v", err)
	}
	up, err := l.UpdateKey(k.Hash, KeyPatch{Disabled: ptr(false), Name: ptr("ci-2"), SetLimit: true})
	if err != nil || up.Name != "ci-2" || up.Limit != nil || up.Disabled || !k.Version.Less(up.Version) {
		t.Fatalf("UpdateKey = %+v, %v", up, err)
	}
	if _, err := l.UpdateKey(k.Hash, KeyPatch{SetLimit: true, Limit: ptr(int64(-1))}); !errors.Is(err, ErrInvalidAmount) {
		t.Fatalf("negative limit: %v", err)
	}
	bad := LimitReset("hourly")
	if _, err := l.UpdateKey(k.Hash, KeyPatch{LimitReset: &bad}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad limit_reset: %v", err)
	}

	// Expiry.
	exp := clock.Now().Add(time.Hour)
	if _, err := l.UpdateKey(k.Hash, KeyPatch{ExpiresAt: &exp}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Authenticate([]byte(secret)); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := l.Authenticate([]byte(secret)); !errors.Is(err, ErrKeyExpired) {
		t.Fatalf("after expiry: %v", err)
	}
	if _, err := l.UpdateKey(k.Hash, KeyPatch{ExpiresAt: &time.Time{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Authenticate([]byte(secret)); err != nil {
		t.Fatalf("expiry removed: %v", err)
	}

	keys, err := l.ListKeys(acct.ID)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys = %d keys, %v", len(keys), err)
	}
	if err := l.DeleteKey(k.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Authenticate([]byte(secret)); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	if _, err := l.Key(k.Hash); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Key(deleted) = %v", err)
	}
	if err := l.DeleteKey(k.Hash); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("second DeleteKey = %v", err)
	}
	if keys, _ := l.ListKeys(acct.ID); len(keys) != 1 {
		t.Fatalf("ListKeys after delete = %d keys", len(keys))
	}
	if _, _, err := l.CreateKey("acct_missing", KeyOptions{}); !errors.Is(err, ErrAccountNotFound) {
		t.Fatalf("CreateKey for a missing account: %v", err)
	}
}

func TestManagementKey(t *testing.T) {
	l, _, acct, _ := newFixture(t, 10e9, KeyOptions{})
	secret, k, err := l.CreateKey(acct.ID, KeyOptions{Name: "provisioning", Management: true})
	if err != nil {
		t.Fatal(err)
	}
	if kind, err := ParseKeyFormat(secret); err != nil || kind != KeyKindManagement {
		t.Fatalf("management key format: %v, %v", kind, err)
	}
	got, err := l.Authenticate([]byte(secret))
	if err != nil || !got.Management || got.Hash != k.Hash {
		t.Fatalf("Authenticate(management) = %+v, %v", got, err)
	}
	if _, err := l.Reserve(got, 0); !errors.Is(err, ErrManagementKey) {
		t.Fatalf("Reserve with a management key: %v, want ErrManagementKey", err)
	}
}

func TestSeed(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	l := openTest(t, cfg)
	seed := []SeedAccount{{
		Name:    "team",
		Credits: 25e9,
		Keys: []SeedKey{
			{Name: "legacy", Secret: "my-old-openrouter-key-123", Limit: ptr(int64(1e9)), LimitReset: LimitResetWeekly},
			{Name: "ops", Secret: "sk-ops-management", Management: true},
		},
	}}
	for range 3 {
		if err := l.Seed(seed); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := l.AccountByName("team")
	if err != nil {
		t.Fatal(err)
	}
	if total, _ := mustCredits(t, l, acct.ID); total != 25e9 {
		t.Fatalf("seeded credits = %d, want 25e9 once", total)
	}
	k, err := l.Authenticate([]byte("my-old-openrouter-key-123"))
	if err != nil || k.Name != "legacy" || !k.Seeded || *k.Limit != 1e9 || k.LimitReset != LimitResetWeekly {
		t.Fatalf("seeded key = %+v, %v", k, err)
	}
	v1 := k.Version
	// Idempotent: no new version.
	if err := l.Seed(seed); err != nil {
		t.Fatal(err)
	}
	if k2, _ := l.Authenticate([]byte("my-old-openrouter-key-123")); k2.Version != v1 {
		t.Fatal("re-seeding rewrote an unchanged key")
	}
	// Config is authoritative for what it declares; a changed credit amount
	// is not granted again.
	seed[0].Keys[0].Limit = ptr(int64(3e9))
	seed[0].Credits = 30e9
	if err := l.Seed(seed); err != nil {
		t.Fatal(err)
	}
	if k3, _ := l.Authenticate([]byte("my-old-openrouter-key-123")); *k3.Limit != 3e9 {
		t.Fatalf("seeded limit not updated: %d", *k3.Limit)
	}
	if total, _ := mustCredits(t, l, acct.ID); total != 25e9 {
		t.Fatalf("credits after changed seed = %d, want 25e9", total)
	}
	// A declared key cannot move to another account.
	err = l.Seed([]SeedAccount{{Name: "other", Keys: []SeedKey{{Name: "x", Secret: "my-old-openrouter-key-123"}}}})
	if !errors.Is(err, ErrKeyAccountMismatch) {
		t.Fatalf("moving a seeded key: %v", err)
	}
	// The seed grant's idempotency key derives from the name only.
	grants, _ := l.Grants(acct.ID)
	if len(grants) != 1 || grants[0].IdempotencyKey != SeedGrantKey("team") {
		t.Fatalf("grants = %+v", grants)
	}
}

func TestReopenKeepsStateAndBumpsEpoch(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e1 := l.Epoch()
	acct, _ := l.CreateAccount("acme")
	if err := l.Grant(acct.ID, 10e9, "g1"); err != nil {
		t.Fatal(err)
	}
	secret, k, err := l.CreateKey(acct.ID, KeyOptions{Name: "k", Limit: ptr(int64(5e9)), LimitReset: LimitResetMonthly})
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Reserve(k, 2e9)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Settle(res, 1e9, &Generation{ID: "gen-n1-a", Model: "m"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The clock stands still: the epoch still grows.
	l2 := openTest(t, cfg)
	if l2.Epoch() <= e1 {
		t.Fatalf("epoch %d after reopen, want > %d", l2.Epoch(), e1)
	}
	if total, usage := mustCredits(t, l2, acct.ID); total != 10e9 || usage != 1e9 {
		t.Fatalf("credits after reopen = %d/%d", total, usage)
	}
	k2, err := l2.Authenticate([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	info := l2.KeyInfo(k2)
	if info.Usage != 1e9 || info.UsageMonthly != 1e9 || info.UsageDaily != 1e9 || *info.LimitRemaining != 4e9 {
		t.Fatalf("key info after reopen: %+v", info)
	}
	if g, err := l2.GetGeneration("gen-n1-a"); err != nil || g.Cost != 1e9 || g.AccountID != acct.ID || g.KeyHash != k.Hash || g.Node != "n1" {
		t.Fatalf("generation after reopen: %+v, %v", g, err)
	}
}

func TestEpochNotReusedAfterDataLoss(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	l := openTest(t, cfg)
	e1 := l.Epoch()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Same node name, wiped store, a later start: a fresh epoch.
	clock.Advance(time.Second)
	cfg.FS = vfs.NewCrashableMem()
	l2 := openTest(t, cfg)
	if l2.Epoch() <= e1 {
		t.Fatalf("epoch after wipe = %d, want > %d", l2.Epoch(), e1)
	}
}

func TestGenerationIDs(t *testing.T) {
	clock := newTestClock()
	cfg := testConfig(clock)
	cfg.Node = "eu-west.node-3"
	l := openTest(t, cfg)
	seen := map[string]bool{}
	for range 1000 {
		id := l.NewGenerationID()
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		if n := GenerationNode(id); n != "eu-west.node-3" {
			t.Fatalf("GenerationNode(%s) = %q", id, n)
		}
	}
	for _, id := range []string{"", "gen-", "gen-abc", "chatcmpl-1"} {
		if n := GenerationNode(id); n != "" {
			t.Errorf("GenerationNode(%q) = %q, want empty", id, n)
		}
	}
}

func TestGenerationRecordRoundTrip(t *testing.T) {
	g := Generation{
		ID: "gen-n1-x", Node: "n1", Region: "eu", AccountID: "acct_1", KeyHash: HashSecret([]byte("k")),
		Model: "openai/gpt-4o", Provider: "openai", UpstreamModel: "gpt-4o-2024", UpstreamID: "chatcmpl-9",
		APIPath: "/api/v1/chat/completions", App: "demo", Referer: "https://x.test", User: "u1", SessionID: "s1",
		Tags: []string{"team:a", "feature:b"}, Created: time.Unix(1700000000, 123).UTC(), Streamed: true,
		Cancelled: true, Status: 200, FinishReason: "stop", NativeFinishReason: "end_turn",
		PromptTokens: 10, CompletionTokens: 20, CachedTokens: 3, CacheWriteTokens: 4, ReasoningTokens: 5,
		Cost: 12345, Latency: time.Second, TTFT: 200 * time.Millisecond, GenerationTime: 800 * time.Millisecond,
		Attempts: []Attempt{{Provider: "a", Model: "m", Status: 503, Error: "overloaded", Latency: time.Millisecond}, {Provider: "b", Status: 200}},
	}
	back, err := decodeGeneration(encodeGeneration(nil, &g))
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != g.ID || len(back.Tags) != 2 || back.Tags[1] != "feature:b" || back.Attempts[0] != g.Attempts[0] ||
		back.TTFT != g.TTFT || !back.Created.Equal(g.Created) || back.NativeFinishReason != "end_turn" || back.Cost != 12345 {
		t.Fatalf("round trip: %+v", back)
	}
	if _, err := decodeGeneration([]byte{1, 200}); err == nil {
		t.Fatal("truncated generation decoded")
	}
}
