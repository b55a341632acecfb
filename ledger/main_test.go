package ledger

import (
	"errors"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testClock is an injected clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	// A Wednesday, mid-morning UTC.
	return &testClock{t: time.Date(2026, 3, 11, 10, 30, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig returns a config on a fresh crashable in-memory FS.
func testConfig(clock *testClock) Config {
	return Config{
		Dir:    "db",
		FS:     vfs.NewCrashableMem(),
		Node:   "n1",
		Region: "eu",
		Now:    clock.Now,
		Logger: discardLogger(),
	}
}

func openTest(t testing.TB, cfg Config) *Ledger {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// newFixture opens a ledger with one account holding credits and one
// inference key.
func newFixture(t testing.TB, credits int64, opts KeyOptions) (*Ledger, *testClock, Account, *Key) {
	t.Helper()
	clock := newTestClock()
	l := openTest(t, testConfig(clock))
	acct, err := l.CreateAccount("acme")
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if credits > 0 {
		if err := l.Grant(acct.ID, credits, "initial"); err != nil {
			t.Fatalf("Grant: %v", err)
		}
	}
	_, k, err := l.CreateKey(acct.ID, opts)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return l, clock, acct, k
}

func mustCredits(t testing.TB, l *Ledger, account string) (int64, int64) {
	t.Helper()
	total, usage, err := l.Credits(account)
	if err != nil {
		t.Fatalf("Credits: %v", err)
	}
	return total, usage
}

func mustBalance(t testing.TB, l *Ledger, account string) int64 {
	t.Helper()
	b, err := l.Balance(account)
	if err != nil {
		t.Fatalf("Balance: %v", err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// TestPackageDoc checks the package doc comment and that ledger imports no
// other Tollgate package (SPEC §1).
func TestPackageDoc(t *testing.T) {
	files, err := filepath.Glob("*.go")
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
		if f.Doc != nil && strings.HasPrefix(f.Doc.Text(), "Package ledger ") {
			documented = true
		}
		for _, imp := range f.Imports {
			if strings.Contains(imp.Path.Value, "github.com/tollgate/tollgate/") {
				t.Errorf("%s imports %s: ledger must not import other tollgate packages", name, imp.Path.Value)
			}
		}
	}
	if !documented {
		t.Error("no package doc comment starting with \"Package ledger \"")
	}
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	var c Config
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	if c.Durability != DurabilityGroup || c.GroupWindow != DefaultGroupWindow || c.Node != DefaultNode ||
		c.PartitionAllowance != DefaultPartitionAllowance || c.Dir != DefaultDir {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	f := func(mutate func(*Config)) {
		t.Helper()
		c := Config{}
		c.EnsureDefaults()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", c)
		}
	}
	f(func(c *Config) { c.Durability = "eventually" })
	f(func(c *Config) { c.GroupWindow = 6 * time.Millisecond })
	f(func(c *Config) { c.GroupWindow = -1 })
	f(func(c *Config) { c.Node = "bad node" })
	f(func(c *Config) { c.Node = strings.Repeat("n", 65) })
	f(func(c *Config) { c.GenerationRetention = -time.Hour })
	f(func(c *Config) { c.MaxDimensionValues = -1 })
	if _, err := Open(Config{Durability: "nope"}); err == nil {
		t.Fatal("Open accepted an invalid config")
	}
}

func TestOpenOnDisk(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock()
	cfg := Config{Dir: filepath.Join(dir, "ledger"), Node: "disk", Now: clock.Now, Logger: discardLogger()}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := l.CreateAccount("disk")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Grant(acct.ID, 5e9, "g"); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Grant(acct.ID, 1, "after-close"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Grant after Close: %v, want ErrClosed", err)
	}
	if _, err := os.Stat(cfg.Dir); err != nil {
		t.Fatalf("no store on disk: %v", err)
	}
	l2 := openTest(t, cfg)
	if total, _ := mustCredits(t, l2, acct.ID); total != 5e9 {
		t.Fatalf("credits after reopen = %d, want 5e9", total)
	}
}
